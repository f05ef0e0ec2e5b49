package provision

import (
	"fmt"
	"net"
	"strconv"
)

// portFree reports whether 127.0.0.1:port can be bound now. The engine
// binds the published port on the same host, so this is the check that
// matters for a local engine.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// choosePort returns want when it is free, else a free port.
func choosePort(want int) (port int, moved bool, err error) {
	if portFree(want) {
		return want, false, nil
	}
	p, err := freePort()
	if err != nil {
		return 0, false, err
	}
	return p, true, nil
}

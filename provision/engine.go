package provision

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/moby/moby/client"
)

// DefaultDockerHost is where the engine listens when DOCKER_HOST is unset.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// engine is a connected Docker client and what we know about where it is.
type engine struct {
	cli  *client.Client
	host string
	// local is true when the engine runs on this machine, so its published
	// 127.0.0.1 ports are ours to connect to and its data root ours to statfs.
	local bool
}

// dockerHost picks the engine address: the option, DOCKER_HOST, the default.
func dockerHost(opt string) string {
	if opt != "" {
		return opt
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return DefaultDockerHost
}

// connect builds a client for host and pings the engine, turning failures
// into not installed / not running / permission denied.
func connect(ctx context.Context, host string) (*engine, error) {
	cli, err := client.New(client.FromEnv, client.WithHost(host))
	if err != nil {
		return nil, wrapf(errInvalid, CodeInvalidOption,
			"set DOCKER_HOST to unix:///path/to/docker.sock or tcp://host:2375", err, "bad Docker host %q", host)
	}
	socketExists := true
	if path, ok := strings.CutPrefix(host, "unix://"); ok {
		if _, serr := os.Stat(path); serr != nil {
			socketExists = false
		}
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		_, lerr := exec.LookPath("docker")
		return nil, classifyConnect(err, host, socketExists, lerr == nil)
	}
	return &engine{cli: cli, host: host, local: isLocalHost(host)}, nil
}

// isLocalHost reports whether the engine address is on this machine.
func isLocalHost(host string) bool {
	if strings.HasPrefix(host, "unix://") || strings.HasPrefix(host, "npipe://") {
		return true
	}
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const benchDatabase = "bench"

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory: run from the repository, or pass --proxy-bin")
		}
		dir = parent
	}
}

// buildProxy builds ./cmd/proxy into dir, as bench/run.sh does.
func buildProxy(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "proxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/proxy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/proxy: %w\n%s", err, out)
	}
	return bin, nil
}

// childProc is a server the bench runs as a child process: the proxy
// (`proxy serve`) or the reference server (reference.go).
type childProc struct {
	name string // "proxy" or "reference server", for messages
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	log  string
	done chan error
	once sync.Once
	err  error
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startProxy registers the bench database as a PostgreSQL backend in a fresh
// data dir, then serves it on a free loopback port until ready.
func startProxy(ctx context.Context, bin, dataDir, dsn string) (*childProc, error) {
	set := exec.CommandContext(ctx, bin, "--data", dataDir, "backend", "set", benchDatabase,
		"--postgres", dsn, "--workspace", benchWorkspace, "--force")
	if out, err := set.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("proxy backend set: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--data", dataDir, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
	return startChild(ctx, "proxy", cmd, port, filepath.Join(dataDir, "proxy.log"))
}

// startReference runs this binary again as the reference server
// (reference.go) on dsn, on a free loopback port, with one P: GOMAXPROCS=1
// measured best for a server answering one request at a time on the 2-core
// machines the bench runs on.
func startReference(ctx context.Context, dir, dsn string) (*childProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary for the reference server: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "--"+referenceFlag, fmt.Sprintf("127.0.0.1:%d", port), "--dsn", dsn)
	// The last GOMAXPROCS wins over one inherited.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return startChild(ctx, "reference server", cmd, port, filepath.Join(dir, "reference.log"))
}

// startChild starts cmd, its output in logPath, and waits until it answers
// GET /readyz on port with 200.
func startChild(ctx context.Context, name string, cmd *exec.Cmd, port int, logPath string) (*childProc, error) {
	p := &childProc{name: name, cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath, done: make(chan error, 1)}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.done <- p.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v); log:\n%s", name, err, p.tail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready after 60s; log:\n%s", name, p.tail())
		}
	}
}

// memory reads the process's peak and current RSS from /proc.
func (p *childProc) memory() (hwmKB, rssKB int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s memory: %w", p.name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s %q: %w", k, v, err)
		}
		if k == "VmHWM" {
			hwmKB = n
		} else {
			rssKB = n
		}
	}
	return hwmKB, rssKB, sc.Err()
}

func (p *childProc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop shuts the process down gracefully (SIGINT), killing it after 15s. It
// may be called more than once.
func (p *childProc) stop() error {
	p.once.Do(func() { p.err = p.shutdown() })
	return p.err
}

func (p *childProc) shutdown() error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return err
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 15s of SIGINT; killed", p.name)
	}
}

// clockTicks is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on
// Linux whatever the kernel's HZ).
const clockTicks = 100

// cpuTime is the process's CPU time so far (user + system, all threads).
func (p *childProc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read %s CPU time: %w", p.name, err)
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields after the name", p.cmd.Process.Pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", p.cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// bareServer is a plain net/http server on loopback answering
// /v1/version with a body like the proxy's: the HTTP floor's reference.
type bareServer struct {
	srv  *http.Server
	base string
}

func startBareServer() (*bareServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"bench","api":"v1"}` + "\n"))
	})
	s := &bareServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}, base: "http://" + l.Addr().String()}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *bareServer) close() error { return s.srv.Close() }

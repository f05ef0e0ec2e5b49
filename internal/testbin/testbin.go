// Package testbin gives tests the proxy binary: the one named by
// HYBRIDRAG_TEST_PROXY_BIN (make test builds it once for every package and
// the Python tests), else one built here. A build has no deadline: on a
// loaded machine it may be slow, and a test must not fail for that.
package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// EnvBin names a prebuilt proxy binary shared by the test packages.
const EnvBin = "HYBRIDRAG_TEST_PROXY_BIN"

// Proxy returns the path of a proxy binary and a cleanup for one built here
// (a no-op for a shared one). Built binaries go into a new temp folder.
func Proxy() (string, func(), error) {
	if bin := os.Getenv(EnvBin); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", nil, fmt.Errorf("%s=%s: %w", EnvBin, bin, err)
		}
		return bin, func() {}, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "proxy-test-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("temp dir for the proxy binary: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "proxy")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/proxy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("go build ./cmd/proxy: %w\n%s", err, out)
	}
	return bin, cleanup, nil
}

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
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

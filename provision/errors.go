package provision

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Error codes. Each names one thing the user fixes differently.
const (
	CodeDockerNotInstalled = "docker_not_installed"
	CodeDockerNotRunning   = "docker_not_running"
	CodeDockerPermission   = "docker_permission_denied"
	CodeDockerUnreachable  = "docker_unreachable"
	CodeDockerError        = "docker_error"
	CodeImagePullFailed    = "image_pull_failed"
	CodeNameConflict       = "container_name_conflict"
	CodeNotReady           = "postgres_not_ready"
	CodeContainerExited    = "container_exited"
	CodeSecretMissing      = "secret_missing"
	CodeInvalidOption      = "invalid_option"
	CodeNotFound           = "container_not_found"
	CodeValidationFailed   = "validation_failed"
)

func errorf(kind error, code, hint, format string, args ...any) *adapters.Error {
	return adapters.Errorf(kind, code, hint, format, args...)
}

func wrapf(kind error, code, hint string, cause error, format string, args ...any) *adapters.Error {
	e := adapters.Errorf(kind, code, hint, format, args...)
	e.Err = cause
	return e
}

// classifyConnect turns a failure to reach the engine into one of the three
// errors a person fixes differently: install Docker, start it, or get access
// to its socket. host is the engine address; dockerCLI says whether a docker
// command exists on PATH (a missing socket with no CLI means not installed).
func classifyConnect(err error, host string, socketExists, dockerCLI bool) *adapters.Error {
	msg := err.Error()
	switch {
	case errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(msg, "permission denied") || cerrdefs.IsPermissionDenied(err):
		return wrapf(adapters.ErrUnavailable, CodeDockerPermission,
			"add your user to the docker group (sudo usermod -aG docker $USER, then log in again), "+
				"or run with access to the socket, or point DOCKER_HOST at an engine you may use",
			err, "permission denied on the Docker engine at %s", host)
	case strings.HasPrefix(host, "unix://") && !socketExists && !dockerCLI:
		return wrapf(adapters.ErrUnavailable, CodeDockerNotInstalled,
			"install Docker (https://docs.docker.com/engine/install/), start it, then run this again; "+
				"or set DOCKER_HOST to a reachable engine",
			err, "Docker is not installed: no engine socket at %s and no docker command on PATH", host)
	case strings.HasPrefix(host, "unix://") && !socketExists,
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, os.ErrNotExist),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "Is the docker daemon running"):
		return wrapf(adapters.ErrUnavailable, CodeDockerNotRunning,
			"start the Docker daemon (sudo systemctl start docker, or open Docker Desktop), then run this again",
			err, "the Docker daemon is not running at %s", host)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return wrapf(adapters.ErrUnavailable, CodeDockerUnreachable,
			"check DOCKER_HOST and that the engine is up", err, "the Docker engine at %s did not answer in time", host)
	}
	return wrapf(adapters.ErrUnavailable, CodeDockerUnreachable,
		"check DOCKER_HOST (unset means the local socket) and that the engine is up", err,
		"cannot reach the Docker engine at %s", host)
}

// engineErr wraps an engine API failure of op.
func engineErr(op string, err error) *adapters.Error {
	kind := adapters.ErrUnavailable
	if cerrdefs.IsNotFound(err) {
		kind = adapters.ErrNotFound
	}
	return wrapf(kind, CodeDockerError, "see the Docker engine's message; `docker info` shows the engine's state", err,
		"docker %s", op)
}

package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/provision"
)

// ProvisionFunc provisions PostgreSQL in Docker for POST
// /v1/provision/docker. cmd/proxy sets it to provision.Docker with the
// registry registrar and the backend validator filled in; nil turns the
// route into 501.
type ProvisionFunc func(ctx context.Context, opts provision.Options) (provision.Result, error)

// maxProvisionTimeout caps timeout_seconds: the request holds a connection.
const maxProvisionTimeout = 10 * time.Minute

type provisionRequest struct {
	DB             string `json:"db"`
	Port           int    `json:"port"`
	Name           string `json:"name"`
	Image          string `json:"image"`
	Volume         string `json:"volume"`
	Recreate       bool   `json:"recreate"`
	TimeoutSeconds int    `json:"timeout_seconds"`
	ShowPassword   bool   `json:"show_password"`
}

type provisionResponse struct {
	provision.Result
	DurationMS int64 `json:"duration_ms"`
}

// provisionDocker runs the whole provisioning synchronously; progress goes
// to the log, never the password.
func (s *Server) provisionDocker(c echo.Context) error {
	// The request is checked first: a bad one is the caller's mistake (4xx)
	// whether or not this proxy provisions.
	var req provisionRequest
	if c.Request().ContentLength != 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	// Checked in seconds: a huge value would overflow a Duration into range.
	if req.TimeoutSeconds < 0 || req.TimeoutSeconds > int(maxProvisionTimeout/time.Second) {
		return newAPIError(kindInvalid, "invalid_argument", "use 1 to 600 seconds, or omit it for 120",
			"timeout_seconds %d is out of range", req.TimeoutSeconds)
	}
	timeout := time.Duration(req.TimeoutSeconds) * time.Second
	if s.cfg.Provision == nil {
		return newAPIError(kindUnsupported, "unsupported", "run `proxy provision docker` on the command line",
			"this proxy was started without Docker provisioning")
	}
	out, done := s.lineLogger(ctxOf(c), "provision")
	defer done()
	res, err := s.cfg.Provision(ctxOf(c), provision.Options{DB: req.DB, Port: req.Port, Name: req.Name, Image: req.Image,
		Volume: req.Volume, Recreate: req.Recreate, Timeout: timeout, ShowPassword: req.ShowPassword,
		DataDir: s.cfg.DataDir, Out: out})
	if err != nil {
		return err
	}
	if res.Registered {
		s.router.forceReload()
	}
	return writeJSON(c, http.StatusOK, provisionResponse{Result: res, DurationMS: res.Duration.Milliseconds()})
}

// lineLogger returns a writer that logs each line it gets at Info.
func (s *Server) lineLogger(ctx context.Context, what string) (io.Writer, func()) {
	pr, pw := io.Pipe()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.log.LogAttrs(ctx, slog.LevelInfo, what, slog.String("line", sc.Text()))
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw, func() { _ = pw.Close(); <-finished }
}

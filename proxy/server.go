// Package proxy is the HTTP server of the storage proxy: the routes of
// openapi.yaml over echo, each request routed to its database's backend.
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// Log keys.
const (
	logKeyDB        = "db"
	logKeyRequestID = "request_id"
)

// Defaults.
const (
	DefaultMaxBodyBytes   = 64 << 20
	DefaultReloadInterval = 2 * time.Second
	// DefaultBodyReadTimeout bounds how long a request body may take to
	// arrive: 64 MiB (the default body limit) at about 1 MiB/s.
	DefaultBodyReadTimeout = 60 * time.Second
	// headerReadTimeout bounds how long request headers may take.
	headerReadTimeout = 10 * time.Second
	shutdownTimeout   = 30 * time.Second
)

// Opener opens a database's backend from its registry entry.
type Opener = backends.Opener

// Config configures a Server.
type Config struct {
	RegistryPath string
	DataDir      string
	// Token, when set, is required as "Authorization: Bearer <Token>" on
	// every route except /healthz and /readyz.
	Token        string
	MaxBodyBytes int64 // default 64 MiB
	// BodyReadTimeout bounds the time a request body may take to arrive,
	// counted from the start of the handler (default 60s; `serve
	// --body-read-timeout`): a body sent a byte at a time is cut off with
	// 408 request_timeout instead of holding a connection forever.
	BodyReadTimeout time.Duration
	Logger          *slog.Logger
	// Backends is the catalog of backend types this proxy serves (package
	// backends): how each opens, checks and switches. Nil: the catalog
	// built from Openers.
	Backends *backends.Catalog
	// Openers, when Backends is nil, selects the types served and replaces
	// how each opens (tests wrap or fake adapters); the rest of each type's
	// description comes from backends.Default.
	Openers        map[string]Opener
	ReloadInterval time.Duration // registry poll, default 2s
	Version        string
	// Telemetry traces and measures requests (telemetry.go); nil: off.
	Telemetry *Telemetry
	// NoMonitor turns off the size and ingestion-rate monitor (status.go).
	NoMonitor bool
	// PublicURL is this proxy's address in the commands warnings suggest.
	PublicURL string
	// MonitorNow is the monitor's clock (tests); nil means time.Now.
	MonitorNow func() time.Time
	// Provision runs POST /v1/provision/docker (provision.go); nil: 501.
	Provision ProvisionFunc
	// AllowedRoots are folders, besides the data folder, in which database
	// paths given through the API may lie (paths.go).
	AllowedRoots []string
	// MemoryReleaseIdle is how long the proxy waits, idle, after a large
	// request before returning freed memory to the system (memory.go);
	// default 5s.
	MemoryReleaseIdle time.Duration
	// OutageSummaryInterval is how often a backend outage's refused
	// requests are summed up in the log (outage.go); default 30s.
	OutageSummaryInterval time.Duration
	// BackgroundFlushGap spaces out the flushes POST /flush?wait=false
	// asks for (DefaultBackgroundFlushGap when 0).
	BackgroundFlushGap time.Duration
	// Procs is told when each request starts and ends (package procs
	// scales GOMAXPROCS from it); nil: nobody.
	Procs RequestLoad
}

// RequestLoad hears of every request; wide marks one that runs on every
// core (a vector query's scan over a JSON namespace).
type RequestLoad interface {
	Enter(wide bool)
	Exit(wide bool)
}

// Server serves the API of openapi.yaml.
type Server struct {
	cfg    Config
	log    *slog.Logger
	router *router
	echo   *echo.Echo
	token  []byte
	stop   context.CancelFunc
	tel    *serverTelemetry // nil when telemetry is off
	mon    *monitor.Monitor // nil when the monitor is off
	// migrations runs the databases' migrations (migration_admin.go);
	// live their live migrations.
	migrations *migration.Manager
	live       *migration.Live
	// routeInfo indexes the route table (routes.go); read-only once built.
	routeInfo map[routeKey]route
	outages   *outageLog
	checks    *backendChecks
	mem       memReleaser
	flushes   *backgroundFlushes
	// bgCtx lives until Close: the context of work no request waits for.
	bgCtx context.Context
}

// NewServer loads the registry (writing the default one when the file is
// missing) and validates it. Backends open lazily on first use.
func NewServer(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.RegistryPath == "" {
		return nil, errors.New("new server: RegistryPath is required")
	}
	if cfg.Backends == nil {
		if len(cfg.Openers) == 0 {
			return nil, errors.New("new server: no backend catalog configured")
		}
		cfg.Backends = backends.Default(cfg.Logger).WithOpeners(cfg.Openers)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.BodyReadTimeout <= 0 {
		cfg.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if cfg.MemoryReleaseIdle <= 0 {
		cfg.MemoryReleaseIdle = DefaultMemoryReleaseIdle
	}
	if cfg.BackgroundFlushGap <= 0 {
		cfg.BackgroundFlushGap = DefaultBackgroundFlushGap
	}
	if cfg.OutageSummaryInterval <= 0 {
		cfg.OutageSummaryInterval = DefaultOutageSummaryInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	r, err := newRouter(cfg, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, router: r, outages: newOutageLog(cfg.Logger, nil)}
	s.flushes = newBackgroundFlushes(cfg.BackgroundFlushGap)
	if s.tel, err = newServerTelemetry(cfg.Telemetry); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s.mon = s.newMonitor()
	s.migrations = s.newMigrations()
	s.live = &migration.Live{Switcher: s.Switcher(), Log: s.log}
	r.live = s.live.Open
	if err := observeLiveMigrations(cfg.Telemetry, s.live.ShadowTallies); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	if cfg.Token != "" {
		s.token = []byte(cfg.Token)
	}
	pollCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.bgCtx = stop, pollCtx
	s.checks = newBackendChecks(s)
	s.checks.load(pollCtx, r.registry())
	r.mu.Lock()
	r.onLoad = func(reg *registry.Registry) { s.checks.load(pollCtx, reg) }
	r.mu.Unlock()
	go r.poll(pollCtx)
	go s.outages.run(pollCtx, cfg.OutageSummaryInterval)
	go s.mem.run(pollCtx, cfg.MemoryReleaseIdle)
	if s.mon != nil {
		go s.mon.Run(pollCtx)
	}
	s.echo = s.newEcho()
	// A live migration recorded in the registry goes on where it stopped.
	s.live.Resume()
	return s, nil
}

// Handler is the server's http.Handler (also for httptest).
func (s *Server) Handler() http.Handler { return s.echo }

// Serve serves on ln until ctx is done, then shuts down gracefully: stop
// accepting, finish in-flight requests (up to 30s), flush and close every
// open backend.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: headerReadTimeout, // bodies: Config.BodyReadTimeout
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(jsonErrorListener{ln}) }()
	s.log.Info("serving", slog.String("addr", ln.Addr().String()), slog.Bool("auth", s.token != nil))
	var serveErr error
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("shutdown: %w", err))
	}
	if err := s.Close(sctx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	return serveErr
}

// Close flushes and closes every open backend. Requests after Close get 503.
func (s *Server) Close(ctx context.Context) error {
	s.stop()
	s.checks.wait()
	s.flushes.close()
	// A cancelled migration leaves maintenance and resumes when run again.
	s.migrations.Shutdown()
	s.live.Shutdown()
	if err := s.router.closeAll(ctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	if s.cfg.Procs != nil {
		e.Use(s.loadMiddleware)
	}
	e.Use(s.mem.middleware, s.requestIDMiddleware, s.logMiddleware, s.recoverMiddleware, s.authMiddleware, s.queryMiddleware, s.bodyLimitMiddleware)
	e.Use(s.maintenanceMiddleware) // after routing: it needs the matched route
	if s.tel != nil {
		e.Use(s.telemetryMiddleware)
	}
	s.routes(e)
	return e
}

// loadMiddleware tells Config.Procs of each request, first and last.
func (s *Server) loadMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		wide := c.Path() == vecPath+"/query"
		s.cfg.Procs.Enter(wide)
		defer s.cfg.Procs.Exit(wide)
		return next(c)
	}
}

// recoverMiddleware turns a panic into a logged 500: never crash the proxy.
func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", slog.Any("panic", p), slog.String("stack", string(debug.Stack())),
					slog.String(logKeyRequestID, c.Response().Header().Get(echo.HeaderXRequestID)))
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return next(c)
	}
}

// requestIDMiddleware echoes X-Request-Id or generates one.
func (s *Server) requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if id == "" || len(id) > 128 {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// logMiddleware writes one structured access-log line per request: at DEBUG
// for a success, since an ingest sends thousands of them and the line costs
// a write per request (metrics and traces carry their counts and latencies;
// like Dapr's API log, they are there when asked for), at WARN or ERROR for
// a failure. The Authorization header is never logged. A 503 because a
// backend is down is not an ERROR line each: the outage log reports the
// outage once, sums it up while it lasts and reports the recovery.
func (s *Server) logMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // writes the response, so the status below is final
		}
		req := c.Request()
		ctx := req.Context()
		level := slog.LevelDebug
		status := c.Response().Status
		eb, _ := c.Get(ctxKeyError).(ErrorBody)
		db := pathParam(c, "db")
		switch {
		case status == http.StatusServiceUnavailable && eb.Code == "backend_unavailable" && db != "":
			s.outages.refused(ctx, db, eb.Message)
		case status == http.StatusServiceUnavailable:
			// Retryable and expected (maintenance, a migration, a lock
			// another process holds), not a failure of the proxy.
			level = slog.LevelWarn
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		default:
			if r, ok := s.routeOf(c); ok && r.backend && db != "" {
				s.outages.served(ctx, db)
			}
		}
		if s.log.Enabled(ctx, level) {
			attrs := []slog.Attr{slog.String(logKeyRequestID, c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.Int("status", status), slog.Int64("bytes", c.Response().Size),
				slog.Duration("duration", time.Since(start)), slog.String("remote", c.RealIP())}
			if eb.Code != "" {
				attrs = append(attrs, slog.String("code", eb.Code))
			}
			s.log.LogAttrs(ctx, level, "request", attrs...)
		}
		return nil
	}
}

// authMiddleware requires the bearer token, when one is set, on every route
// except the health checks.
func (s *Server) authMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.token == nil {
			return next(c)
		}
		p := c.Request().URL.Path
		if p == "/healthz" || p == "/readyz" {
			return next(c)
		}
		if err := s.authorize(c.Request()); err != nil {
			return err
		}
		return next(c)
	}
}

// authorize checks the bearer token; nil when no token is set.
func (s *Server) authorize(req *http.Request) error {
	if s.token == nil {
		return nil
	}
	h := req.Header.Get(echo.HeaderAuthorization)
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return newAPIError(kindUnauthorized, "unauthorized", "send Authorization: Bearer <token>",
			"this proxy requires a bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(h[len(prefix):]), s.token) != 1 {
		return newAPIError(kindUnauthorized, "unauthorized",
			"send the token the proxy was started with (--token or its environment variable)", "the bearer token is wrong")
	}
	return nil
}

// queryMiddleware refuses a query string that does not decode: Go's parser
// drops a pair with an invalid escape (?workspace=%ZZ), so the request would
// silently go to the default workspace.
func (s *Server) queryMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := url.ParseQuery(c.Request().URL.RawQuery); err != nil {
			return malformed("percent-encode query parameters (a literal % is %25)", "the query string does not decode: %v", err)
		}
		return next(c)
	}
}

// bodyLimitMiddleware rejects bodies over the limit (early by
// Content-Length, and while reading for chunked bodies) and bounds the time
// the body may take to arrive (Config.BodyReadTimeout).
func (s *Server) bodyLimitMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.cfg.MaxBodyBytes {
			return tooLarge(s.cfg.MaxBodyBytes)
		}
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
		// A deadline on the connection, not a timer per read: a body
		// trickling in a byte at a time would reset a per-read timer.
		rc := http.NewResponseController(c.Response())
		if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyReadTimeout)); err == nil {
			req.Body = &deadlineBody{ReadCloser: req.Body, rc: rc}
		}
		return next(c)
	}
}

// deadlineBody lifts the body's read deadline once the body is read, so
// it does not cut off the connection's later reads (net/http watches the
// connection for a client going away while the handler runs).
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

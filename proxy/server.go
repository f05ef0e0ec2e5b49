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
	shutdownTimeout       = 30 * time.Second
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
	Logger       *slog.Logger
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
	s := &Server{cfg: cfg, log: cfg.Logger, router: r}
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
	s.stop = stop
	go r.poll(pollCtx)
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
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
	e.Use(s.requestIDMiddleware, s.logMiddleware, s.recoverMiddleware, s.authMiddleware, s.queryMiddleware, s.bodyLimitMiddleware)
	e.Use(s.maintenanceMiddleware) // after routing: it needs the matched route
	if s.tel != nil {
		e.Use(s.telemetryMiddleware)
	}
	s.routes(e)
	if s.tel != nil {
		s.tel.learnRoutes(e.Routes())
	}
	return e
}

// routes registers every route of openapi.yaml.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/v1/version", s.version)
	e.GET("/v1/openapi.yaml", s.openapi)
	e.GET("/metrics", s.metricsHandler)
	e.GET("/v1/status", s.status)
	e.GET("/v1/databases/:db/status", s.databaseStatus)

	e.POST("/v1/provision/docker", s.provisionDocker)

	e.POST("/v1/databases/:db/migration", s.startMigration)
	e.GET("/v1/databases/:db/migration", s.getMigration)
	e.DELETE("/v1/databases/:db/migration", s.cancelMigration)
	e.POST("/v1/databases/:db/migration/verify", s.verifyMigration)
	e.POST("/v1/databases/:db/migration/cutover", s.cutoverMigration)
	e.POST("/v1/databases/:db/migration/abort", s.abortMigration)
	e.POST("/v1/databases/:db/migration/rollback", s.rollbackMigration)

	e.GET("/v1/databases", s.listDatabases)
	e.GET("/v1/databases/:db", s.getDatabase)
	e.PUT("/v1/databases/:db", s.putDatabase)
	e.DELETE("/v1/databases/:db", s.deleteDatabase)
	e.POST("/v1/databases/:db/flush", s.flush)
	e.GET("/v1/databases/:db/namespaces", s.namespaces)
	e.GET("/v1/databases/:db/backend", s.getBackend)
	e.PUT("/v1/databases/:db/backend", s.putBackend)
	e.PUT("/v1/databases/:db/maintenance", s.putMaintenance)
	e.POST("/v1/backends/test", s.testBackend)

	kv := e.Group("/v1/databases/:db/kv/:namespace")
	kv.GET("", s.kvInfo)
	kv.DELETE("", s.kvDrop)
	kv.POST("/get", s.kvGet)
	kv.POST("/filter-keys", s.kvFilterKeys)
	kv.POST("/upsert", s.kvUpsert)
	kv.POST("/delete", s.kvDelete)
	kv.GET("/records", s.kvRecords)

	v := e.Group("/v1/databases/:db/vectors/:namespace")
	v.GET("", s.vecInfo)
	v.DELETE("", s.vecDrop)
	v.POST("/upsert", s.vecUpsert)
	v.POST("/query", s.vecQuery)
	v.POST("/get", s.vecGet)
	v.POST("/vectors", s.vecVectors)
	v.POST("/delete", s.vecDelete)
	v.POST("/delete-entity", s.vecDeleteEntity)
	v.POST("/delete-entity-relation", s.vecDeleteEntityRelation)
	v.GET("/records", s.vecRecords)

	g := e.Group("/v1/databases/:db/graphs/:namespace")
	g.GET("", s.graphInfo)
	g.DELETE("", s.graphDrop)
	g.POST("/nodes/has", s.graphHasNodes)
	g.POST("/nodes/get", s.graphGetNodes)
	g.POST("/nodes/degrees", s.graphNodeDegrees)
	g.POST("/nodes/edges", s.graphNodesEdges)
	g.POST("/nodes/upsert", s.graphUpsertNodes)
	g.POST("/nodes/delete", s.graphDeleteNodes)
	g.POST("/nodes/by-chunk-ids", s.graphNodesByChunkIDs)
	g.POST("/edges/has", s.graphHasEdges)
	g.POST("/edges/get", s.graphGetEdges)
	g.POST("/edges/degrees", s.graphEdgeDegrees)
	g.POST("/edges/upsert", s.graphUpsertEdges)
	g.POST("/edges/delete", s.graphDeleteEdges)
	g.POST("/edges/by-chunk-ids", s.graphEdgesByChunkIDs)
	g.GET("/labels", s.graphLabels)
	g.GET("/labels/popular", s.graphPopularLabels)
	g.GET("/labels/search", s.graphSearchLabels)
	g.GET("/nodes", s.graphScanNodes)
	g.GET("/edges", s.graphScanEdges)
	g.POST("/knowledge-graph", s.graphKnowledgeGraph)

	d := e.Group("/v1/databases/:db/doc-status/:namespace")
	d.GET("", s.docInfo)
	d.DELETE("", s.docDrop)
	d.POST("/get", s.docGet)
	d.POST("/filter-keys", s.docFilterKeys)
	d.POST("/upsert", s.docUpsert)
	d.POST("/delete", s.docDelete)
	d.GET("/records", s.docRecords)
	d.GET("/counts", s.docCounts)
	d.POST("/by-statuses", s.docByStatuses)
	d.POST("/by-track-id", s.docByTrackID)
	d.POST("/paginated", s.docPaginated)
	d.POST("/by-file-path", s.docByFilePath)
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

// logMiddleware writes one structured access-log line per request. The
// Authorization header is never logged.
func (s *Server) logMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // writes the response, so the status below is final
		}
		req := c.Request()
		level := slog.LevelInfo
		status := c.Response().Status
		if status >= 500 {
			level = slog.LevelError
		} else if status >= 400 {
			level = slog.LevelWarn
		}
		if s.log.Enabled(req.Context(), level) {
			s.log.LogAttrs(req.Context(), level, "request",
				slog.String(logKeyRequestID, c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.Int("status", status), slog.Int64("bytes", c.Response().Size),
				slog.Duration("duration", time.Since(start)), slog.String("remote", c.RealIP()))
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
		return newAPIError(http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>",
			"this proxy requires a bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(h[len(prefix):]), s.token) != 1 {
		return newAPIError(http.StatusUnauthorized, "unauthorized",
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

// bodyLimitMiddleware rejects bodies over the limit: early by Content-Length,
// and while reading for chunked bodies.
func (s *Server) bodyLimitMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.cfg.MaxBodyBytes {
			return tooLarge(s.cfg.MaxBodyBytes)
		}
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
		}
		return next(c)
	}
}

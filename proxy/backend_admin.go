package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// Backend administration: which backend serves a database, checking a
// connection string, and maintenance mode. Every change goes into
// registry.yaml (registry.Update) and the router reloads it at once:
// in-flight requests finish on the old backend, which is flushed and closed
// after them; new requests open the new one.

type backendRequest struct {
	// Type is a backend type of the catalog ("postgres" with DSN, "json"
	// with an optional Path).
	Type string `json:"type"`
	// Backend names an existing definition in the registry's backends.
	Backend string `json:"backend"`
	// Name is the name of a new definition (default the database's).
	Name              string `json:"name"`
	DSN               string `json:"dsn"`
	Workspace         string `json:"workspace"`
	EmbeddingModel    string `json:"embedding_model"`
	VectorTableNaming string `json:"vector_table_naming"`
	Path              string `json:"path"`
	// Force switches even when the switch would hide or share data.
	Force bool `json:"force"`
}

// validate checks the request's shape; the switcher checks its meaning
// (backends.Switcher.Resolve), with the same codes as the CLI.
func (r *backendRequest) validate() error {
	switch {
	case r.Backend != "" && (r.Type != "" || r.DSN != ""):
		return malformed(`send either {"backend": NAME} or {"type": ..., ...}`, "backend and type/dsn are mutually exclusive")
	case r.Backend == "" && r.Type == "":
		return missing("type")
	}
	return nil
}

func (r *backendRequest) settings() backends.Settings {
	return backends.Settings{Type: r.Type, Backend: r.Backend, Name: r.Name, DSN: r.DSN, Workspace: r.Workspace,
		EmbeddingModel: r.EmbeddingModel, VectorTableNaming: r.VectorTableNaming, Path: r.Path}
}

// BackendInfo is a database's backend as the API and `proxy backend show`
// report it: never with a literal password.
type BackendInfo = backends.Info

// DescribeBackend builds the redacted description of a registry entry with
// this build's backend types.
func DescribeBackend(name string, db registry.Database) BackendInfo {
	return describeCatalog.Describe(name, db)
}

var describeCatalog = backends.Default(nil)

// Switcher is the server's switching service: it counts a database's
// current data through the backend the server has open (unflushed writes
// included) and reloads the registry after a change. The migration uses it
// for SetMaintenance and Cutover.
func (s *Server) Switcher() *backends.Switcher {
	return &backends.Switcher{
		RegistryPath: s.cfg.RegistryPath, DataDir: s.cfg.DataDir, Catalog: s.cfg.Backends, Logger: s.log,
		Current: func(ctx context.Context, name string, fn func(adapters.Backend) error) error {
			h, err := s.router.acquire(ctx, name)
			if err != nil {
				return err
			}
			defer s.router.release(h)
			return fn(h.backend)
		},
		Changed: s.router.forceReload,
	}
}

func (s *Server) getBackend(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	reg := s.router.registry()
	db, ok := reg.Databases[name]
	if !ok {
		return unknownDatabase(name, reg.Names())
	}
	return writeJSON(c, http.StatusOK, s.cfg.Backends.Describe(name, db))
}

// putBackend switches the database through the switching service: validate
// the target, refuse to hide or share data unless forced, save the registry
// and switch without a restart.
func (s *Server) putBackend(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	var req backendRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if err := s.checkAPIPath("path", req.Path); err != nil {
		return err
	}
	res, err := s.Switcher().Switch(ctxOf(c), backends.Request{Database: name, Settings: req.settings(), Force: req.Force})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, res.Info)
}

type backendTestRequest struct {
	DSN     string `json:"dsn"`
	Backend string `json:"backend"`
}

func (r *backendTestRequest) validate() error {
	if (r.DSN == "") == (r.Backend == "") {
		return malformed(`send {"dsn": "postgres://..."} or {"backend": NAME}`, "give exactly one of dsn and backend")
	}
	return nil
}

// backendTestBody is the answer of POST /v1/backends/test: the check's
// report is the descriptor's own (PostgreSQL: postgres.Report).
type backendTestBody struct {
	OK     bool            `json:"ok"`
	Report postgres.Report `json:"report"`
}

type backendTestAnswer struct {
	OK     bool `json:"ok"`
	Report any  `json:"report"`
}

// testBackend runs a definition's connection check (a PostgreSQL connection
// string, or a named definition of any type) without saving anything.
func (s *Server) testBackend(c echo.Context) error {
	var req backendTestRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	// A bare connection string is PostgreSQL's, as the route documents.
	def := registry.BackendDef{Type: registry.BackendPostgres, DSN: req.DSN}
	if req.Backend != "" {
		d, ok := s.router.registry().Backends[req.Backend]
		if !ok {
			return newAPIError(kindInvalid, "unknown_backend",
				"define it in registry.yaml's backends section", "no backend named %q", req.Backend)
		}
		def = d
	}
	entry := registry.Database{Backend: req.Backend, Resolved: def}
	if entry.Backend == "" {
		entry.Backend = "test"
	}
	desc, err := s.cfg.Backends.For(entry)
	if err != nil {
		return err
	}
	if desc.Check == nil {
		return newAPIError(kindInvalid, "invalid_argument", "test another backend",
			"backend type %q has no connection check", desc.Type)
	}
	rep, err := desc.Check(ctxOf(c), entry, s.cfg.DataDir, backends.CheckOptions{})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, backendTestAnswer{OK: true, Report: rep})
}

type maintenanceRequest struct {
	Enabled *bool `json:"enabled"`
}

func (r *maintenanceRequest) validate() error {
	if r.Enabled == nil {
		return missing("enabled")
	}
	return nil
}

type maintenanceBody struct {
	Database    string `json:"database"`
	Maintenance bool   `json:"maintenance"`
}

// putMaintenance turns a database's maintenance mode on or off; the flag
// lives in registry.yaml so every proxy reading it agrees, and toggling it
// does not reopen the backend.
func (s *Server) putMaintenance(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	var req maintenanceRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	err := s.Switcher().SetMaintenance(ctxOf(c), name, *req.Enabled)
	var unknown *backends.UnknownDatabaseError
	if errors.As(err, &unknown) {
		return unknownDatabase(name, unknown.Known)
	}
	if err != nil {
		return err
	}
	s.log.Info("maintenance mode", slog.String(logKeyDB, name), slog.Bool("enabled", *req.Enabled))
	return writeJSON(c, http.StatusOK, maintenanceBody{Database: name, Maintenance: *req.Enabled})
}

// maintenanceMiddleware answers writes to a database in maintenance mode
// with 503 + Retry-After; reads go on.
func (s *Server) maintenanceMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r, ok := s.routeOf(c); !ok || !r.write {
			return next(c)
		}
		name := pathParam(c, "db")
		if db, ok := s.router.registry().Databases[name]; ok && db.Maintenance {
			return newAPIError(kindUnavailable, "maintenance",
				fmt.Sprintf("writes resume when an administrator ends maintenance (proxy backend maintenance %s off, or PUT /v1/databases/%s/maintenance {\"enabled\": false})", name, name),
				"database %q is in maintenance mode: reads are served, writes are refused", name)
		}
		if shared, err := s.sharedMaintenance(c, name); err != nil {
			return err
		} else if shared {
			return newAPIError(kindUnavailable, "maintenance",
				"writes resume when the proxy that set maintenance (a migration, or an administrator) ends it",
				"database %q is in maintenance mode on its PostgreSQL database (set through another proxy): reads are served, writes are refused", name)
		}
		return next(c)
	}
}

// sharedMaintenance reports whether another proxy put the database's shared
// backend (PostgreSQL) in maintenance; an unknown database is left to the
// handler's own error.
func (s *Server) sharedMaintenance(c echo.Context, name string) (bool, error) {
	if _, ok := s.router.registry().Databases[name]; !ok {
		return false, nil
	}
	h, err := s.router.acquire(ctxOf(c), name)
	if err != nil {
		return false, err
	}
	defer s.router.release(h)
	sm, ok := own(h.backend).(adapters.SharedMaintenance)
	if !ok {
		return false, nil
	}
	return sm.InMaintenance(ctxOf(c))
}

// own is the database's own backend: during a live migration the router
// serves it wrapped in the migration's dual backend.
func own(b adapters.Backend) adapters.Backend {
	if w, ok := b.(interface{ Unwrap() adapters.Backend }); ok {
		return w.Unwrap()
	}
	return b
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/registry"
)

// Backend administration: which backend serves a database, checking a
// connection string, and maintenance mode. Every change goes into
// registry.yaml (registry.Update) and the router reloads it at once:
// in-flight requests finish on the old backend, which is flushed and closed
// after them; new requests open the new one.

// dataCheckTimeout bounds opening the current and target backends to see
// whether a switch would hide data.
const dataCheckTimeout = 30 * time.Second

type backendRequest struct {
	// Type is "postgres" (with DSN) or "json" (with an optional Path).
	Type string `json:"type"`
	// Backend names an existing definition in the registry's backends.
	Backend           string `json:"backend"`
	DSN               string `json:"dsn"`
	Workspace         string `json:"workspace"`
	EmbeddingModel    string `json:"embedding_model"`
	VectorTableNaming string `json:"vector_table_naming"`
	Path              string `json:"path"`
	// Force switches even when the current backend holds data and the new
	// one is empty.
	Force bool `json:"force"`
}

func (r *backendRequest) validate() error {
	switch {
	case r.Backend != "" && (r.Type != "" || r.DSN != ""):
		return malformed(`send either {"backend": NAME} or {"type": ..., ...}`, "backend and type/dsn are mutually exclusive")
	case r.Backend != "":
		return nil
	case r.Type == registry.BackendPostgres:
		if r.DSN == "" {
			return missing("dsn")
		}
	case r.Type == registry.BackendJSON:
		if r.DSN != "" {
			return malformed("drop dsn for a JSON backend", "a JSON backend takes no dsn")
		}
	case r.Type == "":
		return missing("type")
	default:
		return newAPIError(http.StatusUnprocessableEntity, "invalid_argument", "use postgres or json",
			"backend type %q is not known", r.Type)
	}
	return nil
}

// BackendInfo is a database's backend as the API and `proxy backend show`
// report it: never with a literal password.
type BackendInfo struct {
	Database          string `json:"database"`
	Type              string `json:"type"`
	Backend           string `json:"backend"` // "json" or the definition's name
	DSN               string `json:"dsn,omitempty"`
	Workspace         string `json:"workspace,omitempty"`
	EmbeddingModel    string `json:"embedding_model,omitempty"`
	VectorTableNaming string `json:"vector_table_naming,omitempty"`
	Path              string `json:"path,omitempty"`
	Maintenance       bool   `json:"maintenance"`
}

// DescribeBackend builds the redacted description of a registry entry.
func DescribeBackend(name string, db registry.Database) BackendInfo {
	out := BackendInfo{Database: name, Type: db.BackendType(), Backend: db.Backend, Maintenance: db.Maintenance}
	if out.Backend == "" {
		out.Backend = registry.BackendJSON
	}
	if out.Type == registry.BackendJSON {
		out.Path, out.Workspace = db.Path, db.Workspace
		return out
	}
	out.DSN = db.Resolved.RedactedDSN()
	out.Workspace = db.PostgresWorkspace()
	out.EmbeddingModel = db.Resolved.EmbeddingModel
	out.VectorTableNaming = db.Resolved.VectorTableNaming
	if out.VectorTableNaming == "" {
		out.VectorTableNaming = registry.NamingSuffixed
	}
	return out
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
	return writeJSON(c, http.StatusOK, DescribeBackend(name, db))
}

// putBackend validates the new backend, refuses to hide data unless forced,
// saves the registry and switches without a restart.
func (s *Server) putBackend(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	var req backendRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	ctx := ctxOf(c)
	reg := s.router.registry()
	cur, exists := reg.Databases[name]

	// The new entry, resolved as the registry will resolve it.
	next := cur
	next.Resolved = registry.BackendDef{}
	var def *registry.BackendDef
	switch {
	case req.Backend != "":
		if req.Backend == registry.BackendJSON {
			return malformed(`use {"type": "json"}`, "json is a backend type, not a definition name")
		}
		d, ok := reg.Backends[req.Backend]
		if !ok {
			return newAPIError(http.StatusUnprocessableEntity, "unknown_backend",
				"define it in registry.yaml's backends section, or send type and dsn", "no backend named %q", req.Backend)
		}
		next.Backend, next.Resolved = req.Backend, d
	case req.Type == registry.BackendPostgres:
		d := registry.BackendDef{Type: registry.BackendPostgres, DSN: req.DSN, Workspace: req.Workspace,
			EmbeddingModel: req.EmbeddingModel, VectorTableNaming: req.VectorTableNaming}
		if err := d.Validate(); err != nil {
			return newAPIError(http.StatusUnprocessableEntity, "invalid_argument", "fix the backend definition", "%v", err)
		}
		def = &d
		next.Backend, next.Resolved = name, d
	default: // json
		next.Backend = registry.BackendJSON
		if req.Path != "" {
			next.Path = req.Path
		}
		if next.Path == "" {
			next.Path = name
		}
	}
	if err := next.Validate(); err != nil {
		return newAPIError(http.StatusUnprocessableEntity, "invalid_argument", "fix the database entry", "%v", err)
	}
	if _, ok := s.cfg.Openers[next.BackendType()]; !ok {
		return newAPIError(http.StatusUnprocessableEntity, "invalid_argument", "use a backend this proxy supports",
			"backend type %q is not supported by this proxy", next.BackendType())
	}
	if next.BackendType() == registry.BackendPostgres {
		if _, err := validateDef(ctx, next.Resolved); err != nil {
			return err
		}
	}
	if exists && !req.Force && !next.SameBackend(cur) {
		if err := s.checkSwitch(ctx, name, next); err != nil {
			return err
		}
	}
	err := registry.Update(s.cfg.RegistryPath, func(r *registry.Registry) error {
		if def != nil {
			if r.Backends == nil {
				r.Backends = map[string]registry.BackendDef{}
			}
			r.Backends[name] = *def
		}
		db := r.Databases[name] // keeps maintenance, path and workspace
		db.Backend, db.Path = next.Backend, next.Path
		r.Databases[name] = db
		return nil
	})
	if err != nil {
		return newAPIError(http.StatusUnprocessableEntity, "invalid_argument", "fix the backend definition", "%v", err)
	}
	s.router.forceReload()
	s.log.Info("database backend changed", slog.String(logKeyDB, name), slog.String("backend", next.Backend),
		slog.String("type", next.BackendType()), slog.Bool("forced", req.Force))
	now := s.router.registry()
	return writeJSON(c, http.StatusOK, DescribeBackend(name, now.Databases[name]))
}

// validateDef expands the DSN and checks the server (postgres.Validate).
func validateDef(ctx context.Context, def registry.BackendDef) (postgres.Report, error) {
	dsn, err := def.ExpandDSN()
	if err != nil {
		return postgres.Report{}, newAPIError(http.StatusUnprocessableEntity, "invalid_argument",
			"set the variable in the proxy's environment, or write the value", "%v", err)
	}
	return postgres.Validate(ctx, dsn, postgres.ValidateOptions{})
}

// checkSwitch refuses to switch a database whose current backend holds data
// to a backend whose default workspace is empty: the data would seem lost.
func (s *Server) checkSwitch(ctx context.Context, name string, next registry.Database) error {
	ctx, cancel := context.WithTimeout(ctx, dataCheckTimeout)
	defer cancel()
	h, err := s.router.acquire(ctx, name)
	if err != nil {
		return switchRefused("cannot tell whether the current backend of %s holds data (%v); pass force to switch anyway", name, err)
	}
	// A PostgreSQL server may hold other databases' workspaces: count only
	// this database's default workspace there, a JSON folder whole.
	curRecords, err := countRecords(ctx, h.backend, h.entry.BackendType() != registry.BackendJSON)
	s.router.release(h)
	if err != nil {
		return switchRefused("cannot tell whether the current backend of %s holds data (%v); pass force to switch anyway", name, err)
	}
	if curRecords == 0 {
		return nil
	}
	b, err := s.cfg.Openers[next.BackendType()](ctx, name, next, s.cfg.DataDir)
	if err != nil {
		return switchRefused("cannot open the new backend of %s to check it (%v); pass force to switch anyway", name, err)
	}
	defer func() {
		if err := b.Close(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("close backend after the switch check", slog.String(logKeyDB, name), slog.Any("error", err))
		}
	}()
	newRecords, err := countRecords(ctx, b, true)
	if err != nil {
		return switchRefused("cannot read the new backend of %s (%v); pass force to switch anyway", name, err)
	}
	if newRecords == 0 {
		return switchRefused("database %s holds %d records and the new backend is empty: LightRAG would see an empty database. "+
			"Migrate the data first (copy it into the new backend), then switch; pass force to switch anyway", name, curRecords)
	}
	return nil
}

// countRecords sums the records a backend holds (only its default
// workspace when defaultOnly: a shared PostgreSQL server holds others).
func countRecords(ctx context.Context, b adapters.Backend, defaultOnly bool) (int64, error) {
	infos, err := b.Namespaces(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, in := range infos {
		if defaultOnly && in.Workspace != "" {
			continue
		}
		n += in.Records
	}
	return n, nil
}

func switchRefused(format string, args ...any) *apiError {
	return newAPIError(http.StatusConflict, "switch_refused",
		"migrate the data to the new backend first, or repeat with force (--force) to switch anyway", format, args...)
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

type backendTestBody struct {
	OK     bool            `json:"ok"`
	Report postgres.Report `json:"report"`
}

// testBackend validates a connection string (or a named definition)
// without saving anything.
func (s *Server) testBackend(c echo.Context) error {
	var req backendTestRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	def := registry.BackendDef{Type: registry.BackendPostgres, DSN: req.DSN}
	if req.Backend != "" {
		d, ok := s.router.registry().Backends[req.Backend]
		if !ok {
			return newAPIError(http.StatusUnprocessableEntity, "unknown_backend",
				"define it in registry.yaml's backends section", "no backend named %q", req.Backend)
		}
		def = d
	}
	rep, err := validateDef(ctxOf(c), def)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, backendTestBody{OK: true, Report: rep})
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
	var known []string
	err := registry.Update(s.cfg.RegistryPath, func(r *registry.Registry) error {
		db, ok := r.Databases[name]
		if !ok {
			known = r.Names()
			return errNoSuchDatabase
		}
		db.Maintenance = *req.Enabled
		r.Databases[name] = db
		return nil
	})
	if errors.Is(err, errNoSuchDatabase) {
		return unknownDatabase(name, known)
	}
	if err != nil {
		return err
	}
	s.router.forceReload()
	s.log.Info("maintenance mode", slog.String(logKeyDB, name), slog.Bool("enabled", *req.Enabled))
	return writeJSON(c, http.StatusOK, maintenanceBody{Database: name, Maintenance: *req.Enabled})
}

// writeSuffixes are the storage routes that change data.
var writeSuffixes = []string{"/upsert", "/delete", "/delete-entity", "/delete-entity-relation"}

// isWriteRoute reports whether the matched route changes a namespace.
func isWriteRoute(method, route string) bool {
	if !strings.HasPrefix(route, "/v1/databases/:db/") || !strings.Contains(route, "/:namespace") {
		return false
	}
	if method == http.MethodDelete {
		return true // drop
	}
	if method != http.MethodPost {
		return false
	}
	for _, suf := range writeSuffixes {
		if strings.HasSuffix(route, suf) {
			return true
		}
	}
	return false
}

// maintenanceMiddleware answers writes to a database in maintenance mode
// with 503 + Retry-After; reads go on.
func (s *Server) maintenanceMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !isWriteRoute(c.Request().Method, c.Path()) {
			return next(c)
		}
		name := pathParam(c, "db")
		if db, ok := s.router.registry().Databases[name]; ok && db.Maintenance {
			return newAPIError(http.StatusServiceUnavailable, "maintenance",
				fmt.Sprintf("writes resume when an administrator ends maintenance (proxy backend maintenance %s off, or PUT /v1/databases/%s/maintenance {\"enabled\": false})", name, name),
				"database %q is in maintenance mode: reads are served, writes are refused", name)
		}
		return next(c)
	}
}

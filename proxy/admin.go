package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// pingTimeout bounds each backend's Ping in /readyz and GET /v1/databases/{db}.
const pingTimeout = 5 * time.Second

type databaseOut struct {
	Name      string `json:"name"`
	Backend   string `json:"backend"`
	Path      string `json:"path"`
	Workspace string `json:"workspace"`
}

type databasesBody struct {
	Databases []databaseOut `json:"databases"`
}

type databaseDetailBody struct {
	databaseOut
	Capabilities adapters.Capabilities `json:"capabilities"`
}

func (s *Server) databaseOut(name string, db registry.Database) databaseOut {
	out := databaseOut{Name: name, Backend: db.BackendType(), Path: db.Path, Workspace: db.Workspace}
	if p, err := db.ResolvePath(s.cfg.DataDir); err == nil && db.Path != "" {
		out.Path = p
	}
	return out
}

func (s *Server) listDatabases(c echo.Context) error {
	reg := s.router.registry()
	out := databasesBody{Databases: []databaseOut{}}
	for _, name := range reg.Names() {
		out.Databases = append(out.Databases, s.databaseOut(name, reg.Databases[name]))
	}
	return writeJSON(c, http.StatusOK, out)
}

// getDatabase pings the database: a cheap readiness check for one database
// (proxyclient's Ping) that also reports its capabilities. Like /readyz it
// creates nothing: a store that is not open is checked, not opened.
func (s *Server) getDatabase(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctxOf(c), pingTimeout)
	defer cancel()
	var out databaseDetailBody
	checked, err := s.checkUnopened(ctx, name, func(entry registry.Database, desc *backends.Descriptor) {
		out = databaseDetailBody{databaseOut: s.databaseOut(name, entry), Capabilities: desc.Capabilities}
	})
	if checked {
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, out)
	}
	h, err := s.router.acquire(ctx, name)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	if err := h.backend.Ping(ctx); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, databaseDetailBody{databaseOut: s.databaseOut(h.name, h.entry),
		Capabilities: h.backend.Capabilities()})
}

// checkUnopened checks, without opening it, a database that is not open and
// whose type can be checked that way (Descriptor.Probe: a JSON folder, whose
// opening would create the folder, its lock and its log); checked is false
// when the database must be opened to be checked. ok, when not nil, is
// called with the entry and descriptor of a check that passed.
func (s *Server) checkUnopened(ctx context.Context, name string, ok func(registry.Database, *backends.Descriptor)) (checked bool, err error) {
	ran, err := s.router.whileUnopened(name, func(entry registry.Database) error {
		desc, known := s.cfg.Backends.Get(entry.BackendType())
		if !known || desc.Check == nil || desc.Probe == nil {
			return errOpenToCheck
		}
		if _, err := desc.Check(ctx, entry, s.cfg.DataDir, backends.CheckOptions{Timeout: pingTimeout}); err != nil {
			return err
		}
		if err := desc.Probe(entry, s.cfg.DataDir); err != nil {
			return err
		}
		if ok != nil {
			ok(entry, desc)
		}
		return nil
	})
	if errors.Is(err, errOpenToCheck) {
		return false, nil
	}
	return ran, err
}

// errOpenToCheck: the database's type can only be checked by opening it.
var errOpenToCheck = errors.New("open to check")

func (s *Server) putDatabase(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	var req databaseRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if err := s.checkAPIPath("path", req.Path); err != nil {
		return err
	}
	entry := registry.Database{Backend: req.Backend, Path: req.Path, Workspace: req.Workspace}
	if err := entry.Validate(); err != nil {
		return newAPIError(kindInvalid, "invalid_argument", "fix the database entry", "%v", err)
	}
	if def, ok := s.router.registry().Backends[entry.Backend]; ok { // a named backend (backends.go)
		entry.Resolved = def
	}
	if _, err := s.cfg.Backends.For(entry); err != nil {
		return err
	}
	if entry.BackendType() == registry.BackendJSON {
		if dir, err := entry.ResolvePath(s.cfg.DataDir); err == nil {
			if st, err := os.Stat(dir); err == nil && !st.IsDir() {
				return newAPIError(kindInvalid, "invalid_argument",
					"give the folder of a LightRAG working directory", "path %q is a file, not a folder", req.Path)
			}
		}
	}
	err := registry.Update(s.cfg.RegistryPath, func(r *registry.Registry) error {
		r.Databases[name] = entry
		return nil
	})
	if err != nil {
		return err
	}
	s.router.forceReload()
	return writeJSON(c, http.StatusOK, s.databaseOut(name, entry))
}

var errNoSuchDatabase = errors.New("no such database")

func (s *Server) deleteDatabase(c echo.Context) error {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return err
	}
	var known []string
	err := registry.Update(s.cfg.RegistryPath, func(r *registry.Registry) error {
		if _, ok := r.Databases[name]; !ok {
			known = r.Names()
			return errNoSuchDatabase
		}
		delete(r.Databases, name)
		return nil
	})
	if errors.Is(err, errNoSuchDatabase) {
		return unknownDatabase(name, known)
	}
	if err != nil {
		return err
	}
	s.router.forceReload()
	return writeJSON(c, http.StatusOK, struct {
		Removed string `json:"removed"`
	}{Removed: name})
}

type namespacesBody struct {
	Namespaces []adapters.NamespaceInfo `json:"namespaces"`
}

func (s *Server) namespaces(c echo.Context) error {
	h, err := s.database(c)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	infos, err := h.backend.Namespaces(ctxOf(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, namespacesBody{Namespaces: nonNil(infos)})
}

func (s *Server) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, struct {
		Status string `json:"status"`
	}{Status: "ok"})
}

type readyDB struct {
	Ready bool       `json:"ready"`
	Error *ErrorBody `json:"error,omitempty"`
}

type readyBody struct {
	Ready     bool               `json:"ready"`
	Databases map[string]readyDB `json:"databases,omitempty"`
}

// readyz opens and pings every registered database.
func (s *Server) readyz(c echo.Context) error {
	reg := s.router.registry()
	body := readyBody{Ready: true, Databases: map[string]readyDB{}}
	names := reg.Names()
	sort.Strings(names)
	for _, name := range names {
		err := s.pingDatabase(ctxOf(c), name)
		if err == nil {
			body.Databases[name] = readyDB{Ready: true}
			continue
		}
		body.Ready = false
		_, eb, known := mapError(err)
		if !known { // internal details go to the log only
			s.log.Error("readiness check failed", slog.String(logKeyDB, name), slog.Any("error", err))
		}
		body.Databases[name] = readyDB{Error: &eb}
	}
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if s.authorize(c.Request()) != nil {
		// Without the token the answer is the status alone: database
		// names and errors (hosts, users, variable names) are for clients.
		body.Databases = nil
	}
	return writeJSON(c, status, body)
}

func (s *Server) pingDatabase(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if checked, err := s.checkUnopened(ctx, name, nil); checked {
		return err
	}
	h, err := s.router.acquire(ctx, name)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	return h.backend.Ping(ctx)
}

func (s *Server) version(c echo.Context) error {
	return writeJSON(c, http.StatusOK, struct {
		Version string `json:"version"`
		API     string `json:"api"`
	}{Version: s.cfg.Version, API: "v1"})
}

func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", OpenAPISpec)
}

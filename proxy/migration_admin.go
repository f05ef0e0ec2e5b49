package proxy

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/migration"
)

// Migration administration: POST /v1/databases/{db}/migration starts moving
// a database to another backend in the background (the proxy keeps serving
// its reads; writes answer 503 + Retry-After while it copies), GET follows
// it, DELETE cancels it (resumable), POST .../verify compares again.

// newMigrations builds the server's migration manager: it flushes through
// the backend the router has open and switches through the server's
// switching service, so the registry, maintenance and cutover follow the
// same path as PUT .../backend.
func (s *Server) newMigrations() *migration.Manager {
	return &migration.Manager{Runner: &migration.Runner{
		Switcher: s.Switcher(),
		Log:      s.log,
		Flush: func(ctx context.Context, name string) error {
			h, err := s.router.acquire(ctx, name)
			if err != nil {
				return err
			}
			defer s.router.release(h)
			return h.backend.Flush(ctx)
		},
	}}
}

type migrationRequest struct{ migration.Request }

func (r *migrationRequest) validate() error { return r.Request.Validate() }

func (s *Server) knownDatabase(c echo.Context) (string, error) {
	name := pathParam(c, "db")
	if err := adapters.ValidateName("database", name); err != nil {
		return "", err
	}
	reg := s.router.registry()
	if _, ok := reg.Databases[name]; !ok {
		return "", unknownDatabase(name, reg.Names())
	}
	return name, nil
}

func (s *Server) startMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	var req migrationRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if err := s.checkAPIPath("path", req.Path); err != nil {
		return err
	}
	if req.Live() {
		lj, err := s.live.Start(ctxOf(c), name, req.Request)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusAccepted, lj.Status())
	}
	if j, ok := s.live.Get(name); ok && j.Running() {
		return adapters.Errorf(adapters.ErrConflict, "migration_running",
			"follow it with GET /v1/databases/"+name+"/migration, or abort it with POST .../migration/abort",
			"a live migration of database %s is running", name)
	}
	j, err := s.migrations.Start(ctxOf(c), name, req.Request)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, j.Status())
}

// lastJob is the running (or last) migration of the request's database.
func (s *Server) lastJob(c echo.Context) (string, *migration.Job, error) {
	name, err := s.knownDatabase(c)
	if err != nil {
		return "", nil, err
	}
	j, ok := s.migrations.Get(name)
	if !ok {
		return "", nil, noMigration(name)
	}
	return name, j, nil
}

// liveJob is the database's live migration when it is the one to show: a
// running one, or the last one when no offline migration ran since.
func (s *Server) liveJob(name string) (*migration.LiveJob, bool) {
	lj, ok := s.live.Get(name)
	if !ok {
		return nil, false
	}
	if j, off := s.migrations.Get(name); off && !lj.Running() && j.Status().Progress.Started.After(lj.Status().Started) {
		return nil, false
	}
	return lj, true
}

func (s *Server) getMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	if lj, ok := s.liveJob(name); ok {
		return writeJSON(c, http.StatusOK, lj.Status())
	}
	_, j, err := s.lastJob(c)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, j.Status())
}

func (s *Server) cancelMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	if lj, ok := s.liveJob(name); ok && lj.Running() {
		return s.abortLive(c, name)
	}
	_, j, err := s.lastJob(c)
	if err != nil {
		return err
	}
	s.migrations.Cancel(name)
	return writeJSON(c, http.StatusOK, j.Status())
}

type verifyBody struct {
	Checks []migration.Check `json:"checks"`
	OK     bool              `json:"ok"`
}

type verifyRequest struct {
	// Settings name the PostgreSQL side for a database still on JSON.
	backends.Settings
}

func (s *Server) verifyMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	var req verifyRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	var other *backends.Settings
	if req.Settings != (backends.Settings{}) {
		other = &req.Settings
	}
	checks, err := s.migrations.Runner.VerifyNow(ctxOf(c), name, other)
	if err != nil {
		return err
	}
	body := verifyBody{Checks: checks, OK: true}
	for _, ch := range checks {
		body.OK = body.OK && ch.OK()
	}
	return writeJSON(c, http.StatusOK, body)
}

func noMigration(name string) *apiError {
	return newAPIError(kindNotFound, "no_migration",
		"start one with POST /v1/databases/"+name+"/migration (proxy migrate "+name+" --to postgres --dsn DSN)",
		"no migration of database %s has run since this proxy started", name)
}

// migrationProgress is the running (or last) migration of a database, for
// its status.
func (s *Server) migrationProgress(name string) *migration.Progress {
	if s.migrations == nil {
		return nil
	}
	j, ok := s.migrations.Get(name)
	if !ok {
		return nil
	}
	p := j.Status().Progress
	return &p
}

// Live migration control: cutover, abort, rollback.

type cutoverRequest struct {
	// Force cuts over without waiting for the clean window.
	Force bool `json:"force,omitempty"`
}

func (s *Server) cutoverMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	var req cutoverRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	lj, err := s.live.Cutover(name, req.Force)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, lj.Status())
}

func (s *Server) abortMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	return s.abortLive(c, name)
}

func (s *Server) abortLive(c echo.Context, name string) error {
	lj, err := s.live.Abort(ctxOf(c), name)
	if err != nil {
		return err
	}
	if lj == nil {
		return writeJSON(c, http.StatusOK, map[string]any{"database": name, "state": migration.LiveAborted})
	}
	return writeJSON(c, http.StatusOK, lj.Status())
}

// rollbackRequest is a rollback's live settings: it moves the database back
// into its archive, so it names no target.
type rollbackRequest struct {
	ShadowShare       *float64 `json:"shadow_share,omitempty"`
	CleanRequests     *int64   `json:"clean_requests,omitempty"`
	CleanMinutes      *float64 `json:"clean_minutes,omitempty"`
	Cutover           string   `json:"cutover,omitempty"`
	AbortAfterSeconds *float64 `json:"abort_after_seconds,omitempty"`
}

func (s *Server) rollbackMigration(c echo.Context) error {
	name, err := s.knownDatabase(c)
	if err != nil {
		return err
	}
	var req rollbackRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	lj, err := s.live.Rollback(ctxOf(c), name, migration.Request{Mode: migration.ModeLive, ShadowShare: req.ShadowShare,
		CleanRequests: req.CleanRequests, CleanMinutes: req.CleanMinutes, Cutover: req.Cutover, AbortAfterSeconds: req.AbortAfterSeconds})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, lj.Status())
}

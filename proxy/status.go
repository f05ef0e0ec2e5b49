package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// statusBody answers GET /v1/status.
type statusBody struct {
	Healthy   bool             `json:"healthy"`
	Databases []monitor.Status `json:"databases"`
}

// newMonitor builds the size and ingestion-rate monitor over the server's
// hot-reloaded registry (nil when Config.NoMonitor).
func (s *Server) newMonitor() *monitor.Monitor {
	if s.cfg.NoMonitor {
		return nil
	}
	mc := monitor.Config{Registry: s.router.registry, DataDir: s.cfg.DataDir, Logger: s.log,
		ProxyURL: s.cfg.PublicURL, Now: s.cfg.MonitorNow}
	if t := s.cfg.Telemetry; t != nil {
		mc.TracerProvider, mc.MeterProvider = t.TracerProvider, t.MeterProvider
	}
	return monitor.New(mc)
}

// collector builds statuses. PostgreSQL statistics come from the opened
// backend (its pool), so the server needs no connection settings of its own.
func (s *Server) collector() monitor.Collector {
	return monitor.Collector{DataDir: s.cfg.DataDir, ProxyURL: s.cfg.PublicURL,
		Postgres: func(name string, _ registry.Database) (monitor.PostgresInspector, error) {
			return monitor.PostgresInspectorFunc(func(ctx context.Context) (adapters.DBStats, error) {
				h, err := s.router.acquire(ctx, name)
				if err != nil {
					return adapters.DBStats{}, err
				}
				defer s.router.release(h)
				insp, ok := own(h.backend).(monitor.PostgresInspector)
				if !ok {
					return adapters.DBStats{}, errNoStats
				}
				return insp.Stats(ctx)
			}), nil
		}}
}

type noStatsError struct{}

func (noStatsError) Error() string { return "this backend does not report PostgreSQL statistics" }

var errNoStats = noStatsError{}

// withLive adds the monitor's live warnings (ingestion rate) to a status
// built from the file system.
func (s *Server) withLive(st monitor.Status) monitor.Status {
	st.Migration = s.migrationProgress(st.Name)
	if w, ok := s.checks.warning(st.Name); ok {
		st.Healthy = false
		st.Warnings = append(st.Warnings, w)
	}
	if j, ok := s.live.Get(st.Name); ok {
		ls := j.Status()
		st.LiveMigration = &ls
	}
	if s.mon == nil {
		return st
	}
	for _, w := range s.mon.Active(st.Name) {
		if w.Code == monitor.CodeRateDegraded {
			st.Warnings = append(st.Warnings, w)
		}
	}
	return st
}

func (s *Server) status(c echo.Context) error {
	reg := s.router.registry()
	sts := s.collector().All(ctxOf(c), reg)
	body := statusBody{Healthy: true, Databases: make([]monitor.Status, 0, len(sts))}
	for _, st := range sts {
		body.Healthy = body.Healthy && st.Healthy
		body.Databases = append(body.Databases, s.withLive(st))
	}
	return writeJSON(c, http.StatusOK, body)
}

func (s *Server) databaseStatus(c echo.Context) error {
	name := pathParam(c, "db")
	reg := s.router.registry()
	if _, ok := reg.Databases[name]; !ok {
		return unknownDatabase(name, reg.Names())
	}
	return writeJSON(c, http.StatusOK, s.withLive(s.collector().Database(ctxOf(c), reg, name)))
}

// recordFlush reports a flush's duration to the monitor (the likely cause
// named when ingestion slows down).
func (s *Server) recordFlush(db string, d time.Duration) {
	if s.mon != nil {
		s.mon.RecordFlush(db, d)
	}
}

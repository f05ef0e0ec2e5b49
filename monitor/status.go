// Package monitor reports the state of every database (`proxy status`, the
// status routes) and, while the proxy runs, warns before JSON storage gets
// too large or ingestion slows down.
package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// BackendPostgres is the registry's backend type for PostgreSQL databases:
// the default of Collector.ServerStats for callers without a catalog.
const BackendPostgres = "postgres"

// DefaultPostgresTimeout bounds the PostgreSQL part of one database's status,
// so a whole status answers within 5 seconds even when a server is down.
const DefaultPostgresTimeout = 3 * time.Second

// Status is one database's status: the JSON of `proxy status --json` and of
// GET /v1/status (documented in the README; keep it stable).
type Status struct {
	Name    string `json:"name"`
	Backend string `json:"backend"`
	// Healthy is false when the database cannot be served: its folder cannot
	// be read, or its PostgreSQL server cannot be reached. Size warnings do
	// not make a database unhealthy.
	Healthy    bool                `json:"healthy"`
	Error      string              `json:"error,omitempty"`
	Path       string              `json:"path,omitempty"`
	Files      []File              `json:"files"`
	TotalBytes int64               `json:"total_bytes"`
	TotalHuman string              `json:"total_human"`
	Thresholds registry.Thresholds `json:"thresholds"`
	Warnings   []Warning           `json:"warnings"`
	Postgres   *PostgresStatus     `json:"postgres,omitempty"`
	// Migration is the database's running (or last) migration in this
	// proxy: phase, progress and ETA (spec US4-2).
	Migration *migration.Progress `json:"migration,omitempty"`
	// LiveMigration is the database's live migration in this proxy
	// (running or last): phase, copy progress, verification, shadow reads.
	LiveMigration *migration.LiveStatus `json:"live_migration,omitempty"`
}

// File is one LightRAG file of a JSON database.
type File struct {
	File          string `json:"file"`
	Bytes         int64  `json:"bytes"`
	Human         string `json:"human"`
	OverThreshold bool   `json:"over_threshold"`
	// Approaching is true at Thresholds.ApproachPercent of the threshold
	// and below it (false once over).
	Approaching bool `json:"approaching_threshold,omitempty"`
}

// Warning is an active warning and what to do about it.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Command string `json:"command"`
}

// Warning codes.
const (
	CodeFileOverThreshold  = "file_over_threshold"
	CodeTotalOverThreshold = "total_over_threshold"
	// Approaching: at approach_percent (80%) of a threshold, not over it.
	CodeFileApproaching  = "file_approaching_threshold"
	CodeTotalApproaching = "total_approaching_threshold"
	CodeRateDegraded     = "ingestion_rate_degraded"
	CodePostgresDown     = "postgres_unreachable"
	CodeFolderUnreadable = "folder_unreadable"
	// CodeBackendConfigInvalid: the database's backend in the registry (a
	// PostgreSQL DSN) fails its connection check (the proxy's status only).
	CodeBackendConfigInvalid = "backend_config_invalid"
)

// PostgresStatus is the PostgreSQL part of a status. Error is "" when
// Connected.
type PostgresStatus struct {
	Connected       bool                  `json:"connected"`
	Error           string                `json:"error"`
	ServerVersion   string                `json:"server_version"`
	PgvectorVersion string                `json:"pgvector_version"`
	DatabaseBytes   int64                 `json:"database_bytes"`
	LatencyMS       float64               `json:"latency_ms"`
	Tables          []adapters.TableStats `json:"tables"`
}

// PostgresInspector reads a PostgreSQL database's statistics
// (adapters/postgres: (*Backend).Stats, or InspectDSN for a one-off look).
type PostgresInspector = adapters.StatsReporter

// PostgresInspectorFunc adapts a function.
type PostgresInspectorFunc func(ctx context.Context) (adapters.DBStats, error)

// Stats calls f.
func (f PostgresInspectorFunc) Stats(ctx context.Context) (adapters.DBStats, error) { return f(ctx) }

// InspectorFor returns the inspector of a PostgreSQL database entry; it is
// how the registry's connection settings reach this package.
type InspectorFor func(name string, db registry.Database) (PostgresInspector, error)

// Collector builds statuses from the registry and the file system; it never
// needs a running proxy.
type Collector struct {
	DataDir string
	// Postgres inspects PostgreSQL databases; nil reports them as not
	// inspectable.
	Postgres        InspectorFor
	PostgresTimeout time.Duration // default DefaultPostgresTimeout
	// ServerStats reports whether a backend type reports server statistics
	// (its status has the server part, through Postgres, instead of files):
	// backends.Catalog.HasStats. Nil: only BackendPostgres does.
	ServerStats func(backendType string) bool
	// ProxyURL is the base URL put in curl commands (default
	// http://127.0.0.1:8080).
	ProxyURL string
}

// All returns the status of every database in reg, sorted by name. Databases
// are inspected concurrently.
func (c Collector) All(ctx context.Context, reg *registry.Registry) []Status {
	names := reg.Names()
	out := make([]Status, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.Database(ctx, reg, name)
		}()
	}
	wg.Wait()
	return out
}

// Database returns one database's status; ok is false when reg has no such
// database.
func (c Collector) Database(ctx context.Context, reg *registry.Registry, name string) Status {
	st, _ := c.database(ctx, reg, name)
	return st
}

// finding is a size warning with what it is about, for the monitor's
// repetition rule.
type finding struct {
	w     Warning
	file  string // "" for the total
	bytes int64
}

func (c Collector) database(ctx context.Context, reg *registry.Registry, name string) (Status, []finding) {
	var found []finding
	db := reg.Databases[name]
	th := reg.ThresholdsFor(name)
	st := Status{Name: name, Backend: db.BackendType(), Healthy: true, Files: []File{}, Thresholds: th,
		Warnings: []Warning{}, TotalHuman: Human(0)}
	if c.serverStats(st.Backend) {
		st.Postgres = c.postgres(ctx, name, db)
		if !st.Postgres.Connected {
			st.Healthy = false
			st.Warnings = append(st.Warnings, Warning{Code: CodePostgresDown,
				Message: "PostgreSQL is unreachable: " + st.Postgres.Error,
				Command: "check that the server runs and that the connection string in the registry is right"})
		} else {
			st.TotalBytes = st.Postgres.DatabaseBytes
			st.TotalHuman = Human(st.TotalBytes)
		}
		return st, nil
	}
	if st.Backend != registry.BackendJSON {
		return st, nil // a backend this build does not know: nothing to stat
	}
	dir, err := db.ResolvePath(c.DataDir)
	if err != nil {
		st.Healthy, st.Error = false, err.Error()
		return st, nil
	}
	st.Path = dir
	files, total, err := ScanFolder(dir)
	if err != nil {
		st.Healthy, st.Error = false, err.Error()
		st.Warnings = append(st.Warnings, Warning{Code: CodeFolderUnreadable, Message: err.Error(),
			Command: "fix the folder's permissions or the database's path in the registry"})
		return st, nil
	}
	st.TotalBytes, st.TotalHuman = total, Human(total)
	for _, f := range files {
		over, near := sizeLevel(f.Bytes, int64(th.FileThreshold), th.ApproachPercent)
		st.Files = append(st.Files, File{File: f.File, Bytes: f.Bytes, Human: Human(f.Bytes), OverThreshold: over, Approaching: near})
		switch {
		case over:
			found = append(found, finding{fileWarning(name, f.File, f.Bytes, int64(th.FileThreshold), c.ProxyURL), f.File, f.Bytes})
		case near:
			found = append(found, finding{fileApproachingWarning(name, f.File, f.Bytes, int64(th.FileThreshold), c.ProxyURL), f.File, f.Bytes})
		}
	}
	switch over, near := sizeLevel(total, int64(th.TotalThreshold), th.ApproachPercent); {
	case over:
		found = append(found, finding{totalWarning(name, total, int64(th.TotalThreshold), c.ProxyURL), "", total})
	case near:
		found = append(found, finding{totalApproachingWarning(name, total, int64(th.TotalThreshold), c.ProxyURL), "", total})
	}
	for _, f := range found {
		st.Warnings = append(st.Warnings, f.w)
	}
	return st, found
}

// sizeLevel reports whether size is over threshold, or approaching it (at
// approachPercent of it or more); a zero threshold is off.
func sizeLevel(size, threshold int64, approachPercent int) (over, near bool) {
	if threshold <= 0 {
		return false, false
	}
	if size > threshold {
		return true, false
	}
	return false, approachPercent > 0 && size*100 >= threshold*int64(approachPercent)
}

func (c Collector) serverStats(backendType string) bool {
	if c.ServerStats != nil {
		return c.ServerStats(backendType)
	}
	return backendType == BackendPostgres
}

func (c Collector) postgres(ctx context.Context, name string, db registry.Database) *PostgresStatus {
	ps := &PostgresStatus{Tables: []adapters.TableStats{}}
	if c.Postgres == nil {
		ps.Error = "this build cannot inspect PostgreSQL databases"
		return ps
	}
	insp, err := c.Postgres(name, db)
	if err != nil {
		ps.Error = err.Error()
		return ps
	}
	timeout := c.PostgresTimeout
	if timeout <= 0 {
		timeout = DefaultPostgresTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := insp.Stats(ctx)
	if err != nil {
		ps.Error = err.Error()
		return ps
	}
	ps.Connected = true
	ps.ServerVersion, ps.PgvectorVersion = s.ServerVersion, s.PgvectorVersion
	ps.DatabaseBytes, ps.LatencyMS = s.DatabaseBytes, s.LatencyMS
	if s.Tables != nil {
		ps.Tables = s.Tables
	}
	return ps
}

package adapters

import "context"

// DBStats is what a database server backend reports for `proxy status`:
// versions, sizes, row estimates and a round-trip latency (PostgreSQL:
// adapters/postgres/stats.go).
type DBStats struct {
	ServerVersion   string       `json:"server_version"`
	PgvectorVersion string       `json:"pgvector_version"`
	DatabaseBytes   int64        `json:"database_bytes"`
	LatencyMS       float64      `json:"latency_ms"`
	Tables          []TableStats `json:"tables"`
}

// TableStats is one table: total size with indexes and TOAST, and the
// planner's row estimate.
type TableStats struct {
	Name         string `json:"name"`
	Bytes        int64  `json:"bytes"`
	RowsEstimate int64  `json:"rows_estimate"`
}

// StatsReporter is implemented by backends that can report DBStats.
type StatsReporter interface {
	Stats(ctx context.Context) (DBStats, error)
}

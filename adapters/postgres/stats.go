package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Stats is what `proxy status` shows for a PostgreSQL database. It only
// reads catalogs, so it answers fast on a database of any size.
type Stats = adapters.DBStats

// querier is what Stats needs from a pool or a single connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const tableStatsSQL = `SELECT c.relname::text, pg_total_relation_size(c.oid),
  CASE WHEN c.reltuples > 0 THEN c.reltuples::bigint ELSE COALESCE(s.n_live_tup, 0) END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()
  AND (c.relname LIKE 'lightrag\_%' OR c.relname LIKE 'hybridrag\_%')
ORDER BY c.relname`

// Stats reads the statistics through the backend's pool
// (adapters.StatsReporter).
func (b *Backend) Stats(ctx context.Context) (Stats, error) {
	if err := b.ready(); err != nil {
		return Stats{}, err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	st, err := collectStats(ctx, b.pool)
	if err != nil {
		return Stats{}, b.mapError("read PostgreSQL statistics", err)
	}
	return st, nil
}

// InspectDSN connects once (no schema changes, unlike Open) and reads the
// statistics, within timeout (default 5s). Errors never contain the password.
func InspectDSN(ctx context.Context, dsn string, timeout time.Duration) (Stats, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	b := &Backend{cfg: Config{DSN: dsn, QueryTimeout: timeout}}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return Stats{}, fmt.Errorf("parse the PostgreSQL connection string %s: %s", RedactDSN(dsn), redactParseError(err))
	}
	if cfg.Password != "" {
		b.secrets = []string{cfg.Password}
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > timeout {
		cfg.ConnectTimeout = timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return Stats{}, b.mapError("connect to PostgreSQL", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st, err := collectStats(ctx, conn)
	if err != nil {
		return Stats{}, b.mapError("read PostgreSQL statistics", err)
	}
	return st, nil
}

func collectStats(ctx context.Context, q querier) (Stats, error) {
	var st Stats
	start := time.Now()
	var one int
	if err := q.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return st, err
	}
	st.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err := q.QueryRow(ctx, `SELECT current_setting('server_version'), pg_database_size(current_database())`).
		Scan(&st.ServerVersion, &st.DatabaseBytes); err != nil {
		return st, err
	}
	err := q.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'vector'`).Scan(&st.PgvectorVersion)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, err
	}
	rows, err := q.Query(ctx, tableStatsSQL)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	st.Tables = []adapters.TableStats{}
	for rows.Next() {
		var t adapters.TableStats
		if err := rows.Scan(&t.Name, &t.Bytes, &t.RowsEstimate); err != nil {
			return st, err
		}
		st.Tables = append(st.Tables, t)
	}
	return st, rows.Err()
}

package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Cross-proxy coordination: several proxies serving one database agree on
// maintenance through a row per workspace in hybridrag_coordination. The
// table is created by the first SetMaintenance, not by the schema step: a
// database nobody put in maintenance has none, and a missing table reads
// as "not in maintenance".

const (
	coordTable = "hybridrag_coordination"
	coordDDL   = `CREATE TABLE IF NOT EXISTS hybridrag_coordination (
workspace VARCHAR(255) PRIMARY KEY,
maintenance BOOLEAN NOT NULL DEFAULT false,
updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`
	// coordTTL bounds how stale a proxy's view of maintenance may be; each
	// write reads the row at most once per coordTTL.
	coordTTL = adapters.SharedMaintenanceStaleness
)

var _ adapters.SharedMaintenance = (*Backend)(nil)

// BookkeepingTable reports whether a table holds the proxy's own state
// (migration checkpoints, cross-proxy coordination, the extras of rows
// counted in LightRAG's tables) rather than records.
func BookkeepingTable(name string) bool {
	return name == checkpointTable || name == coordTable || name == extrasTable
}

// coordState caches the shared maintenance flag.
type coordState struct {
	at time.Time
	on bool
}

// SetMaintenance records maintenance on or off for the backend's default
// workspace, for every proxy on this database.
func (b *Backend) SetMaintenance(ctx context.Context, on bool) error {
	if err := b.ready(); err != nil {
		return err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	err := b.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLockSQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, coordDDL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO hybridrag_coordination (workspace, maintenance, updated_at) VALUES ($1, $2, now())
ON CONFLICT (workspace) DO UPDATE SET maintenance = EXCLUDED.maintenance, updated_at = now()`, b.cfg.Workspace, on)
		return err
	})
	if err != nil {
		return b.mapError("set maintenance of workspace "+b.cfg.Workspace, err)
	}
	b.mu.Lock()
	b.coord = coordState{at: time.Now(), on: on}
	b.mu.Unlock()
	return nil
}

// InMaintenance reports whether some proxy put the default workspace in
// maintenance; the answer is at most coordTTL old.
func (b *Backend) InMaintenance(ctx context.Context) (bool, error) {
	b.mu.Lock()
	c := b.coord
	b.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < coordTTL {
		return c.on, nil
	}
	if err := b.ready(); err != nil {
		return false, err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	var on bool
	err := b.pool.QueryRow(ctx, `SELECT maintenance FROM hybridrag_coordination WHERE workspace = $1`, b.cfg.Workspace).Scan(&on)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "42P01": // no row, no table
		on = false
	case err != nil:
		return false, b.mapError("read maintenance of workspace "+b.cfg.Workspace, err)
	}
	b.mu.Lock()
	b.coord = coordState{at: time.Now(), on: on}
	b.mu.Unlock()
	return on, nil
}

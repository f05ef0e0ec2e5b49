package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestExecDDLIndexBuiltElsewhere: an index another session is building
// (FinishLoad's deferred build holds its lock, its CREATE INDEX not yet
// committed) is left to that session: execDDL neither waits for the build
// nor races it into a duplicate-key error from the catalog. A free lock
// means the index is execDDL's to create.
func TestExecDDLIndexBuiltElsewhere(t *testing.T) {
	b := MustOpen(t)
	// The guard only turns a hang into a failure; nothing here waits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tbl := randomName("hybridrag_ddltest_")
	idx := "idx_" + tbl
	_, err := b.pool.Exec(ctx, "CREATE TABLE "+tbl+" (id text)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = b.pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+tbl) })
	ddl := []string{"CREATE INDEX IF NOT EXISTS " + idx + " ON " + tbl + " (id)"}
	indexes := func() int {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_index WHERE indrelid = to_regclass($1)`, tbl).Scan(&n))
		return n
	}

	// The builder: lock, CREATE INDEX, not yet committed.
	builder, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = builder.Rollback(context.Background()) }()
	_, err = builder.Exec(ctx, indexLockXactSQL, idx)
	require.NoError(t, err)
	_, err = builder.Exec(ctx, ddl[0])
	require.NoError(t, err)

	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return execDDL(ctx, tx, ddl) }),
		"execDDL leaves an index being built to its builder")
	require.NoError(t, builder.Commit(ctx))
	require.Equal(t, 1, indexes())

	// Nobody building: execDDL creates a missing index, and skips one that exists.
	_, err = b.pool.Exec(ctx, "DROP INDEX "+idx)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return execDDL(ctx, tx, ddl) }))
		require.Equal(t, 1, indexes())
	}
}

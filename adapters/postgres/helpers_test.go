package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// testDSNEnv names the variable scripts/setup-postgres.sh sets.
const testDSNEnv = "HYBRIDRAG_TEST_PG"

// MustDSN returns the test database's DSN; without one the test fails in CI
// and skips elsewhere.
func MustDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(testDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set: CI must run the PostgreSQL tests (run scripts/setup-postgres.sh)", testDSNEnv)
		}
		tb.Skipf("set %s to a PostgreSQL DSN with pgvector (scripts/setup-postgres.sh) to run this test", testDSNEnv)
	}
	return dsn
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// MustOpen opens a backend in a fresh random workspace, removed again when
// the test ends.
func MustOpen(tb testing.TB, mod ...func(*Config)) *Backend {
	tb.Helper()
	cfg := Config{DSN: MustDSN(tb), Workspace: randomName("t_"), EmbeddingModel: "test-model"}
	for _, m := range mod {
		m(&cfg)
	}
	ctx := context.Background()
	b, err := Open(ctx, cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		cleanupWorkspace(tb, b, b.cfg.Workspace)
		require.NoError(tb, b.Close(ctx))
	})
	return b
}

// cleanupWorkspace deletes a test workspace's rows from every table.
func cleanupWorkspace(tb testing.TB, b *Backend, ws string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := b.pool.Query(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace'
WHERE c.relkind = 'r' AND pg_table_is_visible(c.oid) AND (c.relname LIKE 'lightrag_%' OR c.relname LIKE 'hybridrag_%')
ORDER BY c.relname = 'lightrag_graph_nodes'`)
	if err != nil {
		tb.Logf("cleanup: %v", err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Logf("cleanup: %v", err)
		return
	}
	for _, n := range names {
		if _, err := b.pool.Exec(ctx, "DELETE FROM "+quoteIdent(n)+" WHERE workspace LIKE $1", ws+"%"); err != nil {
			tb.Logf("cleanup %s: %v", n, err)
		}
	}
}

package migration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

func randomWorkspace(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// env is one registry with one JSON database "db" whose folder is a copy
// of src.
type env struct {
	t       *testing.T
	dataDir string
	regPath string
	runner  *migration.Runner
}

func newEnv(t *testing.T, src string) *env {
	t.Helper()
	data := t.TempDir()
	if src != "" {
		copyDir(t, src, filepath.Join(data, "db"))
	} else {
		require.NoError(t, os.MkdirAll(filepath.Join(data, "db"), 0o755))
	}
	reg := filepath.Join(data, "registry.yaml")
	require.NoError(t, registry.Update(reg, func(r *registry.Registry) error {
		r.Databases["db"] = registry.Database{Backend: registry.BackendJSON, Path: "db"}
		return nil
	}))
	sw := &backends.Switcher{RegistryPath: reg, DataDir: data, Catalog: backends.Default(nil)}
	rn := &migration.Runner{Switcher: sw}
	return &env{t: t, dataDir: data, regPath: reg, runner: rn}
}

func (e *env) entry() registry.Database {
	r, err := registry.Load(e.regPath)
	require.NoError(e.t, err)
	return r.Databases["db"]
}

func (e *env) open(db registry.Database) adapters.Backend {
	b, err := e.runner.Switcher.Catalog.Open(context.Background(), "db", db, e.dataDir)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// dropAll removes what a test loaded into b's default workspace.
func dropAll(t *testing.T, b adapters.Backend) {
	require.NoError(t, migration.Discard(context.Background(), b))
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}

// sameRecords checks that two LightRAG folders hold the same records, unit
// by unit (checksums over canonical records, so key order and formatting
// may differ). An empty namespace equals an absent file, as for LightRAG.
func sameRecords(t *testing.T, want, got string) {
	t.Helper()
	require.Equal(t, folderChecksums(t, want), folderChecksums(t, got), "records of %s and %s", want, got)
}

func folderChecksums(t *testing.T, dir string) map[string]string {
	t.Helper()
	ctx := context.Background()
	src := migration.NewFolderSource(dir)
	units, err := src.Units(ctx)
	require.NoError(t, err)
	out := map[string]string{}
	for _, u := range units {
		c, err := migration.UnitChecksum(ctx, src, u)
		if errors.Is(err, adapters.ErrCorrupt) {
			continue // not LightRAG's format: left behind by a migration
		}
		require.NoError(t, err)
		if !strings.HasPrefix(c, "0:") {
			out[u.Key()] = c
		}
	}
	return out
}

// TestFixturesMigrateAndExport moves every real LightRAG folder to
// PostgreSQL and exports it back: verified, cut over, and the exported
// files hold the same records as the originals.
func TestFixturesMigrateAndExport(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	fx := fixtures.Dir(t)
	entries, err := os.ReadDir(fx)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			ctx := context.Background()
			ev := newEnv(t, filepath.Join(fx, e.Name()))
			ws := randomWorkspace("mig_")
			sum, err := ev.runner.Migrate(ctx, "db", migration.Request{To: registry.BackendPostgres, DSN: dsn, Workspace: ws, EmbeddingModel: "fixture"}, nil)
			require.NoError(t, err)
			require.True(t, sum.Verified)
			require.True(t, sum.CutOver)
			db := ev.entry()
			require.Equal(t, registry.BackendPostgres, db.BackendType())
			require.False(t, db.Maintenance)
			pg := ev.open(db)
			t.Cleanup(func() { dropAll(t, pg) })

			out := filepath.Join(t.TempDir(), "export")
			sum, err = ev.runner.Export(ctx, "db", out, false, nil)
			require.NoError(t, err)
			require.True(t, sum.Verified)
			sameRecords(t, filepath.Join(fx, e.Name()), out)
		})
	}
}

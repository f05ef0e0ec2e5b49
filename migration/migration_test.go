package migration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// testDSN is the shared PostgreSQL test database (scripts/setup-postgres.sh);
// the test fails without it in CI and skips elsewhere.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("HYBRIDRAG_TEST_PG")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HYBRIDRAG_TEST_PG is not set: CI must run the PostgreSQL tests (run scripts/setup-postgres.sh)")
		}
		t.Skip("set HYBRIDRAG_TEST_PG (scripts/setup-postgres.sh) to run migration tests")
	}
	return dsn
}

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
	rn := &migration.Runner{Switcher: sw, Flush: func(ctx context.Context, name string) error {
		r, err := registry.Load(reg)
		if err != nil {
			return err
		}
		b, err := sw.Catalog.Open(ctx, name, r.Databases[name], data)
		if err != nil {
			return err
		}
		return errors.Join(b.Flush(ctx), b.Close(ctx))
	}}
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

// dropAll removes every unit of src from b (PostgreSQL test rows).
func dropAll(t *testing.T, b adapters.Backend) {
	ctx := context.Background()
	infos, err := b.Namespaces(ctx)
	require.NoError(t, err)
	for _, in := range infos {
		if in.Workspace != "" {
			continue // other databases' workspaces on the shared server
		}
		var err error
		switch in.Kind {
		case adapters.KindKV:
			var s adapters.KV
			if s, err = b.KV(ctx, in.Namespace); err == nil {
				err = s.Drop(ctx)
			}
		case adapters.KindDocStatus:
			var s adapters.DocStatus
			if s, err = b.DocStatus(ctx, in.Namespace); err == nil {
				err = s.Drop(ctx)
			}
		case adapters.KindVector:
			var s adapters.Vector
			if s, err = b.Vector(ctx, in.Namespace, 0); err == nil {
				err = s.Drop(ctx)
			}
		case adapters.KindGraph:
			var s adapters.Graph
			if s, err = b.Graph(ctx, in.Namespace); err == nil {
				err = s.Drop(ctx)
			}
		}
		require.NoError(t, err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}))
}

// sameRecords checks that two LightRAG folders hold the same records, unit
// by unit (checksums over canonical records, so key order and formatting
// may differ).
func sameRecords(t *testing.T, want, got string) {
	t.Helper()
	ctx := context.Background()
	a, b := migration.NewFolderSource(want), migration.NewFolderSource(got)
	ua, err := a.Units(ctx)
	require.NoError(t, err)
	ub, err := b.Units(ctx)
	require.NoError(t, err)
	keys := func(us []migration.Unit) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Key())
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, keys(ua), keys(ub), "namespaces of %s and %s", want, got)
	for _, u := range ua {
		ca, err := migration.UnitChecksum(ctx, a, u)
		require.NoError(t, err)
		cb, err := migration.UnitChecksum(ctx, b, u)
		require.NoError(t, err)
		require.Equal(t, ca, cb, "records of %s", u.Key())
	}
}

// TestFixturesMigrateAndExport moves every real LightRAG folder to
// PostgreSQL and exports it back: verified, cut over, and the exported
// files hold the same records as the originals.
func TestFixturesMigrateAndExport(t *testing.T) {
	dsn := testDSN(t)
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

package migration_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/bench/dataset"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// generated writes a synthetic LightRAG folder of about size bytes.
func generated(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gen")
	_, err := dataset.Generate(context.Background(), dir, dataset.Options{Size: size, Dim: 32, Seed: 5})
	require.NoError(t, err)
	return dir
}

func toPG(dsn, ws string) migration.Request {
	return migration.Request{To: registry.BackendPostgres, DSN: dsn, Workspace: ws, EmbeddingModel: "migtest", BatchSize: 100}
}

// checksums reads every unit of a database's PostgreSQL rows.
func (e *env) checksums(db registry.Database) map[string]string {
	e.t.Helper()
	ctx := context.Background()
	src := &migration.BackendSource{B: e.open(db), Name: "pg", DefaultOnly: true}
	units, err := src.Units(ctx)
	require.NoError(e.t, err)
	out := map[string]string{}
	for _, u := range units {
		c, err := migration.UnitChecksum(ctx, src, u)
		require.NoError(e.t, err)
		out[u.Key()] = c
	}
	return out
}

func errCode(err error) string {
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// TestResumeAfterInterruption stops a migration at several points of its
// copy and resumes it each time; the rows equal an uninterrupted run's.
func TestResumeAfterInterruption(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	src := generated(t, 2<<20)
	ctx := context.Background()

	whole := newEnv(t, src)
	_, err := whole.runner.Migrate(ctx, "db", toPG(dsn, randomWorkspace("mig_")), nil)
	require.NoError(t, err)
	wholeDB := whole.entry()
	t.Cleanup(func() { dropAll(t, whole.open(wholeDB)) })
	want := whole.checksums(wholeDB)

	ev := newEnv(t, src)
	req := toPG(dsn, randomWorkspace("mig_"))
	interrupted := 0
	for stopAt := int64(250); ; stopAt += 300 {
		cctx, cancel := context.WithCancel(ctx)
		sum, err := ev.runner.Migrate(cctx, "db", req, func(p migration.Progress) {
			if p.Records >= stopAt {
				cancel()
			}
		})
		cancel()
		if err == nil {
			require.True(t, sum.Verified)
			require.True(t, sum.Resumed)
			break
		}
		require.ErrorIs(t, err, context.Canceled)
		interrupted++
		db := ev.entry()
		require.Equal(t, registry.BackendJSON, db.BackendType(), "an interrupted migration leaves the database on JSON")
		require.False(t, db.Maintenance, "an interrupted migration leaves maintenance")
	}
	require.GreaterOrEqual(t, interrupted, 3)
	db := ev.entry()
	t.Cleanup(func() { dropAll(t, ev.open(db)) })
	require.Equal(t, want, ev.checksums(db))
}

func hashTree(t *testing.T, dir string) [32]byte {
	h := sha256.New()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "hybridrag") {
			return err
		}
		b, err := os.ReadFile(p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	}))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestCorruptFiles migrates a folder with a malformed record in the middle
// of one file and another file cut off: the valid records move, the bad
// ones are reported with file, position and reason, and the source files
// are left as they were.
func TestCorruptFiles(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("kv_store_full_docs.json", "{\n  \"doc-1\": {\"content\": \"one\"},\n  \"doc-2\": {\"content\": \"two\" \"oops\"},\n  \"doc-3\": {\"content\": \"three\"}\n}\n")
	write("kv_store_text_chunks.json", "{\n  \"chunk-1\": {\"content\": \"a\", \"full_doc_id\": \"doc-1\"},\n  \"chunk-2\": {\"content\": \"b\", \"full_doc_id\": \"doc-1\"},\n  \"chunk-3\": {\"cont")
	ev := newEnv(t, dir)
	before := hashTree(t, filepath.Join(ev.dataDir, "db"))
	sum, err := ev.runner.Migrate(context.Background(), "db", toPG(dsn, randomWorkspace("mig_")), nil)
	require.NoError(t, err)
	db := ev.entry()
	t.Cleanup(func() { dropAll(t, ev.open(db)) })
	require.True(t, sum.Verified)
	require.EqualValues(t, 2, sum.Skipped, "%+v", sum.Problems)
	files := map[string]migration.Problem{}
	for _, p := range sum.Problems {
		require.NotEmpty(t, p.Reason)
		require.Positive(t, p.Offset)
		files[filepath.Base(p.File)] = p
	}
	require.Contains(t, files, "kv_store_full_docs.json")
	require.Contains(t, files, "kv_store_text_chunks.json")
	require.Equal(t, "doc-2", files["kv_store_full_docs.json"].Record)

	b := ev.open(db)
	kv, err := b.KV(context.Background(), adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	got, err := kv.GetByIDs(context.Background(), []string{"doc-1", "doc-2", "doc-3"})
	require.NoError(t, err)
	require.NotNil(t, got[0])
	require.Nil(t, got[1])
	require.NotNil(t, got[2])
	chunks, err := b.KV(context.Background(), adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	n, err := chunks.Count(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	require.Equal(t, before, hashTree(t, filepath.Join(ev.dataDir, "db")), "the source files are never modified")
}

// TestTargetNotEmpty: a workspace that holds rows is refused, naming them,
// unless force.
func TestTargetNotEmpty(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	src := generated(t, 200<<10)
	ws := randomWorkspace("mig_")
	first := newEnv(t, src)
	_, err := first.runner.Migrate(context.Background(), "db", toPG(dsn, ws), nil)
	require.NoError(t, err)
	db := first.entry()
	t.Cleanup(func() { dropAll(t, first.open(db)) })

	second := newEnv(t, src)
	_, err = second.runner.Migrate(context.Background(), "db", toPG(dsn, ws), nil)
	require.Error(t, err)
	require.Equal(t, "target_not_empty", errCode(err), "%v", err)
	require.Contains(t, err.Error(), "lightrag_doc_full")
	require.Equal(t, registry.BackendJSON, second.entry().BackendType())
	require.False(t, second.entry().Maintenance)

	req := toPG(dsn, ws)
	req.Force = true
	sum, err := second.runner.Migrate(context.Background(), "db", req, nil)
	require.NoError(t, err)
	require.True(t, sum.CutOver)
}

// tamperingTarget changes one stored row after the load, before the
// verification.
type tamperingTarget struct {
	adapters.Backend
	once sync.Once
}

func (t *tamperingTarget) Load(ctx context.Context, b adapters.Batch, cp adapters.Checkpoint) error {
	return t.Backend.(adapters.Loader).Load(ctx, b, cp)
}

func (t *tamperingTarget) LoadedCheckpoint(ctx context.Context, key string) ([]byte, error) {
	return t.Backend.(adapters.Loader).LoadedCheckpoint(ctx, key)
}

func (t *tamperingTarget) DeleteCheckpoint(ctx context.Context, key string) error {
	return t.Backend.(adapters.Loader).DeleteCheckpoint(ctx, key)
}

func (t *tamperingTarget) ScanStoredKV(ctx context.Context, ns adapters.Namespace, kind adapters.Kind, after string, limit int) ([]adapters.KVRecord, error) {
	return t.Backend.(adapters.StoredKVScanner).ScanStoredKV(ctx, ns, kind, after, limit)
}

func (t *tamperingTarget) GetStoredKV(ctx context.Context, ns adapters.Namespace, kind adapters.Kind, ids []string) ([]adapters.KVRecord, error) {
	return t.Backend.(adapters.StoredKVScanner).GetStoredKV(ctx, ns, kind, ids)
}

func (t *tamperingTarget) FinishLoad(ctx context.Context, ns adapters.Namespace, kind adapters.Kind) error {
	if err := t.Backend.(adapters.Loader).FinishLoad(ctx, ns, kind); err != nil {
		return err
	}
	var err error
	if ns.Name == "full_docs" {
		t.once.Do(func() {
			var kv adapters.KV
			if kv, err = t.Backend.KV(ctx, ns); err == nil {
				err = kv.Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: []byte(`{"content": "changed behind the migration's back"}`)}})
			}
		})
	}
	return err
}

// TestVerifyFailureBlocksCutover: a row changed in PostgreSQL before the
// verification fails it, naming the record; the database stays on JSON.
func TestVerifyFailureBlocksCutover(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kv_store_full_docs.json"),
		[]byte(`{"doc-1": {"content": "one"}, "doc-2": {"content": "two"}}`), 0o644))
	ev := newEnv(t, dir)
	def := backends.Default(nil)
	jsonDesc, _ := def.Get(registry.BackendJSON)
	pgDesc, _ := def.Get(registry.BackendPostgres)
	var opened adapters.Backend
	ev.runner.Switcher.Catalog = def.WithOpeners(map[string]backends.Opener{
		registry.BackendJSON: jsonDesc.Open,
		registry.BackendPostgres: func(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error) {
			b, err := pgDesc.Open(ctx, name, db, dataDir)
			if err != nil {
				return nil, err
			}
			opened = b
			return &tamperingTarget{Backend: b}, nil
		},
	})
	ws := randomWorkspace("mig_")
	_, err := ev.runner.Migrate(context.Background(), "db", toPG(dsn, ws), nil)
	require.Error(t, err)
	require.Equal(t, "verification_failed", errCode(err), "%v", err)
	require.Contains(t, err.Error(), "kv:full_docs")
	require.Contains(t, err.Error(), `"doc-1"`)
	db := ev.entry()
	require.Equal(t, registry.BackendJSON, db.BackendType(), "no cutover after a failed verification")
	require.False(t, db.Maintenance)
	require.NotNil(t, opened)
	pg, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn, Workspace: ws, EmbeddingModel: "migtest"})
	require.NoError(t, err)
	defer pg.Close(context.Background())
	dropAll(t, pg)
}

// TestPostgresRestartDuringLoad restarts a throwaway PostgreSQL in the
// middle of the copy: the load waits for it and the migration completes.
func TestPostgresRestartDuringLoad(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.DSN("postgres", "", "postgres")
	src := generated(t, 1<<20)
	ev := newEnv(t, src)
	var once sync.Once
	restarted := make(chan struct{})
	sum, err := ev.runner.Migrate(context.Background(), "db", toPG(dsn, "restart"), func(p migration.Progress) {
		if p.Phase == migration.PhaseCopy && p.Records > 500 {
			once.Do(func() {
				c.Stop("immediate")
				go func() {
					time.Sleep(2 * time.Second)
					c.StartServer()
					close(restarted)
				}()
			})
		}
	})
	<-restarted
	require.NoError(t, err)
	require.True(t, sum.Verified)
	require.True(t, sum.CutOver)
}

// TestRoundTripBackToJSON moves a database to PostgreSQL and back to a new
// JSON folder with `--to json`: cut over both ways, and the folder holds the
// original records.
func TestRoundTripBackToJSON(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	src := generated(t, 1<<20)
	ev := newEnv(t, src)
	ctx := context.Background()
	_, err := ev.runner.Migrate(ctx, "db", toPG(dsn, randomWorkspace("mig_")), nil)
	require.NoError(t, err)
	pg := ev.entry()
	t.Cleanup(func() { dropAll(t, ev.open(pg)) })

	back := filepath.Join(t.TempDir(), "back")
	sum, err := ev.runner.Migrate(ctx, "db", migration.Request{To: registry.BackendJSON, Path: back}, nil)
	require.NoError(t, err)
	require.True(t, sum.Verified)
	require.True(t, sum.CutOver)
	db := ev.entry()
	require.Equal(t, registry.BackendJSON, db.BackendType())
	require.Equal(t, back, db.Path)
	require.False(t, db.Maintenance)
	sameRecords(t, src, back)
	// The maintenance recorded in PostgreSQL for other proxies ended too.
	on, err := ev.open(pg).(*postgres.Backend).InMaintenance(ctx)
	require.NoError(t, err)
	require.False(t, on, "the old PostgreSQL workspace is left in maintenance")
}

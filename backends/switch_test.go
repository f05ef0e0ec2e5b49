package backends

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/registry"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freshDatabase creates an empty PostgreSQL database on the test server
// (dropped after the test) and returns its DSN.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := pgtest.MustDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := "hybridrag_backends_" + randHex(5)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			defer c.Close(ctx)
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// walOnlyFolder returns a JSON folder whose only record is in the
// write-ahead log: it copies a live backend's folder after an acknowledged
// upsert and before any flush, as a crash would leave it.
func walOnlyFolder(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "live")
	b, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: live})
	require.NoError(t, err)
	kv, err := b.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: adapters.Record(`{"content":"hello"}`)}}))
	dst := filepath.Join(t.TempDir(), "walonly")
	require.NoError(t, copyTree(live, dst))
	require.NoError(t, b.Close(ctx))
	rep, err := jsonadapter.Inspect(ctx, dst)
	require.NoError(t, err)
	for _, f := range rep.Files {
		require.Nil(t, f.Records, "the record must only be in the log: %+v", f)
	}
	return dst
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
}

func requireCode(t *testing.T, err error, code string) *adapters.Error {
	t.Helper()
	var ae *adapters.Error
	require.True(t, errors.As(err, &ae), "want an *adapters.Error, got %T: %v", err, err)
	require.Equal(t, code, ae.Code, "%v (hint %s)", err, ae.Hint)
	require.NotEmpty(t, ae.Hint)
	return ae
}

// seedWorkspace writes one record into a workspace through the adapter.
func seedWorkspace(t *testing.T, dsn, ws string) {
	t.Helper()
	ctx := context.Background()
	b, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: ws})
	require.NoError(t, err)
	defer b.Close(ctx)
	kv, err := b.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "d1", Data: adapters.Record(`{"content":"x"}`)}}))
}

func proxyTables(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'lightrag%' OR relname LIKE 'hybridrag%'`).Scan(&n))
	return n
}

func newSwitcher(t *testing.T, reg *registry.Registry) *Switcher {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.yaml")
	require.NoError(t, registry.Update(path, func(r *registry.Registry) error {
		*r = *reg
		return nil
	}))
	return &Switcher{RegistryPath: path, DataDir: dir, Catalog: Default(nil)}
}

func TestSwitchDataChecks(t *testing.T) {
	dsn := freshDatabase(t)
	walOnly := walOnlyFolder(t)
	ctx := context.Background()

	// A fresh server: the refused check must not create the schema.
	s := newSwitcher(t, &registry.Registry{Version: registry.CurrentVersion, Databases: map[string]registry.Database{
		"wal": {Backend: registry.BackendJSON, Path: walOnly}}})
	_, err := s.Switch(ctx, Request{Database: "wal", Settings: Settings{Type: registry.BackendPostgres, DSN: dsn}})
	ae := requireCode(t, err, CodeSwitchRefused)
	require.Contains(t, ae.Message, "holds 1 records", "the unflushed write counts")
	require.Zero(t, proxyTables(t, dsn), "a check must not create tables in the target")

	seedWorkspace(t, dsn, "ws_a")
	seedWorkspace(t, dsn, "stray")
	reg := &registry.Registry{Version: registry.CurrentVersion,
		Backends: map[string]registry.BackendDef{"a": {Type: registry.BackendPostgres, DSN: dsn, Workspace: "ws_a"}},
		Databases: map[string]registry.Database{
			"a":     {Backend: "a"},
			"wal":   {Backend: registry.BackendJSON, Path: walOnly},
			"empty": {Backend: registry.BackendJSON, Path: filepath.Join(t.TempDir(), "none")},
		}}
	pg := func(ws string) Settings { return Settings{Type: registry.BackendPostgres, DSN: dsn, Workspace: ws} }
	cases := []struct {
		name     string
		db       string
		settings Settings
		force    bool
		code     string   // "" = switched
		contains []string // in the message
	}{
		{"wal-only write to an empty workspace", "wal", pg("ws_wal"), false, CodeSwitchRefused, []string{"holds 1 records", "Migrate"}},
		{"wal-only write forced", "wal", pg("ws_wal"), true, "", nil},
		{"another database's workspace", "empty", pg("ws_a"), false, CodeSwitchRefused,
			[]string{"database a", "lightrag_doc_full", "1 rows"}},
		{"another database's definition", "empty", Settings{Backend: "a"}, false, CodeSwitchRefused, []string{"database a"}},
		{"a new database on another database's workspace", "newdb", pg("ws_a"), false, CodeSwitchRefused, []string{"database a"}},
		{"rows of no database of the registry", "empty", pg("stray"), false, CodeSwitchRefused,
			[]string{"already holds 1 rows in workspace stray", "lightrag_doc_full"}},
		{"rows of no database, forced", "empty", pg("stray"), true, "", nil},
		{"an empty workspace", "newdb2", pg("ws_new"), false, "", nil},
		{"unknown definition", "empty", Settings{Backend: "nope"}, false, "unknown_backend", nil},
		{"unknown type", "empty", Settings{Type: "mongo"}, false, "invalid_argument", nil},
		{"json with a dsn", "empty", Settings{Type: registry.BackendJSON, DSN: dsn}, false, "invalid_argument", nil},
		{"json type as a definition name", "empty", Settings{Backend: registry.BackendJSON}, false, "invalid_argument", nil},
		{"unreachable server", "empty", Settings{Type: registry.BackendPostgres, DSN: "postgres://u@127.0.0.1:1/x?sslmode=disable"}, false,
			postgres.CodeConnRefused, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSwitcher(t, reg)
			res, err := s.Switch(ctx, Request{Database: tc.db, Settings: tc.settings, Force: tc.force})
			if tc.code == "" {
				require.NoError(t, err)
				require.Equal(t, tc.db, res.Info.Database)
				return
			}
			ae := requireCode(t, err, tc.code)
			for _, c := range tc.contains {
				require.Contains(t, ae.Message, c)
			}
			after, err := registry.Load(s.RegistryPath)
			require.NoError(t, err)
			require.Equal(t, reg.Databases[tc.db].Backend, after.Databases[tc.db].Backend, "registry unchanged")
		})
	}
}

func TestSwitchWorkspaceIsolation(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	s := newSwitcher(t, &registry.Registry{Version: registry.CurrentVersion,
		Backends: map[string]registry.BackendDef{"old": {Type: registry.BackendPostgres, DSN: dsn}},
		Databases: map[string]registry.Database{
			"legacy": {Backend: "old"},
		}})
	// A new definition without a workspace gets one derived from the name.
	res, err := s.Switch(ctx, Request{Database: "My.DB", Settings: Settings{Type: registry.BackendPostgres, DSN: dsn}})
	require.NoError(t, err)
	require.True(t, res.Target.DerivedWorkspace)
	require.Equal(t, "my_db", res.Info.Workspace)
	require.Equal(t, []string{"POSTGRES_WORKSPACE=my_db"}, res.Info.LightRAGEnv)
	reg, err := registry.Load(s.RegistryPath)
	require.NoError(t, err)
	require.Equal(t, "my_db", reg.Backends["My.DB"].Workspace)
	// An existing registry's definition without a workspace keeps "default".
	require.Equal(t, "default", reg.Databases["legacy"].PostgresWorkspace())
	info, err := s.Describe("legacy")
	require.NoError(t, err)
	require.Equal(t, []string{"POSTGRES_WORKSPACE=default"}, info.LightRAGEnv)
	// Rewriting a definition without a workspace keeps the one it has.
	res, err = s.Switch(ctx, Request{Database: "My.DB", Settings: Settings{Type: registry.BackendPostgres, DSN: dsn, EmbeddingModel: "m"}})
	require.NoError(t, err)
	require.Equal(t, "my_db", res.Info.Workspace)

	// Maintenance and cutover (the migration's calls).
	require.NoError(t, s.SetMaintenance(ctx, "legacy", true))
	var unknown *UnknownDatabaseError
	require.ErrorAs(t, s.SetMaintenance(ctx, "nope", true), &unknown)
	require.ErrorIs(t, s.SetMaintenance(ctx, "nope", true), adapters.ErrNotFound)
	info, err = s.Cutover(ctx, "legacy", Settings{Type: registry.BackendJSON})
	require.NoError(t, err)
	require.Equal(t, registry.BackendJSON, info.Type)
	require.True(t, info.Maintenance, "cutover keeps maintenance")
}

func TestDeriveWorkspace(t *testing.T) {
	for in, want := range map[string]string{"default": "default", "My.DB": "my_db", "a-b_c": "a_b_c", "X9": "x9"} {
		got := DeriveWorkspace(in)
		require.Equal(t, want, got, in)
		require.NoError(t, adapters.ValidateName("workspace", got))
	}
}

func TestCatalog(t *testing.T) {
	c := Default(nil)
	require.Equal(t, []string{registry.BackendJSON, registry.BackendPostgres}, c.Types())
	_, err := c.For(registry.Database{Backend: "x", Resolved: registry.BackendDef{Type: "mongo"}})
	require.ErrorIs(t, err, adapters.ErrInvalid)
	only := c.WithOpeners(map[string]Opener{registry.BackendJSON: func(context.Context, string, registry.Database, string) (adapters.Backend, error) {
		return nil, errors.New("fake")
	}})
	require.Equal(t, []string{registry.BackendJSON}, only.Types())
	d, ok := only.Get(registry.BackendJSON)
	require.True(t, ok)
	require.NotNil(t, d.Check, "the rest of the description is kept")
	_, err = only.Open(context.Background(), "x", registry.Database{Backend: registry.BackendJSON, Path: "x"}, "")
	require.EqualError(t, err, "fake")
	require.True(t, c.HasStats(registry.BackendPostgres))
	require.False(t, c.HasStats(registry.BackendJSON))
}

// TestSwitchCheckLeavesCurrentPostgresUntouched: re-setting a database that is
// already on PostgreSQL counts its current rows for the guard; that count
// must not create the schema or the extension (issue 13, item 4).
func TestSwitchCheckLeavesCurrentPostgresUntouched(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	s := newSwitcher(t, &registry.Registry{Version: registry.CurrentVersion,
		Backends:  map[string]registry.BackendDef{"a": {Type: registry.BackendPostgres, DSN: dsn, Workspace: "ws_a"}},
		Databases: map[string]registry.Database{"a": {Backend: "a"}}})
	cases := []struct {
		name string
		st   Settings
	}{
		{"changed embedding model", Settings{Type: registry.BackendPostgres, DSN: dsn, Workspace: "ws_a", EmbeddingModel: "m2"}},
		{"changed naming", Settings{Type: registry.BackendPostgres, DSN: dsn, Workspace: "ws_a", VectorTableNaming: registry.NamingLegacy}},
		{"changed workspace", Settings{Type: registry.BackendPostgres, DSN: dsn, Workspace: "ws_b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Switch(ctx, Request{Database: "a", Settings: tc.st})
			require.NoError(t, err)
			require.Zero(t, proxyTables(t, dsn), "the check must not create tables")
			conn, err := pgx.Connect(ctx, dsn)
			require.NoError(t, err)
			defer conn.Close(ctx)
			var ext bool
			require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')`).Scan(&ext))
			require.False(t, ext, "the check must not create the vector extension")
		})
	}
}

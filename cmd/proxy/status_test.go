package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// writeRegistry writes registry.yaml with one JSON database "big" (a 600 MB
// sparse file) and, when dsn is set, a PostgreSQL database "pg" whose
// connection string dsnOf returns.
func statusFixture(t *testing.T) (statusCmdOptions, string) {
	t.Helper()
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.yaml")
	require.NoError(t, os.WriteFile(regPath, []byte("version: 1\ndatabases:\n  big: {path: big}\n"), 0o600))
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(filepath.Join(data, "big"), 0o755))
	file := filepath.Join(data, "big", "kv_store_text_chunks.json")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Truncate(file, 600<<20))
	return statusCmdOptions{RegistryPath: func() (string, error) { return regPath, nil },
		DataDir: func() (string, error) { return data, nil }}, regPath
}

func TestStatusCommandJSONDatabase(t *testing.T) {
	opts, _ := statusFixture(t)
	var out bytes.Buffer
	cmd := newStatusCmd(opts)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--json"})
	start := time.Now()
	require.NoError(t, cmd.ExecuteContext(context.Background()))
	require.Less(t, time.Since(start), 5*time.Second)
	var sts []monitor.Status
	require.NoError(t, json.Unmarshal(out.Bytes(), &sts))
	require.Len(t, sts, 1)
	require.True(t, sts[0].Healthy)
	require.Equal(t, int64(600<<20), sts[0].TotalBytes)
	require.True(t, sts[0].Files[0].OverThreshold)
	require.Equal(t, monitor.MigrateCommand("big"), sts[0].Warnings[0].Command)

	out.Reset()
	cmd = newStatusCmd(opts)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"big"})
	require.NoError(t, cmd.ExecuteContext(context.Background()))
	require.Contains(t, out.String(), "kv_store_text_chunks.json  600.0 MB")
	require.NotContains(t, out.String(), "\x1b[", "no colour when not a terminal")

	cmd = newStatusCmd(opts)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"nope"})
	require.ErrorContains(t, cmd.ExecuteContext(context.Background()), `database "nope" is not in the registry`)

	// An unreadable database (its path is a file) exits non-zero.
	regPath, _ := opts.RegistryPath()
	dataDir, _ := opts.DataDir()
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "notadir"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(regPath, []byte("version: 1\ndatabases:\n  big: {path: big}\n  broken: {path: notadir}\n"), 0o600))
	out.Reset()
	cmd = newStatusCmd(opts)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{})
	require.ErrorIs(t, cmd.ExecuteContext(context.Background()), errUnhealthy)
	require.Contains(t, out.String(), "database broken  (json, UNHEALTHY)")
}

func TestStatusViaRoot(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut, func(string) string { return "" })
	root.SetArgs([]string{"status", "--json", "--data", dir})
	require.NoError(t, root.ExecuteContext(context.Background()), errOut.String())
	var sts []monitor.Status
	require.NoError(t, json.Unmarshal(out.Bytes(), &sts), out.String())
	require.Equal(t, "default", sts[0].Name)
}

// TestStatusCommandPostgres: `proxy status` on a registry with a reachable
// and an unreachable (closed 127.0.0.1 port) PostgreSQL database: both are
// reported, the password never appears, and the exit is non-zero.
func TestStatusCommandPostgres(t *testing.T) {
	up := os.Getenv("HYBRIDRAG_TEST_PG")
	if up == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HYBRIDRAG_TEST_PG is not set")
		}
		t.Skip("HYBRIDRAG_TEST_PG is not set")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "postgres://u:pw-secret@" + ln.Addr().String() + "/db?sslmode=disable"
	require.NoError(t, ln.Close())

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.yaml")
	require.NoError(t, registry.Update(regPath, func(r *registry.Registry) error {
		r.Backends = map[string]registry.BackendDef{
			"pg-up":   {Type: registry.BackendPostgres, DSN: up},
			"pg-down": {Type: registry.BackendPostgres, DSN: closed},
		}
		r.Databases["up"] = registry.Database{Backend: "pg-up"}
		r.Databases["down"] = registry.Database{Backend: "pg-down"}
		return nil
	}))

	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut, func(string) string { return "" })
	root.SetArgs([]string{"status", "--json", "--data", dir, "--registry", regPath})
	start := time.Now()
	require.Error(t, root.ExecuteContext(context.Background()), "an unreachable database makes status fail")
	require.Less(t, time.Since(start), 5*time.Second)
	require.NotContains(t, out.String()+errOut.String(), "pw-secret")
	var sts []monitor.Status
	require.NoError(t, json.Unmarshal(out.Bytes(), &sts), out.String())
	seen := map[string]bool{}
	for _, st := range sts {
		seen[st.Name] = true
		switch st.Name {
		case "down":
			require.False(t, st.Healthy)
			require.False(t, st.Postgres.Connected)
			require.NotEmpty(t, st.Postgres.Error)
		case "up":
			require.True(t, st.Healthy, st.Postgres.Error)
			require.NotEmpty(t, st.Postgres.ServerVersion)
			require.NotEmpty(t, st.Postgres.PgvectorVersion)
		}
	}
	require.True(t, seen["up"] && seen["down"], out.String())
	var table bytes.Buffer
	require.NoError(t, monitor.WriteTable(&table, sts, false))
	require.Contains(t, table.String(), "database down  (postgres, UNHEALTHY)")
}

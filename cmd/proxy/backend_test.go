package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/registry"
)

// The backend commands against the shared test server: test, set with a
// ${VAR} password (kept as written, registry 0600), show (redacted), the
// data guard, maintenance, and validation failures with their code.
func TestBackendCommands(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{envData: data}
	t.Setenv("TEST_PGPW", "Sup3rSecret") // ${VAR} expansion reads the process environment
	reg := filepath.Join(data, "registry.yaml")
	envDSN := strings.Replace(dsn, "postgres@", "postgres:${TEST_PGPW}@", 1)
	litDSN := strings.Replace(dsn, "postgres@", "postgres:Sup3rSecret@", 1)
	require.NotEqual(t, dsn, envDSN, "the test DSN names user postgres")

	code, out, errOut := cli(t, env, "backend", "test", envDSN)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "ok: ")
	require.Contains(t, out, "${TEST_PGPW}")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	code, out, errOut = cli(t, env, "backend", "test", fmt.Sprintf("postgres://u:Sup3rSecret@127.0.0.1:%d/x?sslmode=disable", port))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "connection_refused")
	require.NotContains(t, out+errOut, "Sup3rSecret")

	ws := "cli_" + fmt.Sprint(os.Getpid())
	code, out, errOut = cli(t, env, "backend", "set", "mydb", "--postgres", envDSN, "--workspace", ws, "--embedding-model", "m")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, "Sup3rSecret")
	raw, err := os.ReadFile(reg)
	require.NoError(t, err)
	require.Contains(t, string(raw), "${TEST_PGPW}")
	require.NotContains(t, string(raw), "Sup3rSecret")
	st, err := os.Stat(reg)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	r, err := registry.Load(reg)
	require.NoError(t, err)
	require.Equal(t, registry.BackendPostgres, r.Databases["mydb"].BackendType())

	code, out, _ = cli(t, env, "backend", "set", "lit", "--postgres", litDSN, "--workspace", ws+"_lit")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "Sup3rSecret")
	code, out, _ = cli(t, env, "backend", "show", "lit", "--json")
	require.Equal(t, 0, code)
	require.Contains(t, out, `"dsn": "postgres://postgres:xxxxx@`)
	require.NotContains(t, out, "Sup3rSecret")

	// The JSON database "default" is empty: switching it needs no --force.
	code, _, errOut = cli(t, env, "backend", "set", "default", "--postgres", dsn, "--workspace", ws+"_d")
	require.Equal(t, 0, code, errOut)
	code, _, errOut = cli(t, env, "backend", "set", "default", "--json")
	require.Equal(t, 0, code, errOut)

	code, _, errOut = cli(t, env, "backend", "maintenance", "mydb", "on")
	require.Equal(t, 0, code, errOut)
	code, out, _ = cli(t, env, "backend", "show", "mydb")
	require.Equal(t, 0, code)
	require.Regexp(t, `maintenance\s+true`, out)

	code, _, errOut = cli(t, env, "backend", "set", "mydb")
	require.Equal(t, 2, code, "neither --postgres nor --json is a usage error: %s", errOut)
}

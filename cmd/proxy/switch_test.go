package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/proxy"
	"github.com/hybridrag/storage-proxy/registry"
)

func randWS(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// inProcessProxy runs a proxy on data's registry behind httptest; with
// announce it records itself as serving the registry, as `proxy serve`
// does.
func inProcessProxy(t *testing.T, data, token string, announce bool) string {
	t.Helper()
	ctx := context.Background()
	regPath := filepath.Join(data, "registry.yaml")
	srv, err := proxy.NewServer(ctx, proxy.Config{RegistryPath: regPath, DataDir: data, Token: token,
		Backends: backends.Default(nil), NoMonitor: true})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		require.NoError(t, srv.Close(context.Background()))
	})
	if announce {
		release, err := registry.Announce(regPath, ts.URL)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, release()) })
	}
	return ts.URL
}

func httpJSON(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// walOnlyCopy copies a JSON folder whose one acknowledged upsert is only in
// the write-ahead log (not flushed into LightRAG's files yet).
func walOnlyCopy(t *testing.T, dst string) {
	t.Helper()
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "live")
	b, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: live})
	require.NoError(t, err)
	kv, err := b.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: adapters.Record(`{"content":"hello"}`)}}))
	require.NoError(t, filepath.WalkDir(live, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(live, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	}))
	require.NoError(t, b.Close(ctx))
}

// The first bug: one upsert only in the log, switched to
// PostgreSQL without --force, must be refused: in-process (the CLI opens
// the folder through its adapter) and through a running proxy (which holds
// the folder's lock and counts through its open adapter).
func TestBackendSetCountsUnflushedWrites(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	t.Run("in-process", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		walOnlyCopy(t, filepath.Join(data, "default"))
		env := map[string]string{envData: data}
		code, _, errOut := cli(t, env, "backend", "set", "default", "--postgres", dsn, "--workspace", randWS("wal"))
		require.Equal(t, 1, code, errOut)
		require.Contains(t, errOut, "switch_refused: ")
		require.Contains(t, errOut, "holds 1 records")
		r, err := registry.LoadOrDefault(filepath.Join(data, "registry.yaml"))
		require.NoError(t, err)
		require.Equal(t, registry.BackendJSON, r.Databases["default"].BackendType())
	})
	t.Run("through a running proxy", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		url := inProcessProxy(t, data, "s3cret", true)
		status := httpJSON(t, http.MethodPost, url+"/v1/databases/default/kv/full_docs/upsert", "s3cret",
			map[string]any{"records": map[string]any{"doc-1": map[string]any{"content": "hello"}}}, nil)
		require.Equal(t, http.StatusOK, status)
		ws := randWS("walp")

		env := map[string]string{envData: data}
		code, _, errOut := cli(t, env, "backend", "set", "default", "--postgres", dsn, "--workspace", ws)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "unauthorized", "the CLI passes the token it is configured with")

		env[envToken] = "s3cret"
		code, _, errOut = cli(t, env, "backend", "set", "default", "--postgres", dsn, "--workspace", ws)
		require.Equal(t, 1, code, errOut)
		require.Contains(t, errOut, "switching through it")
		require.Contains(t, errOut, "switch_refused: ")
		require.Contains(t, errOut, "holds 1 records")

		code, out, errOut := cli(t, env, "backend", "set", "default", "--postgres", dsn, "--workspace", ws, "--force")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "POSTGRES_WORKSPACE="+ws)
		var got struct{ Records []json.RawMessage }
		status = httpJSON(t, http.MethodPost, url+"/v1/databases/default/kv/full_docs/get", "s3cret",
			map[string]any{"ids": []string{"doc-1"}}, &got)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "null", string(got.Records[0]), "switched at once by the proxy, to the empty workspace")
	})
}

// The three switching paths (PUT .../backend, `backend set` in-process and
// through a proxy, and the Switcher itself) answer the same codes.
func TestSwitchPathsGiveSameCodes(t *testing.T) {
	dsn := pgtest.MustDSN(t)
	wsA := randWS("a")
	setup := func(t *testing.T) string {
		data := filepath.Join(t.TempDir(), "data")
		require.NoError(t, os.MkdirAll(filepath.Join(data, "full"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(data, "full", "kv_store_full_docs.json"),
			[]byte(`{"doc-1": {"content": "hello"}}`), 0o644))
		require.NoError(t, registry.Update(filepath.Join(data, "registry.yaml"), func(r *registry.Registry) error {
			r.Backends = map[string]registry.BackendDef{"a": {Type: registry.BackendPostgres, DSN: dsn, Workspace: wsA}}
			r.Databases["a"] = registry.Database{Backend: "a"}
			r.Databases["full"] = registry.Database{Backend: registry.BackendJSON, Path: "full"}
			return nil
		}))
		return data
	}
	type tc struct {
		name string
		db   string
		st   backends.Settings
		args []string
		code string
	}
	cases := []tc{
		{"holds data, target empty", "full", backends.Settings{Type: registry.BackendPostgres, DSN: dsn, Workspace: randWS("e")},
			nil, backends.CodeSwitchRefused},
		{"another database's workspace", "default", backends.Settings{Type: registry.BackendPostgres, DSN: dsn, Workspace: wsA},
			nil, backends.CodeSwitchRefused},
		{"server refuses connections", "default", backends.Settings{Type: registry.BackendPostgres,
			DSN: "postgres://u@127.0.0.1:1/x?sslmode=disable"}, nil, postgres.CodeConnRefused},
		{"bad table naming", "default", backends.Settings{Type: registry.BackendPostgres, DSN: dsn, VectorTableNaming: "weird"},
			nil, "invalid_argument"},
		{"unset variable", "default", backends.Settings{Type: registry.BackendPostgres, DSN: "postgres://u:${HYBRIDRAG_UNSET_VAR}@h/x"},
			nil, "invalid_argument"},
	}
	for i := range cases {
		c := &cases[i]
		c.args = []string{"backend", "set", c.db, "--postgres", c.st.DSN}
		if c.st.Workspace != "" {
			c.args = append(c.args, "--workspace", c.st.Workspace)
		}
		if c.st.VectorTableNaming != "" {
			c.args = append(c.args, "--vector-table-naming", c.st.VectorTableNaming)
		}
	}
	codeOf := func(err error) string {
		var ae *adapters.Error
		if errors.As(err, &ae) {
			return ae.Code
		}
		return fmt.Sprintf("not an adapters.Error: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Run("switcher", func(t *testing.T) {
				data := setup(t)
				s := &backends.Switcher{RegistryPath: filepath.Join(data, "registry.yaml"), DataDir: data, Catalog: backends.Default(nil)}
				_, err := s.Switch(context.Background(), backends.Request{Database: c.db, Settings: c.st})
				require.Equal(t, c.code, codeOf(err))
			})
			t.Run("admin API", func(t *testing.T) {
				data := setup(t)
				url := inProcessProxy(t, data, "", false)
				var eb struct{ Code string }
				body := map[string]any{"type": c.st.Type, "dsn": c.st.DSN, "workspace": c.st.Workspace,
					"vector_table_naming": c.st.VectorTableNaming}
				status := httpJSON(t, http.MethodPut, url+"/v1/databases/"+c.db+"/backend", "", body, &eb)
				require.NotEqual(t, http.StatusOK, status)
				require.Equal(t, c.code, eb.Code)
			})
			t.Run("cli in-process", func(t *testing.T) {
				data := setup(t)
				code, _, errOut := cli(t, map[string]string{envData: data}, c.args...)
				require.NotEqual(t, 0, code)
				require.Contains(t, errOut, "proxy: "+c.code+": ")
				require.NotContains(t, errOut, "switching through")
			})
			t.Run("cli through the proxy", func(t *testing.T) {
				data := setup(t)
				inProcessProxy(t, data, "", true)
				code, _, errOut := cli(t, map[string]string{envData: data}, c.args...)
				require.NotEqual(t, 0, code)
				require.Contains(t, errOut, "switching through")
				require.Contains(t, errOut, "proxy: "+c.code+": ")
			})
		})
	}
}

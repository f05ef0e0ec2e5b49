package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/adapterstest"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
	"github.com/hybridrag/storage-proxy/registry"
)

// The conformance suite through HTTP on a PostgreSQL database, every request
// and response checked against openapi.yaml.
func TestPostgresHTTPConformance(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn, [3]string{"pgdb", "pg", "default"}), pgServerOptions{validation: true})
	adapterstest.Run(t, func(t *testing.T) adapters.Backend {
		return proxyclient.New(ts.URL, "pgdb", "", nil)
	})
	var info BackendInfo
	resp := ts.call(t, http.MethodGet, "/v1/databases/pgdb/backend", nil, &info)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, registry.BackendPostgres, info.Type)
}

func TestBackendAdminAPI(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn), pgServerOptions{validation: true})

	t.Run("validation failure has its code and no password", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
		var eb ErrorBody
		resp := ts.call(t, http.MethodPut, "/v1/databases/default/backend",
			map[string]any{"type": "postgres", "dsn": fmt.Sprintf("postgres://u:Sup3rSecret@127.0.0.1:%d/x?sslmode=disable", port)}, &eb)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Equal(t, postgres.CodeConnRefused, eb.Code)
		require.NotContains(t, eb.Message+eb.Hint, "Sup3rSecret")
		resp = ts.call(t, http.MethodPost, "/v1/backends/test", map[string]any{"dsn": "postgres://bad host:x/"}, &eb)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Equal(t, postgres.CodeInvalidDSN, eb.Code)
	})

	t.Run("test endpoint", func(t *testing.T) {
		var out backendTestBody
		resp := ts.call(t, http.MethodPost, "/v1/backends/test", map[string]any{"dsn": dsn}, &out)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, out.OK)
		require.True(t, out.Report.CanCreateTables)
	})

	// A DSN with a ${VAR} password (trust auth ignores it): kept as written.
	t.Setenv("HYBRIDRAG_TEST_PGPASS", "Sup3rSecret")
	envDSN := strings.Replace(dsn, "postgres@", "postgres:${HYBRIDRAG_TEST_PGPASS}@", 1)
	require.NotEqual(t, dsn, envDSN)
	litDSN := strings.Replace(dsn, "postgres@", "postgres:Sup3rSecret@", 1)

	t.Run("set postgres, env reference kept, registry 0600", func(t *testing.T) {
		var info BackendInfo
		resp := ts.call(t, http.MethodPut, "/v1/databases/pgenv/backend",
			map[string]any{"type": "postgres", "dsn": envDSN, "workspace": "wsenv", "embedding_model": "m"}, &info)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%+v", info)
		require.Equal(t, "pgenv", info.Backend)
		require.Contains(t, info.DSN, "${HYBRIDRAG_TEST_PGPASS}")
		raw, err := os.ReadFile(ts.Registry)
		require.NoError(t, err)
		require.Contains(t, string(raw), "${HYBRIDRAG_TEST_PGPASS}")
		require.NotContains(t, string(raw), "Sup3rSecret")
		fi, err := os.Stat(ts.Registry)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		// It serves at once, without a restart.
		kv := kvClient(t, ts, "pgenv", "full_docs")
		require.NoError(t, kv.Upsert(context.Background(), []adapters.KVRecord{{ID: "d1", Data: adapters.Record(`{"content":"x"}`)}}))
	})

	t.Run("literal password redacted in GET", func(t *testing.T) {
		var info BackendInfo
		resp := ts.call(t, http.MethodPut, "/v1/databases/pglit/backend",
			map[string]any{"type": "postgres", "dsn": litDSN, "workspace": "wslit"}, &info)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp = ts.call(t, http.MethodGet, "/v1/databases/pglit/backend", nil, &info)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, info.DSN, "Sup3rSecret")
		require.Contains(t, info.DSN, "xxxxx")
		require.Equal(t, "wslit", info.Workspace)
	})

	t.Run("switch to an empty backend refused unless forced", func(t *testing.T) {
		// pgenv holds d1; pglit's workspace is empty.
		var eb ErrorBody
		resp := ts.call(t, http.MethodPut, "/v1/databases/pgenv/backend", map[string]any{"backend": "pglit"}, &eb)
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		require.Equal(t, "switch_refused", eb.Code)
		require.Contains(t, eb.Message, "Migrate")
		var info BackendInfo
		resp = ts.call(t, http.MethodPut, "/v1/databases/pgenv/backend", map[string]any{"backend": "pglit", "force": true}, &info)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "pglit", info.Backend)
		got, err := kvClient(t, ts, "pgenv", "full_docs").GetByIDs(context.Background(), []string{"d1"})
		require.NoError(t, err)
		require.Nil(t, got[0], "now served from the other workspace")
		// Back to the backend holding d1: allowed without force (pglit is empty).
		resp = ts.call(t, http.MethodPut, "/v1/databases/pgenv/backend", map[string]any{"backend": "pgenv"}, &info)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got, err = kvClient(t, ts, "pgenv", "full_docs").GetByIDs(context.Background(), []string{"d1"})
		require.NoError(t, err)
		require.NotNil(t, got[0])
	})

	t.Run("unknown names", func(t *testing.T) {
		var eb ErrorBody
		resp := ts.call(t, http.MethodPut, "/v1/databases/x/backend", map[string]any{"backend": "nope"}, &eb)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Equal(t, "unknown_backend", eb.Code)
		resp = ts.call(t, http.MethodGet, "/v1/databases/nope/backend", nil, &eb)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func kvClient(t *testing.T, ts *testServer, db, ns string) adapters.KV {
	kv, err := proxyclient.New(ts.URL, db, "", nil).KV(context.Background(), adapters.Namespace{Name: ns})
	require.NoError(t, err)
	return kv
}

// Maintenance mode: writes 503 + Retry-After with code maintenance, reads go
// on, and turning it off restores writes. JSON backend: no PostgreSQL needed.
func TestMaintenanceMode(t *testing.T) {
	ts := startServer(t, testOptions{})
	ctx := context.Background()
	kv := kvClient(t, ts, "default", "full_docs")
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: adapters.Record(`{"content":"x"}`)}}))

	var m maintenanceBody
	resp := ts.call(t, http.MethodPut, "/v1/databases/default/maintenance", map[string]any{"enabled": true}, &m)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, m.Maintenance)

	for _, w := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/databases/default/kv/full_docs/upsert", `{"records":{"b":{"content":"y"}}}`},
		{http.MethodPost, "/v1/databases/default/kv/full_docs/delete", `{"ids":["a"]}`},
		{http.MethodDelete, "/v1/databases/default/kv/full_docs", ""},
		{http.MethodPost, "/v1/databases/default/graphs/g/nodes/upsert", `{"nodes":[{"id":"n","properties":{}}]}`},
	} {
		var eb ErrorBody
		var body any
		if w.body != "" {
			body = w.body
		}
		resp := ts.call(t, w.method, w.path, body, &eb)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, w.path)
		require.Equal(t, "maintenance", eb.Code)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
	got, err := kv.GetByIDs(ctx, []string{"a"})
	require.NoError(t, err, "reads go on")
	require.NotNil(t, got[0])
	n, err := kv.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	resp = ts.call(t, http.MethodPut, "/v1/databases/default/maintenance", map[string]any{"enabled": false}, &m)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "b", Data: adapters.Record(`{"content":"y"}`)}}))

	var eb ErrorBody
	resp = ts.call(t, http.MethodPut, "/v1/databases/nope/maintenance", map[string]any{"enabled": true}, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// Switching under traffic: writers and readers run while the database flips
// between two configured backends; no request may fail.
func TestSwitchUnderTraffic(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn, [3]string{"live", "pga", "wsa"}, [3]string{"other", "pgb", "wsb"}), pgServerOptions{})
	ctx := context.Background()
	var ops, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := proxyclient.New(ts.URL, "live", "", nil)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				kv, err := c.KV(ctx, adapters.Namespace{Name: "text_chunks"})
				if err == nil {
					id := fmt.Sprintf("w%d-%d", w, i)
					err = kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: adapters.Record(`{"content":"c"}`)}})
					if err == nil {
						_, err = kv.GetByIDs(ctx, []string{id})
					}
				}
				ops.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range 6 {
		time.Sleep(250 * time.Millisecond)
		target := []string{"pgb", "pga"}[i%2]
		var info map[string]any
		resp := ts.call(t, http.MethodPut, "/v1/databases/live/backend", map[string]any{"backend": target, "force": true}, &info)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%+v", info)
		require.Equal(t, target, info["backend"])
	}
	time.Sleep(250 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.Zero(t, failures.Load(), "first error: %v", firstErr.Load())
	require.Greater(t, ops.Load(), int64(50))
	t.Logf("%d operations over 6 switches, none failed", ops.Load())
}

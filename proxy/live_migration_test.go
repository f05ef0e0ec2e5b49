package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
	"github.com/hybridrag/storage-proxy/registry"
)

// waitLive polls the database's live migration until cond holds.
func waitLive(t *testing.T, ts *testServer, db string, cond func(migration.LiveStatus) bool) migration.LiveStatus {
	t.Helper()
	var st migration.LiveStatus
	for {
		resp := ts.call(t, http.MethodGet, "/v1/databases/"+db+"/migration", nil, &st)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		if cond(st) {
			return st
		}
		require.NotEqual(t, migration.LiveFailed, st.State, "%+v", st.Error)
		require.NotEqual(t, migration.LiveAborted, st.State, "%+v", st.Error)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLiveMigrationAPI moves the default JSON database to PostgreSQL and
// back while clients write, through the admin API (validated against
// openapi.yaml): no request fails, and both directions end equal to what
// the clients wrote.
func TestLiveMigrationAPI(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn), pgServerOptions{validation: true})
	ctx := context.Background()
	c := proxyclient.New(ts.URL, "default", "", nil)
	kv, err := c.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	vec, err := c.Vector(ctx, adapters.Namespace{Name: "chunks"}, 3)
	require.NoError(t, err)
	g, err := c.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	for i := range 300 {
		require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: fmt.Sprintf("doc-%03d", i), Data: []byte(fmt.Sprintf(`{"content": "v0 %d"}`, i))}}))
	}
	require.NoError(t, vec.Upsert(ctx, []adapters.VectorRecord{{ID: "chunk-1", Vector: []float32{1, 0, 0}, Fields: []byte(`{"content": "a"}`)}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "A", Tgt: "B", Props: adapters.Props{"weight": []byte("1.0")}}}))

	var eb ErrorBody
	resp := ts.call(t, http.MethodPost, "/v1/databases/default/migration/cutover", map[string]any{}, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration", map[string]any{"to": "postgres", "dsn": dsn, "clean_requests": 3}, &eb)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "live settings without live mode")

	// Writers and readers run through the whole migration.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failures atomic.Int64
	want := sync.Map{}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("doc-%03d", (i*7+w*100)%300)
				val := fmt.Sprintf(`{"content": "w%d-%d"}`, w, i)
				var err error
				if i%5 == 4 {
					err = kv.Delete(ctx, []string{id})
					if err == nil {
						want.Store(id, "")
					}
				} else {
					err = kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: []byte(val)}})
					if err == nil {
						want.Store(id, val)
					}
				}
				if err != nil {
					failures.Add(1)
					t.Errorf("write during the migration: %v", err)
				}
				if _, err := kv.GetByIDs(ctx, []string{id}); err != nil {
					failures.Add(1)
					t.Errorf("read during the migration: %v", err)
				}
			}
		}()
	}

	var st migration.LiveStatus
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration",
		map[string]any{"to": "postgres", "dsn": dsn, "mode": "live", "clean_requests": 50, "clean_minutes": 0, "cutover": "manual"}, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%+v", st)
	require.Equal(t, "live", st.Mode)
	st = waitLive(t, ts, "default", func(s migration.LiveStatus) bool { return s.State == migration.LiveWaiting })
	require.GreaterOrEqual(t, st.VerifyRounds, 1)
	require.Zero(t, st.Shadow.Mismatches, "%+v", st.Shadow.Recent)

	var info BackendInfo
	ts.call(t, http.MethodGet, "/v1/databases/default/backend", nil, &info)
	require.Equal(t, registry.BackendJSON, info.Type)
	require.NotNil(t, info.LiveMigration)

	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration/cutover", map[string]any{}, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	waitLive(t, ts, "default", func(s migration.LiveStatus) bool { return s.State == migration.LiveDone })
	ts.call(t, http.MethodGet, "/v1/databases/default/backend", nil, &info)
	require.Equal(t, registry.BackendPostgres, info.Type)
	require.NotNil(t, info.Archive)
	require.True(t, info.Archive.ReadOnly)

	// Back to the JSON folder, live again.
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration/rollback", map[string]any{"clean_requests": 20, "clean_minutes": 0}, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%+v", st)
	require.True(t, st.Rollback)
	waitLive(t, ts, "default", func(s migration.LiveStatus) bool { return s.State == migration.LiveDone && s.ID == st.ID })
	stop.Store(true)
	wg.Wait()
	require.Zero(t, failures.Load())
	ts.call(t, http.MethodGet, "/v1/databases/default/backend", nil, &info)
	require.Equal(t, registry.BackendJSON, info.Type)

	// Every record is what the last acknowledged write left.
	want.Range(func(k, v any) bool {
		got, err := kv.GetByIDs(ctx, []string{k.(string)})
		require.NoError(t, err)
		if v.(string) == "" {
			require.Nil(t, got[0], "%s was deleted", k)
		} else {
			require.NotNil(t, got[0], k)
			require.Contains(t, string(got[0]), v.(string)[len(`{"content": `):len(v.(string))-1])
		}
		return true
	})
	edges, err := g.GetEdges(ctx, []adapters.Edge{{Src: "B", Tgt: "A"}})
	require.NoError(t, err)
	require.NotNil(t, edges[0])
}

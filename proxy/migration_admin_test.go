package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
	"github.com/hybridrag/storage-proxy/registry"
)

// TestMigrationAdminAPI moves the default JSON database, whose last writes
// are still only in its write-ahead log, to PostgreSQL through the admin
// API; every request and response is checked against openapi.yaml.
func TestMigrationAdminAPI(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn), pgServerOptions{validation: true})
	ctx := context.Background()
	c := proxyclient.New(ts.URL, "default", "", nil)
	kv, err := c.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: []byte(`{"content": "only in the log"}`)}}))
	vec, err := c.Vector(ctx, adapters.Namespace{Name: "chunks"}, 3)
	require.NoError(t, err)
	require.NoError(t, vec.Upsert(ctx, []adapters.VectorRecord{{ID: "chunk-1", Vector: []float32{1, 0, 0}, Fields: []byte(`{"content": "a"}`)}}))

	var eb ErrorBody
	resp := ts.call(t, http.MethodGet, "/v1/databases/default/migration", nil, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "no_migration", eb.Code)
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration", map[string]any{"to": "mongo"}, &eb)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration", map[string]any{"to": "postgres"}, &eb)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, eb.Message, "dsn")
	resp = ts.call(t, http.MethodPost, "/v1/databases/nope/migration", map[string]any{"to": "postgres", "dsn": dsn}, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	var st migration.JobStatus
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration",
		map[string]any{"to": "postgres", "dsn": dsn, "embedding_model": "admin-test"}, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	deadline := time.Now().Add(2 * time.Minute)
	for st.Running && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		resp = ts.call(t, http.MethodGet, "/v1/databases/default/migration", nil, &st)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.False(t, st.Running)
	require.Nil(t, st.Error)
	require.NotNil(t, st.Summary)
	require.True(t, st.Summary.Verified)
	require.True(t, st.Summary.CutOver)
	require.Equal(t, migration.PhaseDone, st.Progress.Phase)

	var info BackendInfo
	ts.call(t, http.MethodGet, "/v1/databases/default/backend", nil, &info)
	require.Equal(t, registry.BackendPostgres, info.Type)
	require.False(t, info.Maintenance)
	require.Equal(t, "default", info.Workspace, "the workspace is derived from the database name")
	got, err := kv.GetByIDs(ctx, []string{"doc-1"})
	require.NoError(t, err)
	require.NotNil(t, got[0], "a write that was only in the write-ahead log is migrated")

	var status struct {
		Migration *migration.Progress `json:"migration"`
	}
	ts.call(t, http.MethodGet, "/v1/databases/default/status", nil, &status)
	require.NotNil(t, status.Migration)
	require.Equal(t, migration.PhaseDone, status.Migration.Phase)

	var vb verifyBody
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration/verify", map[string]any{}, &vb)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, vb.OK, "%+v", vb.Checks)
	require.NotEmpty(t, vb.Checks)

	// Moving it again to where it is now is refused.
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration",
		map[string]any{"to": "postgres", "dsn": dsn, "embedding_model": "admin-test", "workspace": "default"}, &eb)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, eb.Message, "already served")
}

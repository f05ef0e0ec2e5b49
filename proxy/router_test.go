package proxy

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/registry"
)

func TestDefaultRegistryWritten(t *testing.T) {
	ts := startServer(t, testOptions{})
	reg, err := registry.Load(ts.Registry)
	require.NoError(t, err)
	require.Equal(t, []string{"default"}, reg.Names())
	fi, err := os.Stat(ts.Registry)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	var list struct {
		Databases []databaseOut `json:"databases"`
	}
	ts.call(t, "GET", "/v1/databases", nil, &list)
	require.Len(t, list.Databases, 1)
	require.Equal(t, "json", list.Databases[0].Backend)
	require.Equal(t, filepath.Join(ts.DataDir, "default"), list.Databases[0].Path)
}

// A registry edited by another process (the CLI) is picked up without a
// restart: new databases appear, removed ones disappear, and the workspace
// default applies.
func TestRegistryReload(t *testing.T) {
	ts := startServer(t, testOptions{reload: 20 * time.Millisecond})
	other := t.TempDir()
	require.NoError(t, registry.Update(ts.Registry, func(r *registry.Registry) error {
		r.Databases["second"] = registry.Database{Path: other, Workspace: "ws1"}
		return nil
	}))
	require.Eventually(t, func() bool {
		resp := ts.call(t, "POST", "/v1/databases/second/kv/full_docs/upsert", `{"records":{"a":{"content":"x"}}}`, nil)
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 25*time.Millisecond)

	// The write went to workspace ws1 (the registry default).
	var info infoBody
	ts.call(t, "GET", "/v1/databases/second/kv/full_docs?workspace=ws1", nil, &info)
	require.EqualValues(t, 1, info.Count)
	ts.call(t, "GET", "/v1/databases/second/kv/full_docs?workspace=", nil, &info)
	require.EqualValues(t, 0, info.Count)

	require.NoError(t, registry.Update(ts.Registry, func(r *registry.Registry) error {
		delete(r.Databases, "second")
		return nil
	}))
	require.Eventually(t, func() bool {
		var eb ErrorBody
		resp := ts.call(t, "GET", "/v1/databases/second/kv/full_docs", nil, &eb)
		return resp.StatusCode == http.StatusNotFound && eb.Code == "unknown_database"
	}, 5*time.Second, 25*time.Millisecond)

	// Removed means closed and flushed: the folder can be opened (locked) again
	// and holds the write.
	require.Eventually(t, func() bool {
		b, err := jsonadapter.Open(context.Background(), jsonadapter.Config{Dir: other})
		if err != nil {
			return false
		}
		defer b.Close(context.Background())
		kv, err := b.KV(context.Background(), adapters.Namespace{Workspace: "ws1", Name: "full_docs"})
		require.NoError(t, err)
		n, err := kv.Count(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		return true
	}, 5*time.Second, 25*time.Millisecond)
}

func TestAdminPutDelete(t *testing.T) {
	ts := startServer(t, testOptions{})
	dir := t.TempDir()
	var db databaseOut
	resp := ts.call(t, "PUT", "/v1/databases/third", map[string]string{"path": dir, "workspace": "w"}, &db)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "third", db.Name)

	var detail databaseDetailBody
	resp = ts.call(t, "GET", "/v1/databases/third", nil, &detail)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "w", detail.Workspace)
	require.Equal(t, adapters.Capabilities{Durable: true, NeedsFlush: true, InsertionOrder: true}, detail.Capabilities)

	reg, err := registry.Load(ts.Registry)
	require.NoError(t, err)
	require.Equal(t, "w", reg.Databases["third"].Workspace)

	resp = ts.call(t, "DELETE", "/v1/databases/third", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = ts.call(t, "GET", "/v1/databases/third", nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, err = os.Stat(dir)
	require.NoError(t, err, "removing a database must not delete its folder")
}

// A database whose folder another process holds: 503 database_locked with
// Retry-After, and /readyz reports it.
func TestLockedDatabaseUnavailable(t *testing.T) {
	ts := startServer(t, testOptions{})
	dir := t.TempDir()
	holder, err := jsonadapter.Open(context.Background(), jsonadapter.Config{Dir: dir})
	require.NoError(t, err)
	defer holder.Close(context.Background())
	resp := ts.call(t, "PUT", "/v1/databases/locked", map[string]string{"path": dir}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var eb ErrorBody
	resp = ts.call(t, "GET", "/v1/databases/locked/kv/full_docs", nil, &eb)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%+v", eb)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.Equal(t, "database_locked", eb.Code)

	var ready readyBody
	resp = ts.call(t, "GET", "/readyz", nil, &ready)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.False(t, ready.Ready)
	require.True(t, ready.Databases["default"].Ready)
	require.Equal(t, "database_locked", ready.Databases["locked"].Error.Code)
}

// countingBackend records Flush and Close so shutdown can be checked.
type countingBackend struct {
	adapters.Backend
	flushes, closes *atomic.Int32
}

func (b countingBackend) Flush(ctx context.Context) error {
	b.flushes.Add(1)
	return b.Backend.Flush(ctx)
}

func (b countingBackend) Close(ctx context.Context) error {
	b.closes.Add(1)
	return b.Backend.Close(ctx)
}

// Serve shuts down gracefully when its context ends: backends are flushed
// and closed, and the LightRAG file is on disk.
func TestServeGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	var flushes, closes atomic.Int32
	open := func(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error) {
		b, err := jsonOpener(ctx, name, db, dataDir)
		if err != nil {
			return nil, err
		}
		return countingBackend{Backend: b, flushes: &flushes, closes: &closes}, nil
	}
	s, err := NewServer(context.Background(), Config{RegistryPath: filepath.Join(dir, "registry.yaml"),
		DataDir: filepath.Join(dir, "data"), Openers: map[string]Opener{"json": open}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	ts := &testServer{URL: "http://" + ln.Addr().String()}
	resp := ts.call(t, "POST", "/v1/databases/default/kv/full_docs/upsert", `{"records":{"k":{"content":"v"}}}`, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	require.EqualValues(t, 1, closes.Load())
	require.GreaterOrEqual(t, flushes.Load(), int32(1))
	_, err = os.Stat(filepath.Join(dir, "data", "default", "kv_store_full_docs.json"))
	require.NoError(t, err)
	_, err = http.Get(ts.URL + "/healthz")
	require.Error(t, err, "the listener is closed")
}

// A changed entry is reopened: the new backend waits for the old one (which
// holds the folder lock) to close, instead of failing with database_locked.
func TestChangedEntryReopened(t *testing.T) {
	ts := startServer(t, testOptions{reload: 10 * time.Millisecond})
	resp := ts.call(t, "POST", "/v1/databases/default/kv/full_docs/upsert", `{"records":{"a":{"content":"x"}}}`, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = ts.call(t, "PUT", "/v1/databases/default", map[string]string{"path": "default", "workspace": "w2"}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var info infoBody
	resp = ts.call(t, "GET", "/v1/databases/default/kv/full_docs", nil, &info)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 0, info.Count, "the new default workspace w2 is empty")
	resp = ts.call(t, "GET", "/v1/databases/default/kv/full_docs?workspace=", nil, &info)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 1, info.Count, "the write to the old workspace survived the reopen")
}

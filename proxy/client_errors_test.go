package proxy

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
	"github.com/hybridrag/storage-proxy/registry"
)

// Errors through proxyclient keep their kind and code, so callers use
// errors.Is / errors.As exactly as with an in-process adapter.
func TestClientErrorKinds(t *testing.T) {
	ts := startServer(t, testOptions{})
	ctx := context.Background()
	ns := adapters.Namespace{Name: "entities"}

	unknown := proxyclient.New(ts.URL, "nope", "", nil)
	_, err := unknown.KV(ctx, ns)
	require.NoError(t, err) // no I/O until the first call
	require.ErrorIs(t, unknown.Ping(ctx), adapters.ErrNotFound)

	c := proxyclient.New(ts.URL, "default", "", nil)
	require.NoError(t, c.Ping(ctx))
	v, err := c.Vector(ctx, ns, 4)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "a", Vector: []float32{1, 2, 3, 4}, Fields: []byte(`{}`)}}))
	_, err = c.Vector(ctx, ns, 3)
	require.ErrorIs(t, err, adapters.ErrInvalid)
	var ae *adapters.Error
	require.True(t, errors.As(err, &ae))
	require.Equal(t, "dimension_mismatch", ae.Code)

	_, err = c.KV(ctx, adapters.Namespace{Name: "../etc"})
	require.ErrorIs(t, err, adapters.ErrInvalid)

	authed := startServer(t, testOptions{token: "t"})
	require.ErrorIs(t, proxyclient.New(authed.URL, "default", "wrong", nil).Ping(ctx), adapters.ErrInvalid)
	require.NoError(t, proxyclient.New(authed.URL, "default", "t", nil).Ping(ctx))
}

// A panic anywhere in a handler is a logged 500 in the error shape, never a
// crash, and the internals do not leak.
func TestPanicRecovered(t *testing.T) {
	dir := t.TempDir()
	boom := func(context.Context, string, registry.Database, string) (adapters.Backend, error) {
		panic("secret internal detail")
	}
	s, err := NewServer(context.Background(), Config{RegistryPath: filepath.Join(dir, "r.yaml"), DataDir: dir,
		Openers: map[string]Opener{"json": boom}})
	require.NoError(t, err)
	h := newSpecValidator(t, loadSpec(t), s.Handler())
	ts := &testServer{URL: startHandler(t, h)}
	var eb ErrorBody
	resp := ts.call(t, "GET", "/v1/databases/default/kv/full_docs", nil, &eb)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Equal(t, "internal_error", eb.Code)
	require.NotContains(t, eb.Message, "secret")
	require.NoError(t, s.Close(context.Background()))
}

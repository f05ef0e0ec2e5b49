package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/registry"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freshDatabase creates a database with pgvector on the test server
// (HYBRIDRAG_TEST_PG), dropped when the test ends, and returns its DSN.
func freshDatabase(t testing.TB) string { return pgtest.FreshDatabase(t) }

type pgServerOptions struct {
	pg         postgres.Config // base settings of the postgres opener
	validation bool            // check every request and response against openapi.yaml
}

// startPGServer runs a proxy with the JSON and PostgreSQL openers over the
// given registry.yaml text.
func startPGServer(t testing.TB, regYAML string, opts pgServerOptions) *testServer {
	t.Helper()
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.yaml")
	require.NoError(t, os.WriteFile(regPath, []byte(regYAML), 0o600))
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("PROXY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.pg.Logger == nil {
		opts.pg.Logger = log
	}
	cfg := Config{RegistryPath: regPath, DataDir: filepath.Join(dir, "data"), Logger: log, Version: "test", NoMonitor: true,
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener, registry.BackendPostgres: PostgresOpener(opts.pg)}}
	s, err := NewServer(context.Background(), cfg)
	require.NoError(t, err)
	var h http.Handler = s.Handler()
	if opts.validation {
		h = newSpecValidator(t, loadSpec(t), h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, s.Close(ctx))
	})
	return &testServer{Server: s, URL: ts.URL, Registry: regPath, DataDir: cfg.DataDir}
}

// pgRegistry is a registry with a JSON database "default" and one postgres
// database per (database, backend name, workspace).
func pgRegistry(dsn string, dbs ...[3]string) string {
	y := "version: 1\nbackends:\n"
	for _, d := range dbs {
		y += "  " + d[1] + ":\n    type: postgres\n    dsn: '" + dsn + "'\n    workspace: " + d[2] + "\n    embedding_model: test-model\n"
	}
	y += "databases:\n  default: {backend: json, path: default}\n"
	for _, d := range dbs {
		y += "  " + d[0] + ": {backend: " + d[1] + "}\n"
	}
	return y
}

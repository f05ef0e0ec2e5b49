package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// A PostgreSQL DSN written into registry.yaml by hand is checked when the
// proxy loads the registry and again when the entry changes: the result,
// with its error code, shows in the log and in the database's status, and
// the password never does (issue 14 #15, FR-004).
func TestRegistryDSNCheckedOnLoadAndReload(t *testing.T) {
	good := freshDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	refused := fmt.Sprintf("postgres://u:Sup3rSecret@127.0.0.1:%d/x?sslmode=disable", port)

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.yaml")
	write := func(dsns map[string]string) {
		y := "version: 1\nbackends:\n"
		for name, dsn := range dsns {
			y += "  " + name + ":\n    type: postgres\n    dsn: '" + dsn + "'\n"
		}
		y += "databases:\n"
		for name := range dsns {
			y += "  " + name + "db: {backend: " + name + "}\n"
		}
		require.NoError(t, os.WriteFile(regPath, []byte(y), 0o600))
	}
	write(map[string]string{"down": refused, "baddsn": "postgres://u:Sup3rSecret@bad host:x/"})
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s, err := NewServer(context.Background(), Config{RegistryPath: regPath, DataDir: filepath.Join(dir, "data"),
		Logger: log, NoMonitor: true, ReloadInterval: 10 * time.Millisecond,
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener, registry.BackendPostgres: PostgresOpener(postgres.Config{Logger: log})}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	ts := &testServer{Server: s, URL: startHandler(t, newSpecValidator(t, loadSpec(t), s.Handler()))}

	status := func(db string) monitor.Status {
		var st monitor.Status
		resp := ts.call(t, http.MethodGet, "/v1/databases/"+db+"/status", nil, &st)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return st
	}
	warned := func(db, code string) bool {
		for _, w := range status(db).Warnings {
			if w.Code == monitor.CodeBackendConfigInvalid && strings.Contains(w.Message, "("+code+")") {
				return true
			}
		}
		return false
	}
	require.Eventually(t, func() bool { return warned("downdb", postgres.CodeConnRefused) }, time.Minute, 20*time.Millisecond)
	require.Eventually(t, func() bool { return warned("baddsndb", postgres.CodeInvalidDSN) }, time.Minute, 20*time.Millisecond)
	st := status("downdb")
	require.False(t, st.Healthy)
	for _, w := range append(st.Warnings, status("baddsndb").Warnings...) {
		require.NotContains(t, w.Message+w.Command, "Sup3rSecret")
	}
	for _, line := range []string{`"level":"ERROR"`, `"db":"downdb"`, `"code":"connection_refused"`} {
		require.Contains(t, logs.String(), line)
	}
	require.Contains(t, logs.String(), `"code":"invalid_dsn"`)

	// Fixed by hand: the reload checks it again and the warning clears.
	write(map[string]string{"down": good, "baddsn": good})
	require.Eventually(t, func() bool {
		s.router.registry() // the reload happens on use
		return strings.Count(logs.String(), "backend connection check passed") == 2
	}, time.Minute, 20*time.Millisecond)
	require.False(t, warned("downdb", postgres.CodeConnRefused))
	require.True(t, status("downdb").Healthy)
	require.NotContains(t, logs.String(), "Sup3rSecret")
	var all statusBody
	ts.call(t, http.MethodGet, "/v1/status", nil, &all)
	require.True(t, all.Healthy)
}

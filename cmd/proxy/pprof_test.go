package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		_, err := listenPprof(addr)
		require.Error(t, err, addr)
		require.True(t, isUsage(err), "%s: a usage error, got %v", addr, err)
		require.Contains(t, err.Error(), "not loopback")
	}
	code, _, errOut := cli(t, map[string]string{envData: t.TempDir()}, "serve", "--listen", "127.0.0.1:0", "--pprof", "0.0.0.0:0")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "not loopback")
}

func TestPprofServes(t *testing.T) {
	ln, err := listenPprof("127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	wait := servePprof(ctx, ln, slog.New(slog.NewTextHandler(io.Discard, nil)))
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]int{
		"/debug/pprof/":                  http.StatusOK,
		"/debug/pprof/heap?debug=1":      http.StatusOK,
		"/debug/pprof/goroutine?debug=1": http.StatusOK,
		"/debug/pprof/cmdline":           http.StatusNotFound, // may hold --token
		"/v1/version":                    http.StatusNotFound,
	} {
		resp, err := http.Get(base + path)
		require.NoError(t, err, path)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
	cancel()
	wait()
	_, err = http.Get(base + "/debug/pprof/")
	require.Error(t, err, "stopped with its context")
}

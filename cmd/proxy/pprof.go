package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofMux serves net/http/pprof's handlers on a mux of its own (never
// http.DefaultServeMux, which anything imported could add routes to).
// /debug/pprof/cmdline is left out on purpose: the command line may hold
// --token.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // heap, goroutine, allocs, block, mutex, threadcreate
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	return mux
}

// listenPprof binds the profiling listener, refusing any address that is
// not loopback: profiles show the proxy's internals and carry no auth.
func listenPprof(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %s: %w: choose another loopback address such as 127.0.0.1:6060", addr, err)
	}
	if !isLoopback(ln.Addr()) {
		_ = ln.Close()
		return nil, usagef("--pprof %s binds %s, which is not loopback: profiles are served on 127.0.0.1 or [::1] only", addr, ln.Addr())
	}
	return ln, nil
}

// servePprof serves the profiles on ln until ctx ends; the returned function
// waits for the server to stop.
func servePprof(ctx context.Context, ln net.Listener, log *slog.Logger) (wait func()) {
	srv := &http.Server{
		Handler:           pprofMux(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server stopped", slog.Any("error", err))
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	log.Info("serving pprof", slog.String("addr", ln.Addr().String()))
	return func() {
		stop()
		_ = srv.Close()
		<-done
	}
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// backendChecks runs the connection check of every database whose backend
// is a named definition (a PostgreSQL DSN) when the registry is loaded and
// when an entry changes (spec FR-004): a DSN written into registry.yaml by
// hand is checked at once, not when requests start failing. Results show in
// the log and in the database's status.
type backendChecks struct {
	s *Server

	mu      sync.Mutex
	results map[string]*backendCheck // by database
	running sync.WaitGroup
}

// backendCheck is one database's latest check; err is nil when it passed.
type backendCheck struct {
	entry registry.Database
	done  bool
	code  string
	err   string
}

func newBackendChecks(s *Server) *backendChecks {
	return &backendChecks{s: s, results: map[string]*backendCheck{}}
}

// load starts the checks of the entries of reg that are new or changed and
// forgets removed ones. It does not wait for them.
func (b *backendChecks) load(ctx context.Context, reg *registry.Registry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name := range b.results {
		if _, ok := reg.Databases[name]; !ok {
			delete(b.results, name)
		}
	}
	for _, name := range reg.Names() {
		entry := reg.Databases[name]
		desc, ok := b.s.cfg.Backends.Get(entry.BackendType())
		if !ok || !desc.Named || desc.Check == nil {
			delete(b.results, name)
			continue
		}
		if prev, ok := b.results[name]; ok && prev.entry.SameBackend(entry) {
			continue
		}
		res := &backendCheck{entry: entry}
		b.results[name] = res
		b.running.Add(1)
		go func() {
			defer b.running.Done()
			cctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			_, err := desc.Check(cctx, entry, b.s.cfg.DataDir, backends.CheckOptions{Timeout: pingTimeout})
			b.finish(ctx, name, res, err)
		}()
	}
}

func (b *backendChecks) finish(ctx context.Context, name string, res *backendCheck, err error) {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return // the proxy is shutting down
	}
	code := ""
	if err != nil {
		// The adapters' check errors carry a code and never the password.
		code = "check_failed"
		var ae *adapters.Error
		if errors.As(err, &ae) && ae.Code != "" {
			code = ae.Code
		}
	}
	b.mu.Lock()
	current := b.results[name] == res
	res.done, res.code = true, code
	if err != nil {
		res.err = err.Error()
	}
	b.mu.Unlock()
	if !current {
		return // the entry changed meanwhile: its new check reports
	}
	if err != nil {
		b.s.log.LogAttrs(ctx, slog.LevelError, "the database's backend in the registry fails its connection check; requests to it will fail until it is fixed",
			slog.String(logKeyDB, name), slog.String("backend", res.entry.Backend), slog.String("code", code), slog.String("error", res.err))
		return
	}
	b.s.log.LogAttrs(ctx, slog.LevelInfo, "backend connection check passed", slog.String(logKeyDB, name),
		slog.String("backend", res.entry.Backend))
}

// warning returns the status warning of database name's failed check.
func (b *backendChecks) warning(name string) (monitor.Warning, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, ok := b.results[name]
	if !ok || !res.done || res.code == "" {
		return monitor.Warning{}, false
	}
	return monitor.Warning{Code: monitor.CodeBackendConfigInvalid,
		Message: fmt.Sprintf("database %s: backend %q in the registry fails its connection check (%s): %s",
			name, res.entry.Backend, res.code, res.err),
		Command: fmt.Sprintf("fix backends.%s in the registry, or set a DSN that passes the check: proxy backend set %s --postgres 'postgres://USER:PASSWORD@HOST:5432/DBNAME' (it checks the DSN before saving it)",
			res.entry.Backend, name)}, true
}

// wait waits for running checks (Close).
func (b *backendChecks) wait() { b.running.Wait() }

package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// router maps database names to opened backends. Backends open lazily on
// first use and are cached; when registry.yaml changes, removed or changed
// databases are retired: closed once their in-flight requests release them.
type router struct {
	path     string
	dataDir  string
	catalog  *backends.Catalog
	interval time.Duration
	log      *slog.Logger
	// live wraps the backend of a database being migrated live (its entry
	// has Live) in the migration's dual backend; nil: not wrapped.
	live func(ctx context.Context, name string, entry registry.Database, b adapters.Backend) (adapters.Backend, error)
	// onLoad, when set, sees every registry loaded after the first (the
	// server's backend checks); called under mu, so it must not block.
	onLoad func(*registry.Registry)

	mu        sync.Mutex
	reg       *registry.Registry
	stamp     fileStamp
	lastCheck time.Time
	dbs       map[string]*dbHandle
	// old holds retired handles not closed yet, so a reopened database waits
	// for its predecessor to release the folder lock.
	old      map[string]*dbHandle
	closed   bool
	retiring sync.WaitGroup // closes of retired backends in progress
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// dbHandle is one database's backend and its users.
type dbHandle struct {
	name  string
	entry registry.Database

	openMu  sync.Mutex // serialises opening and closing
	backend adapters.Backend

	// done is closed once the backend is closed (after retirement).
	done chan struct{}
	// prev is the retired handle of the same database, if still closing.
	prev *dbHandle

	// refs and retired are guarded by router.mu.
	refs    int
	retired bool
}

func newHandle(name string, entry registry.Database) *dbHandle {
	return &dbHandle{name: name, entry: entry, done: make(chan struct{})}
}

func newRouter(cfg Config, log *slog.Logger) (*router, error) {
	r := &router{path: cfg.RegistryPath, dataDir: cfg.DataDir, catalog: cfg.Backends,
		interval: cfg.ReloadInterval, log: log, dbs: map[string]*dbHandle{}, old: map[string]*dbHandle{}}
	if _, err := os.Stat(r.path); errors.Is(err, os.ErrNotExist) {
		// Write the default registry so the user sees (and can edit) it.
		if err := registry.Update(r.path, func(*registry.Registry) error { return nil }); err != nil {
			return nil, fmt.Errorf("create default registry %s: %w", r.path, err)
		}
	}
	if _, err := registry.Sweep(r.path); err != nil {
		log.Warn("sweep temp files of interrupted registry writes", slog.Any("error", err))
	}
	st, err := stat(r.path)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r.path, err)
	}
	reg, err := registry.Load(r.path)
	if err != nil {
		return nil, err
	}
	for _, name := range reg.Names() {
		if _, ok := r.catalog.Get(reg.Databases[name].BackendType()); !ok {
			return nil, fmt.Errorf("registry %s: database %s: no opener for backend %q", r.path, name, reg.Databases[name].BackendType())
		}
	}
	r.reg, r.stamp, r.lastCheck = reg, st, time.Now()
	return r, nil
}

func stat(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// reloadLocked re-reads the registry if its mtime or size changed (or force).
// A registry that does not parse is logged and the previous one kept, so a
// half-edited file never takes databases offline.
func (r *router) reloadLocked(force bool) {
	r.lastCheck = time.Now()
	st, err := stat(r.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("stat registry", slog.String("path", r.path), slog.Any("error", err))
		}
		return
	}
	if !force && st == r.stamp {
		return
	}
	reg, err := registry.Load(r.path)
	if err != nil {
		r.log.Error("registry changed but cannot be read; keeping the previous one", slog.Any("error", err))
		r.stamp = st
		return
	}
	r.stamp = st
	for name, h := range r.dbs {
		entry, ok := reg.Databases[name]
		if ok && entry.SameBackend(h.entry) && entry.Live.SameRun(h.entry.Live) { // maintenance toggles keep it open
			continue
		}
		delete(r.dbs, name)
		r.retireLocked(h)
		r.log.Info("database retired after a registry change", slog.String(logKeyDB, name), slog.Bool("removed", !ok))
	}
	r.reg = reg
	if r.onLoad != nil {
		r.onLoad(reg)
	}
}

// retireLocked marks h retired and closes it now if nobody uses it.
func (r *router) retireLocked(h *dbHandle) {
	h.retired = true
	r.old[h.name] = h
	if h.refs == 0 {
		r.closeAsync(h)
	}
}

func (r *router) closeAsync(h *dbHandle) {
	r.retiring.Add(1)
	go func() {
		defer r.retiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.close(ctx); err != nil {
			r.log.Error("close backend", slog.String(logKeyDB, h.name), slog.Any("error", err))
		}
		r.mu.Lock()
		if r.old[h.name] == h {
			delete(r.old, h.name)
		}
		r.mu.Unlock()
	}()
}

// maybeReload checks the registry at most once per interval.
func (r *router) maybeReload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= r.interval {
		r.reloadLocked(false)
	}
}

func (r *router) forceReload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloadLocked(true)
}

// poll re-reads the registry every interval until ctx is done.
func (r *router) poll(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.maybeReload()
		}
	}
}

// registry returns the current registry (never modified in place).
func (r *router) registry() *registry.Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= r.interval {
		r.reloadLocked(false)
	}
	return r.reg
}

// acquire returns the database's opened backend and its registry entry; the
// caller must call release when done.
func (r *router) acquire(ctx context.Context, name string) (*dbHandle, error) {
	if err := adapters.ValidateName("database", name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, newAPIError(kindUnavailable, "backend_unavailable", "retry against the restarted proxy",
			"the proxy is shutting down")
	}
	if time.Since(r.lastCheck) >= r.interval {
		r.reloadLocked(false)
	}
	h, ok := r.dbs[name]
	if !ok {
		entry, known := r.reg.Databases[name]
		if !known {
			names := r.reg.Names()
			r.mu.Unlock()
			return nil, unknownDatabase(name, names)
		}
		h = newHandle(name, entry)
		h.prev = r.old[name]
		r.dbs[name] = h
	}
	h.refs++
	r.mu.Unlock()

	if err := r.open(ctx, h); err != nil {
		r.release(h)
		return nil, err
	}
	return h, nil
}

// whileUnopened runs fn with the entry of a known database whose backend is
// not open, holding the database's open lock so no request opens it
// meanwhile (fn may probe the store's own lock); ran is false, and fn is not
// called, when the database is unknown or open.
func (r *router) whileUnopened(name string, fn func(registry.Database) error) (ran bool, err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false, nil
	}
	if time.Since(r.lastCheck) >= r.interval {
		r.reloadLocked(false)
	}
	h, ok := r.dbs[name]
	if !ok {
		entry, known := r.reg.Databases[name]
		if !known {
			r.mu.Unlock()
			return false, nil
		}
		h = newHandle(name, entry)
		h.prev = r.old[name]
		r.dbs[name] = h
	}
	h.refs++
	r.mu.Unlock()
	defer r.release(h)

	h.openMu.Lock()
	defer h.openMu.Unlock()
	if h.backend != nil {
		return false, nil
	}
	return true, fn(h.entry)
}

func unknownDatabase(name string, known []string) *apiError {
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	return newAPIError(kindNotFound, "unknown_database",
		fmt.Sprintf("register it with `proxy db add %s --path DIR` (known databases: %s)", name, list),
		"database %q is not in the registry", name)
}

// open opens h's backend if it is not open yet. A failed open is retried by
// the next request (a lock may be released, a server may come back).
func (r *router) open(ctx context.Context, h *dbHandle) error {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	if h.backend != nil {
		return nil
	}
	if p := h.prev; p != nil {
		// The old backend of a changed entry may hold the folder's lock
		// until its in-flight requests finish.
		select {
		case <-p.done:
			h.prev = nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	desc, ok := r.catalog.Get(h.entry.BackendType())
	if !ok || desc.Open == nil {
		return newAPIError(kindUnavailable, "backend_unavailable",
			"use a backend this proxy build supports", "database %q: no opener for backend %q", h.name, h.entry.BackendType())
	}
	b, err := desc.Open(ctx, h.name, h.entry, r.dataDir)
	if err != nil {
		return fmt.Errorf("open database %s: %w", h.name, err)
	}
	if h.entry.Live != nil && r.live != nil {
		w, err := r.live(ctx, h.name, h.entry, b)
		if err != nil {
			if cerr := b.Close(context.WithoutCancel(ctx)); cerr != nil {
				r.log.Warn("close backend after its live migration could not open", slog.String(logKeyDB, h.name), slog.Any("error", cerr))
			}
			return err
		}
		b = w
	}
	h.backend = b
	return nil
}

func (r *router) release(h *dbHandle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.refs--
	if h.refs == 0 && h.retired {
		r.closeAsync(h)
	}
}

func (h *dbHandle) close(ctx context.Context) error {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	defer func() {
		select {
		case <-h.done:
		default:
			close(h.done)
		}
	}()
	if h.backend == nil {
		return nil
	}
	b := h.backend
	h.backend = nil
	var errs []error
	if err := b.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush database %s: %w", h.name, err))
	}
	if err := b.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close database %s: %w", h.name, err))
	}
	return errors.Join(errs...)
}

// closeAll retires every database and waits for the closes (flushing each
// backend). Requests still holding a backend close it when they release it.
func (r *router) closeAll(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	var errs []error
	var busy []*dbHandle
	for name, h := range r.dbs {
		delete(r.dbs, name)
		h.retired = true
		if h.refs == 0 {
			busy = append(busy, h)
		} else {
			r.log.Warn("closing a database still in use", slog.String(logKeyDB, name))
		}
	}
	r.mu.Unlock()
	for _, h := range busy {
		if err := h.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() { r.retiring.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("wait for backends to close: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

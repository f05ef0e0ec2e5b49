package json

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sync/errgroup"

	"github.com/hybridrag/storage-proxy/adapters"
)

// DefaultMaxLogBytes is how large the write-ahead log may grow before the
// backend flushes in the background.
const DefaultMaxLogBytes = 64 << 20

// Log keys.
const (
	logKeyDir   = "dir"
	logKeyFile  = "file"
	logKeyError = "error"
	logKeyBytes = "bytes"
)

// Config configures Open.
type Config struct {
	// Dir is the database folder (LightRAG's working directory). It is
	// created if missing.
	Dir    string
	Logger *slog.Logger
	// MaxLogBytes triggers a background flush when the log grows past it;
	// 0 means DefaultMaxLogBytes.
	MaxLogBytes int64
	// Now is the clock for timestamps (tests); nil means time.Now.
	Now func() time.Time
}

// Backend serves one LightRAG working directory. Namespaces are loaded on
// first use and kept in memory; writes go to an fsync'd log first and reach
// LightRAG's files on Flush, on Close and when the log grows past
// MaxLogBytes.
type Backend struct {
	dir    string
	log    *slog.Logger
	now    func() time.Time
	maxLog int64
	lock   *flock.Flock
	wal    *wal

	mu     sync.Mutex // guards spaces
	spaces map[spaceKey]*space

	// gate orders writes against log rotation: a write holds it shared from
	// logging to applying, a flush holds it exclusively while it rotates the
	// log and takes the dirty set.
	gate    sync.RWMutex
	flushMu sync.Mutex // one flush, or one drop's file write, at a time
	closed  atomic.Bool
	// retainLog keeps rotated log segments when replay could not apply some
	// entries (their namespace file is unreadable), so nothing is lost.
	retainLog atomic.Bool

	kick      chan struct{}
	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ adapters.Backend = (*Backend)(nil)

// Open locks the folder, sweeps temp files left by a crash, replays the log
// and starts serving.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Dir == "" {
		return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_config", "set the database's path", "json backend: no folder given")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("open json backend %s: %w", cfg.Dir, err)
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		// A configuration mistake, not an internal error: say what to fix.
		return nil, adapters.Errorf(adapters.ErrConflict, "not_a_folder",
			"point the database at a folder (a LightRAG working directory): proxy db add NAME --path DIR --force",
			"the database path %s is a file, not a folder", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open json backend: create %s: %w", dir, err)
	}
	for _, own := range []string{filepath.Join(dir, lockFileName), walPath(dir)} {
		if err := refuseSymlink(own); err != nil {
			return nil, err
		}
	}
	fl, err := lockFolder(dir)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		dir:      dir,
		log:      cfg.Logger,
		now:      cfg.Now,
		maxLog:   cfg.MaxLogBytes,
		lock:     fl,
		spaces:   map[spaceKey]*space{},
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With(logKeyDir, dir)
	if b.now == nil {
		b.now = time.Now
	}
	if b.maxLog <= 0 {
		b.maxLog = DefaultMaxLogBytes
	}
	if err := b.recover(ctx); err != nil {
		_ = fl.Unlock()
		return nil, err
	}
	go b.flushLoop()
	return b, nil
}

// recover sweeps temp files and replays the rotated segments, then the
// active log, truncating a torn tail.
func (b *Backend) recover(ctx context.Context) error {
	dirs, err := b.workspaceDirs()
	if err != nil {
		return err
	}
	for _, d := range append([]string{b.dir}, dirs...) {
		if err := sweepTempFiles(d); err != nil {
			return fmt.Errorf("open json backend: sweep temp files in %s: %w", d, err)
		}
	}
	segs, err := walSegments(b.dir)
	if err != nil {
		return err
	}
	replay := func(e *walEntry) error { return b.replayEntry(ctx, e) }
	nextSeg := 0
	for _, n := range segs {
		path := segmentPath(b.dir, n)
		if err := refuseSymlink(path); err != nil {
			return err
		}
		if _, torn, err := readLog(path, replay); err != nil {
			return fmt.Errorf("open json backend: replay %s: %w", path, err)
		} else if torn {
			b.log.Warn("log segment ends in a torn entry; replayed up to it", logKeyFile, path)
		}
		nextSeg = n + 1
	}
	good, torn, err := readLog(walPath(b.dir), replay)
	if err != nil {
		return fmt.Errorf("open json backend: replay %s: %w", walPath(b.dir), err)
	}
	if torn {
		b.log.Warn("log ends in a torn entry from a crash; it was never acknowledged and is dropped",
			logKeyFile, walPath(b.dir), logKeyBytes, good)
	}
	b.wal, err = openWAL(b.dir, good, nextSeg)
	return err
}

// replayEntry applies one logged write during recovery.
func (b *Backend) replayEntry(ctx context.Context, e *walEntry) error {
	kind, ok := kindOfOp(e.Op)
	if !ok {
		return adapters.Errorf(adapters.ErrCorrupt, "corrupt_log", "report this as a bug; the log is kept unchanged",
			"log entry has unknown operation %q", e.Op)
	}
	s, err := b.space(ctx, adapters.Namespace{Workspace: e.Workspace, Name: e.Namespace}, kind)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		b.retainLog.Store(true)
		b.log.Error("cannot replay logged write into an unreadable file; the log is kept",
			logKeyFile, s.path, logKeyError, s.err)
		return nil
	}
	switch kind {
	case fileKV:
		err = s.applyKV(e)
	case fileVector:
		err = s.applyVector(e)
	default:
		err = s.applyGraph(e)
	}
	if err != nil {
		return fmt.Errorf("replay %s into %s: %w", e.Op, s.path, err)
	}
	s.changed()
	return nil
}

// space returns the loaded space for a namespace file, creating it on first
// use.
func (b *Backend) space(ctx context.Context, ns adapters.Namespace, kind fileKind) (*space, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	if err := adapters.ValidateName("workspace", ns.Workspace); err != nil {
		return nil, err
	}
	if err := adapters.ValidateName("namespace", ns.Name); err != nil {
		return nil, err
	}
	dir, err := spaceDir(b.dir, ns.Workspace)
	if err != nil {
		return nil, err
	}
	key := spaceKey{workspace: ns.Workspace, file: kind.fileName(ns.Name)}
	b.mu.Lock()
	s, ok := b.spaces[key]
	if !ok {
		s = &space{ns: ns, kind: kind, dir: dir, path: filepath.Join(dir, key.file)}
		b.spaces[key] = s
	}
	b.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

var errClosed = adapters.Errorf(adapters.ErrUnavailable, "backend_closed",
	"retry; the database is being closed or reopened", "json backend is closed")

// mutation is what a write computes under the namespace's lock: the entry
// to log (nil when nothing changes) and how to apply it in memory.
type mutation struct {
	entry *walEntry
	apply func()
}

// mutate runs one write: prepare under the write lock, log, apply, then
// wait for the shared fsync outside the locks so writers group-commit. A
// concurrent reader may see a write a moment before it is acknowledged; a
// write is acknowledged only once its log entry is fsync'd.
func (b *Backend) mutate(ctx context.Context, s *space, prepare func() (mutation, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.gate.RLock()
	if b.closed.Load() {
		b.gate.RUnlock()
		return errClosed
	}
	s.mu.Lock()
	ticket, err := func() (uint64, error) {
		if s.err != nil {
			return 0, s.err
		}
		m, err := prepare()
		if err != nil || m.entry == nil {
			return 0, err
		}
		m.entry.Workspace, m.entry.Namespace = s.ns.Workspace, s.ns.Name
		frame, err := encodeEntry(m.entry)
		if err != nil {
			return 0, err
		}
		t, err := b.wal.append(frame)
		if err != nil {
			return 0, err
		}
		m.apply()
		s.changed()
		return t, nil
	}()
	s.mu.Unlock()
	b.gate.RUnlock()
	if err != nil || ticket == 0 {
		return err
	}
	if err := b.wal.waitDurable(ticket); err != nil {
		return err
	}
	if b.wal.bytes() > b.maxLog {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// dropped persists a drop at once, as LightRAG does: an empty kv_store file,
// no vdb or graphml file. Writes that raced in after the drop stay dirty and
// are saved by the next flush.
func (b *Backend) dropped(s *space) error {
	// A flush may hold this file's content of before the drop, prepared and
	// not yet renamed into place: let it finish first.
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.gate.RLock()
	defer b.gate.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || !s.empty() {
		return s.err
	}
	var err error
	if s.kind == fileKV {
		err = s.write()
	} else {
		err = s.remove()
	}
	if err != nil {
		return err
	}
	s.dirty.Store(false)
	return nil
}

func (b *Backend) nowUnix() int64 { return b.now().Unix() }

func (b *Backend) flushLoop() {
	defer close(b.loopDone)
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
			if err := b.Flush(context.Background()); err != nil {
				b.log.Error("background flush failed; writes stay in the log", logKeyError, err)
			}
		}
	}
}

// flushParallel is how many files a flush writes at once.
const flushParallel = 8

// Flush writes every changed namespace to its LightRAG file, atomically,
// then drops the log segments they came from. Unchanged namespaces are not
// touched.
func (b *Backend) Flush(ctx context.Context) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.wal.isClosed() {
		return errClosed
	}
	b.gate.Lock()
	var dirty []*space
	b.mu.Lock()
	for _, s := range b.spaces {
		if s.dirty.Swap(false) {
			dirty = append(dirty, s)
		}
	}
	b.mu.Unlock()
	segs, err := walSegments(b.dir)
	if err != nil || (len(dirty) == 0 && len(segs) == 0 && b.wal.empty()) {
		b.gate.Unlock()
		return err
	}
	seg, err := b.wal.rotate()
	b.gate.Unlock()
	if err != nil {
		for _, s := range dirty {
			s.dirty.Store(true)
		}
		return fmt.Errorf("flush %s: %w", b.dir, err)
	}
	sort.Slice(dirty, func(i, j int) bool { return dirty[i].path < dirty[j].path })
	// The files are independent and each waits mostly for its fsync:
	// written side by side, their fsyncs share the file system's journal
	// commits; then all are renamed into place and each folder fsynced once.
	errs := make([]error, len(dirty))
	pending := make([]*pendingFile, len(dirty))
	var g errgroup.Group
	g.SetLimit(flushParallel)
	for i, s := range dirty {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return nil
			}
			s.mu.RLock()
			pending[i], errs[i] = s.prepare()
			s.mu.RUnlock()
			return nil
		})
	}
	_ = g.Wait()
	for i, err := range commitFiles(pending) {
		if err != nil {
			errs[i] = err
		}
	}
	for i, err := range errs {
		if err != nil {
			dirty[i].dirty.Store(true)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flush %s: %w", b.dir, err)
	}
	if b.retainLog.Load() {
		b.log.Warn("keeping the log: some logged writes belong to files that cannot be read")
		return nil
	}
	if err := b.wal.removeSegments(seg); err != nil {
		return fmt.Errorf("flush %s: %w", b.dir, err)
	}
	return nil
}

// Namespaces lists every LightRAG file in the folder and its workspace
// sub-folders, plus namespaces that so far exist only in memory. Counting
// needs the records, so listing loads every namespace (as first use would).
func (b *Backend) Namespaces(ctx context.Context) ([]adapters.NamespaceInfo, error) {
	type found struct {
		ns   adapters.Namespace
		kind adapters.Kind
		file fileKind
	}
	seen := map[spaceKey]found{}
	add := func(ws string, f folderFile) {
		fk := fileKV
		switch f.Kind {
		case adapters.KindVector:
			fk = fileVector
		case adapters.KindGraph:
			fk = fileGraph
		}
		seen[spaceKey{ws, f.Name}] = found{adapters.Namespace{Workspace: ws, Name: f.Namespace}, f.Kind, fk}
	}
	files, err := listFolder(b.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.dir, err)
	}
	for _, f := range files {
		add("", f)
	}
	dirs, err := b.workspaceDirs()
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		files, err := listFolder(d)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", d, err)
		}
		for _, f := range files {
			add(filepath.Base(d), f)
		}
	}
	b.mu.Lock()
	inMemory := make(map[spaceKey]*space, len(b.spaces))
	for k, s := range b.spaces {
		inMemory[k] = s
	}
	b.mu.Unlock()
	for k, s := range inMemory {
		if _, ok := seen[k]; ok {
			continue
		}
		s.mu.RLock()
		empty := s.loaded && s.empty()
		s.mu.RUnlock()
		if empty && !s.dirty.Load() {
			continue // opened but never written
		}
		kind, _, _ := classifyFile(k.file)
		seen[k] = found{s.ns, kind, s.kind}
	}

	// Load the namespaces in parallel first: reading is CPU-bound (JSON and
	// base64 decoding), so a cold listing scales with the cores.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, f := range seen {
		g.Go(func() error {
			_, err := b.space(gctx, f.ns, f.file)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	out := make([]adapters.NamespaceInfo, 0, len(seen))
	for _, f := range seen {
		if adapters.ValidateName("namespace", f.ns.Name) != nil || adapters.ValidateName("workspace", f.ns.Workspace) != nil {
			continue // a file LightRAG could not have named
		}
		info := adapters.NamespaceInfo{Namespace: f.ns, Kind: f.kind}
		s, err := b.space(ctx, f.ns, f.file)
		if err != nil {
			return nil, err
		}
		s.mu.RLock()
		switch {
		case s.err != nil:
			info.Error = s.err.Error()
		case s.kv != nil:
			info.Records = int64(len(s.kv.records))
		case s.vec != nil:
			info.Records, info.Dim = int64(len(s.vec.ids)), s.vec.dim
		case s.graph != nil:
			info.Records, info.Edges = int64(len(s.graph.nodes)), int64(len(s.graph.edges))
		}
		s.mu.RUnlock()
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		a, c := out[i], out[j]
		if a.Workspace != c.Workspace {
			return a.Workspace < c.Workspace
		}
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		return a.Kind < c.Kind
	})
	return out, nil
}

// workspaceDirs lists sub-folders whose names are valid workspaces.
func (b *Backend) workspaceDirs() ([]string, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.dir, err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() || adapters.ValidateName("workspace", e.Name()) != nil {
			continue
		}
		dirs = append(dirs, filepath.Join(b.dir, e.Name()))
	}
	return dirs, nil
}

// Ping reports whether writes can be accepted.
func (b *Backend) Ping(ctx context.Context) error {
	if b.closed.Load() {
		return errClosed
	}
	b.wal.mu.Lock()
	defer b.wal.mu.Unlock()
	if b.wal.err != nil {
		return b.wal.unavailable()
	}
	return ctx.Err()
}

// Capabilities: writes are durable in the log at once and reach LightRAG's
// files on Flush.
func (b *Backend) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Durable: true, NeedsFlush: true, InsertionOrder: true}
}

// Close flushes, closes the log and releases the folder lock. If the flush
// fails the writes stay in the log and are replayed on the next Open.
func (b *Backend) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.loopDone
		b.gate.Lock()
		b.closed.Store(true)
		b.gate.Unlock()
		errs := []error{b.Flush(ctx), b.wal.close(), b.lock.Unlock()}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

package json

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hybridrag/storage-proxy/adapters"
)

// fileKind is which LightRAG file a namespace lives in. KV and doc-status
// namespaces share the kv_store format, so one kv_store file is one space
// whichever interface opens it.
type fileKind int

const (
	fileKV fileKind = iota
	fileVector
	fileGraph
)

func (k fileKind) fileName(ns string) string {
	switch k {
	case fileVector:
		return vectorFileName(ns)
	case fileGraph:
		return graphFileName(ns)
	default:
		return kvFileName(ns)
	}
}

type spaceKey struct {
	workspace string
	file      string
}

// space is one namespace file, loaded on first use and kept in memory.
// mu guards the data; reads share it, writes and loads take it exclusively.
type space struct {
	ns   adapters.Namespace
	kind fileKind
	path string
	dir  string // the workspace folder

	mu     sync.RWMutex
	loaded bool
	// err is set when the file could not be read: every call to this
	// namespace fails with it and the file is never written.
	err   error
	kv    *kvData
	vec   *vectorData
	graph *graphData

	// dirty is set by writes and cleared when a flush takes the space.
	dirty atomic.Bool
	// sorted caches the ids in byte order for Scan; writes reset it.
	sorted atomic.Pointer[[]string]
}

// load reads the file once. A cancelled load is not remembered, so the
// next call tries again.
func (s *space) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.refuseLinks()
	_, statErr := os.Stat(s.path)
	exists := statErr == nil
	switch {
	case err != nil:
	case statErr != nil && !errors.Is(statErr, os.ErrNotExist):
		err = statErr
	case s.kind == fileKV:
		s.kv = newKVData()
		if exists {
			s.kv, err = readKVFile(ctx, s.path)
		}
	case s.kind == fileVector:
		s.vec = newVectorData(0)
		if exists {
			s.vec, err = readVectorFile(ctx, s.path)
		}
	case s.kind == fileGraph:
		s.graph = newGraphData()
		if exists {
			s.graph, err = readGraphFile(ctx, s.path)
		}
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		s.err = loadError(s.path, err)
		s.kv, s.vec, s.graph = nil, nil, nil
	}
	s.loaded = true
	return nil
}

// refuseLinks fails when the space's workspace folder or file is a link
// (checked on load and again before every write, since a link can appear
// later).
func (s *space) refuseLinks() error {
	if s.ns.Workspace != "" {
		if err := refuseSymlink(s.dir); err != nil {
			return err
		}
	}
	return refuseSymlink(s.path)
}

// loadError keeps a reader's *adapters.Error and wraps anything else so
// the message names the file.
func loadError(path string, err error) error {
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return ae
	}
	return &adapters.Error{Kind: adapters.ErrCorrupt, Code: "unreadable_file",
		Message: fmt.Sprintf("read %s", path),
		Hint:    "fix or move the file away; it is left untouched and the other namespaces keep working",
		Err:     err}
}

// write saves the space to its file atomically. Callers hold at least the
// read lock.
func (s *space) write() error {
	p, err := s.prepare()
	if err != nil {
		return err
	}
	return commitFiles([]*pendingFile{p})[0]
}

// prepare writes the space's LightRAG file to a temp file (prepareFile),
// for commitFiles to put in place. Callers hold at least the read lock.
func (s *space) prepare() (*pendingFile, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := s.refuseLinks(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create folder %s: %w", s.dir, err)
	}
	var write func(io.Writer) error
	switch s.kind {
	case fileKV:
		write = func(w io.Writer) error { return writeKVFile(w, s.kv) }
	case fileVector:
		write = func(w io.Writer) error { return writeVectorFile(w, s.vec) }
	default:
		write = func(w io.Writer) error { return writeGraphFile(w, s.graph) }
	}
	p, err := prepareFile(s.path, write)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", s.path, err)
	}
	return p, nil
}

// remove deletes the space's file (vector and graph drops, as LightRAG does).
func (s *space) remove() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", s.path, err)
	}
	if err := syncDir(s.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// empty reports whether the space holds nothing (callers hold the lock).
func (s *space) empty() bool {
	switch {
	case s.err != nil:
		return true
	case s.kv != nil:
		return len(s.kv.records) == 0
	case s.vec != nil:
		return len(s.vec.ids) == 0
	case s.graph != nil:
		return len(s.graph.nodes) == 0
	}
	return true
}

// sortedIDs returns the ids in byte order, cached until the next write.
// Callers hold at least the read lock.
func (s *space) sortedIDs() []string {
	if p := s.sorted.Load(); p != nil {
		return *p
	}
	var ids []string
	switch {
	case s.kv != nil:
		ids = make([]string, 0, len(s.kv.records))
		for id := range s.kv.records {
			ids = append(ids, id)
		}
	case s.vec != nil:
		ids = append([]string(nil), s.vec.ids...)
	case s.graph != nil:
		ids = make([]string, 0, len(s.graph.nodes))
		for id := range s.graph.nodes {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	s.sorted.Store(&ids)
	return ids
}

// changed marks the space dirty after a write (callers hold the write lock).
func (s *space) changed() {
	s.sorted.Store(nil)
	s.dirty.Store(true)
}

// page returns the ids after `after` in byte order, at most limit (<= 0 is
// no limit).
func page(sorted []string, after string, limit int) []string {
	i := 0
	if after != "" {
		i = sort.Search(len(sorted), func(i int) bool { return sorted[i] > after })
	}
	out := sorted[i:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// spaceDir is the folder of a workspace inside the database folder.
func spaceDir(root, workspace string) (string, error) {
	if workspace == "" {
		return root, nil
	}
	dir := filepath.Join(root, workspace)
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel != workspace {
		return "", adapters.Errorf(adapters.ErrInvalid, "invalid_name",
			"use a plain folder name for the workspace", "workspace %q resolves outside the database folder", workspace)
	}
	return dir, nil
}

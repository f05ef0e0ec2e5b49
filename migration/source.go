package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// Unit is one namespace of one kind: what a migration copies, checkpoints
// and verifies as a whole.
type Unit struct {
	NS   adapters.Namespace `json:"ns"`
	Kind adapters.Kind      `json:"kind"`
	// Records is the count the source reports (0 when it cannot tell
	// cheaply); Bytes the size of its file, for progress in MB.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Dim is a vector unit's dimension (0 when unknown).
	Dim int `json:"dim,omitempty"`
}

// Key names the unit in checkpoints and reports.
func (u Unit) Key() string { return string(u.Kind) + ":" + u.NS.String() }

// Problem is a source record that could not be copied (or a file cut off
// mid-way): where it is and why.
type Problem struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Record string `json:"record,omitempty"`
	Reason string `json:"reason"`
}

// Source yields a database's records, unit by unit, in stored form and in
// an order that does not change while the database is in maintenance, so a
// resumed copy can skip what it already loaded.
type Source interface {
	Units(ctx context.Context) ([]Unit, error)
	// Stream calls fn with batches of at most size records of u, after
	// skipping the first skip records.
	Stream(ctx context.Context, u Unit, skip int64, size int, problem func(Problem), fn func(b adapters.Batch) error) error
	// Fingerprint changes whenever the source's content may have changed.
	Fingerprint(ctx context.Context) (string, error)
	// Describe names the source for people ("JSON folder /data/db").
	Describe() string
}

// FolderSource streams a LightRAG working directory file by file with the
// lightragfile readers: memory stays flat whatever the files' sizes.
type FolderSource struct {
	Dir   string
	files map[string]lightragfile.File
}

// NewFolderSource reads LightRAG files from dir (which must hold every
// acknowledged write: flush the JSON backend first).
func NewFolderSource(dir string) *FolderSource { return &FolderSource{Dir: dir} }

func (s *FolderSource) Describe() string { return "JSON folder " + s.Dir }

func (s *FolderSource) Units(ctx context.Context) ([]Unit, error) {
	files, err := lightragfile.List(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("list LightRAG files in %s: %w", s.Dir, err)
	}
	// Record counts for progress and ETA, skimmed without loading anything.
	counts, dims := map[string]int64{}, map[string]int{}
	if rep, err := jsonadapter.Inspect(ctx, s.Dir); err == nil {
		for _, fr := range rep.Files {
			var n int64
			counted := []*int64{fr.Records} // KV and doc status
			switch fr.Kind {
			case adapters.KindVector:
				counted = []*int64{fr.Vectors}
			case adapters.KindGraph:
				counted = []*int64{fr.Nodes, fr.Edges}
			}
			for _, c := range counted {
				if c != nil {
					n += *c
				}
			}
			counts[fr.Workspace+"/"+fr.File] = n
			if fr.Dim != nil {
				dims[fr.Workspace+"/"+fr.File] = *fr.Dim
			}
		}
	}
	s.files = map[string]lightragfile.File{}
	out := make([]Unit, 0, len(files))
	for _, f := range files {
		key := f.Workspace + "/" + filepath.Base(f.Path)
		u := Unit{NS: adapters.Namespace{Workspace: f.Workspace, Name: f.Namespace}, Kind: f.Kind, Bytes: f.Bytes,
			Records: counts[key], Dim: dims[key]}
		s.files[u.Key()] = f
		out = append(out, u)
	}
	return out, nil
}

func (s *FolderSource) file(ctx context.Context, u Unit) (lightragfile.File, error) {
	if s.files == nil {
		if _, err := s.Units(ctx); err != nil {
			return lightragfile.File{}, err
		}
	}
	f, ok := s.files[u.Key()]
	if !ok {
		return f, fmt.Errorf("%s: no file for %s in %s", u.Key(), u.NS, s.Dir)
	}
	return f, nil
}

func (s *FolderSource) Stream(ctx context.Context, u Unit, skip int64, size int, problem func(Problem),
	fn func(adapters.Batch) error) error {
	f, err := s.file(ctx, u)
	if err != nil {
		return err
	}
	b := newBatcher(u, size, fn)
	opt := lightragfile.Options{Skip: skip}
	if problem != nil {
		opt.OnProblem = func(p lightragfile.Problem) {
			problem(Problem{File: p.File, Offset: p.Offset, Record: p.Record, Reason: p.Reason})
		}
	}
	switch u.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		err = lightragfile.ReadKV(ctx, f, opt, b.kv)
	case adapters.KindVector:
		_, err = lightragfile.ReadVectors(ctx, f, opt, b.vector)
	case adapters.KindGraph:
		err = lightragfile.ReadGraph(ctx, f, opt, b.node, b.edge)
	default:
		return fmt.Errorf("%s: unknown kind", u.Key())
	}
	if err != nil {
		return err
	}
	return b.flush()
}

// Fingerprint hashes every file's name, size and modification time.
func (s *FolderSource) Fingerprint(ctx context.Context) (string, error) {
	files, err := lightragfile.List(s.Dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		fi, err := os.Stat(f.Path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", f.Path, fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// maxBatchBytes bounds a batch's payload whatever its record count, so
// memory stays flat with large records (a chunk's text and a 3,072-d
// vector are tens of KB).
const maxBatchBytes = 4 << 20

// batcher cuts a record stream into batches of at most size records and
// about maxBatchBytes.
type batcher struct {
	u     Unit
	size  int
	bytes int
	cur   adapters.Batch
	emit  func(adapters.Batch) error
}

func newBatcher(u Unit, size int, emit func(adapters.Batch) error) *batcher {
	return &batcher{u: u, size: size, cur: adapters.Batch{NS: u.NS, Kind: u.Kind}, emit: emit}
}

func (b *batcher) kv(r adapters.KVRecord) error {
	b.cur.KV = append(b.cur.KV, r)
	return b.maybeFlush(len(r.ID) + len(r.Data))
}

func (b *batcher) vector(r adapters.VectorRecord) error {
	b.cur.Vectors = append(b.cur.Vectors, r)
	return b.maybeFlush(len(r.ID) + len(r.Fields) + 4*len(r.Vector))
}

func (b *batcher) node(n adapters.Node) error {
	b.cur.Nodes = append(b.cur.Nodes, n)
	return b.maybeFlush(len(n.ID) + propsSize(n.Props))
}

func (b *batcher) edge(e adapters.EdgeData) error {
	b.cur.Edges = append(b.cur.Edges, e)
	return b.maybeFlush(len(e.Src) + len(e.Tgt) + propsSize(e.Props))
}

func propsSize(p adapters.Props) int {
	n := 0
	for k, v := range p {
		n += len(k) + len(v)
	}
	return n
}

func (b *batcher) maybeFlush(size int) error {
	b.bytes += size
	if b.cur.Len() < b.size && b.bytes < maxBatchBytes {
		return nil
	}
	return b.flush()
}

func (b *batcher) flush() error {
	if b.cur.Len() == 0 {
		return nil
	}
	out := b.cur
	b.cur, b.bytes = adapters.Batch{NS: b.u.NS, Kind: b.u.Kind}, 0
	return b.emit(out)
}

// BackendSource reads any backend through the adapter contract (Scan pages
// in id order; KV in stored form through adapters.StoredKVScanner). It is
// the source of a PostgreSQL -> JSON migration and of exports.
type BackendSource struct {
	B    adapters.Backend
	Name string
	// DefaultOnly keeps to the database's default workspace: a shared
	// store (a PostgreSQL server) holds other databases' workspaces too.
	DefaultOnly bool
}

func (s *BackendSource) Describe() string { return s.Name }

func (s *BackendSource) Units(ctx context.Context) ([]Unit, error) {
	infos, err := s.B.Namespaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("list namespaces of %s: %w", s.Name, err)
	}
	out := make([]Unit, 0, len(infos))
	for _, in := range infos {
		if s.DefaultOnly && in.Workspace != "" {
			continue
		}
		if in.Error != "" {
			return nil, fmt.Errorf("%s: namespace %s cannot be read: %s", s.Name, in.Namespace, in.Error)
		}
		out = append(out, Unit{NS: in.Namespace, Kind: in.Kind, Records: in.Records + in.Edges, Dim: in.Dim})
	}
	return out, nil
}

// Fingerprint is the namespaces and their counts: a backend source is read
// while its database is in maintenance, so counts only move if someone
// writes around the proxy.
func (s *BackendSource) Fingerprint(ctx context.Context) (string, error) {
	units, err := s.Units(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, u := range units {
		fmt.Fprintf(h, "%s\x00%d\n", u.Key(), u.Records)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// scanPage is the largest page a BackendSource asks for. Pages start small
// and grow while they stay small in bytes: records differ a thousandfold in
// size (a document of megabytes, an edge of a few hundred bytes), so a page
// of a fixed count would hold a whole large namespace in memory.
const (
	scanPage      = 1000
	firstScanPage = 8
)

// pages calls each for every record of the pages scan returns, sizing the
// pages to about maxBatchBytes; scan is asked for limit records after the
// last one it returned.
func pages[T any](scan func(limit int) ([]T, error), size func(T) int, each func(T) error) error {
	limit := firstScanPage
	for {
		page, err := scan(limit)
		if err != nil {
			return err
		}
		bytes := 0
		for _, r := range page {
			bytes += size(r)
			if err := each(r); err != nil {
				return err
			}
		}
		if len(page) < limit {
			return nil
		}
		switch {
		case bytes > maxBatchBytes:
			limit = max(1, limit/2)
		case bytes < maxBatchBytes/4:
			limit = min(2*limit, scanPage)
		}
	}
}

func (s *BackendSource) Stream(ctx context.Context, u Unit, skip int64, size int, _ func(Problem),
	fn func(adapters.Batch) error) error {
	b := newBatcher(u, size, fn)
	var seen int64
	keep := func() bool { seen++; return seen > skip }
	switch u.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		sc, ok := s.B.(adapters.StoredKVScanner)
		if !ok {
			return fmt.Errorf("%s cannot list records in stored form: %w", s.Name, adapters.ErrUnsupported)
		}
		after := ""
		err := pages(func(limit int) ([]adapters.KVRecord, error) {
			page, err := sc.ScanStoredKV(ctx, u.NS, u.Kind, after, limit)
			if len(page) > 0 {
				after = page[len(page)-1].ID
			}
			return page, err
		}, func(r adapters.KVRecord) int { return len(r.ID) + len(r.Data) }, func(r adapters.KVRecord) error {
			if keep() {
				return b.kv(r)
			}
			return nil
		})
		if err != nil {
			return err
		}
	case adapters.KindVector:
		v, err := s.B.Vector(ctx, u.NS, 0)
		if err != nil {
			return err
		}
		after := ""
		err = pages(func(limit int) ([]adapters.VectorRecord, error) {
			page, err := v.Scan(ctx, after, limit)
			if len(page) > 0 {
				after = page[len(page)-1].ID
			}
			return page, err
		}, func(r adapters.VectorRecord) int { return len(r.ID) + len(r.Fields) + 4*len(r.Vector) }, func(r adapters.VectorRecord) error {
			if keep() {
				return b.vector(r)
			}
			return nil
		})
		if err != nil {
			return err
		}
	case adapters.KindGraph:
		g, err := s.B.Graph(ctx, u.NS)
		if err != nil {
			return err
		}
		after := ""
		err = pages(func(limit int) ([]adapters.Node, error) {
			page, err := g.ScanNodes(ctx, after, limit)
			if len(page) > 0 {
				after = page[len(page)-1].ID
			}
			return page, err
		}, func(n adapters.Node) int { return len(n.ID) + propsSize(n.Props) }, func(n adapters.Node) error {
			if keep() {
				return b.node(n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var afterEdge adapters.Edge
		err = pages(func(limit int) ([]adapters.EdgeData, error) {
			page, err := g.ScanEdges(ctx, afterEdge, limit)
			if len(page) > 0 {
				last := page[len(page)-1]
				afterEdge = adapters.Edge{Src: last.Src, Tgt: last.Tgt}
			}
			return page, err
		}, func(e adapters.EdgeData) int { return len(e.Src) + len(e.Tgt) + propsSize(e.Props) }, func(e adapters.EdgeData) error {
			if keep() {
				return b.edge(e)
			}
			return nil
		})
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: unknown kind %s", u.Key(), strconv.Quote(string(u.Kind)))
	}
	return b.flush()
}

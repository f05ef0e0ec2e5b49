package json

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// Bulk loading (adapters.Loader): a batch goes through the write-ahead log
// like an upsert, but its records are logged exactly as given (no _id,
// create_time or update_time stamping, the vectors' created_at kept, graph
// properties replaced rather than merged). The log's put entries always
// carry the final stored records, so replay needs nothing new. Load returns
// once the batch is fsync'd; the checkpoint is then written to its own
// file, so a crash never leaves a checkpoint ahead of the data.

var (
	_ adapters.Loader          = (*Backend)(nil)
	_ adapters.StoredKVScanner = (*Backend)(nil)
)

// checkpointPrefix names the checkpoint files in the database folder.
const checkpointPrefix = ".hybridrag-checkpoint-"

// checkpointFile is a checkpoint file's content.
type checkpointFile struct {
	Key   string `json:"key"`
	State []byte `json:"state"`
}

func (b *Backend) checkpointPath(key string) (string, error) {
	if err := adapters.ValidateName("checkpoint", key); err != nil {
		return "", err
	}
	return filepath.Join(b.dir, checkpointPrefix+key+".json"), nil
}

// Load writes one batch in stored form; see adapters.Loader.
func (b *Backend) Load(ctx context.Context, batch adapters.Batch, cp adapters.Checkpoint) error {
	var cpPath string
	if cp.Key != "" {
		var err error
		if cpPath, err = b.checkpointPath(cp.Key); err != nil {
			return err
		}
	}
	var err error
	switch batch.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		err = b.loadKV(ctx, batch)
	case adapters.KindVector:
		err = b.loadVectors(ctx, batch)
	case adapters.KindGraph:
		err = b.loadGraph(ctx, batch)
	default:
		err = adapters.Errorf(adapters.ErrInvalid, "invalid_kind", "use kv, doc_status, vector or graph",
			"load %s: unknown kind %q", batch.NS, batch.Kind)
	}
	if err != nil || cp.Key == "" {
		return err
	}
	if b.closed.Load() {
		return errClosed
	}
	state := cp.State
	if state == nil {
		state = []byte{}
	}
	data, err := stdjson.Marshal(checkpointFile{Key: cp.Key, State: state})
	if err != nil {
		return err
	}
	return writeFileAtomic(cpPath, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

func emptyID(ns adapters.Namespace, what string) error {
	return adapters.Errorf(adapters.ErrInvalid, "invalid_id", "give every record a non-empty id", "a %s in %s has an empty id", what, ns)
}

// loadKV logs and stores KV or doc-status records as given (compacted).
func (b *Backend) loadKV(ctx context.Context, batch adapters.Batch) error {
	if len(batch.KV) == 0 {
		return ctx.Err()
	}
	s, err := b.space(ctx, batch.NS, fileKV)
	if err != nil {
		return err
	}
	return b.mutate(ctx, s, func() (mutation, error) {
		e := &walEntry{Op: opKVPut, Records: make([]walRecord, 0, len(batch.KV))}
		for _, r := range batch.KV {
			if r.ID == "" {
				return mutation{}, emptyID(s.ns, "record")
			}
			var compact bytes.Buffer
			if err := stdjson.Compact(&compact, r.Data); err != nil {
				return mutation{}, invalidRecord(s.ns, r.ID, err)
			}
			if compact.Len() == 0 || compact.Bytes()[0] != '{' {
				return mutation{}, invalidRecord(s.ns, r.ID, errors.New("want a JSON object"))
			}
			e.Records = append(e.Records, walRecord{ID: r.ID, Data: compact.Bytes()})
		}
		return mutation{entry: e, apply: func() { s.kv.put(e.Records) }}, nil
	})
}

// loadVectors logs and stores vectors with their own created_at. An empty
// namespace takes the batch's dimension.
func (b *Backend) loadVectors(ctx context.Context, batch adapters.Batch) error {
	if len(batch.Vectors) == 0 {
		return ctx.Err()
	}
	s, err := b.space(ctx, batch.NS, fileVector)
	if err != nil {
		return err
	}
	return b.mutate(ctx, s, func() (mutation, error) {
		want := s.vec.dim
		if want == 0 {
			want = len(batch.Vectors[0].Vector)
		}
		prepared := make([]preparedVector, 0, len(batch.Vectors))
		e := &walEntry{Op: opVectorPut, Vectors: make([]walVector, 0, len(batch.Vectors))}
		for _, r := range batch.Vectors {
			if r.ID == "" {
				return mutation{}, emptyID(s.ns, "vector")
			}
			if len(r.Vector) == 0 {
				return mutation{}, adapters.Errorf(adapters.ErrInvalid, "invalid_vector", "send the embedding with each record",
					"namespace %s: record %q has no vector", s.ns, r.ID)
			}
			if len(r.Vector) != want {
				return mutation{}, adapters.DimensionError(s.ns, want, len(r.Vector))
			}
			p, err := prepareVector(s.ns, walVector{ID: r.ID, Fields: r.Fields, CreatedAt: r.CreatedAt,
				CreatedAtRaw: r.CreatedAtRaw, Vector: float32Bytes(r.Vector), Exact: true})
			if err != nil {
				return mutation{}, err
			}
			prepared = append(prepared, p)
			e.Vectors = append(e.Vectors, p.log)
		}
		return mutation{entry: e, apply: func() { s.vec.put(want, prepared) }}, nil
	})
}

// loadGraph logs and stores nodes, then edges, with their properties
// replacing the stored ones; an edge's missing endpoint is created with no
// properties (putEdge).
func (b *Backend) loadGraph(ctx context.Context, batch adapters.Batch) error {
	if len(batch.Nodes) == 0 && len(batch.Edges) == 0 {
		return ctx.Err()
	}
	s, err := b.space(ctx, batch.NS, fileGraph)
	if err != nil {
		return err
	}
	if len(batch.Nodes) > 0 {
		err := b.mutate(ctx, s, func() (mutation, error) {
			e := &walEntry{Op: opGraphNodes, Nodes: make([]walNode, 0, len(batch.Nodes))}
			for _, n := range batch.Nodes {
				if n.ID == "" {
					return mutation{}, emptyID(s.ns, "node")
				}
				props, err := checkProps(s.ns, fmt.Sprintf("node %q", n.ID), n.Props)
				if err != nil {
					return mutation{}, err
				}
				e.Nodes = append(e.Nodes, walNode{ID: n.ID, Props: props})
			}
			return mutation{entry: e, apply: func() { s.graph.putNodes(e.Nodes) }}, nil
		})
		if err != nil {
			return err
		}
	}
	if len(batch.Edges) == 0 {
		return nil
	}
	return b.mutate(ctx, s, func() (mutation, error) {
		e := &walEntry{Op: opGraphEdges, Edges: make([]walEdge, 0, len(batch.Edges))}
		for _, ed := range batch.Edges {
			if ed.Src == "" || ed.Tgt == "" {
				return mutation{}, emptyID(s.ns, "edge endpoint")
			}
			props, err := checkProps(s.ns, fmt.Sprintf("edge %q-%q", ed.Src, ed.Tgt), ed.Props)
			if err != nil {
				return mutation{}, err
			}
			e.Edges = append(e.Edges, walEdge{Src: ed.Src, Tgt: ed.Tgt, Props: props})
		}
		return mutation{entry: e, apply: func() { s.graph.putEdges(e.Edges) }}, nil
	})
}

// LoadedCheckpoint returns the state saved under key (nil, nil if none).
func (b *Backend) LoadedCheckpoint(ctx context.Context, key string) ([]byte, error) {
	path, err := b.checkpointPath(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	var f checkpointFile
	if err := stdjson.Unmarshal(data, &f); err != nil || f.Key != key {
		if err == nil {
			err = fmt.Errorf("it names key %q", f.Key)
		}
		return nil, &adapters.Error{Kind: adapters.ErrCorrupt, Code: "corrupt_checkpoint",
			Message: "read checkpoint " + path, Hint: "delete the file to start the job over", Err: err}
	}
	if f.State == nil {
		f.State = []byte{}
	}
	return f.State, nil
}

// DeleteCheckpoint forgets key.
func (b *Backend) DeleteCheckpoint(ctx context.Context, key string) error {
	path, err := b.checkpointPath(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete checkpoint %s: %w", path, err)
	}
	return syncDir(b.dir)
}

// FinishLoad writes the loaded records to LightRAG's files: a flush of
// every changed namespace (the log is shared, so one namespace cannot be
// flushed alone).
func (b *Backend) FinishLoad(ctx context.Context, ns adapters.Namespace, kind adapters.Kind) error {
	return b.Flush(ctx)
}

// ScanStoredKV pages through KV or doc-status records in stored form.
func (b *Backend) ScanStoredKV(ctx context.Context, ns adapters.Namespace, kind adapters.Kind, after string, limit int) ([]adapters.KVRecord, error) {
	if kind != adapters.KindKV && kind != adapters.KindDocStatus {
		return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_kind", "scan kv or doc_status namespaces",
			"scan stored records of %s: kind %q has no KV records", ns, kind)
	}
	s, err := b.space(ctx, ns, fileKV)
	if err != nil {
		return nil, err
	}
	return s.scanKV(ctx, after, limit, storedView)
}

// GetStoredKV returns the stored records of the ids that exist, in id order.
func (b *Backend) GetStoredKV(ctx context.Context, ns adapters.Namespace, kind adapters.Kind, ids []string) ([]adapters.KVRecord, error) {
	if kind != adapters.KindKV && kind != adapters.KindDocStatus {
		return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_kind", "read kv or doc_status namespaces",
			"read stored records of %s: kind %q has no KV records", ns, kind)
	}
	s, err := b.space(ctx, ns, fileKV)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	out := []adapters.KVRecord{}
	err = s.read(ctx, func() error {
		for _, id := range sorted {
			if e, ok := s.kv.records[id]; ok {
				out = append(out, adapters.KVRecord{ID: id, Data: e.data})
			}
		}
		return nil
	})
	return out, err
}

// keepExact makes the stored vector read back bit for bit where LightRAG's
// format can hold it. An upsert keeps a float16 copy of the vector (what
// LightRAG >= 1.4.7 writes) and the normalised float32 row; a copied
// vector that float16 cannot hold exactly but that is already normalised
// (a row of an older file) is kept as the row itself, with no float16 copy,
// so a JSON -> PostgreSQL -> JSON round trip gives the same vectors.
func keepExact(p *preparedVector, v []float32) {
	if back, err := lightragfile.DecodeVector16(p.item.vector16, len(v)); err == nil && slices.Equal(back, v) {
		return
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if math.Abs(math.Sqrt(n)-1) < 1e-5 {
		p.item.vector16 = ""
		p.row = append(p.row[:0], v...)
	}
}

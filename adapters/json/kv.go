package json

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"

	"github.com/hybridrag/storage-proxy/adapters"
)

// KV opens a kv_store_<ns>.json namespace as LightRAG's JsonKVStorage.
func (b *Backend) KV(ctx context.Context, ns adapters.Namespace) (adapters.KV, error) {
	s, err := b.space(ctx, ns, fileKV)
	if err != nil {
		return nil, err
	}
	return &kvStore{b: b, s: s}, nil
}

// kvStore is the KV view of a kv_store space; docStatusStore is the other.
type kvStore struct {
	b *Backend
	s *space
}

var _ adapters.KV = (*kvStore)(nil)

// read runs fn under the read lock after the common checks.
func (s *space) read(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.err != nil {
		return s.err
	}
	return fn()
}

func (k *kvStore) GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error) {
	out := make([]adapters.Record, len(ids))
	err := k.s.read(ctx, func() error {
		for i, id := range ids {
			if e, ok := k.s.kv.records[id]; ok {
				out[i] = adapters.KVView(id, e.data)
			}
		}
		return nil
	})
	return out, err
}

func (k *kvStore) FilterKeys(ctx context.Context, keys []string) ([]string, error) {
	return k.s.filterKeys(ctx, keys)
}

// filterKeys returns the keys not stored, in request order, each once.
func (s *space) filterKeys(ctx context.Context, keys []string) ([]string, error) {
	out := []string{}
	err := s.read(ctx, func() error {
		seen := make(map[string]bool, len(keys))
		for _, id := range keys {
			if _, ok := s.kv.records[id]; !ok && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return nil
	})
	return out, err
}

func (k *kvStore) Upsert(ctx context.Context, records []adapters.KVRecord) error {
	now := k.b.nowUnix()
	return k.s.upsertKV(ctx, k.b, records, func(id string, data, existing adapters.Record) (adapters.Record, error) {
		return adapters.StampKV(k.s.ns.Name, id, data, existing, now)
	})
}

// upsertKV stamps each record (seeing earlier records of the same batch as
// existing), logs the final records and stores them.
func (s *space) upsertKV(ctx context.Context, b *Backend, records []adapters.KVRecord,
	stamp func(id string, data, existing adapters.Record) (adapters.Record, error)) error {
	if len(records) == 0 {
		return ctx.Err()
	}
	return b.mutate(ctx, s, func() (mutation, error) {
		batch := make(map[string]adapters.Record, len(records))
		e := &walEntry{Op: opKVPut, Records: make([]walRecord, 0, len(records))}
		for _, r := range records {
			existing, ok := batch[r.ID]
			if !ok {
				if cur, found := s.kv.records[r.ID]; found {
					existing = cur.data
				}
			}
			rec, err := stamp(r.ID, r.Data, existing)
			if err != nil {
				return mutation{}, invalidRecord(s.ns, r.ID, err)
			}
			var compact bytes.Buffer
			if err := stdjson.Compact(&compact, rec); err != nil {
				return mutation{}, invalidRecord(s.ns, r.ID, err)
			}
			rec = compact.Bytes()
			batch[r.ID] = rec
			e.Records = append(e.Records, walRecord{ID: r.ID, Data: rec})
		}
		return mutation{entry: e, apply: func() { s.kv.put(e.Records) }}, nil
	})
}

func invalidRecord(ns adapters.Namespace, id string, err error) error {
	return &adapters.Error{Kind: adapters.ErrInvalid, Code: "invalid_record",
		Message: fmt.Sprintf("namespace %s: record %q", ns, id),
		Hint:    "send each record as a JSON object", Err: err}
}

// put stores final records: an existing id keeps its position in the file
// (Python dict update), a new one goes last.
func (d *kvData) put(recs []walRecord) {
	for _, r := range recs {
		if e, ok := d.records[r.ID]; ok {
			e.data = r.Data
			continue
		}
		d.records[r.ID] = &kvEntry{seq: d.nextSeq, data: r.Data}
		d.nextSeq++
	}
}

func (k *kvStore) Delete(ctx context.Context, ids []string) error { return k.s.deleteKV(ctx, k.b, ids) }

func (s *space) deleteKV(ctx context.Context, b *Backend, ids []string) error {
	return b.mutate(ctx, s, func() (mutation, error) {
		e := &walEntry{Op: opKVDelete}
		for _, id := range ids {
			if _, ok := s.kv.records[id]; ok {
				e.IDs = append(e.IDs, id)
			}
		}
		if len(e.IDs) == 0 {
			return mutation{}, nil
		}
		return mutation{entry: e, apply: func() {
			for _, id := range e.IDs {
				delete(s.kv.records, id)
			}
		}}, nil
	})
}

func (k *kvStore) Count(ctx context.Context) (int64, error) { return k.s.count(ctx) }

func (s *space) count(ctx context.Context) (int64, error) {
	var n int64
	err := s.read(ctx, func() error {
		switch {
		case s.kv != nil:
			n = int64(len(s.kv.records))
		case s.vec != nil:
			n = int64(len(s.vec.ids))
		case s.graph != nil:
			n = int64(len(s.graph.nodes))
		}
		return nil
	})
	return n, err
}

func (k *kvStore) Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error) {
	return k.s.scanKV(ctx, after, limit, adapters.KVView)
}

func (s *space) scanKV(ctx context.Context, after string, limit int,
	view func(id string, stored adapters.Record) adapters.Record) ([]adapters.KVRecord, error) {
	out := []adapters.KVRecord{}
	err := s.read(ctx, func() error {
		for _, id := range page(s.sortedIDs(), after, limit) {
			out = append(out, adapters.KVRecord{ID: id, Data: view(id, s.kv.records[id].data)})
		}
		return nil
	})
	return out, err
}

func (k *kvStore) Drop(ctx context.Context) error { return k.s.dropKV(ctx, k.b) }

func (s *space) dropKV(ctx context.Context, b *Backend) error {
	err := b.mutate(ctx, s, func() (mutation, error) {
		e := &walEntry{Op: opKVDrop}
		return mutation{entry: e, apply: func() { s.kv = newKVData() }}, nil
	})
	if err != nil {
		return err
	}
	return b.dropped(s)
}

// applyKV replays a logged KV write.
func (s *space) applyKV(e *walEntry) error {
	switch e.Op {
	case opKVPut:
		s.kv.put(e.Records)
	case opKVDelete:
		for _, id := range e.IDs {
			delete(s.kv.records, id)
		}
	case opKVDrop:
		s.kv = newKVData()
	default:
		return fmt.Errorf("unknown kv operation %q", e.Op)
	}
	return nil
}

package json

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/hybridrag/storage-proxy/lightragfile"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// arena hands out record buffers carved from large slabs, so loading a
// million records makes a few hundred allocations instead of a million.
type arena struct{ slab []byte }

const arenaSlab = 1 << 20

func (a *arena) copy(b []byte) []byte {
	if len(b) > arenaSlab/4 {
		return append([]byte(nil), b...)
	}
	if cap(a.slab)-len(a.slab) < len(b) {
		a.slab = make([]byte, 0, arenaSlab)
	}
	n := len(a.slab)
	a.slab = append(a.slab, b...)
	// Cap the slice so an append by a caller cannot overwrite a neighbour.
	return a.slab[n : n+len(b) : n+len(b)]
}

// openData opens a LightRAG file for reading; a missing file is (nil, nil).
func openData(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}

// readKVFile loads kv_store_<ns>.json (KV and doc status share the format):
// a JSON object of records keyed by id. A missing file is an empty store.
// Records are kept as compact raw JSON in file order; a key written twice
// keeps its first position and its last value (Python's json.load). A
// legacy nested LLM cache is flattened the way JsonKVStorage migrates it.
func readKVFile(ctx context.Context, path string) (*kvData, error) {
	f, err := openData(path)
	if f == nil {
		if err != nil {
			return nil, err
		}
		return newKVData(), nil
	}
	defer f.Close()
	name := filepath.Base(path)
	d, err := scanKV(ctx, lightragfile.NewScanner(f, name), name)
	if err != nil {
		return nil, err
	}
	if ns, ok := kvNamespace(name); ok && strings.HasSuffix(ns, "_cache") {
		if d, err = migrateLegacyCache(d, name); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func kvNamespace(name string) (string, bool) {
	if !strings.HasPrefix(name, "kv_store_") || !strings.HasSuffix(name, ".json") {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimPrefix(name, "kv_store_"), ".json"), true
}

func scanKV(ctx context.Context, s *lightragfile.Scanner, name string) (*kvData, error) {
	s.SkipBOM()
	b, ok := s.PeekKind()
	if !ok {
		if s.ReadErr() != nil {
			return nil, s.Corrupt("")
		}
		return nil, lightragfile.CorruptError(name, "file is empty, want a JSON object of records keyed by id (LightRAG writes {} for an empty store)")
	}
	if b != '{' {
		return nil, lightragfile.CorruptError(name, fmt.Sprintf("top level is %s, want a JSON object of records keyed by id", lightragfile.JSONKindName(b)))
	}
	d := newKVData()
	var (
		ar      arena
		scratch []byte
		keyBuf  = make([]byte, 0, 128)
	)
	err := s.ObjectMembers(keyBuf, func(key []byte) error {
		if d.nextSeq&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var err error
		scratch, err = s.CopyValue(scratch[:0], true)
		if err != nil {
			return err
		}
		if !utf8.Valid(key) {
			return s.Corrupt("record id %q is not valid UTF-8", key)
		}
		// A record is a JSON object (the contract, and what LightRAG reads
		// with .get); serving {"a": 5} as the record 5 would break callers.
		if len(scratch) == 0 || scratch[0] != '{' {
			return s.Corrupt("record %q is %s, want a JSON object", key, lightragfile.JSONKindName(firstByte(scratch)))
		}
		data := ar.copy(scratch)
		if e, ok := d.records[string(key)]; ok {
			e.data = data
			return nil
		}
		d.records[string(key)] = &kvEntry{seq: d.nextSeq, data: data}
		d.nextSeq++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.ExpectEOF(); err != nil {
		return nil, err
	}
	return d, nil
}

// orderedKV returns the ids in write order (seq).
func orderedKV(d *kvData) []string {
	ids := make([]string, 0, len(d.records))
	for id := range d.records {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return d.records[ids[i]].seq < d.records[ids[j]].seq })
	return ids
}

// migrateLegacyCache flattens the pre-1.3.10 LLM cache {mode: {hash: entry}}
// to {"mode:cache_type:hash": entry} exactly like JsonKVStorage's
// _migrate_legacy_cache_structure: nothing happens when the first key
// already has the a:b:c form; otherwise each value whose members are all
// objects with a "return" field is flattened (cache_type defaults to
// "extract"), and every other record is kept as is. Entries keep all their
// fields.
func migrateLegacyCache(d *kvData, name string) (*kvData, error) {
	ids := orderedKV(d)
	if len(ids) == 0 || len(strings.Split(ids[0], ":")) == 3 {
		return d, nil
	}
	out := newKVData()
	put := func(id string, data []byte) {
		if e, ok := out.records[id]; ok {
			e.data = data
			return
		}
		out.records[id] = &kvEntry{seq: out.nextSeq, data: data}
		out.nextSeq++
	}
	for _, id := range ids {
		raw := d.records[id].data
		entries, nested := lightragfile.LegacyCacheEntries(raw, name)
		if !nested {
			put(id, raw)
			continue
		}
		for _, e := range entries {
			put(id+":"+e.CacheType+":"+e.Hash, e.Data)
		}
	}
	return out, nil
}

// writeKVFile writes d the way LightRAG's write_json does:
// json.dump(indent=2, ensure_ascii=False), records in their original order
// followed by new ones.
func writeKVFile(w io.Writer, d *kvData) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	p := lightragfile.NewPyWriter(bw, 2)
	ids := orderedKV(d)
	if len(ids) == 0 {
		bw.WriteString("{}")
		return bw.Flush()
	}
	bw.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n  ")
		lightragfile.WritePyString(bw, []byte(id))
		bw.WriteString(": ")
		if err := p.Value(d.records[id].data, 1); err != nil {
			return fmt.Errorf("write record %q: %w", id, err)
		}
	}
	bw.WriteString("\n}")
	return bw.Flush()
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

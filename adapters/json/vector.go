package json

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	stdjson "encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// Vector opens a vdb_<ns>.json namespace as NanoVectorDB. dim > 0 must match
// the stored dimension; an empty namespace takes the dimension of its first
// upsert (or dim).
func (b *Backend) Vector(ctx context.Context, ns adapters.Namespace, dim int) (adapters.Vector, error) {
	if dim < 0 {
		return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_dimension", "give the embedding dimension, or 0 for the stored one",
			"namespace %s: dimension %d is negative", ns, dim)
	}
	s, err := b.space(ctx, ns, fileVector)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.err == nil && dim > 0 && s.vec.dim > 0 && s.vec.dim != dim {
		return nil, adapters.DimensionError(ns, s.vec.dim, dim)
	}
	return &vectorStore{b: b, s: s, dim: dim}, nil
}

type vectorStore struct {
	b   *Backend
	s   *space
	dim int // the caller's dimension (0 = the stored one)
}

var _ adapters.Vector = (*vectorStore)(nil)

// reservedFields are NanoVectorDB's own keys in a data item.
var reservedFields = map[string]bool{"__id__": true, "__created_at__": true, "vector": true, "__vector__": true}

func (v *vectorStore) Dim() int {
	v.s.mu.RLock()
	defer v.s.mu.RUnlock()
	if v.s.err == nil && v.s.vec.dim > 0 {
		return v.s.vec.dim
	}
	return v.dim
}

// wantDim is the dimension writes and queries must have (0 = not known yet).
func (v *vectorStore) wantDim() int {
	if v.s.vec.dim > 0 {
		return v.s.vec.dim
	}
	return v.dim
}

// preparedVector is one upsert ready to apply: the data item, the
// normalised matrix row and the log form.
type preparedVector struct {
	id   string
	item vectorItem
	row  []float32
	log  walVector
}

func (v *vectorStore) Upsert(ctx context.Context, records []adapters.VectorRecord) error {
	if len(records) == 0 {
		return ctx.Err()
	}
	now := v.b.nowUnix()
	return v.b.mutate(ctx, v.s, func() (mutation, error) {
		want := v.wantDim()
		if want == 0 {
			want = len(records[0].Vector)
		}
		if want == 0 {
			return mutation{}, adapters.Errorf(adapters.ErrInvalid, "invalid_vector", "send the embedding with each record",
				"namespace %s: record %q has no vector", v.s.ns, records[0].ID)
		}
		prepared := make([]preparedVector, 0, len(records))
		e := &walEntry{Op: opVectorPut}
		for _, r := range records {
			if len(r.Vector) != want {
				return mutation{}, adapters.DimensionError(v.s.ns, want, len(r.Vector))
			}
			at := now
			if r.CreatedAt != 0 {
				at = r.CreatedAt // a copied record's own
			}
			p, err := prepareVector(v.s.ns, walVector{ID: r.ID, Fields: r.Fields, CreatedAt: at, Vector: float32Bytes(r.Vector)})
			if err != nil {
				return mutation{}, err
			}
			prepared = append(prepared, p)
			e.Vectors = append(e.Vectors, p.log)
		}
		return mutation{entry: e, apply: func() { v.s.vec.put(want, prepared) }}, nil
	})
}

// prepareVector validates one logged or incoming vector and builds its item
// and row. Live writes and replay share it so both store the same bytes.
func prepareVector(ns adapters.Namespace, w walVector) (preparedVector, error) {
	vec, err := bytesFloat32(w.Vector)
	if err != nil {
		return preparedVector{}, err
	}
	for i, x := range vec {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return preparedVector{}, adapters.Errorf(adapters.ErrInvalid, "invalid_vector", "send finite numbers only",
				"namespace %s: record %q: vector element %d is %v", ns, w.ID, i, x)
		}
	}
	fields, err := parseFields(w.Fields)
	if err != nil {
		return preparedVector{}, &adapters.Error{Kind: adapters.ErrInvalid, Code: "invalid_field",
			Message: fmt.Sprintf("namespace %s: record %q: fields", ns, w.ID),
			Hint:    "send fields as a JSON object without the reserved keys __id__, __created_at__ and vector", Err: err}
	}
	v16, err := lightragfile.EncodeVector16(vec)
	if err != nil {
		return preparedVector{}, fmt.Errorf("namespace %s: record %q: encode vector: %w", ns, w.ID, err)
	}
	w.Fields = encodeFields(fields)
	p := preparedVector{
		id:   w.ID,
		item: vectorItem{createdAt: createdAtText(w), fields: fields, vector16: v16},
		row:  normalized(vec),
		log:  w,
	}
	if w.Exact {
		keepExact(&p, vec)
	}
	return p, nil
}

// createdAtText is what the file keeps as __created_at__ ("" for none).
func createdAtText(w walVector) stdjson.Number {
	switch raw := string(w.CreatedAtRaw); {
	case raw == "null":
		return ""
	case raw != "":
		return stdjson.Number(raw)
	}
	return stdjson.Number(strconv.FormatInt(w.CreatedAt, 10))
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesFloat32(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("vector of %d bytes is not float32s", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// normalized returns v / |v| (v itself for a zero vector, which then
// matches nothing, as NanoVectorDB's NaN row does).
func normalized(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if ss == 0 {
		return out
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// parseFields reads a JSON object of meta fields in order, refusing the
// reserved keys. Empty or null is no fields.
func parseFields(raw stdjson.RawMessage) ([]rawField, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := stdjson.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(stdjson.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object")
	}
	var out []rawField
	pos := map[string]int{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		if reservedFields[k] {
			return nil, fmt.Errorf("key %q is reserved", k)
		}
		var v stdjson.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		var c bytes.Buffer
		if err := stdjson.Compact(&c, v); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		if i, ok := pos[k]; ok {
			out[i].val = c.Bytes()
			continue
		}
		pos[k] = len(out)
		out = append(out, rawField{key: k, val: c.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the object")
	}
	return out, nil
}

func encodeFields(fields []rawField) stdjson.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(adapters.MarshalString(f.key))
		b.WriteByte(':')
		b.Write(f.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// fieldString returns a string meta field of an item ("" if absent).
func (it *vectorItem) fieldString(key string) string {
	for _, f := range it.fields {
		if f.key == key {
			var s string
			if stdjson.Unmarshal(f.val, &s) == nil {
				return s
			}
			return ""
		}
	}
	return ""
}

// createdAt is the item's created_at: whole seconds, and the exact value
// when they cannot say it (adapters.VectorRecord.CreatedAtRaw).
func (it *vectorItem) createdAtValue() (int64, stdjson.RawMessage) {
	if it.createdAt == "" {
		return lightragfile.CreatedAt(nil)
	}
	return lightragfile.CreatedAt([]byte(it.createdAt))
}

func (it *vectorItem) createdAtUnix() int64 {
	at, _ := it.createdAtValue()
	return at
}

// put replaces items by id in place and appends new ids (NanoVectorDB's
// upsert). An empty store takes dimension dim.
func (d *vectorData) put(dim int, ps []preparedVector) {
	if d.dim == 0 {
		d.dim = dim
	}
	for _, p := range ps {
		if i, ok := d.index[p.id]; ok {
			d.items[i] = p.item
			copy(d.matrix[i*d.dim:(i+1)*d.dim], p.row)
			if d.q != nil {
				d.q.set(i, p.row)
			}
			continue
		}
		if d.q != nil {
			d.q.set(len(d.ids), p.row)
		}
		d.index[p.id] = len(d.ids)
		d.ids = append(d.ids, p.id)
		d.items = append(d.items, p.item)
		d.matrix = append(d.matrix, p.row...)
	}
}

// remove deletes ids keeping the order of the rest, as NanoVectorDB does.
func (d *vectorData) remove(ids []string) {
	gone := make(map[int]bool, len(ids))
	for _, id := range ids {
		if i, ok := d.index[id]; ok {
			gone[i] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	w := 0
	for i, id := range d.ids {
		if gone[i] {
			delete(d.index, id)
			continue
		}
		if w != i {
			d.ids[w], d.items[w] = id, d.items[i]
			copy(d.matrix[w*d.dim:(w+1)*d.dim], d.matrix[i*d.dim:(i+1)*d.dim])
			if d.q != nil {
				d.q.move(w, i)
			}
			d.index[id] = w
		}
		w++
	}
	clear(d.items[w:])
	d.ids, d.items, d.matrix = d.ids[:w], d.items[:w], d.matrix[:w*d.dim]
	if d.q != nil {
		d.q.truncate(w)
	}
}

// Query scans every row: similarity = row . normalize(q), keep >= threshold,
// top k by descending similarity, ties in storage order.
func (v *vectorStore) Query(ctx context.Context, q adapters.VectorQuery) ([]adapters.VectorMatch, error) {
	out := []adapters.VectorMatch{}
	err := v.s.read(ctx, func() error {
		want := v.wantDim()
		if want > 0 && len(q.Vector) != want {
			return adapters.DimensionError(v.s.ns, want, len(q.Vector))
		}
		d := v.s.vec
		if q.TopK <= 0 || len(d.ids) == 0 {
			return nil
		}
		hits, err := d.topK(ctx, normalized(q.Vector), q.TopK, q.Threshold)
		if err != nil {
			return err
		}
		for _, h := range hits {
			out = append(out, adapters.VectorMatch{VectorRecord: d.record(h.row, false), Similarity: h.score})
		}
		return nil
	})
	return out, err
}

type hit struct {
	row   int
	score float32
}

// hitHeap is a min-heap of the current top k: the root is the worst kept
// hit (lowest score, latest row on ties).
type hitHeap []hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return hitLess(h[i], h[j]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// scanChunk rows are scored between context checks.
const scanChunk = 4096

// collector keeps the top k hits at or above threshold: a higher score
// first, the earlier row on ties (NanoVectorDB's storage order). NaN scores
// are skipped.
type collector struct {
	k         int
	threshold float32
	h         hitHeap
}

func newCollector(k int, threshold float32) *collector {
	return &collector{k: k, threshold: threshold, h: make(hitHeap, 0, k)}
}

// add offers row's score; rows must come in increasing order.
func (c *collector) add(row int, s float32) {
	if s < c.threshold || s != s {
		return
	}
	if len(c.h) < c.k {
		heap.Push(&c.h, hit{row, s})
	} else if s > c.h[0].score {
		c.h[0] = hit{row, s}
		heap.Fix(&c.h, 0)
	}
}

// merge offers another collector's hits (any order: ties compare rows).
func (c *collector) merge(o *collector) {
	for _, x := range o.h {
		if len(c.h) < c.k {
			heap.Push(&c.h, x)
		} else if hitLess(c.h[0], x) {
			c.h[0] = x
			heap.Fix(&c.h, 0)
		}
	}
}

// hitLess reports whether a ranks below b.
func hitLess(a, b hit) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.row > b.row
}

func (c *collector) sorted() []hit {
	h := c.h
	sort.Slice(h, func(i, j int) bool { return hitLess(h[j], h[i]) })
	return h
}

// topK returns the k best rows of matrix by dot(row, q) (the float32
// kernel), keeping scores >= threshold. Large scans go through the int8
// first pass (quant.go), which returns the same hits.
func (d *vectorData) topK(ctx context.Context, q []float32, k int, threshold float32) ([]hit, error) {
	rows := len(d.matrix) / d.dim
	if rows >= quantMinRows && k <= rows/quantMaxKFraction {
		hits, ok, err := topKQuantized(ctx, d, q, k, threshold)
		if ok || err != nil {
			return hits, err
		}
	}
	return topK(ctx, d.matrix, d.dim, q, k, threshold)
}

// topK is the plain scan of every row, on every core for large matrices.
func topK(ctx context.Context, matrix []float32, dim int, q []float32, k int, threshold float32) ([]hit, error) {
	rows := len(matrix) / dim
	all := newCollector(min(k, rows), threshold)
	var mu sync.Mutex
	err := parallelRows(ctx, rows, func(lo, hi int) error {
		c := newCollector(min(k, rows), threshold)
		scores := make([]float32, hi-lo)
		dotRows(matrix[lo*dim:hi*dim], dim, q, scores)
		for i, s := range scores {
			c.add(lo+i, s)
		}
		mu.Lock()
		all.merge(c)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all.sorted(), nil
}

// record builds the API view of row i, with its vector when asked.
func (d *vectorData) record(i int, withVector bool) adapters.VectorRecord {
	it := &d.items[i]
	at, raw := it.createdAtValue()
	r := adapters.VectorRecord{ID: d.ids[i], Fields: encodeFields(it.fields), CreatedAt: at, CreatedAtRaw: raw}
	if withVector {
		r.Vector = d.vector(i)
	}
	return r
}

// vector is the stored embedding of row i: the un-normalised float16 copy
// when the item has one, else the matrix row.
func (d *vectorData) vector(i int) []float32 {
	if s := d.items[i].vector16; s != "" {
		if v, err := lightragfile.DecodeVector16(s, d.dim); err == nil {
			return v
		}
	}
	return append([]float32(nil), d.matrix[i*d.dim:(i+1)*d.dim]...)
}

func (v *vectorStore) GetByIDs(ctx context.Context, ids []string) ([]*adapters.VectorRecord, error) {
	out := make([]*adapters.VectorRecord, len(ids))
	err := v.s.read(ctx, func() error {
		for i, id := range ids {
			if row, ok := v.s.vec.index[id]; ok {
				r := v.s.vec.record(row, false)
				out[i] = &r
			}
		}
		return nil
	})
	return out, err
}

func (v *vectorStore) GetVectorsByIDs(ctx context.Context, ids []string) (map[string][]float32, error) {
	out := map[string][]float32{}
	err := v.s.read(ctx, func() error {
		for _, id := range ids {
			if row, ok := v.s.vec.index[id]; ok {
				out[id] = v.s.vec.vector(row)
			}
		}
		return nil
	})
	return out, err
}

func (v *vectorStore) Delete(ctx context.Context, ids []string) error {
	return v.deleteWhere(ctx, func(d *vectorData) []string {
		var del []string
		for _, id := range ids {
			if _, ok := d.index[id]; ok {
				del = append(del, id)
			}
		}
		return del
	})
}

func (v *vectorStore) DeleteEntity(ctx context.Context, name string) error {
	entID := adapters.EntityVectorID(name)
	return v.deleteWhere(ctx, func(d *vectorData) []string {
		var del []string
		for i, id := range d.ids {
			if id == entID || d.items[i].fieldString("entity_name") == name {
				del = append(del, id)
			}
		}
		return del
	})
}

func (v *vectorStore) DeleteEntityRelation(ctx context.Context, name string) error {
	return v.deleteWhere(ctx, func(d *vectorData) []string {
		var del []string
		for i, id := range d.ids {
			it := &d.items[i]
			if it.fieldString("src_id") == name || it.fieldString("tgt_id") == name {
				del = append(del, id)
			}
		}
		return del
	})
}

func (v *vectorStore) deleteWhere(ctx context.Context, pick func(*vectorData) []string) error {
	return v.b.mutate(ctx, v.s, func() (mutation, error) {
		ids := pick(v.s.vec)
		if len(ids) == 0 {
			return mutation{}, nil
		}
		e := &walEntry{Op: opVectorDelete, IDs: ids}
		return mutation{entry: e, apply: func() { v.s.vec.remove(ids) }}, nil
	})
}

func (v *vectorStore) Count(ctx context.Context) (int64, error) { return v.s.count(ctx) }

func (v *vectorStore) Scan(ctx context.Context, after string, limit int) ([]adapters.VectorRecord, error) {
	out := []adapters.VectorRecord{}
	err := v.s.read(ctx, func() error {
		for _, id := range page(v.s.sortedIDs(), after, limit) {
			out = append(out, v.s.vec.record(v.s.vec.index[id], true))
		}
		return nil
	})
	return out, err
}

func (v *vectorStore) Drop(ctx context.Context) error {
	err := v.b.mutate(ctx, v.s, func() (mutation, error) {
		return mutation{entry: &walEntry{Op: opVectorDrop}, apply: func() { v.s.vec = newVectorData(0) }}, nil
	})
	if err != nil {
		return err
	}
	return v.b.dropped(v.s)
}

// applyVector replays a logged vector write.
func (s *space) applyVector(e *walEntry) error {
	switch e.Op {
	case opVectorPut:
		ps := make([]preparedVector, 0, len(e.Vectors))
		for _, w := range e.Vectors {
			p, err := prepareVector(s.ns, w)
			if err != nil {
				return err
			}
			if s.vec.dim > 0 && len(p.row) != s.vec.dim {
				return adapters.DimensionError(s.ns, s.vec.dim, len(p.row))
			}
			ps = append(ps, p)
		}
		if len(ps) > 0 {
			s.vec.put(len(ps[0].row), ps)
		}
	case opVectorDelete:
		s.vec.remove(e.IDs)
	case opVectorDrop:
		s.vec = newVectorData(0)
	default:
		return fmt.Errorf("unknown vector operation %q", e.Op)
	}
	return nil
}

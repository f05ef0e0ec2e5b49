package proxyclient

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hybridrag/storage-proxy/adapters"
)

// store is the part KV and doc-status namespaces share.
type store struct {
	c    *Client
	path string
	q    url.Values
}

func (s *store) query(kv ...string) url.Values {
	q := url.Values{}
	for k, v := range s.q {
		q[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func (s *store) post(ctx context.Context, sub string, in, out any) error {
	return s.c.do(ctx, http.MethodPost, s.path+sub, s.query(), in, out)
}

func (s *store) GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error) {
	var out struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := s.post(ctx, "/get", map[string]any{"ids": nonNil(ids)}, &out); err != nil {
		return nil, err
	}
	recs := make([]adapters.Record, len(out.Records))
	for i, r := range out.Records {
		if string(r) != "null" {
			recs[i] = adapters.Record(r)
		}
	}
	return recs, nil
}

func (s *store) FilterKeys(ctx context.Context, keys []string) ([]string, error) {
	var out struct {
		Missing []string `json:"missing"`
	}
	if err := s.post(ctx, "/filter-keys", map[string]any{"keys": nonNil(keys)}, &out); err != nil {
		return nil, err
	}
	return out.Missing, nil
}

// orderedRecords encodes records as one JSON object in the given order.
type orderedRecords []adapters.KVRecord

func (o orderedRecords) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, r := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, adapters.MarshalString(r.ID)...)
		b = append(b, ':')
		if len(r.Data) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, r.Data...)
		}
	}
	return append(b, '}'), nil
}

func (s *store) Upsert(ctx context.Context, records []adapters.KVRecord) error {
	if len(records) == 0 {
		return nil
	}
	return s.post(ctx, "/upsert", map[string]any{"records": orderedRecords(records)}, nil)
}

func (s *store) Delete(ctx context.Context, ids []string) error {
	return s.post(ctx, "/delete", map[string]any{"ids": nonNil(ids)}, nil)
}

func (s *store) Count(ctx context.Context) (int64, error) {
	var out struct {
		Count int64 `json:"count"`
	}
	err := s.c.do(ctx, http.MethodGet, s.path, s.query(), nil, &out)
	return out.Count, err
}

func (s *store) Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error) {
	var out struct {
		Records []adapters.KVRecord `json:"records"`
	}
	q := s.query("after", after, "limit", strconv.Itoa(limit))
	if err := s.c.do(ctx, http.MethodGet, s.path+"/records", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Records, nil
}

func (s *store) Drop(ctx context.Context) error {
	return s.c.do(ctx, http.MethodDelete, s.path, s.query(), nil, nil)
}

type kv struct{ store }

type docStatus struct{ store }

func (d *docStatus) StatusCounts(ctx context.Context) (map[string]int64, error) {
	var out struct {
		Counts map[string]int64 `json:"counts"`
	}
	if err := d.c.do(ctx, http.MethodGet, d.path+"/counts", d.query(), nil, &out); err != nil {
		return nil, err
	}
	delete(out.Counts, "all") // get_status_counts has no "all"
	return out.Counts, nil
}

type docsOut struct {
	Docs []adapters.KVRecord `json:"docs"`
}

func (d *docStatus) DocsByStatuses(ctx context.Context, statuses []string) ([]adapters.KVRecord, error) {
	var out docsOut
	err := d.post(ctx, "/by-statuses", map[string]any{"statuses": nonNil(statuses)}, &out)
	return out.Docs, err
}

func (d *docStatus) DocsByTrackID(ctx context.Context, trackID string) ([]adapters.KVRecord, error) {
	var out docsOut
	err := d.post(ctx, "/by-track-id", map[string]any{"track_id": trackID}, &out)
	return out.Docs, err
}

func (d *docStatus) DocsPaginated(ctx context.Context, req adapters.DocPageRequest) (adapters.DocPage, error) {
	var out adapters.DocPage
	err := d.post(ctx, "/paginated", req, &out)
	return out, err
}

func (d *docStatus) DocByFilePath(ctx context.Context, path string) (*adapters.KVRecord, error) {
	var out struct {
		Doc *adapters.KVRecord `json:"doc"`
	}
	err := d.post(ctx, "/by-file-path", map[string]any{"file_path": path}, &out)
	return out.Doc, err
}

// vector is a vector namespace.
type vector struct {
	c    *Client
	path string
	q    url.Values
	dim  int
}

func (v *vector) query(kv ...string) url.Values {
	s := store{q: v.q}
	q := s.query(kv...)
	if v.dim > 0 {
		q.Set("dim", strconv.Itoa(v.dim))
	}
	return q
}

func (v *vector) post(ctx context.Context, sub string, in, out any) error {
	return v.c.do(ctx, http.MethodPost, v.path+sub, v.query(), in, out)
}

func (v *vector) Dim() int { return v.dim }

type vectorIn struct {
	ID        string          `json:"id"`
	Vector    string          `json:"vector"`
	Fields    json.RawMessage `json:"fields,omitempty"`
	CreatedAt int64           `json:"created_at,omitempty"`
}

func (v *vector) Upsert(ctx context.Context, records []adapters.VectorRecord) error {
	if len(records) == 0 {
		return nil
	}
	in := make([]vectorIn, len(records))
	for i, r := range records {
		if len(r.Vector) == 0 {
			return adapters.Errorf(adapters.ErrInvalid, "invalid_argument", "send a vector with every record",
				"record %q has no vector", r.ID)
		}
		in[i] = vectorIn{ID: r.ID, Vector: encodeVector(r.Vector), Fields: r.Fields, CreatedAt: r.CreatedAt}
	}
	if err := v.post(ctx, "/upsert", map[string]any{"records": in}, nil); err != nil {
		return err
	}
	if v.dim == 0 {
		v.dim = len(records[0].Vector)
	}
	return nil
}

type recordOut struct {
	ID        string          `json:"id"`
	CreatedAt int64           `json:"created_at"`
	Fields    json.RawMessage `json:"fields"`
	Vector    string          `json:"vector"`
}

func (r *recordOut) record() (*adapters.VectorRecord, error) {
	out := &adapters.VectorRecord{ID: r.ID, CreatedAt: r.CreatedAt, Fields: adapters.Record(r.Fields)}
	if r.Vector != "" {
		vec, err := decodeVector(r.Vector)
		if err != nil {
			return nil, fmt.Errorf("record %q: %w", r.ID, err)
		}
		out.Vector = vec
	}
	return out, nil
}

func (v *vector) Query(ctx context.Context, q adapters.VectorQuery) ([]adapters.VectorMatch, error) {
	var out struct {
		Matches []struct {
			ID         string          `json:"id"`
			Similarity float32         `json:"similarity"`
			CreatedAt  int64           `json:"created_at"`
			Fields     json.RawMessage `json:"fields"`
		} `json:"matches"`
	}
	in := map[string]any{"vector": encodeVector(q.Vector), "top_k": q.TopK, "threshold": q.Threshold}
	if err := v.post(ctx, "/query", in, &out); err != nil {
		return nil, err
	}
	ms := make([]adapters.VectorMatch, len(out.Matches))
	for i, m := range out.Matches {
		ms[i] = adapters.VectorMatch{Similarity: m.Similarity,
			VectorRecord: adapters.VectorRecord{ID: m.ID, CreatedAt: m.CreatedAt, Fields: adapters.Record(m.Fields)}}
	}
	return ms, nil
}

func (v *vector) GetByIDs(ctx context.Context, ids []string) ([]*adapters.VectorRecord, error) {
	var out struct {
		Records []*recordOut `json:"records"`
	}
	if err := v.post(ctx, "/get", map[string]any{"ids": nonNil(ids)}, &out); err != nil {
		return nil, err
	}
	recs := make([]*adapters.VectorRecord, len(out.Records))
	for i, r := range out.Records {
		if r == nil {
			continue
		}
		rec, err := r.record()
		if err != nil {
			return nil, err
		}
		recs[i] = rec
	}
	return recs, nil
}

func (v *vector) GetVectorsByIDs(ctx context.Context, ids []string) (map[string][]float32, error) {
	var out struct {
		Vectors map[string]string `json:"vectors"`
	}
	if err := v.post(ctx, "/vectors", map[string]any{"ids": nonNil(ids)}, &out); err != nil {
		return nil, err
	}
	vecs := make(map[string][]float32, len(out.Vectors))
	for id, s := range out.Vectors {
		vec, err := decodeVector(s)
		if err != nil {
			return nil, fmt.Errorf("vector %q: %w", id, err)
		}
		vecs[id] = vec
	}
	return vecs, nil
}

func (v *vector) Delete(ctx context.Context, ids []string) error {
	return v.post(ctx, "/delete", map[string]any{"ids": nonNil(ids)}, nil)
}

func (v *vector) DeleteEntity(ctx context.Context, name string) error {
	return v.post(ctx, "/delete-entity", map[string]any{"entity_name": name}, nil)
}

func (v *vector) DeleteEntityRelation(ctx context.Context, name string) error {
	return v.post(ctx, "/delete-entity-relation", map[string]any{"entity_name": name}, nil)
}

func (v *vector) Count(ctx context.Context) (int64, error) {
	var out struct {
		Count int64 `json:"count"`
	}
	err := v.c.do(ctx, http.MethodGet, v.path, v.query(), nil, &out)
	return out.Count, err
}

func (v *vector) Scan(ctx context.Context, after string, limit int) ([]adapters.VectorRecord, error) {
	var out struct {
		Records []*recordOut `json:"records"`
	}
	q := v.query("after", after, "limit", strconv.Itoa(limit))
	if err := v.c.do(ctx, http.MethodGet, v.path+"/records", q, nil, &out); err != nil {
		return nil, err
	}
	recs := make([]adapters.VectorRecord, 0, len(out.Records))
	for _, r := range out.Records {
		rec, err := r.record()
		if err != nil {
			return nil, err
		}
		recs = append(recs, *rec)
	}
	return recs, nil
}

func (v *vector) Drop(ctx context.Context) error {
	return v.c.do(ctx, http.MethodDelete, v.path, v.query(), nil, nil)
}

func encodeVector(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[i*4:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func decodeVector(s string) ([]float32, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw)%4 != 0 {
		return nil, fmt.Errorf("decode vector: not base64 of float32 values")
	}
	vec := make([]float32, len(raw)/4)
	for i := range vec {
		vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return vec, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

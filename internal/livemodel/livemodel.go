// Package livemodel drives write traffic at a proxy over HTTP and keeps a
// reference model of it, for the live migration fault tests (imported only
// by tests). Each writer owns its keys, so the writes to one key are
// sequential and the model knows every value a key may hold: its last
// acknowledged value, or the value of a later write whose answer never
// came or was an error (it may have reached the backend before failing).
package livemodel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of record the workload writes, one namespace each.
const (
	KindKV     = "kv"     // kv/full_docs
	KindVector = "vector" // vectors/chunks
	KindNode   = "node"   // graphs/chunk_entity_relation nodes
)

// Kinds lists every kind, in the order the writers cycle through them.
var Kinds = []string{KindKV, KindVector, KindNode}

// VectorDim is the dimension of the vectors written.
const VectorDim = 8

// absent is the model's value of a deleted (or never written) record.
const absent = ""

type state struct {
	acked   string
	pending []string // writes after the last acknowledged one, outcome unknown
}

// Model is the reference state of every key written.
type Model struct {
	mu   sync.Mutex
	keys map[string]*state // kind + "/" + id
}

// NewModel returns an empty model.
func NewModel() *Model { return &Model{keys: map[string]*state{}} }

func mkey(kind, id string) string { return kind + "/" + id }

func (m *Model) begin(kind, id, val string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.keys[mkey(kind, id)]
	if !ok {
		s = &state{}
		m.keys[mkey(kind, id)] = s
	}
	s.pending = append(s.pending, val)
}

func (m *Model) ack(kind, id, val string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.keys[mkey(kind, id)]
	s.acked, s.pending = val, nil
}

// Allowed returns the values key may hold ("" is absent).
func (m *Model) allowed(k string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.keys[k]
	return append([]string{s.acked}, s.pending...)
}

// Tally counts the answers the workload saw.
type Tally struct {
	mu sync.Mutex
	// ByStatus counts answers by status ("200", "503 migration_target_unavailable",
	// "conn" for a failed connection).
	ByStatus map[string]int
	// Bad lists answers no fault may cause: 5xx other than 503, 503
	// without Retry-After, 4xx.
	Bad []string
	// LastOK is when a write was last acknowledged.
	LastOK time.Time
	OK     int
}

func newTally() *Tally { return &Tally{ByStatus: map[string]int{}} }

func (t *Tally) add(status string, bad string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ByStatus[status]++
	if bad != "" && len(t.Bad) < 50 {
		t.Bad = append(t.Bad, bad)
	}
	if ok {
		t.OK++
		t.LastOK = time.Now()
	}
}

// Snapshot copies the tally.
func (t *Tally) Snapshot() (byStatus map[string]int, bad []string, lastOK time.Time, ok int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	byStatus = map[string]int{}
	for k, v := range t.ByStatus {
		byStatus[k] = v
	}
	return byStatus, slices.Clone(t.Bad), t.LastOK, t.OK
}

// Workload writes and reads through a proxy's HTTP API.
type Workload struct {
	// Base returns the proxy's URL now (it changes when a test restarts
	// the proxy); DB is the database.
	Base func() string
	DB   string
	// KeysPerWriter is how many keys of each kind a writer owns.
	KeysPerWriter int
	Client        *http.Client

	Model  *Model
	Writes *Tally
	Reads  *Tally
	seq    atomic.Int64
	// owners is how many writers' keys Seed wrote (what readers read).
	owners atomic.Int64
}

// New returns a workload on database db.
func New(base func() string, db string, keysPerWriter int) *Workload {
	return &Workload{Base: base, DB: db, KeysPerWriter: keysPerWriter, Client: &http.Client{Timeout: 30 * time.Second},
		Model: NewModel(), Writes: newTally(), Reads: newTally()}
}

// ID is writer w's key i.
func ID(w, i int) string { return fmt.Sprintf("w%d-%04d", w, i) }

// vector derives a vector from a value (never all zeros).
func vector(val string) []float32 {
	h := fnv.New64a()
	h.Write([]byte(val))
	r := rand.New(rand.NewPCG(h.Sum64(), 1))
	v := make([]float32, VectorDim)
	for i := range v {
		v[i] = float32(r.IntN(1000)+1) / 1000
	}
	return v
}

// writeBody is the request that writes val (absent: deletes) to kind/id.
func writeBody(kind, id, val string) (path string, body any) {
	switch kind {
	case KindKV:
		if val == absent {
			return "/kv/full_docs/delete", map[string]any{"ids": []string{id}}
		}
		return "/kv/full_docs/upsert", map[string]any{"records": map[string]any{id: map[string]any{"content": val}}}
	case KindVector:
		if val == absent {
			return "/vectors/chunks/delete", map[string]any{"ids": []string{id}}
		}
		return "/vectors/chunks/upsert", map[string]any{"records": []any{
			map[string]any{"id": id, "vector": vector(val), "fields": map[string]any{"content": val}}}}
	default:
		if val == absent {
			return "/graphs/chunk_entity_relation/nodes/delete", map[string]any{"ids": []string{id}}
		}
		return "/graphs/chunk_entity_relation/nodes/upsert", map[string]any{"nodes": []any{
			map[string]any{"id": id, "properties": map[string]any{"entity_id": id, "description": val}}}}
	}
}

// Post sends a JSON body to the database's path and returns the status,
// the error code of a non-200 answer and the body.
func (wl *Workload) Post(ctx context.Context, path string, body any) (status int, code string, retryAfter bool, raw []byte, err error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, "", false, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wl.Base()+"/v1/databases/"+wl.DB+path, bytes.NewReader(data))
	if err != nil {
		return 0, "", false, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wl.Client.Do(req)
	if err != nil {
		return 0, "", false, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", false, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &eb)
		code = eb.Code
	}
	return resp.StatusCode, code, resp.Header.Get("Retry-After") != "", raw, nil
}

// classify tallies one answer.
func classify(t *Tally, what string, status int, code string, retryAfter bool, raw []byte, err error) {
	switch {
	case err != nil:
		t.add("conn", "", false)
	case status == http.StatusOK:
		t.add("200", "", true)
	case status == http.StatusServiceUnavailable && retryAfter:
		t.add(fmt.Sprintf("503 %s", code), "", false)
	default:
		t.add(fmt.Sprintf("%d %s", status, code), fmt.Sprintf("%s: %d %s", what, status, raw), false)
	}
}

// Write writes val (absent: deletes) to kind/id and records it in the
// model; it reports whether the write was acknowledged.
func (wl *Workload) Write(ctx context.Context, kind, id, val string) bool {
	wl.Model.begin(kind, id, val)
	path, body := writeBody(kind, id, val)
	status, code, ra, raw, err := wl.Post(ctx, path, body)
	if ctx.Err() != nil {
		return false // cancelled: outcome unknown, still pending
	}
	classify(wl.Writes, path, status, code, ra, raw, err)
	if err == nil && status == http.StatusOK {
		wl.Model.ack(kind, id, val)
		return true
	}
	return false
}

// Seed writes every key of writers 0..writers-1 once, in batches,
// retrying until each batch is acknowledged.
func (wl *Workload) Seed(ctx context.Context, writers int) error {
	const batch = 250
	wl.owners.Store(int64(writers))
	for _, kind := range Kinds {
		var ids []string
		for w := range writers {
			for i := range wl.KeysPerWriter {
				ids = append(ids, ID(w, i))
			}
		}
		for chunk := range slices.Chunk(ids, batch) {
			vals := make([]string, len(chunk))
			var path string
			var body any
			for i, id := range chunk {
				vals[i] = "seed " + id + " " + padding
				wl.Model.begin(kind, id, vals[i])
			}
			switch kind {
			case KindKV:
				recs := map[string]any{}
				for i, id := range chunk {
					recs[id] = map[string]any{"content": vals[i]}
				}
				path, body = "/kv/full_docs/upsert", map[string]any{"records": recs}
			case KindVector:
				var recs []any
				for i, id := range chunk {
					recs = append(recs, map[string]any{"id": id, "vector": vector(vals[i]), "fields": map[string]any{"content": vals[i]}})
				}
				path, body = "/vectors/chunks/upsert", map[string]any{"records": recs}
			default:
				var nodes []any
				for i, id := range chunk {
					nodes = append(nodes, map[string]any{"id": id, "properties": map[string]any{"entity_id": id, "description": vals[i]}})
				}
				path, body = "/graphs/chunk_entity_relation/nodes/upsert", map[string]any{"nodes": nodes}
			}
			status, _, _, raw, err := wl.Post(ctx, path, body)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("seed %s: %d %s", path, status, raw)
			}
			for i, id := range chunk {
				wl.Model.ack(kind, id, vals[i])
			}
		}
	}
	return nil
}

// padding makes seeded records large enough that a backfill takes a while.
var padding = string(bytes.Repeat([]byte("lorem ipsum "), 40))

// Writer runs writer w until ctx ends: random upserts (four in five) and
// deletes over its keys of every kind. pause is called after a write that
// was not acknowledged (a test waits there for a restarted proxy).
func (wl *Workload) Writer(ctx context.Context, w int, seed uint64, pause func(context.Context)) {
	r := rand.New(rand.NewPCG(seed, uint64(w)))
	for n := 0; ctx.Err() == nil; n++ {
		kind := Kinds[n%len(Kinds)]
		id := ID(w, r.IntN(wl.KeysPerWriter))
		val := absent
		if r.IntN(5) != 0 {
			val = fmt.Sprintf("w%d op %d seq %d", w, n, wl.seq.Add(1))
		}
		if !wl.Write(ctx, kind, id, val) && pause != nil {
			pause(ctx)
		}
	}
}

// Reader reads random seeded keys until ctx ends: the reads a live
// migration shadows. It checks only the answers' statuses.
func (wl *Workload) Reader(ctx context.Context, seed uint64, pause func(context.Context)) {
	r := rand.New(rand.NewPCG(seed, 99))
	writers := max(1, int(wl.owners.Load()))
	for n := 0; ctx.Err() == nil; n++ {
		ids := []string{ID(r.IntN(writers), r.IntN(wl.KeysPerWriter)), ID(r.IntN(writers), r.IntN(wl.KeysPerWriter))}
		path := [...]string{"/kv/full_docs/get", "/vectors/chunks/get", "/graphs/chunk_entity_relation/nodes/get"}[n%3]
		status, code, ra, raw, err := wl.Post(ctx, path, map[string]any{"ids": ids})
		if ctx.Err() != nil {
			return
		}
		classify(wl.Reads, path, status, code, ra, raw, err)
		if (err != nil || status != http.StatusOK) && pause != nil {
			pause(ctx)
		}
	}
}

// Read returns the values the proxy holds for ids of kind (absent for a
// missing record).
func (wl *Workload) Read(ctx context.Context, kind string, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		var path string
		switch kind {
		case KindKV:
			path = "/kv/full_docs/get"
		case KindVector:
			path = "/vectors/chunks/get"
		default:
			path = "/graphs/chunk_entity_relation/nodes/get"
		}
		status, _, _, raw, err := wl.Post(ctx, path, map[string]any{"ids": chunk})
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("read %s: %d %s", path, status, raw)
		}
		var vals []string
		switch kind {
		case KindKV:
			var body struct {
				Records []*struct {
					Content string `json:"content"`
				} `json:"records"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				return nil, err
			}
			for _, r := range body.Records {
				vals = append(vals, valueOf(r != nil, func() string { return r.Content }))
			}
		case KindVector:
			var body struct {
				Records []*struct {
					Fields struct {
						Content string `json:"content"`
					} `json:"fields"`
				} `json:"records"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				return nil, err
			}
			for _, r := range body.Records {
				vals = append(vals, valueOf(r != nil, func() string { return r.Fields.Content }))
			}
		default:
			var body struct {
				Nodes []*struct {
					Description string `json:"description"`
				} `json:"nodes"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				return nil, err
			}
			for _, r := range body.Nodes {
				vals = append(vals, valueOf(r != nil, func() string { return r.Description }))
			}
		}
		if len(vals) != len(chunk) {
			return nil, fmt.Errorf("read %s: %d answers for %d ids", path, len(vals), len(chunk))
		}
		out = append(out, vals...)
	}
	return out, nil
}

func valueOf(found bool, v func() string) string {
	if !found {
		return absent
	}
	return v()
}

// Check reads every key of the model through the proxy and returns the
// keys whose value is none the model allows (empty: the state equals the
// model), and how many keys were checked.
func (wl *Workload) Check(ctx context.Context) (diffs []string, checked int, err error) {
	wl.Model.mu.Lock()
	byKind := map[string][]string{}
	for k := range wl.Model.keys {
		for _, kind := range Kinds {
			if len(k) > len(kind) && k[:len(kind)+1] == kind+"/" {
				byKind[kind] = append(byKind[kind], k[len(kind)+1:])
			}
		}
	}
	wl.Model.mu.Unlock()
	for _, kind := range Kinds {
		ids := byKind[kind]
		sort.Strings(ids)
		got, err := wl.Read(ctx, kind, ids)
		if err != nil {
			return nil, checked, err
		}
		for i, id := range ids {
			checked++
			allowed := wl.Model.allowed(mkey(kind, id))
			if !slices.Contains(allowed, got[i]) {
				diffs = append(diffs, fmt.Sprintf("%s/%s = %q, want one of %q", kind, id, short(got[i]), shortAll(allowed)))
			}
		}
	}
	return diffs, checked, nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func shortAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = short(s)
	}
	return out
}

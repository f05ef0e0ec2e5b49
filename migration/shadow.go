package migration

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/x448/float16"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Shadow reads: while a live migration verifies and waits for its clean
// window, reads are answered from the database's backend and also run on
// the target in the background; the answers are compared. A difference may
// be a write that landed between the two reads, so it is confirmed by
// reading both again with the records' write locks held before it counts.

// Mismatch is one confirmed difference between the two backends' answers.
type Mismatch struct {
	At     time.Time `json:"at"`
	Op     string    `json:"op"`
	NS     string    `json:"namespace"`
	IDs    []string  `json:"ids,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// ShadowStatus is the tally of shadow reads.
type ShadowStatus struct {
	Share      float64 `json:"share"`
	Compared   int64   `json:"compared"`
	Mismatches int64   `json:"mismatches"`
	Errors     int64   `json:"errors"`
	// Skipped reads found every shadow slot busy.
	Skipped int64 `json:"skipped"`
	// The clean window: reads compared and seconds since the last mismatch
	// (or since shadow reads began).
	WindowReads   int64      `json:"window_reads"`
	WindowSeconds float64    `json:"window_seconds"`
	Recent        []Mismatch `json:"recent_mismatches,omitempty"`
	// ByOp counts compared reads and mismatches per operation.
	ByOp map[string]OpTally `json:"by_op,omitempty"`
}

// OpTally is one operation's shadow reads.
type OpTally struct {
	Compared   int64 `json:"compared"`
	Mismatches int64 `json:"mismatches"`
}

type shadowTally struct {
	mu          sync.Mutex
	compared    int64
	mismatches  int64
	errors      int64
	skipped     int64
	windowStart time.Time
	windowReads int64
	recent      []Mismatch
	byOp        map[string]OpTally
}

const recentMismatches = 20

func (t *shadowTally) record(op string, m *Mismatch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byOp == nil {
		t.byOp = map[string]OpTally{}
	}
	o := t.byOp[op]
	o.Compared++
	t.compared++
	if m == nil {
		t.windowReads++
	} else {
		o.Mismatches++
		t.mismatches++
		t.windowStart, t.windowReads = time.Now(), 0
		t.recent = append(t.recent, *m)
		if len(t.recent) > recentMismatches {
			t.recent = t.recent[len(t.recent)-recentMismatches:]
		}
	}
	t.byOp[op] = o
}

func (t *shadowTally) failed() {
	t.mu.Lock()
	t.errors++
	t.mu.Unlock()
}

func (t *shadowTally) skip() {
	t.mu.Lock()
	t.skipped++
	t.mu.Unlock()
}

// resetWindow starts the clean window now.
func (t *shadowTally) resetWindow() {
	t.mu.Lock()
	t.windowStart, t.windowReads = time.Now(), 0
	t.mu.Unlock()
}

func (t *shadowTally) status(share float64) ShadowStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := ShadowStatus{Share: share, Compared: t.compared, Mismatches: t.mismatches, Errors: t.errors, Skipped: t.skipped,
		WindowReads: t.windowReads, Recent: slices.Clone(t.recent)}
	if !t.windowStart.IsZero() {
		s.WindowSeconds = time.Since(t.windowStart).Seconds()
	}
	if len(t.byOp) > 0 {
		s.ByOp = make(map[string]OpTally, len(t.byOp))
		for k, v := range t.byOp {
			s.ByOp[k] = v
		}
	}
	return s
}

// sameJSON compares two answers as JSON with object keys sorted and numbers
// as written: what a client of the proxy would see.
func sameJSON[T any](a, b T) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	return bytes.Equal(canonical(ja), canonical(jb))
}

// sameDocs compares document lists as sets: a JSON backend lists them in
// insertion order, PostgreSQL by id (adapters.Capabilities.InsertionOrder).
func sameDocs(a, b []adapters.KVRecord) bool {
	byID := func(in []adapters.KVRecord) []adapters.KVRecord {
		out := slices.Clone(in)
		slices.SortFunc(out, func(x, y adapters.KVRecord) int { return compareStr(x.ID, y.ID) })
		return out
	}
	return sameJSON(byID(a), byID(b))
}

// sameNodeEdges compares get_node_edges answers: the neighbours of a node
// as a set (backends list them in their own order).
func sameNodeEdges(a, b []adapters.NodeEdges) bool {
	norm := func(in []adapters.NodeEdges) []adapters.NodeEdges {
		out := make([]adapters.NodeEdges, len(in))
		for i, ne := range in {
			e := slices.Clone(ne.Edges)
			slices.SortFunc(e, func(x, y adapters.Edge) int {
				if c := compareStr(x.Src, y.Src); c != 0 {
					return c
				}
				return compareStr(x.Tgt, y.Tgt)
			})
			out[i] = adapters.NodeEdges{Found: ne.Found, Edges: e}
		}
		return out
	}
	return sameJSON(norm(a), norm(b))
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// similarityTolerance absorbs the float rounding between two backends'
// cosine arithmetic (float32 kernels, float16 copies).
const similarityTolerance = 1e-3

// sameMatches compares two vector query answers: the same records with the
// same similarity, ignoring records whose similarity is within tolerance of
// the cut (the k-th answer or the threshold), where rounding decides which
// of two nearly equal records makes the list.
func sameMatches(q adapters.VectorQuery) func(a, b []adapters.VectorMatch) bool {
	return func(a, b []adapters.VectorMatch) bool {
		cut := float64(q.Threshold)
		if len(a) == q.TopK && len(a) > 0 {
			cut = max(cut, float64(a[len(a)-1].Similarity))
		}
		if len(b) == q.TopK && len(b) > 0 {
			cut = max(cut, float64(b[len(b)-1].Similarity))
		}
		firm := func(in []adapters.VectorMatch) map[string]float32 {
			m := map[string]float32{}
			for _, x := range in {
				if float64(x.Similarity) > cut+similarityTolerance {
					m[x.ID] = x.Similarity
				}
			}
			return m
		}
		// Every record clearly above the cut on one side is on the other
		// side too, with the same similarity.
		covered := func(x, y []adapters.VectorMatch) bool {
			other := make(map[string]float32, len(y))
			for _, m := range y {
				other[m.ID] = m.Similarity
			}
			for id, s := range firm(x) {
				o, ok := other[id]
				if !ok || math.Abs(float64(s-o)) > similarityTolerance {
					return false
				}
			}
			return true
		}
		return covered(a, b) && covered(b, a)
	}
}

// quantize rounds a vector to float16, the precision LightRAG's JSON files
// keep: a vector compared across backends is equal when both would read back
// the same from a LightRAG file.
func quantize(v []float32) []byte {
	out := make([]byte, 2*len(v))
	for i, f := range v {
		h := float16.Fromfloat32(f).Bits()
		out[2*i], out[2*i+1] = byte(h), byte(h>>8)
	}
	return out
}

package migration

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Check is the verification of one unit.
type Check struct {
	Unit           string `json:"unit"`
	SourceRecords  int64  `json:"source_records"`
	TargetRecords  int64  `json:"target_records"`
	SourceChecksum string `json:"source_checksum"`
	TargetChecksum string `json:"target_checksum"`
	// Samples is how many sampled queries were compared.
	Samples int `json:"samples"`
	// Differences names what differs: ids, or sampled queries (empty = equal).
	Differences []string `json:"differences,omitempty"`
}

// OK reports whether source and target agree.
func (c Check) OK() bool { return len(c.Differences) == 0 }

const (
	sampleQueries  = 5  // sampled vectors / nodes per unit
	sampleTopK     = 10 // vector neighbours compared per sample
	maxDifferences = 10 // ids named per unit
	// similarityTie: neighbours closer than this to the k-th similarity may
	// legitimately be ordered differently by two backends.
	similarityTie = 1e-4
)

// samples are queries computed on the source while it is read once: the
// first records of a unit serve as sampled queries, answered exactly by
// brute force over the whole unit.
type samples struct {
	vectors  []vectorSample
	nodes    map[string]*nodeSample
	nodeIDs  []string
	statuses map[string]int64
}

type vectorSample struct {
	id  string
	q   []float64 // normalised
	top []scored  // best first, at most sampleTopK (plus ties)
}

type scored struct {
	id  string
	sim float64
}

type nodeSample struct {
	neighbours map[string]bool
}

func normalised(v []float32) []float64 {
	out := make([]float64, len(v))
	var n float64
	for i, f := range v {
		out[i] = float64(f)
		n += out[i] * out[i]
	}
	if n = math.Sqrt(n); n > 0 {
		for i := range out {
			out[i] /= n
		}
	}
	return out
}

// cosine of two normalised vectors; ok is false for different dimensions.
func cosine(a, b []float64) (float64, bool) {
	if len(a) != len(b) {
		return 0, false
	}
	var dot float64
	for i := range a {
		dot += a[i] * b[i]
	}
	return dot, true
}

func (s *samples) observe(u Unit, b adapters.Batch) {
	for _, r := range b.Vectors {
		v := normalised(r.Vector)
		isSample := len(s.vectors) < sampleQueries
		if isSample {
			// The samples are the first records: a new one is scored
			// against the earlier ones, which the others were scored with.
			s.vectors = append(s.vectors, vectorSample{id: r.ID, q: v})
		}
		last := len(s.vectors) - 1
		for i := range s.vectors {
			vs := &s.vectors[i]
			if isSample && i < last {
				if sim, ok := cosine(vs.q, v); ok {
					vs.top = insertTop(vs.top, scored{r.ID, sim})
					s.vectors[last].top = insertTop(s.vectors[last].top, scored{vs.id, sim})
				}
				continue
			}
			if sim, ok := cosine(vs.q, v); ok {
				vs.top = insertTop(vs.top, scored{r.ID, sim})
			}
		}
	}
	for _, n := range b.Nodes {
		if s.nodes == nil {
			s.nodes = map[string]*nodeSample{}
		}
		if len(s.nodeIDs) < sampleQueries {
			s.nodeIDs = append(s.nodeIDs, n.ID)
			s.nodes[n.ID] = &nodeSample{neighbours: map[string]bool{}}
		}
	}
	for _, e := range b.Edges {
		if ns, ok := s.nodes[e.Src]; ok {
			ns.neighbours[e.Tgt] = true
		}
		if ns, ok := s.nodes[e.Tgt]; ok {
			ns.neighbours[e.Src] = true
		}
	}
	if u.Kind == adapters.KindDocStatus {
		if s.statuses == nil {
			s.statuses = map[string]int64{}
		}
		for _, r := range b.KV {
			s.statuses[adapters.DocStatusOf(r.Data)]++
		}
	}
}

// maxTop bounds a sample's list: rows tied with the k-th are kept so that a
// tie never looks like a difference, but a unit of identical vectors must
// not keep them all.
const maxTop = 4 * sampleTopK

// insertTop keeps the best sampleTopK by similarity, and rows tied with the
// k-th (up to maxTop).
func insertTop(top []scored, c scored) []scored {
	if len(top) == maxTop && c.sim <= top[len(top)-1].sim {
		return top
	}
	i := sort.Search(len(top), func(i int) bool { return top[i].sim < c.sim })
	top = slices.Insert(top, i, c)
	if len(top) > sampleTopK {
		kth := top[sampleTopK-1].sim
		cut := sampleTopK
		for cut < len(top) && cut < maxTop && kth-top[cut].sim < similarityTie {
			cut++
		}
		top = top[:cut]
	}
	return top
}

// compare runs the sampled queries on the target and lists differences.
func (s *samples) compare(ctx context.Context, target adapters.Backend, u Unit) (int, []string, error) {
	var diffs []string
	n := 0
	switch u.Kind {
	case adapters.KindVector:
		if len(s.vectors) == 0 {
			return 0, nil, nil
		}
		v, err := target.Vector(ctx, u.NS, 0)
		if err != nil {
			return 0, nil, err
		}
		for _, vs := range s.vectors {
			q := make([]float32, len(vs.q))
			for i, f := range vs.q {
				q[i] = float32(f)
			}
			got, err := v.Query(ctx, adapters.VectorQuery{Vector: q, TopK: sampleTopK, Threshold: -2, Exact: true})
			if err != nil {
				return n, diffs, fmt.Errorf("sampled query on the target: %w", err)
			}
			n++
			if d := topDifference(vs, got); d != "" {
				diffs = append(diffs, d)
			}
		}
	case adapters.KindGraph:
		if len(s.nodeIDs) == 0 {
			return 0, nil, nil
		}
		g, err := target.Graph(ctx, u.NS)
		if err != nil {
			return 0, nil, err
		}
		degs, err := g.NodeDegrees(ctx, s.nodeIDs)
		if err != nil {
			return 0, nil, err
		}
		edges, err := g.GetNodesEdges(ctx, s.nodeIDs)
		if err != nil {
			return 0, nil, err
		}
		for i, id := range s.nodeIDs {
			n++
			want := s.nodes[id]
			got := map[string]bool{}
			for _, e := range edges[i].Edges {
				other := e.Tgt
				if other == id {
					other = e.Src
				}
				got[other] = true
			}
			if !maps.Equal(got, want.neighbours) {
				diffs = append(diffs, fmt.Sprintf("node %q: neighbours %s on the source, %s on the target",
					id, setString(want.neighbours), setString(got)))
			} else if degs[i] < len(want.neighbours) {
				diffs = append(diffs, fmt.Sprintf("node %q: degree %d on the target for %d neighbours", id, degs[i], len(want.neighbours)))
			}
		}
	case adapters.KindDocStatus:
		d, err := target.DocStatus(ctx, u.NS)
		if err != nil {
			return 0, nil, err
		}
		got, err := d.StatusCounts(ctx)
		if err != nil {
			return 0, nil, err
		}
		n++
		for st, c := range s.statuses {
			if got[st] != c {
				diffs = append(diffs, fmt.Sprintf("status %q: %d documents on the source, %d on the target", st, c, got[st]))
			}
		}
	}
	return n, diffs, nil
}

func setString(m map[string]bool) string {
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) > 5 {
		keys = append(keys[:5], fmt.Sprintf("... (%d in all)", len(m)))
	}
	return "[" + strings.Join(keys, ", ") + "]"
}

// topDifference compares one sampled query's exact answer with the
// target's exact answer: the same best match and the same top-k, except
// that rows tied (within similarityTie) may be ordered differently.
func topDifference(want vectorSample, got []adapters.VectorMatch) string {
	if len(want.top) == 0 {
		return ""
	}
	k := min(sampleTopK, len(want.top))
	if len(got) == 0 {
		return fmt.Sprintf("vector query with %q: no match on the target, %d expected", want.id, k)
	}
	best := want.top[0].sim
	firstOK := false
	for _, c := range want.top {
		if best-c.sim < similarityTie && c.id == got[0].ID {
			firstOK = true
		}
	}
	if !firstOK {
		return fmt.Sprintf("vector query with %q: the target's best match is %q, expected %q", want.id, got[0].ID, want.top[0].id)
	}
	gotIDs := map[string]bool{}
	for _, m := range got {
		gotIDs[m.ID] = true
	}
	kth := want.top[k-1].sim
	var missing []string
	found := 0
	for _, c := range want.top {
		switch {
		case gotIDs[c.id]:
			found++
		case c.sim-kth >= similarityTie:
			missing = append(missing, c.id)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("vector query with %q: the target returns %d of the %d nearest rows; it misses %v", want.id, min(found, k), k, missing)
	}
	return ""
}

// verifyUnit reads u from both sides once, compares counts and checksums,
// runs the sampled queries, and names differing ids when the sums differ.
func verifyUnit(ctx context.Context, src Source, tgt adapters.Backend, u Unit, problem func(Problem)) (Check, error) {
	c := Check{Unit: u.Key()}
	var sd, td digest
	var smp samples
	err := src.Stream(ctx, u, 0, scanPage, problem, func(b adapters.Batch) error {
		for _, h := range hashes(b) {
			sd.add(h)
		}
		smp.observe(u, b)
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("read %s from the source: %w", u.Key(), err)
	}
	target := &BackendSource{B: tgt, Name: "target"}
	err = target.Stream(ctx, u, 0, scanPage, nil, func(b adapters.Batch) error {
		for _, h := range hashes(b) {
			td.add(h)
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("read %s from the target: %w", u.Key(), err)
	}
	c.SourceRecords, c.TargetRecords = sd.n, td.n
	c.SourceChecksum, c.TargetChecksum = sd.String(), td.String()
	if c.SourceRecords != c.TargetRecords {
		c.Differences = append(c.Differences, fmt.Sprintf("%d records on the source, %d on the target", c.SourceRecords, c.TargetRecords))
	}
	if bad := sd.differing(&td); len(bad) > 0 {
		ids, err := differingIDs(ctx, src, target, u, bad)
		if err != nil {
			return c, err
		}
		c.Differences = append(c.Differences, fmt.Sprintf("checksums differ; differing records: %s", strings.Join(ids, ", ")))
	}
	n, diffs, err := smp.compare(ctx, tgt, u)
	if err != nil {
		return c, err
	}
	c.Samples = n
	c.Differences = append(c.Differences, diffs...)
	return c, nil
}

// differingIDs reads both sides again, keeping only records of the first
// differing buckets, and names up to maxDifferences ids that differ.
func differingIDs(ctx context.Context, src, tgt Source, u Unit, bad []int) ([]string, error) {
	want := map[int]bool{}
	for _, b := range bad[:min(len(bad), 4)] {
		want[b] = true
	}
	collect := func(s Source) (map[string][32]byte, error) {
		out := map[string][32]byte{}
		err := s.Stream(ctx, u, 0, scanPage, nil, func(b adapters.Batch) error {
			for _, h := range hashes(b) {
				if want[h.bucket] {
					out[h.id] = h.h
				}
			}
			return nil
		})
		return out, err
	}
	a, err := collect(src)
	if err != nil {
		return nil, err
	}
	b, err := collect(tgt)
	if err != nil {
		return nil, err
	}
	var ids []string
	for id, h := range a {
		if bh, ok := b[id]; !ok {
			ids = append(ids, fmt.Sprintf("%q (missing on the target)", id))
		} else if bh != h {
			ids = append(ids, fmt.Sprintf("%q (differs)", id))
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			ids = append(ids, fmt.Sprintf("%q (only on the target)", id))
		}
	}
	slices.Sort(ids)
	if len(ids) > maxDifferences {
		ids = append(ids[:maxDifferences], fmt.Sprintf("and %d more", len(ids)-maxDifferences))
	}
	return ids, nil
}

// UnitChecksum is one unit's record count and order-independent checksum
// ("count:checksum"), for comparing two sources.
func UnitChecksum(ctx context.Context, src Source, u Unit) (string, error) {
	var d digest
	err := src.Stream(ctx, u, 0, scanPage, nil, func(b adapters.Batch) error {
		for _, h := range hashes(b) {
			d.add(h)
		}
		return nil
	})
	return fmt.Sprintf("%d:%s", d.n, d.String()), err
}

package migration

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/hybridrag/storage-proxy/adapters"
)

// A live migration's verification compares every record of a unit on both
// sides while writes go on. A first pass sums the records' hashes per
// bucket on each side; the buckets that differ are read again to name
// their records; each named record is then read on both sides with its
// writes held, and only a record that still differs counts, and is
// repaired: the source's record is written to the target (or the target's
// deleted when the source has none).

// liveKey names a record of a unit: its id, or for a graph "n" + node id /
// "e" + src + NUL + tgt (src <= tgt).
func nodeKey(id string) string       { return "n" + id }
func edgeKey(src, tgt string) string { e := edgeOrder(src, tgt); return "e" + e.Src + "\x00" + e.Tgt }

func edgeOrder(src, tgt string) adapters.Edge {
	if tgt < src {
		src, tgt = tgt, src
	}
	return adapters.Edge{Src: src, Tgt: tgt}
}

func splitEdgeKey(k string) adapters.Edge {
	i := bytes.IndexByte([]byte(k), 0)
	return adapters.Edge{Src: k[1:i], Tgt: k[i+1:]}
}

// liveHashVector hashes a vector record with its vector at float16
// precision, what a LightRAG file keeps: a PostgreSQL row and the JSON
// record it becomes compare equal.
func liveHashVector(r adapters.VectorRecord) recordHash {
	fields := r.Fields
	if len(fields) == 0 {
		fields = []byte("{}")
	}
	return hashOf(r.ID, []byte("vector"), canonical(fields), strconv.AppendInt(nil, r.CreatedAt, 10), quantize(r.Vector))
}

// liveHashes are a batch's record hashes keyed as liveKey says.
func liveHashes(b adapters.Batch) []recordHash {
	out := hashes(adapters.Batch{KV: b.KV})
	for _, r := range b.Vectors {
		out = append(out, liveHashVector(r))
	}
	for _, n := range b.Nodes {
		h := hashNode(n)
		h.id = nodeKey(n.ID)
		h.bucket = bucketOf(h.id)
		out = append(out, h)
	}
	for _, e := range b.Edges {
		h := hashEdge(e)
		h.id = edgeKey(e.Src, e.Tgt)
		h.bucket = bucketOf(h.id)
		out = append(out, h)
	}
	return out
}

// streamHashes calls fn with every record hash of u in src.
func streamHashes(ctx context.Context, src *BackendSource, u Unit, fn func(recordHash)) error {
	return src.Stream(ctx, u, 0, DefaultBatchSize, nil, func(b adapters.Batch) error {
		for _, h := range liveHashes(b) {
			fn(h)
		}
		return nil
	})
}

// repairChunk is how many differing records are confirmed at once.
const repairChunk = 200

func (j *liveJob) reconcile(ctx context.Context, d *dualBackend, u Unit) (LiveCheck, error) {
	srcSource, tgtSource := j.sources(d)
	var a, b digest
	if err := streamHashes(ctx, srcSource, u, a.add); err != nil {
		return LiveCheck{}, fmt.Errorf("read the source: %w", err)
	}
	if err := streamHashes(ctx, tgtSource, u, b.add); err != nil {
		return LiveCheck{}, fmt.Errorf("read the target: %w", err)
	}
	c := LiveCheck{Unit: u.Key(), Records: a.n, Target: b.n, Checksum: a.String()}
	bad := a.differing(&b)
	if len(bad) == 0 {
		return c, nil
	}
	inBad := make([]bool, buckets)
	for _, i := range bad {
		inBad[i] = true
	}
	collect := func(src *BackendSource) (map[string][32]byte, error) {
		m := map[string][32]byte{}
		err := streamHashes(ctx, src, u, func(h recordHash) {
			if inBad[h.bucket] {
				m[h.id] = h.h
			}
		})
		return m, err
	}
	ma, err := collect(srcSource)
	if err != nil {
		return c, err
	}
	mb, err := collect(tgtSource)
	if err != nil {
		return c, err
	}
	var cands []string
	for id, h := range ma {
		if hb, ok := mb[id]; !ok || hb != h {
			cands = append(cands, id)
		}
	}
	for id := range mb {
		if _, ok := ma[id]; !ok {
			cands = append(cands, id)
		}
	}
	slices.Sort(cands)
	for chunk := range slices.Chunk(cands, repairChunk) {
		fixed, err := j.repair(ctx, d, u, chunk)
		if err != nil {
			return c, err
		}
		c.Repaired += int64(len(fixed))
		if room := 10 - len(c.IDs); room > 0 {
			c.IDs = append(c.IDs, fixed[:min(room, len(fixed))]...)
		}
	}
	return c, nil
}

// repair confirms the records keys of u with their writes held and writes
// the source's version of each one that differs to the target; it returns
// the keys repaired.
func (j *liveJob) repair(ctx context.Context, d *dualBackend, u Unit, keys []string) ([]string, error) {
	switch u.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		unlock := j.run.locks.lockKeys(u.Key(), keys)
		defer unlock()
		return repairKV(ctx, d, u, keys)
	case adapters.KindVector:
		unlock := j.run.locks.lockKeys(u.Key(), keys)
		defer unlock()
		return repairVectors(ctx, d, u, keys)
	case adapters.KindGraph:
		unlock := j.run.locks.lockSpace(u.Key())
		defer unlock()
		return repairGraph(ctx, d, u, keys)
	}
	return nil, fmt.Errorf("%s: unknown kind %q", u.Key(), u.Kind)
}

func repairKV(ctx context.Context, d *dualBackend, u Unit, ids []string) ([]string, error) {
	a, err := d.srcStored.GetStoredKV(ctx, u.NS, u.Kind, ids)
	if err != nil {
		return nil, err
	}
	b, err := d.stored.GetStoredKV(ctx, u.NS, u.Kind, ids)
	if err != nil {
		return nil, err
	}
	have := map[string][32]byte{}
	for _, r := range b {
		have[r.ID] = hashKV(r).h
	}
	var load []adapters.KVRecord
	var fixed []string
	inSource := map[string]bool{}
	for _, r := range a {
		inSource[r.ID] = true
		if h, ok := have[r.ID]; !ok || h != hashKV(r).h {
			load = append(load, r)
			fixed = append(fixed, r.ID)
		}
	}
	var gone []string
	for _, r := range b {
		if !inSource[r.ID] {
			gone = append(gone, r.ID)
		}
	}
	if len(load) > 0 {
		if err := d.loader.Load(ctx, adapters.Batch{NS: u.NS, Kind: u.Kind, KV: load, KeepIndexes: true}, adapters.Checkpoint{}); err != nil {
			return nil, err
		}
	}
	if len(gone) > 0 {
		var err error
		if u.Kind == adapters.KindDocStatus {
			var s adapters.DocStatus
			if s, err = d.tgt.DocStatus(ctx, u.NS); err == nil {
				err = s.Delete(ctx, gone)
			}
		} else {
			var s adapters.KV
			if s, err = d.tgt.KV(ctx, u.NS); err == nil {
				err = s.Delete(ctx, gone)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return append(fixed, gone...), nil
}

// vectorsByID reads whole vector records (fields, created_at, vector).
func vectorsByID(ctx context.Context, v adapters.Vector, ids []string) (map[string]adapters.VectorRecord, error) {
	recs, err := v.GetByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	vecs, err := v.GetVectorsByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]adapters.VectorRecord{}
	for i, r := range recs {
		if r == nil {
			continue
		}
		rec := *r
		rec.ID = ids[i]
		rec.Vector = vecs[ids[i]]
		out[ids[i]] = rec
	}
	return out, nil
}

func repairVectors(ctx context.Context, d *dualBackend, u Unit, ids []string) ([]string, error) {
	sv, err := d.src.Vector(ctx, u.NS, 0)
	if err != nil {
		return nil, err
	}
	tv, err := d.tgt.Vector(ctx, u.NS, sv.Dim())
	if err != nil {
		return nil, err
	}
	a, err := vectorsByID(ctx, sv, ids)
	if err != nil {
		return nil, err
	}
	b, err := vectorsByID(ctx, tv, ids)
	if err != nil {
		return nil, err
	}
	var load []adapters.VectorRecord
	var fixed, gone []string
	for _, id := range ids {
		ra, inA := a[id]
		rb, inB := b[id]
		switch {
		case inA && (!inB || liveHashVector(ra).h != liveHashVector(rb).h):
			load = append(load, ra)
			fixed = append(fixed, id)
		case !inA && inB:
			gone = append(gone, id)
		}
	}
	if len(load) > 0 {
		if err := d.loader.Load(ctx, adapters.Batch{NS: u.NS, Kind: u.Kind, Vectors: load, KeepIndexes: true}, adapters.Checkpoint{}); err != nil {
			return nil, err
		}
	}
	if len(gone) > 0 {
		if err := tv.Delete(ctx, gone); err != nil {
			return nil, err
		}
	}
	return append(fixed, gone...), nil
}

func repairGraph(ctx context.Context, d *dualBackend, u Unit, keys []string) ([]string, error) {
	sg, err := d.src.Graph(ctx, u.NS)
	if err != nil {
		return nil, err
	}
	tg, err := d.tgt.Graph(ctx, u.NS)
	if err != nil {
		return nil, err
	}
	var nodes []string
	var pairs []adapters.Edge
	for _, k := range keys {
		if k[0] == 'n' {
			nodes = append(nodes, k[1:])
		} else {
			pairs = append(pairs, splitEdgeKey(k))
		}
	}
	var b adapters.Batch
	var fixed, goneNodes []string
	var goneEdges []adapters.Edge
	if len(nodes) > 0 {
		pa, err := sg.GetNodes(ctx, nodes)
		if err != nil {
			return nil, err
		}
		pb, err := tg.GetNodes(ctx, nodes)
		if err != nil {
			return nil, err
		}
		for i, id := range nodes {
			switch {
			case pa[i] != nil && (pb[i] == nil || !bytes.Equal(canonicalProps(pa[i]), canonicalProps(pb[i]))):
				b.Nodes = append(b.Nodes, adapters.Node{ID: id, Props: pa[i]})
				fixed = append(fixed, nodeKey(id))
			case pa[i] == nil && pb[i] != nil:
				goneNodes = append(goneNodes, id)
			}
		}
	}
	if len(pairs) > 0 {
		pa, err := sg.GetEdges(ctx, pairs)
		if err != nil {
			return nil, err
		}
		pb, err := tg.GetEdges(ctx, pairs)
		if err != nil {
			return nil, err
		}
		for i, p := range pairs {
			switch {
			case pa[i] != nil && (pb[i] == nil || !bytes.Equal(canonicalProps(pa[i]), canonicalProps(pb[i]))):
				b.Edges = append(b.Edges, adapters.EdgeData{Src: p.Src, Tgt: p.Tgt, Props: pa[i]})
				fixed = append(fixed, edgeKey(p.Src, p.Tgt))
			case pa[i] == nil && pb[i] != nil:
				goneEdges = append(goneEdges, p)
			}
		}
	}
	if len(goneEdges) > 0 {
		if err := tg.DeleteEdges(ctx, goneEdges); err != nil {
			return nil, err
		}
	}
	if len(goneNodes) > 0 {
		if err := tg.DeleteNodes(ctx, goneNodes); err != nil {
			return nil, err
		}
	}
	if b.Len() > 0 {
		b.NS, b.Kind, b.KeepIndexes = u.NS, u.Kind, true
		if err := d.loader.Load(ctx, b, adapters.Checkpoint{}); err != nil {
			return nil, err
		}
	}
	for _, id := range goneNodes {
		fixed = append(fixed, nodeKey(id))
	}
	for _, p := range goneEdges {
		fixed = append(fixed, edgeKey(p.Src, p.Tgt))
	}
	return fixed, nil
}

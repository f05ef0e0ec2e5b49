package migration

import (
	"context"
	"slices"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// The four kinds of namespace during a live migration. Reads the proxy
// answers from a whole namespace's scan (Scan, paging, knowledge graphs,
// label search) are answered by the source and not shadowed: the shadowed
// reads are the ones LightRAG's ingest and queries call per request.

type dualKV struct{ side[adapters.KV] }

func (k *dualKV) GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error) {
	return read(ctx, &k.side, "kv.get", ids, func(ctx context.Context, s adapters.KV) ([]adapters.Record, error) {
		return s.GetByIDs(ctx, ids)
	}, sameJSON)
}

func (k *dualKV) FilterKeys(ctx context.Context, keys []string) ([]string, error) {
	return read(ctx, &k.side, "kv.filter_keys", keys, func(ctx context.Context, s adapters.KV) ([]string, error) {
		return s.FilterKeys(ctx, keys)
	}, sameJSON)
}

func (k *dualKV) Count(ctx context.Context) (int64, error) {
	return read(ctx, &k.side, "kv.count", nil, func(ctx context.Context, s adapters.KV) (int64, error) {
		return s.Count(ctx)
	}, sameJSON)
}

func (k *dualKV) Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error) {
	return k.p.Scan(ctx, after, limit)
}

func (k *dualKV) Upsert(ctx context.Context, records []adapters.KVRecord) error {
	ids := recordIDs(records)
	return k.write(ctx, ids, func() error { return k.p.Upsert(ctx, records) }, func() error {
		return k.copyStored(ctx, ids)
	})
}

// copyStored writes what the source stored for ids to the target.
func (w *side[S]) copyStored(ctx context.Context, ids []string) error {
	recs, err := w.d.srcStored.GetStoredKV(ctx, w.u.NS, w.u.Kind, ids)
	if err != nil {
		return err
	}
	return w.load(ctx, adapters.Batch{KV: recs})
}

func (k *dualKV) Delete(ctx context.Context, ids []string) error {
	return k.write(ctx, ids, func() error { return k.p.Delete(ctx, ids) }, func() error { return k.s.Delete(ctx, ids) })
}

func (k *dualKV) Drop(ctx context.Context) error {
	return k.write(ctx, nil, func() error { return k.p.Drop(ctx) }, func() error { return k.s.Drop(ctx) })
}

func recordIDs(records []adapters.KVRecord) []string {
	ids := make([]string, len(records))
	for i, r := range records {
		ids[i] = r.ID
	}
	return ids
}

type dualDocStatus struct{ side[adapters.DocStatus] }

func (k *dualDocStatus) GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error) {
	return read(ctx, &k.side, "doc_status.get", ids, func(ctx context.Context, s adapters.DocStatus) ([]adapters.Record, error) {
		return s.GetByIDs(ctx, ids)
	}, sameJSON)
}

func (k *dualDocStatus) FilterKeys(ctx context.Context, keys []string) ([]string, error) {
	return read(ctx, &k.side, "doc_status.filter_keys", keys, func(ctx context.Context, s adapters.DocStatus) ([]string, error) {
		return s.FilterKeys(ctx, keys)
	}, sameJSON)
}

func (k *dualDocStatus) Count(ctx context.Context) (int64, error) {
	return read(ctx, &k.side, "doc_status.count", nil, func(ctx context.Context, s adapters.DocStatus) (int64, error) {
		return s.Count(ctx)
	}, sameJSON)
}

func (k *dualDocStatus) StatusCounts(ctx context.Context) (map[string]int64, error) {
	return read(ctx, &k.side, "doc_status.status_counts", nil, func(ctx context.Context, s adapters.DocStatus) (map[string]int64, error) {
		return s.StatusCounts(ctx)
	}, sameJSON)
}

func (k *dualDocStatus) DocsByStatuses(ctx context.Context, statuses []string) ([]adapters.KVRecord, error) {
	return read(ctx, &k.side, "doc_status.by_statuses", nil, func(ctx context.Context, s adapters.DocStatus) ([]adapters.KVRecord, error) {
		return s.DocsByStatuses(ctx, statuses)
	}, sameDocs)
}

func (k *dualDocStatus) DocsByTrackID(ctx context.Context, trackID string) ([]adapters.KVRecord, error) {
	return read(ctx, &k.side, "doc_status.by_track_id", nil, func(ctx context.Context, s adapters.DocStatus) ([]adapters.KVRecord, error) {
		return s.DocsByTrackID(ctx, trackID)
	}, sameDocs)
}

func (k *dualDocStatus) DocsPaginated(ctx context.Context, req adapters.DocPageRequest) (adapters.DocPage, error) {
	return k.p.DocsPaginated(ctx, req)
}

func (k *dualDocStatus) DocByFilePath(ctx context.Context, path string) (*adapters.KVRecord, error) {
	return k.p.DocByFilePath(ctx, path)
}

func (k *dualDocStatus) Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error) {
	return k.p.Scan(ctx, after, limit)
}

func (k *dualDocStatus) Upsert(ctx context.Context, records []adapters.KVRecord) error {
	ids := recordIDs(records)
	return k.write(ctx, ids, func() error { return k.p.Upsert(ctx, records) }, func() error {
		return k.copyStored(ctx, ids)
	})
}

func (k *dualDocStatus) Delete(ctx context.Context, ids []string) error {
	return k.write(ctx, ids, func() error { return k.p.Delete(ctx, ids) }, func() error { return k.s.Delete(ctx, ids) })
}

func (k *dualDocStatus) Drop(ctx context.Context) error {
	return k.write(ctx, nil, func() error { return k.p.Drop(ctx) }, func() error { return k.s.Drop(ctx) })
}

type dualVector struct{ side[adapters.Vector] }

func (v *dualVector) Dim() int { return v.p.Dim() }

// Upsert stamps created_at once, so both backends keep the same time, and
// gives the target the vectors as the source stored them (a JSON source
// keeps a float16 copy).
func (v *dualVector) Upsert(ctx context.Context, records []adapters.VectorRecord) error {
	now := time.Now().Unix()
	recs := slices.Clone(records)
	ids := make([]string, len(recs))
	for i := range recs {
		if recs[i].CreatedAt == 0 {
			recs[i].CreatedAt = now
		}
		ids[i] = recs[i].ID
	}
	return v.write(ctx, ids, func() error { return v.p.Upsert(ctx, recs) }, func() error {
		vecs, err := v.p.GetVectorsByIDs(ctx, ids)
		if err != nil {
			return err
		}
		// The last record of an id wins, as in Upsert.
		last := map[string]int{}
		for i, r := range recs {
			last[r.ID] = i
		}
		out := make([]adapters.VectorRecord, 0, len(last))
		for i, r := range recs {
			if last[r.ID] != i {
				continue
			}
			if vec, ok := vecs[r.ID]; ok {
				r.Vector = vec
			}
			out = append(out, r)
		}
		return v.load(ctx, adapters.Batch{Vectors: out})
	})
}

// Query: the target answers exactly (Exact: an approximate index may miss
// a record the source's brute force finds); a JSON source is exact anyway.
func (v *dualVector) Query(ctx context.Context, q adapters.VectorQuery) ([]adapters.VectorMatch, error) {
	exact := q
	exact.Exact = true
	return read(ctx, &v.side, "vector.query", nil, func(ctx context.Context, s adapters.Vector) ([]adapters.VectorMatch, error) {
		if s == v.s {
			return s.Query(ctx, exact)
		}
		return s.Query(ctx, q)
	}, sameMatches(q))
}

func (v *dualVector) GetByIDs(ctx context.Context, ids []string) ([]*adapters.VectorRecord, error) {
	return read(ctx, &v.side, "vector.get", ids, func(ctx context.Context, s adapters.Vector) ([]*adapters.VectorRecord, error) {
		return s.GetByIDs(ctx, ids)
	}, sameJSON)
}

func (v *dualVector) GetVectorsByIDs(ctx context.Context, ids []string) (map[string][]float32, error) {
	return v.p.GetVectorsByIDs(ctx, ids)
}

func (v *dualVector) Delete(ctx context.Context, ids []string) error {
	return v.write(ctx, ids, func() error { return v.p.Delete(ctx, ids) }, func() error { return v.s.Delete(ctx, ids) })
}

func (v *dualVector) DeleteEntity(ctx context.Context, name string) error {
	return v.write(ctx, nil, func() error { return v.p.DeleteEntity(ctx, name) }, func() error { return v.s.DeleteEntity(ctx, name) })
}

func (v *dualVector) DeleteEntityRelation(ctx context.Context, name string) error {
	return v.write(ctx, nil, func() error { return v.p.DeleteEntityRelation(ctx, name) },
		func() error { return v.s.DeleteEntityRelation(ctx, name) })
}

func (v *dualVector) Count(ctx context.Context) (int64, error) {
	return read(ctx, &v.side, "vector.count", nil, func(ctx context.Context, s adapters.Vector) (int64, error) {
		return s.Count(ctx)
	}, sameJSON)
}

func (v *dualVector) Scan(ctx context.Context, after string, limit int) ([]adapters.VectorRecord, error) {
	return v.p.Scan(ctx, after, limit)
}

func (v *dualVector) Drop(ctx context.Context) error {
	return v.write(ctx, nil, func() error { return v.p.Drop(ctx) }, func() error { return v.s.Drop(ctx) })
}

// dualGraph: every graph write locks the whole graph namespace (an edge
// creates its endpoints, a node deletion takes its edges), and the target
// receives the nodes and edges as the source holds them after the write.
type dualGraph struct{ side[adapters.Graph] }

func (g *dualGraph) HasNodes(ctx context.Context, ids []string) ([]bool, error) {
	return read(ctx, &g.side, "graph.has_nodes", nil, func(ctx context.Context, s adapters.Graph) ([]bool, error) {
		return s.HasNodes(ctx, ids)
	}, sameJSON)
}

func (g *dualGraph) HasEdges(ctx context.Context, pairs []adapters.Edge) ([]bool, error) {
	return read(ctx, &g.side, "graph.has_edges", nil, func(ctx context.Context, s adapters.Graph) ([]bool, error) {
		return s.HasEdges(ctx, pairs)
	}, sameJSON)
}

func (g *dualGraph) NodeDegrees(ctx context.Context, ids []string) ([]int, error) {
	return read(ctx, &g.side, "graph.node_degrees", nil, func(ctx context.Context, s adapters.Graph) ([]int, error) {
		return s.NodeDegrees(ctx, ids)
	}, sameJSON)
}

func (g *dualGraph) EdgeDegrees(ctx context.Context, pairs []adapters.Edge) ([]int, error) {
	return read(ctx, &g.side, "graph.edge_degrees", nil, func(ctx context.Context, s adapters.Graph) ([]int, error) {
		return s.EdgeDegrees(ctx, pairs)
	}, sameJSON)
}

func (g *dualGraph) GetNodes(ctx context.Context, ids []string) ([]adapters.Props, error) {
	return read(ctx, &g.side, "graph.get_nodes", nil, func(ctx context.Context, s adapters.Graph) ([]adapters.Props, error) {
		return s.GetNodes(ctx, ids)
	}, sameJSON)
}

func (g *dualGraph) GetEdges(ctx context.Context, pairs []adapters.Edge) ([]adapters.Props, error) {
	return read(ctx, &g.side, "graph.get_edges", nil, func(ctx context.Context, s adapters.Graph) ([]adapters.Props, error) {
		return s.GetEdges(ctx, pairs)
	}, sameJSON)
}

func (g *dualGraph) GetNodesEdges(ctx context.Context, ids []string) ([]adapters.NodeEdges, error) {
	return read(ctx, &g.side, "graph.get_nodes_edges", nil, func(ctx context.Context, s adapters.Graph) ([]adapters.NodeEdges, error) {
		return s.GetNodesEdges(ctx, ids)
	}, sameNodeEdges)
}

func (g *dualGraph) AllLabels(ctx context.Context) ([]string, error) {
	return read(ctx, &g.side, "graph.all_labels", nil, func(ctx context.Context, s adapters.Graph) ([]string, error) {
		return s.AllLabels(ctx)
	}, sameJSON)
}

func (g *dualGraph) Counts(ctx context.Context) (int64, int64, error) {
	type counts struct{ Nodes, Edges int64 }
	c, err := read(ctx, &g.side, "graph.counts", nil, func(ctx context.Context, s adapters.Graph) (counts, error) {
		n, e, err := s.Counts(ctx)
		return counts{n, e}, err
	}, sameJSON)
	return c.Nodes, c.Edges, err
}

func (g *dualGraph) ScanNodes(ctx context.Context, after string, limit int) ([]adapters.Node, error) {
	return g.p.ScanNodes(ctx, after, limit)
}

func (g *dualGraph) ScanEdges(ctx context.Context, after adapters.Edge, limit int) ([]adapters.EdgeData, error) {
	return g.p.ScanEdges(ctx, after, limit)
}

func (g *dualGraph) PopularLabels(ctx context.Context, limit int) ([]string, error) {
	return g.p.PopularLabels(ctx, limit)
}

func (g *dualGraph) SearchLabels(ctx context.Context, query string, limit int) ([]string, error) {
	return g.p.SearchLabels(ctx, query, limit)
}

func (g *dualGraph) KnowledgeGraph(ctx context.Context, label string, maxDepth, maxNodes int) (adapters.KnowledgeGraph, error) {
	return g.p.KnowledgeGraph(ctx, label, maxDepth, maxNodes)
}

func (g *dualGraph) NodesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.Node, error) {
	return g.p.NodesByChunkIDs(ctx, chunkIDs)
}

func (g *dualGraph) EdgesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.EdgeData, error) {
	return g.p.EdgesByChunkIDs(ctx, chunkIDs)
}

func (g *dualGraph) UpsertNodes(ctx context.Context, nodes []adapters.Node) error {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return g.write(ctx, nil, func() error { return g.p.UpsertNodes(ctx, nodes) }, func() error {
		return g.copyNodes(ctx, ids, nil)
	})
}

func (g *dualGraph) UpsertEdges(ctx context.Context, edges []adapters.EdgeData) error {
	pairs := make([]adapters.Edge, len(edges))
	var ends []string
	for i, e := range edges {
		pairs[i] = adapters.Edge{Src: e.Src, Tgt: e.Tgt}
		ends = append(ends, e.Src, e.Tgt)
	}
	return g.write(ctx, nil, func() error { return g.p.UpsertEdges(ctx, edges) }, func() error {
		return g.copyNodes(ctx, ends, pairs)
	})
}

// copyNodes gives the target the source's nodes ids and edges pairs as they
// are now (properties replaced whole).
func (g *dualGraph) copyNodes(ctx context.Context, ids []string, pairs []adapters.Edge) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	props, err := g.p.GetNodes(ctx, ids)
	if err != nil {
		return err
	}
	var b adapters.Batch
	for i, id := range ids {
		if props[i] != nil {
			b.Nodes = append(b.Nodes, adapters.Node{ID: id, Props: props[i]})
		}
	}
	if len(pairs) > 0 {
		eprops, err := g.p.GetEdges(ctx, pairs)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for i, p := range pairs {
			if eprops[i] == nil || seen[edgeID(p.Src, p.Tgt)] {
				continue
			}
			seen[edgeID(p.Src, p.Tgt)] = true
			b.Edges = append(b.Edges, adapters.EdgeData{Src: p.Src, Tgt: p.Tgt, Props: eprops[i]})
		}
	}
	return g.load(ctx, b)
}

func (g *dualGraph) DeleteNodes(ctx context.Context, ids []string) error {
	return g.write(ctx, nil, func() error { return g.p.DeleteNodes(ctx, ids) }, func() error { return g.s.DeleteNodes(ctx, ids) })
}

func (g *dualGraph) DeleteEdges(ctx context.Context, pairs []adapters.Edge) error {
	return g.write(ctx, nil, func() error { return g.p.DeleteEdges(ctx, pairs) }, func() error { return g.s.DeleteEdges(ctx, pairs) })
}

func (g *dualGraph) Drop(ctx context.Context) error {
	return g.write(ctx, nil, func() error { return g.p.Drop(ctx) }, func() error { return g.s.Drop(ctx) })
}

package postgres

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func TestGraphSemantics(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	s := func(v string) json.RawMessage { return adapters.MarshalString(v) }
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{
		{ID: "A", Props: adapters.Props{"entity_id": s("A"), "source_id": s("c1<SEP>c2")}},
		{ID: "A", Props: adapters.Props{"entity_id": s("A"), "description": s("last wins")}},
	}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{
		{Src: "B", Tgt: "A", Props: adapters.Props{"weight": json.RawMessage(`1.0`), "source_id": s("c2")}},
		{Src: "C", Tgt: "A", Props: adapters.Props{"weight": json.RawMessage(`2.0`)}},
		{Src: "C", Tgt: "C", Props: adapters.Props{}},
	}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "A", Tgt: "B", Props: adapters.Props{"keywords": s("k")}}}))

	props, err := g.GetNodes(ctx, []string{"A", "Z"})
	require.NoError(t, err)
	require.Equal(t, adapters.Props{"entity_id": s("A"), "description": s("last wins")}, props[0], "last write in a batch wins")
	require.Nil(t, props[1])
	edges, err := g.GetEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}, {Src: "A", Tgt: "Z"}})
	require.NoError(t, err)
	require.Equal(t, adapters.Props{"weight": json.RawMessage(`1.0`), "source_id": s("c2"), "keywords": s("k")}, edges[0], "edge merge")
	require.Nil(t, edges[1])

	deg, err := g.NodeDegrees(ctx, []string{"A", "C", "Z"})
	require.NoError(t, err)
	require.Equal(t, []int{2, 3, 0}, deg, "self-loop counts twice")
	edeg, err := g.EdgeDegrees(ctx, []adapters.Edge{{Src: "B", Tgt: "A"}})
	require.NoError(t, err)
	require.Equal(t, []int{3}, edeg)

	ne, err := g.GetNodesEdges(ctx, []string{"A", "C", "Z"})
	require.NoError(t, err)
	require.Equal(t, []adapters.NodeEdges{
		{Found: true, Edges: []adapters.Edge{{Src: "A", Tgt: "B"}, {Src: "A", Tgt: "C"}}},
		{Found: true, Edges: []adapters.Edge{{Src: "C", Tgt: "A"}, {Src: "C", Tgt: "C"}}},
		{Found: false, Edges: []adapters.Edge{}},
	}, ne)

	pop, err := g.PopularLabels(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"C", "A", "B"}, pop)

	scan, err := g.ScanEdges(ctx, adapters.Edge{}, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"A-B", "A-C"}, []string{scan[0].Src + "-" + scan[0].Tgt, scan[1].Src + "-" + scan[1].Tgt})
	scan, err = g.ScanEdges(ctx, adapters.Edge{Src: "A", Tgt: "C"}, 0)
	require.NoError(t, err)
	require.Len(t, scan, 1)
	require.Equal(t, "C", scan[0].Src)

	byChunk, err := g.EdgesByChunkIDs(ctx, []string{"c2"})
	require.NoError(t, err)
	require.Len(t, byChunk, 1)

	kg, err := g.KnowledgeGraph(ctx, "*", 3, 2)
	require.NoError(t, err)
	require.Len(t, kg.Nodes, 2)
	require.True(t, kg.IsTruncated)

	require.NoError(t, g.DeleteEdges(ctx, []adapters.Edge{{Src: "B", Tgt: "A"}}))
	nodes, nEdges, err := g.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{3, 2}, []int64{nodes, nEdges})
	require.NoError(t, g.Drop(ctx))
	nodes, nEdges, err = g.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{0, 0}, []int64{nodes, nEdges})

	_, err = g.GetNodes(ctx, nil)
	require.NoError(t, err)
	err = g.UpsertNodes(ctx, []adapters.Node{{ID: "X", Props: adapters.Props{"o": json.RawMessage(`{"a":1}`)}}})
	require.ErrorIs(t, err, adapters.ErrInvalid)
}

// TestGraphOrder pins the PostgreSQL order. LightRAG 1.4.16's own graph on
// PostgreSQL (PGGraphStorage, Apache AGE) answers get_node_edges,
// get_nodes_edges_batch and get_all_edges from Cypher/SQL without ORDER BY,
// so it promises no order; its upsert_edge deletes and re-creates the edge
// in the new call's direction. LightRAG's plain-table layout, which ours
// is, keys an edge by its pair in id order and records no insertion order
// (updated_at changes on every upsert), so this backend gives one fixed
// order where AGE gives an unspecified one: neighbours and edges by id
// (byte order), each edge from its smaller id, the same after any sequence
// of upserts, deletes and re-adds (the JSON backend gives NetworkX's
// insertion order instead: adapters/json TestGraphNetworkXOrder).
func TestGraphOrder(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	gr, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	_, native := gr.(adapters.StorageOrderScanner)
	require.False(t, native, "order=storage lists by id on PostgreSQL")
	e := func(src, tgt string) adapters.EdgeData {
		return adapters.EdgeData{Src: src, Tgt: tgt, Props: adapters.Props{}}
	}
	// The calls of adapters/json TestGraphNetworkXOrder.
	require.NoError(t, gr.UpsertNodes(ctx, []adapters.Node{{ID: "B"}, {ID: "A"}}))
	require.NoError(t, gr.UpsertEdges(ctx, []adapters.EdgeData{e("A", "B"), e("C", "A"), e("B", "D")}))
	require.NoError(t, gr.UpsertEdges(ctx, []adapters.EdgeData{e("D", "A"), e("A", "C"), e("E", "E")}))
	require.NoError(t, gr.DeleteEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}}))
	require.NoError(t, gr.UpsertEdges(ctx, []adapters.EdgeData{e("B", "A")}))
	require.NoError(t, gr.DeleteNodes(ctx, []string{"C"}))
	require.NoError(t, gr.UpsertEdges(ctx, []adapters.EdgeData{e("A", "C")}))

	ne, err := gr.GetNodesEdges(ctx, []string{"B", "A", "D", "E", "C"})
	require.NoError(t, err)
	adj := map[string][]string{}
	for i, id := range []string{"B", "A", "D", "E", "C"} {
		for _, e := range ne[i].Edges {
			require.Equal(t, id, e.Src, "(node, neighbour), as AGE's get_node_edges")
			adj[id] = append(adj[id], e.Tgt)
		}
	}
	require.Equal(t, map[string][]string{"B": {"A", "D"}, "A": {"B", "C", "D"}, "D": {"A", "B"}, "E": {"E"}, "C": {"A"}}, adj)
	nodes, err := gr.ScanNodes(ctx, "", 0)
	require.NoError(t, err)
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	require.Equal(t, []string{"A", "B", "C", "D", "E"}, ids)
	edges, err := gr.ScanEdges(ctx, adapters.Edge{}, 0)
	require.NoError(t, err)
	var pairs [][2]string
	for _, e := range edges {
		pairs = append(pairs, [2]string{e.Src, e.Tgt})
	}
	require.Equal(t, [][2]string{{"A", "B"}, {"A", "C"}, {"A", "D"}, {"B", "D"}, {"E", "E"}}, pairs)
}

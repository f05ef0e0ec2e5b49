package json

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func p(kv ...string) adapters.Props {
	out := adapters.Props{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = []byte(kv[i+1])
	}
	return out
}

func TestGraphOps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	g, err := b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)

	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{
		{ID: "A", Props: p("entity_id", `"A"`, "source_id", `"c1<SEP>c2"`)},
		{ID: "B", Props: p("entity_id", `"B"`)},
	}))
	// Merge: new keys are added, old ones kept.
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "A", Props: p("description", `"first"`)}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{
		{Src: "A", Tgt: "B", Props: p("weight", "1.0", "source_id", `"c2"`)},
		{Src: "C", Tgt: "A", Props: p("weight", "2.0")}, // C is created with no properties
		{Src: "D", Tgt: "D", Props: p("weight", "0.5")}, // self-loop
	}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "B", Tgt: "A", Props: p("keywords", `"k"`)}}))

	nodes, err := g.GetNodes(ctx, []string{"A", "C", "missing"})
	require.NoError(t, err)
	require.Equal(t, p("entity_id", `"A"`, "source_id", `"c1<SEP>c2"`, "description", `"first"`), nodes[0])
	require.Equal(t, adapters.Props{}, nodes[1])
	require.Nil(t, nodes[2])

	edges, err := g.GetEdges(ctx, []adapters.Edge{{Src: "B", Tgt: "A"}, {Src: "A", Tgt: "D"}})
	require.NoError(t, err)
	require.Equal(t, p("weight", "1.0", "source_id", `"c2"`, "keywords", `"k"`), edges[0])
	require.Nil(t, edges[1])

	has, err := g.HasEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "C"}, {Src: "B", Tgt: "C"}})
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, has)
	deg, err := g.NodeDegrees(ctx, []string{"A", "B", "D", "missing"})
	require.NoError(t, err)
	require.Equal(t, []int{2, 1, 2, 0}, deg)
	edeg, err := g.EdgeDegrees(ctx, []adapters.Edge{{Src: "B", Tgt: "A"}, {Src: "x", Tgt: "y"}})
	require.NoError(t, err)
	require.Equal(t, []int{3, 0}, edeg)

	ne, err := g.GetNodesEdges(ctx, []string{"A", "missing"})
	require.NoError(t, err)
	require.Equal(t, []adapters.NodeEdges{
		{Found: true, Edges: []adapters.Edge{{Src: "A", Tgt: "B"}, {Src: "A", Tgt: "C"}}},
		{Found: false, Edges: []adapters.Edge{}},
	}, ne)

	labels, err := g.AllLabels(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"A", "B", "C", "D"}, labels)
	pop, err := g.PopularLabels(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, []string{"A", "D", "B"}, pop)
	found, err := g.SearchLabels(ctx, "a", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"A"}, found)

	sn, err := g.ScanNodes(ctx, "A", 2)
	require.NoError(t, err)
	require.Equal(t, []string{"B", "C"}, []string{sn[0].ID, sn[1].ID})
	se, err := g.ScanEdges(ctx, adapters.Edge{}, 0)
	require.NoError(t, err)
	require.Len(t, se, 3)
	require.Equal(t, []string{"A-B", "A-C", "D-D"},
		[]string{se[0].Src + "-" + se[0].Tgt, se[1].Src + "-" + se[1].Tgt, se[2].Src + "-" + se[2].Tgt})
	se, err = g.ScanEdges(ctx, adapters.Edge{Src: "A", Tgt: "B"}, 1)
	require.NoError(t, err)
	require.Len(t, se, 1)
	require.Equal(t, "C", se[0].Tgt)

	byChunk, err := g.NodesByChunkIDs(ctx, []string{"c2"})
	require.NoError(t, err)
	require.Len(t, byChunk, 1)
	require.Equal(t, "A", byChunk[0].ID)
	eByChunk, err := g.EdgesByChunkIDs(ctx, []string{"c2", "zz"})
	require.NoError(t, err)
	require.Len(t, eByChunk, 1)

	requireCode(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "E", Props: p("x", `{"a":1}`)}}), adapters.ErrInvalid, "invalid_property")

	// Deleting a node removes its edges; missing ids are ignored.
	require.NoError(t, g.DeleteNodes(ctx, []string{"A", "missing"}))
	require.NoError(t, g.DeleteEdges(ctx, []adapters.Edge{{Src: "D", Tgt: "D"}, {Src: "q", Tgt: "r"}}))
	n, e, err := g.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]int64{3, 0}, [2]int64{n, e})
	deg, err = g.NodeDegrees(ctx, []string{"B", "D"})
	require.NoError(t, err)
	require.Equal(t, []int{0, 0}, deg)

	crash(t, b)
	b = mustOpen(t, dir)
	defer b.Close(ctx)
	g, err = b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	n, e, err = g.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]int64{3, 0}, [2]int64{n, e})
	require.NoError(t, g.Drop(ctx))
	n, _, err = g.Counts(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestKnowledgeGraph(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	g, err := b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{
		{Src: "A", Tgt: "B", Props: p("weight", "1.0")},
		{Src: "B", Tgt: "C", Props: p("weight", "1.0")},
	}))
	kg, err := g.KnowledgeGraph(ctx, "*", 3, 10)
	require.NoError(t, err)
	require.Len(t, kg.Nodes, 3)
	require.Len(t, kg.Edges, 2)
	require.False(t, kg.IsTruncated)
}

// Ids and values GraphML cannot hold are refused before anything is stored;
// those it can hold (tab, LF, CR, the rest of Unicode) and empty strings
// survive a flush and a restart unchanged (issue 14 #1, #2).
func TestGraphTextSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	refused := []struct {
		name  string
		nodes []adapters.Node
		edges []adapters.EdgeData
		has   string
	}{
		{"control char in node id", []adapters.Node{{ID: "a\x01"}}, nil, "U+0001"},
		{"NUL in node id", []adapters.Node{{ID: "\x00"}}, nil, "U+0000"},
		{"U+FFFE in node id", []adapters.Node{{ID: "x\uFFFE"}}, nil, "U+FFFE"},
		{"U+FFFF in edge target", nil, []adapters.EdgeData{{Src: "a", Tgt: "\uFFFF"}}, "U+FFFF"},
		{"invalid UTF-8 in edge source", nil, []adapters.EdgeData{{Src: "a\xff", Tgt: "b"}}, "0xFF"},
		{"escaped control char in value", []adapters.Node{{ID: "n", Props: p("description", `"x\u0002"`)}}, nil, "U+0002"},
		{"lone surrogate in value", []adapters.Node{{ID: "n", Props: p("description", `"\ud800"`)}}, nil, `\ud800`},
		{"control char in property name", []adapters.Node{{ID: "n", Props: p("k\x1f", `"v"`)}}, nil, "U+001F"},
		{"control char in edge value", nil, []adapters.EdgeData{{Src: "a", Tgt: "b", Props: p("keywords", `"\u001b"`)}}, "U+001B"},
	}
	dir := t.TempDir()
	b := mustOpen(t, dir)
	g, err := b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if tc.nodes != nil {
				err = g.UpsertNodes(ctx, tc.nodes)
			} else {
				err = g.UpsertEdges(ctx, tc.edges)
			}
			requireCode(t, err, adapters.ErrInvalid, "invalid_character")
			require.Contains(t, err.Error(), tc.has)
		})
	}
	kept := []string{"tab\there", "line\nfeed", "carriage\rreturn", "\u00e9\u4e2d\U0001F600", " spaced ", "<&>\"'"}
	var nodes []adapters.Node
	for i, id := range kept {
		nodes = append(nodes, adapters.Node{ID: id, Props: p("description", `""`, "entity_type", `"`+strings.Repeat("t", i)+`"`)})
	}
	require.NoError(t, g.UpsertNodes(ctx, nodes))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: kept[0], Tgt: kept[1], Props: p("keywords", `""`, "weight", "1.0")}}))
	n, e, err := g.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]int64{int64(len(kept)), 1}, [2]int64{n, e}, "nothing refused was stored")
	require.NoError(t, b.Close(ctx))

	b = mustOpen(t, dir)
	defer b.Close(ctx)
	g, err = b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	got, err := g.GetNodes(ctx, kept)
	require.NoError(t, err)
	for i, id := range kept {
		require.NotNil(t, got[i], "node %q", id)
		require.JSONEq(t, `""`, string(got[i]["description"]), "node %q: the empty string is kept", id)
	}
	props, err := g.GetEdges(ctx, []adapters.Edge{{Src: kept[1], Tgt: kept[0]}})
	require.NoError(t, err)
	require.JSONEq(t, `""`, string(props[0]["keywords"]))
}

// TestGraphNetworkXOrder pins neighbour order, edge listing order and
// orientation to what networkx 2.8 (nx.Graph, read_graphml) gives for the
// same calls; the expected values were printed by networkx itself.
func TestGraphNetworkXOrder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	open := func(b *Backend) *graphStore {
		g, err := b.Graph(ctx, ns("chunk_entity_relation"))
		require.NoError(t, err)
		return g.(*graphStore)
	}
	g := open(b)
	e := func(src, tgt string) adapters.EdgeData {
		return adapters.EdgeData{Src: src, Tgt: tgt, Props: adapters.Props{}}
	}
	check := func(g *graphStore, what string, nodes []string, edges [][2]string, adj map[string][]string) {
		t.Helper()
		ns, _, err := g.ScanNodesStorageOrder(ctx, "", 0)
		require.NoError(t, err)
		var gotNodes []string
		for _, n := range ns {
			gotNodes = append(gotNodes, n.ID)
		}
		require.Equal(t, nodes, gotNodes, "%s: G.nodes()", what)
		es, _, err := g.ScanEdgesStorageOrder(ctx, "", 0)
		require.NoError(t, err)
		var gotEdges [][2]string
		for _, e := range es {
			gotEdges = append(gotEdges, [2]string{e.Src, e.Tgt})
		}
		require.Equal(t, edges, gotEdges, "%s: G.edges()", what)
		ne, err := g.GetNodesEdges(ctx, nodes)
		require.NoError(t, err)
		for i, id := range nodes {
			var nbs []string
			for _, e := range ne[i].Edges {
				require.Equal(t, id, e.Src)
				nbs = append(nbs, e.Tgt)
			}
			require.Equal(t, adj[id], nbs, "%s: G.adj[%s]", what, id)
		}
	}

	// G.add_node('B'); G.add_node('A'); G.add_edge('A','B'); G.add_edge('C','A')
	// G.add_edge('B','D'); G.add_edge('D','A'); G.add_edge('A','C') (exists)
	// G.add_edge('E','E')
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "B"}, {ID: "A"}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{e("A", "B"), e("C", "A"), e("B", "D")}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{e("D", "A"), e("A", "C"), e("E", "E")}))
	check(g, "inserted", []string{"B", "A", "C", "D", "E"},
		[][2]string{{"B", "A"}, {"B", "D"}, {"A", "C"}, {"A", "D"}, {"E", "E"}},
		map[string][]string{"B": {"A", "D"}, "A": {"B", "C", "D"}, "C": {"A"}, "D": {"B", "A"}, "E": {"E"}})

	// G.remove_edge('A','B'); G.add_edge('B','A'): the edge moves to the end.
	require.NoError(t, g.DeleteEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{e("B", "A")}))
	check(g, "edge re-added", []string{"B", "A", "C", "D", "E"},
		[][2]string{{"B", "D"}, {"B", "A"}, {"A", "C"}, {"A", "D"}, {"E", "E"}},
		map[string][]string{"B": {"D", "A"}, "A": {"C", "D", "B"}, "C": {"A"}, "D": {"B", "A"}, "E": {"E"}})

	// G.remove_node('C'); G.add_edge('A','C'): C comes back last.
	require.NoError(t, g.DeleteNodes(ctx, []string{"C"}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{e("A", "C")}))
	wantNodes := []string{"B", "A", "D", "E", "C"}
	wantEdges := [][2]string{{"B", "D"}, {"B", "A"}, {"A", "D"}, {"A", "C"}, {"E", "E"}}
	check(g, "node re-added", wantNodes, wantEdges,
		map[string][]string{"B": {"D", "A"}, "A": {"D", "B", "C"}, "D": {"B", "A"}, "E": {"E"}, "C": {"A"}})

	// nx.write_graphml then nx.read_graphml: read_graphml adds edges in file
	// order, so A's neighbours follow the file.
	require.NoError(t, b.Close(ctx))
	b = mustOpen(t, dir)
	check(open(b), "reloaded", wantNodes, wantEdges,
		map[string][]string{"B": {"D", "A"}, "A": {"B", "D", "C"}, "D": {"B", "A"}, "E": {"E"}, "C": {"A"}})
	require.NoError(t, b.Close(ctx))
}

// TestGraphBatchFirstMention: within one batch a new node or edge takes the
// place of its first mention (NetworkX's loop of add_edge calls), with the
// last mention's properties.
func TestGraphBatchFirstMention(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	g, err := b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{
		{Src: "x", Tgt: "a", Props: p("v", "1")},
		{Src: "x", Tgt: "b", Props: p("v", "1")},
		{Src: "a", Tgt: "x", Props: p("v", "2")},
	}))
	ne, err := g.GetNodesEdges(ctx, []string{"x"})
	require.NoError(t, err)
	require.Equal(t, []adapters.Edge{{Src: "x", Tgt: "a"}, {Src: "x", Tgt: "b"}}, ne[0].Edges)
	got, err := g.GetEdges(ctx, []adapters.Edge{{Src: "x", Tgt: "a"}})
	require.NoError(t, err)
	require.Equal(t, p("v", "2"), got[0])
	nodes, _, err := g.(adapters.StorageOrderScanner).ScanNodesStorageOrder(ctx, "", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"x", "a", "b"}, []string{nodes[0].ID, nodes[1].ID, nodes[2].ID})
}

// TestGraphStorageOrderPaging: cursors page through the NetworkX order and
// survive the deletion of the item they point at.
func TestGraphStorageOrderPaging(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	gr, err := b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	g := gr.(adapters.StorageOrderScanner)
	var edges []adapters.EdgeData
	for _, pr := range [][2]string{{"z", "y"}, {"y", "x"}, {"z", "x"}, {"w", "z"}, {"v", "v"}} {
		edges = append(edges, adapters.EdgeData{Src: pr[0], Tgt: pr[1]})
	}
	require.NoError(t, gr.UpsertEdges(ctx, edges))
	all, next, err := g.ScanEdgesStorageOrder(ctx, "", 0)
	require.NoError(t, err)
	require.Empty(t, next)
	var paged []adapters.EdgeData
	cursor := ""
	for i := 0; ; i++ {
		require.Less(t, i, 10, "paging does not end")
		page, next, err := g.ScanEdgesStorageOrder(ctx, cursor, 2)
		require.NoError(t, err)
		paged = append(paged, page...)
		if i == 0 {
			// The cursor's own edge goes away between pages.
			require.NoError(t, gr.DeleteEdges(ctx, []adapters.Edge{{Src: page[1].Src, Tgt: page[1].Tgt}}))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, all, paged)
	require.Equal(t, [][2]string{{"z", "y"}, {"z", "x"}, {"z", "w"}, {"y", "x"}, {"v", "v"}},
		func() (out [][2]string) {
			for _, e := range all {
				out = append(out, [2]string{e.Src, e.Tgt})
			}
			return out
		}())
	_, _, err = g.ScanNodesStorageOrder(ctx, "nope", 2)
	requireCode(t, err, adapters.ErrInvalid, "invalid_cursor")
}

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

package adapterstest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// props builds Props from Go values.
func props(t *testing.T, kv map[string]any) adapters.Props {
	t.Helper()
	p := adapters.Props{}
	for k, v := range kv {
		if r, ok := v.(json.RawMessage); ok {
			p[k] = r
			continue
		}
		p[k] = raw(t, v)
	}
	return p
}

func node(t *testing.T, id string, kv map[string]any) adapters.Node {
	return adapters.Node{ID: id, Props: props(t, kv)}
}

func edge(t *testing.T, src, tgt string, kv map[string]any) adapters.EdgeData {
	return adapters.EdgeData{Src: src, Tgt: tgt, Props: props(t, kv)}
}

// requireProps compares properties as JSON values.
func requireProps(t *testing.T, want map[string]any, got adapters.Props, msg string) {
	t.Helper()
	require.NotNil(t, got, msg)
	require.Len(t, got, len(want), "%s: %v", msg, got)
	for k, v := range want {
		require.Contains(t, got, k, msg)
		requireJSONEq(t, raw(t, v), got[k], "%s: property %s", msg, k)
	}
}

// kgFixture: H has degree 4, A 3, B/C/F 2, D/E/G 1, Z 0.
var kgFixture = [][2]string{{"H", "A"}, {"H", "B"}, {"H", "C"}, {"H", "D"}, {"A", "B"}, {"A", "E"}, {"C", "F"}, {"F", "G"}}

func seedKG(t *testing.T, g adapters.Graph) {
	t.Helper()
	var edges []adapters.EdgeData
	for _, e := range kgFixture {
		edges = append(edges, edge(t, e[0], e[1], obj{"weight": json.RawMessage("1.0")}))
	}
	require.NoError(t, g.UpsertEdges(ctx(t), edges))
	var nodes []adapters.Node
	for _, id := range []string{"H", "A", "B", "C", "D", "E", "F", "G", "Z"} {
		nodes = append(nodes, node(t, id, obj{"entity_id": id}))
	}
	require.NoError(t, g.UpsertNodes(ctx(t), nodes))
}

func testGraph(t *testing.T, s *suite) {
	t.Run("UpsertNodeMerges", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{node(t, "n", obj{"a": "1", "b": "x"})}))
		require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{node(t, "n", obj{"b": "y", "c": "z"})}))
		got, err := g.GetNodes(ctx(t), []string{"n", "missing"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		requireProps(t, obj{"a": "1", "b": "y", "c": "z"}, got[0], "merged node")
		require.Nil(t, got[1], "a missing node answers null")

		// Within one call the last write per id wins.
		require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{node(t, "m", obj{"v": "1"}), node(t, "m", obj{"v": "2"})}))
		got, err = g.GetNodes(ctx(t), []string{"m"})
		require.NoError(t, err)
		requireProps(t, obj{"v": "2"}, got[0], "last write wins")
		has, err := g.HasNodes(ctx(t), []string{"m", "n", "nope"})
		require.NoError(t, err)
		require.Equal(t, []bool{true, true, false}, has)
	})

	t.Run("NumberTypes", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		in := obj{"i": json.RawMessage("1"), "f": json.RawMessage("1.0"), "w": json.RawMessage("2.5"),
			"big": json.RawMessage("1700000000"), "s": "1.0"}
		require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{node(t, "n", in)}))
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, "n", "m", in)}))
		nodes, err := g.GetNodes(ctx(t), []string{"n"})
		require.NoError(t, err)
		edges, err := g.GetEdges(ctx(t), []adapters.Edge{{Src: "n", Tgt: "m"}})
		require.NoError(t, err)
		for what, p := range map[string]adapters.Props{"node": nodes[0], "edge": edges[0]} {
			requireInt(t, p["i"], 1, what+" i")
			requireInt(t, p["big"], 1700000000, what+" big")
			requireFloat(t, p["f"], 1, what+" f")
			requireFloat(t, p["w"], 2.5, what+" w")
			requireJSONEq(t, []byte(`"1.0"`), p["s"], what+" s stays a string")
		}
	})

	t.Run("EdgesUndirected", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, "a", "b", obj{"weight": json.RawMessage("1.5"), "d": "x"})}))
		has, err := g.HasEdges(ctx(t), []adapters.Edge{{Src: "a", Tgt: "b"}, {Src: "b", Tgt: "a"}, {Src: "a", Tgt: "c"}, {Src: "x", Tgt: "y"}})
		require.NoError(t, err)
		require.Equal(t, []bool{true, true, false, false}, has)

		// Upserting the reverse orientation merges into the same edge.
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, "b", "a", obj{"d": "y", "k": "z"})}))
		got, err := g.GetEdges(ctx(t), []adapters.Edge{{Src: "b", Tgt: "a"}, {Src: "a", Tgt: "b"}, {Src: "a", Tgt: "zz"}})
		require.NoError(t, err)
		require.Len(t, got, 3)
		want := obj{"weight": json.RawMessage("1.5"), "d": "y", "k": "z"}
		requireProps(t, want, got[0], "edge asked as (b, a)")
		requireProps(t, want, got[1], "edge asked as (a, b)")
		require.Nil(t, got[2])
		nodes, edges, err := g.Counts(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 2, nodes)
		require.EqualValues(t, 1, edges, "one undirected edge")

		// Edge upserts create missing endpoints with no properties.
		np, err := g.GetNodes(ctx(t), []string{"a", "b"})
		require.NoError(t, err)
		for i, p := range np {
			require.NotNil(t, p, "endpoint %d was created", i)
			require.Empty(t, p, "endpoint %d has no properties", i)
		}

		// Self-loops are allowed.
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, "s", "s", obj{"d": "loop"})}))
		has, err = g.HasEdges(ctx(t), []adapters.Edge{{Src: "s", Tgt: "s"}})
		require.NoError(t, err)
		require.Equal(t, []bool{true}, has)
	})

	t.Run("UpsertEdgesLastWinsInBatch", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{
			edge(t, "a", "b", obj{"v": "1"}), edge(t, "b", "a", obj{"v": "2"}),
		}))
		got, err := g.GetEdges(ctx(t), []adapters.Edge{{Src: "a", Tgt: "b"}})
		require.NoError(t, err)
		requireProps(t, obj{"v": "2"}, got[0], "last write per pair wins")
		_, edges, err := g.Counts(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 1, edges)
	})

	t.Run("Degrees", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		deg, err := g.NodeDegrees(ctx(t), []string{"H", "A", "Z", "missing", "G"})
		require.NoError(t, err)
		require.Equal(t, []int{4, 3, 0, 0, 1}, deg, "a missing node has degree 0")
		ed, err := g.EdgeDegrees(ctx(t), []adapters.Edge{{Src: "H", Tgt: "A"}, {Src: "A", Tgt: "H"}, {Src: "G", Tgt: "missing"}, {Src: "x", Tgt: "y"}})
		require.NoError(t, err)
		require.Equal(t, []int{7, 7, 1, 0}, ed)
	})

	t.Run("GetNodesEdges", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		got, err := g.GetNodesEdges(ctx(t), []string{"A", "missing", "Z", "G"})
		require.NoError(t, err)
		require.Len(t, got, 4)
		require.True(t, got[0].Found)
		// The order is the backend's LightRAG storage's (NetworkX insertion
		// order on JSON, id order on PostgreSQL): pinned by each backend's
		// own tests, and below where the two agree.
		require.ElementsMatch(t, []adapters.Edge{{Src: "A", Tgt: "B"}, {Src: "A", Tgt: "E"}, {Src: "A", Tgt: "H"}}, got[0].Edges,
			"(node, neighbour) pairs")
		require.False(t, got[1].Found)
		require.Empty(t, got[1].Edges)
		require.True(t, got[2].Found, "an isolated node is found")
		require.Empty(t, got[2].Edges)
		require.Equal(t, []adapters.Edge{{Src: "G", Tgt: "F"}}, got[3].Edges)
	})

	t.Run("NeighbourOrderWhereBackendsAgree", func(t *testing.T) {
		// Edges added in ascending id order, each pair named from its smaller
		// end: insertion order and id order coincide, so every backend
		// lists neighbours alike, (node, neighbour) whichever end was named.
		g := s.graph(t, ns("graph"))
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{
			edge(t, "a", "b", nil), edge(t, "a", "c", nil), edge(t, "b", "c", nil), edge(t, "c", "d", nil),
		}))
		// Re-upserting in reverse keeps the edge where it was.
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, "c", "a", obj{"w": "2"})}))
		got, err := g.GetNodesEdges(ctx(t), []string{"c", "a", "d"})
		require.NoError(t, err)
		require.Equal(t, []adapters.Edge{{Src: "c", Tgt: "a"}, {Src: "c", Tgt: "b"}, {Src: "c", Tgt: "d"}}, got[0].Edges)
		require.Equal(t, []adapters.Edge{{Src: "a", Tgt: "b"}, {Src: "a", Tgt: "c"}}, got[1].Edges)
		require.Equal(t, []adapters.Edge{{Src: "d", Tgt: "c"}}, got[2].Edges)
	})

	t.Run("DeleteNodes", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		require.NoError(t, g.DeleteNodes(ctx(t), []string{"H", "missing"}))
		has, err := g.HasNodes(ctx(t), []string{"H", "A"})
		require.NoError(t, err)
		require.Equal(t, []bool{false, true}, has)
		hasE, err := g.HasEdges(ctx(t), []adapters.Edge{{Src: "A", Tgt: "H"}, {Src: "H", Tgt: "B"}, {Src: "A", Tgt: "B"}})
		require.NoError(t, err)
		require.Equal(t, []bool{false, false, true}, hasE, "incident edges go with the node")
		deg, err := g.NodeDegrees(ctx(t), []string{"A", "D"})
		require.NoError(t, err)
		require.Equal(t, []int{2, 0}, deg)
		nodes, edges, err := g.Counts(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 8, nodes)
		require.EqualValues(t, 4, edges)
	})

	t.Run("DeleteEdges", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		require.NoError(t, g.DeleteEdges(ctx(t), []adapters.Edge{{Src: "A", Tgt: "H"}, {Src: "B", Tgt: "H"}, {Src: "x", Tgt: "y"}, {Src: "Z", Tgt: "H"}}))
		has, err := g.HasEdges(ctx(t), []adapters.Edge{{Src: "H", Tgt: "A"}, {Src: "A", Tgt: "H"}, {Src: "H", Tgt: "B"}, {Src: "H", Tgt: "C"}})
		require.NoError(t, err)
		require.Equal(t, []bool{false, false, false, true}, has, "either orientation removes the edge")
		hasN, err := g.HasNodes(ctx(t), []string{"A", "B", "H"})
		require.NoError(t, err)
		require.Equal(t, []bool{true, true, true}, hasN, "endpoints stay")
		_, edges, err := g.Counts(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 6, edges)
	})

	t.Run("Labels", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		all, err := g.AllLabels(ctx(t))
		require.NoError(t, err)
		require.Equal(t, []string{"A", "B", "C", "D", "E", "F", "G", "H", "Z"}, all)

		pop, err := g.PopularLabels(ctx(t), 100)
		require.NoError(t, err)
		require.Equal(t, []string{"H", "A", "B", "C", "F", "D", "E", "G", "Z"}, pop, "degree desc, ties by id")
		pop, err = g.PopularLabels(ctx(t), 4)
		require.NoError(t, err)
		require.Equal(t, []string{"H", "A", "B", "C"}, pop)
	})

	t.Run("SearchLabels", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		labels := []string{"Apple", "apple pie", "Pineapple", "big_apple", "APPLE", "Banana", "crab apple tree",
			"Snapple", "pear"}
		var nodes []adapters.Node
		for _, l := range labels {
			nodes = append(nodes, node(t, l, obj{}))
		}
		require.NoError(t, g.UpsertNodes(ctx(t), nodes))
		got, err := g.SearchLabels(ctx(t), "  apple ", 50)
		require.NoError(t, err)
		// exact (1000), prefix (500), then 100-len (+50 at a word start).
		want := []string{"APPLE", "Apple", "apple pie", "big_apple", "crab apple tree", "Snapple", "Pineapple"}
		require.Equal(t, want, got)
		require.Equal(t, want, adapters.SearchLabels(labels, "  apple ", 50), "the reference ranking agrees")
		got, err = g.SearchLabels(ctx(t), "apple", 3)
		require.NoError(t, err)
		require.Equal(t, want[:3], got)
		got, err = g.SearchLabels(ctx(t), "kiwi", 50)
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = g.SearchLabels(ctx(t), "   ", 50)
		require.NoError(t, err)
		require.Empty(t, got, "a blank query matches nothing")
	})

	t.Run("ScanNodes", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		var got []string
		after := ""
		for {
			page, err := g.ScanNodes(ctx(t), after, 4)
			require.NoError(t, err)
			for _, n := range page {
				got = append(got, n.ID)
				requireProps(t, obj{"entity_id": n.ID}, n.Props, "scanned node "+n.ID)
			}
			if len(page) < 4 {
				break
			}
			after = page[len(page)-1].ID
		}
		require.Equal(t, []string{"A", "B", "C", "D", "E", "F", "G", "H", "Z"}, got)
	})

	t.Run("ScanEdges", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		var got []string
		after := adapters.Edge{}
		for {
			page, err := g.ScanEdges(ctx(t), after, 3)
			require.NoError(t, err)
			for _, e := range page {
				require.LessOrEqual(t, e.Src, e.Tgt, "each edge once, src <= tgt")
				got = append(got, e.Src+"-"+e.Tgt)
				requireProps(t, obj{"weight": json.RawMessage("1.0")}, e.Props, "scanned edge")
			}
			if len(page) < 3 {
				break
			}
			last := page[len(page)-1]
			after = adapters.Edge{Src: last.Src, Tgt: last.Tgt}
		}
		require.Equal(t, []string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H", "F-G"}, got)
	})

	t.Run("KnowledgeGraph", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		all := []string{"A", "B", "C", "D", "E", "F", "G", "H", "Z"}
		allEdges := []string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H", "F-G"}
		tests := []struct {
			label           string
			depth, maxNodes int
			nodes, edges    []string
			truncated       bool
		}{
			{"*", 3, 100, all, allEdges, false},
			{"*", 3, 3, []string{"A", "B", "H"}, []string{"A-B", "A-H", "B-H"}, true},
			{"*", 3, 9, all, allEdges, false},
			{"missing", 3, 100, nil, nil, false},
			{"Z", 3, 100, []string{"Z"}, nil, false},
			{"A", 0, 100, []string{"A"}, nil, false},
			{"H", 1, 100, []string{"A", "B", "C", "D", "H"}, []string{"A-B", "A-H", "B-H", "C-H", "D-H"}, false},
			{"H", 2, 100, []string{"A", "B", "C", "D", "E", "F", "H"}, []string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H"}, false},
			{"D", 5, 100, all[:8], allEdges, false},
			{"H", 3, 3, []string{"A", "B", "H"}, []string{"A-B", "A-H", "B-H"}, true},
			{"D", 5, 8, all[:8], allEdges, false},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s depth %d nodes %d", tc.label, tc.depth, tc.maxNodes), func(t *testing.T) {
				kg, err := g.KnowledgeGraph(ctx(t), tc.label, tc.depth, tc.maxNodes)
				require.NoError(t, err)
				var nodes, edges []string
				for _, n := range kg.Nodes {
					nodes = append(nodes, n.ID)
					require.Equal(t, []string{n.ID}, n.Labels)
					requireProps(t, obj{"entity_id": n.ID}, n.Properties, "node "+n.ID)
				}
				for _, e := range kg.Edges {
					edges = append(edges, e.ID)
					require.Equal(t, "DIRECTED", e.Type)
					require.Equal(t, e.Source+"-"+e.Target, e.ID)
					require.LessOrEqual(t, e.Source, e.Target)
					requireProps(t, obj{"weight": json.RawMessage("1.0")}, e.Properties, "edge "+e.ID)
				}
				slices.Sort(nodes)
				slices.Sort(edges)
				require.Equal(t, tc.nodes, nodes)
				require.Equal(t, tc.edges, edges)
				require.Equal(t, tc.truncated, kg.IsTruncated)
			})
		}
		// The top-degree selection of "*" is by degree then id.
		kg, err := g.KnowledgeGraph(ctx(t), "*", 3, 5)
		require.NoError(t, err)
		var nodes []string
		for _, n := range kg.Nodes {
			nodes = append(nodes, n.ID)
		}
		require.ElementsMatch(t, []string{"H", "A", "B", "C", "F"}, nodes)
	})

	t.Run("ByChunkIDs", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		sep := adapters.GraphFieldSep
		require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{
			node(t, "n1", obj{"source_id": "chunk-1" + sep + "chunk-2"}),
			node(t, "n2", obj{"source_id": "chunk-3"}),
			node(t, "n3", obj{"source_id": "chunk-10"}),
			node(t, "n4", obj{"other": "chunk-1"}),
		}))
		require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{
			edge(t, "n1", "n2", obj{"source_id": "chunk-2"}),
			edge(t, "n3", "n2", obj{"source_id": "chunk-3" + sep + "chunk-10"}),
			edge(t, "n1", "n4", obj{"source_id": "chunk-100"}),
		}))
		nodes, err := g.NodesByChunkIDs(ctx(t), []string{"chunk-1", "chunk-3", "nope"})
		require.NoError(t, err)
		var got []string
		for _, n := range nodes {
			got = append(got, n.ID)
			require.Contains(t, n.Props, "source_id")
		}
		slices.Sort(got)
		require.Equal(t, []string{"n1", "n2"}, got, "exact chunk ids after splitting on <SEP>")

		edges, err := g.EdgesByChunkIDs(ctx(t), []string{"chunk-10"})
		require.NoError(t, err)
		require.Len(t, edges, 1)
		pair := []string{edges[0].Src, edges[0].Tgt}
		slices.Sort(pair)
		require.Equal(t, []string{"n2", "n3"}, pair)
		requireProps(t, obj{"source_id": "chunk-3" + sep + "chunk-10"}, edges[0].Props, "edge by chunk")

		none, err := g.NodesByChunkIDs(ctx(t), nil)
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("Drop", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		seedKG(t, g)
		require.NoError(t, g.Drop(ctx(t)))
		nodes, edges, err := g.Counts(ctx(t))
		require.NoError(t, err)
		require.Zero(t, nodes)
		require.Zero(t, edges)
		all, err := g.AllLabels(ctx(t))
		require.NoError(t, err)
		require.Empty(t, all)
		require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{node(t, "again", obj{})}))
		nodes, _, err = g.Counts(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 1, nodes)
	})
}

// requireInt checks a raw JSON number is the integer want, written as one.
func requireInt(t *testing.T, r json.RawMessage, want int64, what string) {
	t.Helper()
	require.NotNil(t, r, what)
	var n json.Number
	require.NoError(t, json.Unmarshal(r, &n), "%s = %s", what, r)
	i, err := n.Int64()
	require.NoError(t, err, "%s = %s must stay an integer", what, r)
	require.Equal(t, want, i, what)
}

// requireFloat checks a raw JSON number equals want and is still written as a
// float ("1.0", not "1"), which the GraphML writer needs for attr.type.
func requireFloat(t *testing.T, r json.RawMessage, want float64, what string) {
	t.Helper()
	require.NotNil(t, r, what)
	var f float64
	require.NoError(t, json.Unmarshal(r, &f), "%s = %s", what, r)
	require.InDelta(t, want, f, 1e-12, what)
	require.True(t, strings.ContainsAny(string(r), ".eE"), "%s = %s must stay a float", what, r)
}

package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// memGraph is a minimal undirected GraphView for testing the fallback.
type memGraph struct {
	adj   map[string]map[string]bool
	props map[string]adapters.Props
	fail  error
}

func newMemGraph(edges ...[2]string) *memGraph {
	g := &memGraph{adj: map[string]map[string]bool{}, props: map[string]adapters.Props{}}
	for _, e := range edges {
		g.addEdge(e[0], e[1])
	}
	return g
}

func (g *memGraph) addNode(id string) {
	if g.adj[id] == nil {
		g.adj[id] = map[string]bool{}
		g.props[id] = adapters.Props{"entity_id": json.RawMessage(adapters.MarshalString(id))}
	}
}

func (g *memGraph) addEdge(a, b string) {
	g.addNode(a)
	g.addNode(b)
	g.adj[a][b], g.adj[b][a] = true, true
}

func (g *memGraph) degree(id string) int {
	d := len(g.adj[id])
	if g.adj[id][id] {
		d++ // NetworkX counts a self-loop twice
	}
	return d
}

func (g *memGraph) AllLabels(context.Context) ([]string, error) {
	var out []string
	for id := range g.adj {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, g.fail
}

func (g *memGraph) PopularLabels(ctx context.Context, limit int) ([]string, error) {
	ids, _ := g.AllLabels(ctx)
	slices.SortStableFunc(ids, func(a, b string) int { return g.degree(b) - g.degree(a) })
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, g.fail
}

func (g *memGraph) NodeDegrees(_ context.Context, ids []string) ([]int, error) {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = g.degree(id)
	}
	return out, g.fail
}

func (g *memGraph) GetNodes(_ context.Context, ids []string) ([]adapters.Props, error) {
	out := make([]adapters.Props, len(ids))
	for i, id := range ids {
		out[i] = g.props[id]
	}
	return out, g.fail
}

func (g *memGraph) GetNodesEdges(_ context.Context, ids []string) ([]adapters.NodeEdges, error) {
	out := make([]adapters.NodeEdges, len(ids))
	for i, id := range ids {
		nbs, ok := g.adj[id]
		if !ok {
			continue
		}
		out[i].Found = true
		var sorted []string
		for nb := range nbs {
			sorted = append(sorted, nb)
		}
		slices.Sort(sorted)
		for _, nb := range sorted {
			out[i].Edges = append(out[i].Edges, adapters.Edge{Src: id, Tgt: nb})
		}
	}
	return out, g.fail
}

func (g *memGraph) GetEdges(_ context.Context, pairs []adapters.Edge) ([]adapters.Props, error) {
	out := make([]adapters.Props, len(pairs))
	for i, p := range pairs {
		if g.adj[p.Src][p.Tgt] {
			out[i] = adapters.Props{"weight": json.RawMessage("1.0")}
		}
	}
	return out, g.fail
}

func kgIDs(kg adapters.KnowledgeGraph) (nodes, edges []string) {
	for _, n := range kg.Nodes {
		nodes = append(nodes, n.ID)
	}
	for _, e := range kg.Edges {
		edges = append(edges, e.ID)
	}
	return nodes, edges
}

func TestBuildKnowledgeGraph(t *testing.T) {
	// hub H has degree 4; A has degree 3; B, C degree 2; D, E degree 1; Z is isolated.
	g := newMemGraph(
		[2]string{"H", "A"}, [2]string{"H", "B"}, [2]string{"H", "C"}, [2]string{"H", "D"},
		[2]string{"A", "B"}, [2]string{"A", "E"}, [2]string{"C", "F"}, [2]string{"F", "G"},
	)
	g.addNode("Z")

	tests := []struct {
		name      string
		label     string
		depth     int
		maxNodes  int
		nodes     []string
		edges     []string
		truncated bool
	}{
		{"star all", "*", 3, 100, []string{"H", "A", "B", "C", "F", "D", "E", "G", "Z"},
			[]string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H", "F-G"}, false},
		{"star cut", "*", 3, 3, []string{"H", "A", "B"}, []string{"A-B", "A-H", "B-H"}, true},
		{"star exact", "*", 3, 9, []string{"H", "A", "B", "C", "F", "D", "E", "G", "Z"},
			[]string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H", "F-G"}, false},
		{"star zero", "*", 3, 0, nil, nil, true},
		{"missing label", "nope", 3, 100, nil, nil, false},
		{"isolated", "Z", 3, 100, []string{"Z"}, nil, false},
		{"bfs depth 0", "A", 0, 100, []string{"A"}, nil, false},
		// level 1 of H sorted by degree desc then id: A(3), B(2), C(2), D(1)
		{"bfs depth 1", "H", 1, 100, []string{"H", "A", "B", "C", "D"},
			[]string{"A-B", "A-H", "B-H", "C-H", "D-H"}, false},
		{"bfs depth 2", "H", 2, 100, []string{"H", "A", "B", "C", "D", "F", "E"},
			[]string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H"}, false},
		{"bfs all", "D", 5, 100, []string{"D", "H", "A", "B", "C", "F", "E", "G"},
			[]string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H", "F-G"}, false},
		// cut inside level 1: C and D are left, so truncated
		{"bfs cut in level", "H", 3, 3, []string{"H", "A", "B"}, []string{"A-B", "A-H", "B-H"}, true},
		// the whole component is exactly maxNodes: nothing left, not truncated
		{"bfs exact", "D", 5, 8, []string{"D", "H", "A", "B", "C", "F", "E", "G"},
			[]string{"A-B", "A-E", "A-H", "B-H", "C-F", "C-H", "D-H", "F-G"}, false},
		{"bfs zero", "H", 3, 0, nil, nil, true},
		{"negative args", "H", -1, -5, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kg, err := adapters.BuildKnowledgeGraph(context.Background(), g, tc.label, tc.depth, tc.maxNodes)
			require.NoError(t, err)
			nodes, edges := kgIDs(kg)
			require.Equal(t, tc.nodes, nodes)
			require.Equal(t, tc.edges, edges)
			require.Equal(t, tc.truncated, kg.IsTruncated)
			require.NotNil(t, kg.Nodes)
			require.NotNil(t, kg.Edges)
		})
	}
}

func TestBuildKnowledgeGraphShape(t *testing.T) {
	g := newMemGraph([2]string{"b", "a"}, [2]string{"a", "a"})
	kg, err := adapters.BuildKnowledgeGraph(context.Background(), g, "b", 2, 10)
	require.NoError(t, err)
	require.Len(t, kg.Nodes, 2)
	for _, n := range kg.Nodes {
		require.Equal(t, []string{n.ID}, n.Labels)
		require.JSONEq(t, string(adapters.MarshalString(n.ID)), string(n.Properties["entity_id"]))
	}
	require.Len(t, kg.Edges, 2)
	require.Equal(t, adapters.KGEdge{ID: "a-a", Type: "DIRECTED", Source: "a", Target: "a",
		Properties: adapters.Props{"weight": json.RawMessage("1.0")}}, kg.Edges[0])
	require.Equal(t, "a-b", kg.Edges[1].ID)
	require.Equal(t, "a", kg.Edges[1].Source)
	require.Equal(t, "b", kg.Edges[1].Target)
}

// A node at maxDepth whose neighbour is visited later in the same level
// counts as "unexplored" (LightRAG checks at visit time), so the graph reads
// as truncated although every node was returned.
func TestBuildKnowledgeGraphTruncationQuirk(t *testing.T) {
	g := newMemGraph([2]string{"S", "A"}, [2]string{"S", "B"}, [2]string{"A", "B"})
	kg, err := adapters.BuildKnowledgeGraph(context.Background(), g, "S", 1, 3)
	require.NoError(t, err)
	nodes, _ := kgIDs(kg)
	require.Equal(t, []string{"S", "A", "B"}, nodes)
	require.True(t, kg.IsTruncated)

	// The same with room to spare: not truncated (depth cut alone never is).
	kg, err = adapters.BuildKnowledgeGraph(context.Background(), g, "S", 1, 4)
	require.NoError(t, err)
	require.False(t, kg.IsTruncated)
}

func TestBuildKnowledgeGraphErrors(t *testing.T) {
	boom := errors.New("boom")
	g := newMemGraph([2]string{"a", "b"})
	g.fail = boom
	for _, label := range []string{"*", "a"} {
		_, err := adapters.BuildKnowledgeGraph(context.Background(), g, label, 2, 10)
		require.ErrorIs(t, err, boom)
		require.True(t, strings.HasPrefix(err.Error(), "knowledge graph: "), err.Error())
	}
}

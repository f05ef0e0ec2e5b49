package proxyclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hybridrag/storage-proxy/adapters"
)

// graph is a graph namespace.
type graph struct {
	c    *Client
	path string
	q    url.Values
}

func (g *graph) query(kv ...string) url.Values {
	s := store{q: g.q}
	return s.query(kv...)
}

func (g *graph) post(ctx context.Context, sub string, in, out any) error {
	return g.c.do(ctx, http.MethodPost, g.path+sub, g.query(), in, out)
}

func (g *graph) get(ctx context.Context, sub string, q url.Values, out any) error {
	return g.c.do(ctx, http.MethodGet, g.path+sub, q, nil, out)
}

func ids(v []string) map[string]any          { return map[string]any{"ids": nonNil(v)} }
func pairs(v []adapters.Edge) map[string]any { return map[string]any{"pairs": nonNil(v)} }

func (g *graph) HasNodes(ctx context.Context, v []string) ([]bool, error) {
	var out struct {
		Exists []bool `json:"exists"`
	}
	err := g.post(ctx, "/nodes/has", ids(v), &out)
	return out.Exists, err
}

func (g *graph) HasEdges(ctx context.Context, p []adapters.Edge) ([]bool, error) {
	var out struct {
		Exists []bool `json:"exists"`
	}
	err := g.post(ctx, "/edges/has", pairs(p), &out)
	return out.Exists, err
}

func (g *graph) NodeDegrees(ctx context.Context, v []string) ([]int, error) {
	var out struct {
		Degrees []int `json:"degrees"`
	}
	err := g.post(ctx, "/nodes/degrees", ids(v), &out)
	return out.Degrees, err
}

func (g *graph) EdgeDegrees(ctx context.Context, p []adapters.Edge) ([]int, error) {
	var out struct {
		Degrees []int `json:"degrees"`
	}
	err := g.post(ctx, "/edges/degrees", pairs(p), &out)
	return out.Degrees, err
}

func (g *graph) GetNodes(ctx context.Context, v []string) ([]adapters.Props, error) {
	var out struct {
		Nodes []adapters.Props `json:"nodes"`
	}
	err := g.post(ctx, "/nodes/get", ids(v), &out)
	return out.Nodes, err
}

func (g *graph) GetEdges(ctx context.Context, p []adapters.Edge) ([]adapters.Props, error) {
	var out struct {
		Edges []adapters.Props `json:"edges"`
	}
	err := g.post(ctx, "/edges/get", pairs(p), &out)
	return out.Edges, err
}

func (g *graph) GetNodesEdges(ctx context.Context, v []string) ([]adapters.NodeEdges, error) {
	var out struct {
		Edges []adapters.NodeEdges `json:"edges"`
	}
	err := g.post(ctx, "/nodes/edges", ids(v), &out)
	return out.Edges, err
}

func (g *graph) UpsertNodes(ctx context.Context, nodes []adapters.Node) error {
	return g.post(ctx, "/nodes/upsert", map[string]any{"nodes": nonNil(nodes)}, nil)
}

func (g *graph) UpsertEdges(ctx context.Context, edges []adapters.EdgeData) error {
	return g.post(ctx, "/edges/upsert", map[string]any{"edges": nonNil(edges)}, nil)
}

func (g *graph) DeleteNodes(ctx context.Context, v []string) error {
	return g.post(ctx, "/nodes/delete", ids(v), nil)
}

func (g *graph) DeleteEdges(ctx context.Context, p []adapters.Edge) error {
	return g.post(ctx, "/edges/delete", pairs(p), nil)
}

type labelsOut struct {
	Labels []string `json:"labels"`
}

func (g *graph) AllLabels(ctx context.Context) ([]string, error) {
	var out labelsOut
	err := g.get(ctx, "/labels", g.query(), &out)
	return out.Labels, err
}

func (g *graph) PopularLabels(ctx context.Context, limit int) ([]string, error) {
	var out labelsOut
	err := g.get(ctx, "/labels/popular", g.query("limit", strconv.Itoa(limit)), &out)
	return out.Labels, err
}

func (g *graph) SearchLabels(ctx context.Context, q string, limit int) ([]string, error) {
	var out labelsOut
	err := g.get(ctx, "/labels/search", g.query("q", q, "limit", strconv.Itoa(limit)), &out)
	return out.Labels, err
}

func (g *graph) ScanNodes(ctx context.Context, after string, limit int) ([]adapters.Node, error) {
	var out struct {
		Nodes []adapters.Node `json:"nodes"`
	}
	err := g.get(ctx, "/nodes", g.query("after", after, "limit", strconv.Itoa(limit)), &out)
	return out.Nodes, err
}

func (g *graph) ScanEdges(ctx context.Context, after adapters.Edge, limit int) ([]adapters.EdgeData, error) {
	var out struct {
		Edges []adapters.EdgeData `json:"edges"`
	}
	q := g.query("after_src", after.Src, "after_tgt", after.Tgt, "limit", strconv.Itoa(limit))
	err := g.get(ctx, "/edges", q, &out)
	return out.Edges, err
}

func (g *graph) KnowledgeGraph(ctx context.Context, label string, maxDepth, maxNodes int) (adapters.KnowledgeGraph, error) {
	var out adapters.KnowledgeGraph
	in := map[string]any{"label": label, "max_depth": maxDepth, "max_nodes": maxNodes}
	err := g.post(ctx, "/knowledge-graph", in, &out)
	return out, err
}

func (g *graph) NodesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.Node, error) {
	var out struct {
		Nodes []adapters.Node `json:"nodes"`
	}
	err := g.post(ctx, "/nodes/by-chunk-ids", map[string]any{"chunk_ids": nonNil(chunkIDs)}, &out)
	return out.Nodes, err
}

func (g *graph) EdgesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.EdgeData, error) {
	var out struct {
		Edges []adapters.EdgeData `json:"edges"`
	}
	err := g.post(ctx, "/edges/by-chunk-ids", map[string]any{"chunk_ids": nonNil(chunkIDs)}, &out)
	return out.Edges, err
}

func (g *graph) Counts(ctx context.Context) (int64, int64, error) {
	var out struct {
		Nodes int64 `json:"nodes"`
		Edges int64 `json:"edges"`
	}
	err := g.get(ctx, "", g.query(), &out)
	return out.Nodes, out.Edges, err
}

func (g *graph) Drop(ctx context.Context) error {
	return g.c.do(ctx, http.MethodDelete, g.path, g.query(), nil, nil)
}

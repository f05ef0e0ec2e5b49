package json

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// NetworkX order. LightRAG's NetworkXStorage answers from an nx.Graph, whose
// dicts keep insertion order, and LightRAG builds query context in the
// order it gets (ties included), so the JSON backend gives the same:
//
//   - nodes in insertion order; an upsert of an existing node keeps its
//     place, a delete and re-add moves it to the end;
//   - a node's neighbours in the order their edges were added: an upsert of
//     an existing edge, in either orientation, keeps its place (nx.Graph is
//     undirected: add_edge(v, u) updates the dict entry adj[u][v]);
//   - whole-graph edge listings (G.edges(), and so get_all_edges and the
//     GraphML file) go node by node, each edge once from the endpoint
//     inserted first, then by edge insertion order. An edge's direction is
//     therefore that of its endpoints' node order, not the orientation of
//     the call that added it.
//
// Node and edge seq numbers are those insertion orders. read_graphml adds
// all <node>s, then all <edge>s, in file order, so a reloaded graph's
// neighbour order follows the file, which is why a node's neighbours can
// change order across a reload (graphml.go reproduces that).

// neighbours lists id's neighbours in NetworkX adjacency order.
func (g *graphData) neighbours(id string) []string {
	adj := g.adj[id]
	nbs := make([]string, 0, len(adj))
	for nb := range adj {
		nbs = append(nbs, nb)
	}
	sort.Slice(nbs, func(i, j int) bool {
		return g.edge(id, nbs[i]).seq < g.edge(id, nbs[j]).seq
	})
	return nbs
}

// nodeOrder lists node ids in insertion order.
func (g *graphData) nodeOrder() []string {
	ids := make([]string, 0, len(g.nodes))
	for id := range g.nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return g.nodes[ids[i]].seq < g.nodes[ids[j]].seq })
	return ids
}

// nxEdge is an edge as G.edges() yields it.
type nxEdge struct {
	src, tgt string
	first    uint64 // seq of src (0 in a directed graph)
	e        *graphEdge
}

// edgeOrder lists edges as G.edges() does. A directed graph (never written
// by LightRAG) keeps each edge's own orientation, in insertion order.
func (g *graphData) edgeOrder() ([]nxEdge, error) {
	edges := make([]nxEdge, 0, len(g.edges))
	for k, e := range g.edges {
		src, tgt := e.src, e.tgt
		if _, ok := g.nodes[src]; !ok {
			src, tgt = k.a, k.b
		}
		first := uint64(0)
		if g.header.edgeDefault != "directed" {
			na, nb := g.nodes[k.a], g.nodes[k.b]
			if na == nil || nb == nil {
				return nil, fmt.Errorf("edge %q-%q has a missing endpoint", k.a, k.b)
			}
			src, tgt, first = k.a, k.b, na.seq
			if nb.seq < na.seq {
				src, tgt, first = k.b, k.a, nb.seq
			}
		}
		edges = append(edges, nxEdge{src: src, tgt: tgt, first: first, e: e})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].first != edges[j].first {
			return edges[i].first < edges[j].first
		}
		return edges[i].e.seq < edges[j].e.seq
	})
	return edges, nil
}

// Storage-order cursors are the seq numbers of the last item sent: "n" for
// nodes, "first.seq" for edges. Items added later sort after them, and a
// deleted cursor item does not lose the place.

func parseCursor(cursor string, parts int) ([]uint64, error) {
	if cursor == "" {
		return nil, nil
	}
	fields := strings.Split(cursor, ".")
	if len(fields) != parts {
		return nil, badCursor(cursor)
	}
	out := make([]uint64, parts)
	for i, f := range fields {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, badCursor(cursor)
		}
		out[i] = n
	}
	return out, nil
}

func badCursor(cursor string) error {
	return adapters.Errorf(adapters.ErrInvalid, "invalid_cursor",
		"pass the cursor of the previous page unchanged, or none to start", "cursor %q is not a cursor this graph gave", cursor)
}

// ScanNodesStorageOrder pages through nodes in NetworkX order.
func (gs *graphStore) ScanNodesStorageOrder(ctx context.Context, cursor string, limit int) ([]adapters.Node, string, error) {
	after, err := parseCursor(cursor, 1)
	if err != nil {
		return nil, "", err
	}
	out := []adapters.Node{}
	next := ""
	err = gs.s.read(ctx, func() error {
		g := gs.s.graph
		for _, id := range g.nodeOrder() {
			n := g.nodes[id]
			if after != nil && n.seq <= after[0] {
				continue
			}
			if limit > 0 && len(out) == limit {
				break
			}
			out = append(out, adapters.Node{ID: id, Props: copyProps(n.props)})
			next = strconv.FormatUint(n.seq, 10)
		}
		if limit <= 0 || len(out) < limit {
			next = ""
		}
		return nil
	})
	return out, next, err
}

// ScanEdgesStorageOrder pages through edges as G.edges() yields them.
func (gs *graphStore) ScanEdgesStorageOrder(ctx context.Context, cursor string, limit int) ([]adapters.EdgeData, string, error) {
	after, err := parseCursor(cursor, 2)
	if err != nil {
		return nil, "", err
	}
	out := []adapters.EdgeData{}
	next := ""
	err = gs.s.read(ctx, func() error {
		edges, err := gs.s.graph.edgeOrder()
		if err != nil {
			return err
		}
		for _, e := range edges {
			if after != nil && (e.first < after[0] || e.first == after[0] && e.e.seq <= after[1]) {
				continue
			}
			if limit > 0 && len(out) == limit {
				break
			}
			out = append(out, adapters.EdgeData{Src: e.src, Tgt: e.tgt, Props: copyProps(e.e.props)})
			next = strconv.FormatUint(e.first, 10) + "." + strconv.FormatUint(e.e.seq, 10)
		}
		if limit <= 0 || len(out) < limit {
			next = ""
		}
		return nil
	})
	return out, next, err
}

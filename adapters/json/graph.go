package json

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"maps"
	"sort"
	"unicode/utf8"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Graph opens a graph_<ns>.graphml namespace with NetworkX's semantics
// (undirected, properties merged on upsert).
func (b *Backend) Graph(ctx context.Context, ns adapters.Namespace) (adapters.Graph, error) {
	s, err := b.space(ctx, ns, fileGraph)
	if err != nil {
		return nil, err
	}
	return &graphStore{b: b, s: s}, nil
}

type graphStore struct {
	b *Backend
	s *space
}

var _ adapters.Graph = (*graphStore)(nil)

// degree counts incident edges; a self-loop counts twice, as in NetworkX.
func (g *graphData) degree(id string) int {
	nb := g.adj[id]
	d := len(nb)
	if _, self := nb[id]; self {
		d++
	}
	return d
}

func (g *graphData) edge(src, tgt string) *graphEdge { return g.edges[canonicalEdge(src, tgt)] }

// deleteNode removes a node and its incident edges.
func (g *graphData) deleteNode(id string) {
	if _, ok := g.nodes[id]; !ok {
		return
	}
	for nb := range g.adj[id] {
		delete(g.edges, canonicalEdge(id, nb))
		if nb != id {
			delete(g.adj[nb], id)
		}
	}
	delete(g.adj, id)
	delete(g.nodes, id)
}

// deleteEdge removes the edge between the pair in either orientation.
func (g *graphData) deleteEdge(src, tgt string) {
	k := canonicalEdge(src, tgt)
	if _, ok := g.edges[k]; !ok {
		return
	}
	delete(g.edges, k)
	delete(g.adj[src], tgt)
	delete(g.adj[tgt], src)
}

func (gs *graphStore) HasNodes(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	err := gs.s.read(ctx, func() error {
		for i, id := range ids {
			_, out[i] = gs.s.graph.nodes[id]
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) HasEdges(ctx context.Context, pairs []adapters.Edge) ([]bool, error) {
	out := make([]bool, len(pairs))
	err := gs.s.read(ctx, func() error {
		for i, p := range pairs {
			out[i] = gs.s.graph.edge(p.Src, p.Tgt) != nil
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) NodeDegrees(ctx context.Context, ids []string) ([]int, error) {
	out := make([]int, len(ids))
	err := gs.s.read(ctx, func() error {
		for i, id := range ids {
			out[i] = gs.s.graph.degree(id)
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) EdgeDegrees(ctx context.Context, pairs []adapters.Edge) ([]int, error) {
	out := make([]int, len(pairs))
	err := gs.s.read(ctx, func() error {
		for i, p := range pairs {
			out[i] = gs.s.graph.degree(p.Src) + gs.s.graph.degree(p.Tgt)
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) GetNodes(ctx context.Context, ids []string) ([]adapters.Props, error) {
	out := make([]adapters.Props, len(ids))
	err := gs.s.read(ctx, func() error {
		for i, id := range ids {
			if n, ok := gs.s.graph.nodes[id]; ok {
				out[i] = copyProps(n.props)
			}
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) GetEdges(ctx context.Context, pairs []adapters.Edge) ([]adapters.Props, error) {
	out := make([]adapters.Props, len(pairs))
	err := gs.s.read(ctx, func() error {
		for i, p := range pairs {
			if e := gs.s.graph.edge(p.Src, p.Tgt); e != nil {
				out[i] = copyProps(e.props)
			}
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) GetNodesEdges(ctx context.Context, ids []string) ([]adapters.NodeEdges, error) {
	out := make([]adapters.NodeEdges, len(ids))
	err := gs.s.read(ctx, func() error {
		for i, id := range ids {
			out[i].Edges = []adapters.Edge{}
			if _, ok := gs.s.graph.nodes[id]; !ok {
				continue
			}
			out[i].Found = true
			for _, nb := range gs.s.graph.neighbours(id) {
				out[i].Edges = append(out[i].Edges, adapters.Edge{Src: id, Tgt: nb})
			}
		}
		return nil
	})
	return out, err
}

// checkProps validates and compacts property values: GraphML holds
// strings, numbers and booleans only.
func checkProps(ns adapters.Namespace, what string, props adapters.Props) (adapters.Props, error) {
	out := make(adapters.Props, len(props))
	for k, v := range props {
		var c bytes.Buffer
		err := stdjson.Compact(&c, v)
		if err == nil {
			cerr := adapters.XMLTextError(fmt.Sprintf("namespace %s: %s: property name %q", ns, what, k), k)
			if cerr == nil {
				cerr = checkStringValue(fmt.Sprintf("namespace %s: %s: property %q", ns, what, k), c.Bytes())
			}
			if cerr != nil {
				return nil, cerr
			}
			switch b := c.Bytes(); {
			case len(b) == 0:
				err = fmt.Errorf("empty value")
			case b[0] == '{' || b[0] == '[':
				err = fmt.Errorf("objects and arrays cannot be stored in GraphML")
			case string(b) == "null":
				err = fmt.Errorf("null cannot be stored in GraphML; leave the property out")
			}
		}
		if err != nil {
			return nil, &adapters.Error{Kind: adapters.ErrInvalid, Code: "invalid_property",
				Message: fmt.Sprintf("namespace %s: %s: property %q", ns, what, k),
				Hint:    "send property values as strings, numbers or booleans", Err: err}
		}
		out[k] = c.Bytes()
	}
	return out, nil
}

// checkStringValue refuses a string value GraphML cannot hold as sent: a
// lone surrogate escape, bytes that are not UTF-8, or a character XML 1.0
// cannot carry.
func checkStringValue(what string, v []byte) error {
	if len(v) == 0 || v[0] != '"' {
		return nil
	}
	if esc, ok := adapters.LoneSurrogate(v); ok {
		return adapters.Errorf(adapters.ErrInvalid, "invalid_character",
			"send text as valid Unicode: a lone surrogate cannot be stored", "%s holds the lone surrogate %s", what, esc)
	}
	if !utf8.Valid(v) {
		return adapters.XMLTextError(what, string(v))
	}
	var s string
	if err := stdjson.Unmarshal(v, &s); err != nil {
		return nil // reported as an invalid value by the caller
	}
	return adapters.XMLTextError(what, s)
}

// checkID refuses graph ids a GraphML file cannot hold.
func checkID(what, id string) error { return adapters.XMLTextError(what, id) }

func copyProps(p adapters.Props) adapters.Props {
	if p == nil {
		return adapters.Props{}
	}
	return maps.Clone(p)
}

// merged returns old with new's properties set over it.
func merged(old, new adapters.Props) adapters.Props {
	out := copyProps(old)
	maps.Copy(out, new)
	return out
}

func (gs *graphStore) UpsertNodes(ctx context.Context, nodes []adapters.Node) error {
	if len(nodes) == 0 {
		return ctx.Err()
	}
	return gs.b.mutate(ctx, gs.s, func() (mutation, error) {
		// Last write per id wins within the batch, then merges into the
		// stored node. A new node takes the place of its first mention,
		// where NetworkX's add_node loop would have put it.
		last := make(map[string]int, len(nodes))
		for i, n := range nodes {
			last[n.ID] = i
		}
		e := &walEntry{Op: opGraphNodes}
		for _, first := range nodes {
			j, ok := last[first.ID]
			if !ok {
				continue
			}
			delete(last, first.ID)
			n := nodes[j]
			if err := checkID("node id", n.ID); err != nil {
				return mutation{}, err
			}
			props, err := checkProps(gs.s.ns, fmt.Sprintf("node %q", n.ID), n.Props)
			if err != nil {
				return mutation{}, err
			}
			var old adapters.Props
			if cur, ok := gs.s.graph.nodes[n.ID]; ok {
				old = cur.props
			}
			e.Nodes = append(e.Nodes, walNode{ID: n.ID, Props: merged(old, props)})
		}
		return mutation{entry: e, apply: func() { gs.s.graph.putNodes(e.Nodes) }}, nil
	})
}

func (g *graphData) putNodes(nodes []walNode) {
	for _, n := range nodes {
		g.putNode(n.ID, copyProps(n.Props))
	}
}

func (g *graphData) putEdges(edges []walEdge) {
	for _, e := range edges {
		g.putEdge(e.Src, e.Tgt, copyProps(e.Props))
	}
}

func (gs *graphStore) UpsertEdges(ctx context.Context, edges []adapters.EdgeData) error {
	if len(edges) == 0 {
		return ctx.Err()
	}
	return gs.b.mutate(ctx, gs.s, func() (mutation, error) {
		// As for nodes: the last write per pair wins, in the place (and
		// orientation, which orders a new pair's endpoints) of its first
		// mention.
		last := make(map[edgeKey]int, len(edges))
		for i, ed := range edges {
			last[canonicalEdge(ed.Src, ed.Tgt)] = i
		}
		e := &walEntry{Op: opGraphEdges}
		for _, first := range edges {
			k := canonicalEdge(first.Src, first.Tgt)
			j, ok := last[k]
			if !ok {
				continue
			}
			delete(last, k)
			ed := adapters.EdgeData{Src: first.Src, Tgt: first.Tgt, Props: edges[j].Props}
			if err := checkID("edge source", ed.Src); err != nil {
				return mutation{}, err
			}
			if err := checkID("edge target", ed.Tgt); err != nil {
				return mutation{}, err
			}
			props, err := checkProps(gs.s.ns, fmt.Sprintf("edge %q-%q", ed.Src, ed.Tgt), ed.Props)
			if err != nil {
				return mutation{}, err
			}
			var old adapters.Props
			if cur := gs.s.graph.edge(ed.Src, ed.Tgt); cur != nil {
				old = cur.props
			}
			e.Edges = append(e.Edges, walEdge{Src: ed.Src, Tgt: ed.Tgt, Props: merged(old, props)})
		}
		return mutation{entry: e, apply: func() { gs.s.graph.putEdges(e.Edges) }}, nil
	})
}

func (gs *graphStore) DeleteNodes(ctx context.Context, ids []string) error {
	return gs.b.mutate(ctx, gs.s, func() (mutation, error) {
		e := &walEntry{Op: opGraphDelNodes}
		for _, id := range ids {
			if _, ok := gs.s.graph.nodes[id]; ok {
				e.IDs = append(e.IDs, id)
			}
		}
		if len(e.IDs) == 0 {
			return mutation{}, nil
		}
		return mutation{entry: e, apply: func() {
			for _, id := range e.IDs {
				gs.s.graph.deleteNode(id)
			}
		}}, nil
	})
}

func (gs *graphStore) DeleteEdges(ctx context.Context, pairs []adapters.Edge) error {
	return gs.b.mutate(ctx, gs.s, func() (mutation, error) {
		e := &walEntry{Op: opGraphDelEdges}
		for _, p := range pairs {
			if gs.s.graph.edge(p.Src, p.Tgt) != nil {
				e.Edges = append(e.Edges, walEdge{Src: p.Src, Tgt: p.Tgt})
			}
		}
		if len(e.Edges) == 0 {
			return mutation{}, nil
		}
		return mutation{entry: e, apply: func() {
			for _, p := range e.Edges {
				gs.s.graph.deleteEdge(p.Src, p.Tgt)
			}
		}}, nil
	})
}

func (gs *graphStore) AllLabels(ctx context.Context) ([]string, error) {
	var out []string
	err := gs.s.read(ctx, func() error {
		out = append([]string{}, gs.s.sortedIDs()...)
		return nil
	})
	return out, err
}

func (gs *graphStore) ScanNodes(ctx context.Context, after string, limit int) ([]adapters.Node, error) {
	out := []adapters.Node{}
	err := gs.s.read(ctx, func() error {
		for _, id := range page(gs.s.sortedIDs(), after, limit) {
			out = append(out, adapters.Node{ID: id, Props: copyProps(gs.s.graph.nodes[id].props)})
		}
		return nil
	})
	return out, err
}

// ScanEdges reports each edge once as (smaller id, larger id), ascending.
func (gs *graphStore) ScanEdges(ctx context.Context, after adapters.Edge, limit int) ([]adapters.EdgeData, error) {
	out := []adapters.EdgeData{}
	err := gs.s.read(ctx, func() error {
		keys := gs.sortedEdges()
		start := 0
		if after != (adapters.Edge{}) {
			start = sort.Search(len(keys), func(i int) bool {
				k := keys[i]
				return k.a > after.Src || (k.a == after.Src && k.b > after.Tgt)
			})
		}
		for _, k := range keys[start:] {
			if limit > 0 && len(out) >= limit {
				break
			}
			out = append(out, adapters.EdgeData{Src: k.a, Tgt: k.b, Props: copyProps(gs.s.graph.edges[k].props)})
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) sortedEdges() []edgeKey {
	keys := make([]edgeKey, 0, len(gs.s.graph.edges))
	for k := range gs.s.graph.edges {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].a != keys[j].a {
			return keys[i].a < keys[j].a
		}
		return keys[i].b < keys[j].b
	})
	return keys
}

func (gs *graphStore) PopularLabels(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := gs.s.read(ctx, func() error {
		g := gs.s.graph
		ids := append([]string{}, gs.s.sortedIDs()...)
		sort.SliceStable(ids, func(i, j int) bool { return g.degree(ids[i]) > g.degree(ids[j]) })
		if limit > 0 && len(ids) > limit {
			ids = ids[:limit]
		}
		out = ids
		return nil
	})
	return out, err
}

func (gs *graphStore) SearchLabels(ctx context.Context, query string, limit int) ([]string, error) {
	var out []string
	err := gs.s.read(ctx, func() error {
		out = adapters.SearchLabels(gs.s.sortedIDs(), query, limit)
		return nil
	})
	if out == nil {
		out = []string{}
	}
	return out, err
}

func (gs *graphStore) KnowledgeGraph(ctx context.Context, label string, maxDepth, maxNodes int) (adapters.KnowledgeGraph, error) {
	return adapters.BuildKnowledgeGraph(ctx, gs, label, maxDepth, maxNodes)
}

// chunkSet reports whether a <SEP>-joined source_id shares a chunk id with want.
func chunkMatch(props adapters.Props, want map[string]bool) bool {
	raw, ok := props["source_id"]
	if !ok {
		return false
	}
	var s string
	if stdjson.Unmarshal(raw, &s) != nil {
		return false
	}
	for _, id := range adapters.SplitSourceIDs(s) {
		if want[id] {
			return true
		}
	}
	return false
}

func toSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func (gs *graphStore) NodesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.Node, error) {
	out := []adapters.Node{}
	want := toSet(chunkIDs)
	err := gs.s.read(ctx, func() error {
		for _, id := range gs.s.graph.nodeOrder() {
			if n := gs.s.graph.nodes[id]; chunkMatch(n.props, want) {
				out = append(out, adapters.Node{ID: id, Props: copyProps(n.props)})
			}
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) EdgesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.EdgeData, error) {
	out := []adapters.EdgeData{}
	want := toSet(chunkIDs)
	err := gs.s.read(ctx, func() error {
		edges, err := gs.s.graph.edgeOrder()
		if err != nil {
			return err
		}
		for _, e := range edges {
			if chunkMatch(e.e.props, want) {
				out = append(out, adapters.EdgeData{Src: e.src, Tgt: e.tgt, Props: copyProps(e.e.props)})
			}
		}
		return nil
	})
	return out, err
}

func (gs *graphStore) Counts(ctx context.Context) (nodes, edges int64, err error) {
	err = gs.s.read(ctx, func() error {
		nodes, edges = int64(len(gs.s.graph.nodes)), int64(len(gs.s.graph.edges))
		return nil
	})
	return nodes, edges, err
}

func (gs *graphStore) Drop(ctx context.Context) error {
	err := gs.b.mutate(ctx, gs.s, func() (mutation, error) {
		return mutation{entry: &walEntry{Op: opGraphDrop}, apply: func() { gs.s.graph = newGraphData() }}, nil
	})
	if err != nil {
		return err
	}
	return gs.b.dropped(gs.s)
}

// applyGraph replays a logged graph write.
func (s *space) applyGraph(e *walEntry) error {
	g := s.graph
	switch e.Op {
	case opGraphNodes:
		g.putNodes(e.Nodes)
	case opGraphEdges:
		g.putEdges(e.Edges)
	case opGraphDelNodes:
		for _, id := range e.IDs {
			g.deleteNode(id)
		}
	case opGraphDelEdges:
		for _, p := range e.Edges {
			g.deleteEdge(p.Src, p.Tgt)
		}
	case opGraphDrop:
		s.graph = newGraphData()
	default:
		return fmt.Errorf("unknown graph operation %q", e.Op)
	}
	return nil
}

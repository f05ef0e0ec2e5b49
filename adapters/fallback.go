package adapters

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// GraphView is the read access BuildKnowledgeGraph needs (a subset of Graph).
type GraphView interface {
	AllLabels(ctx context.Context) ([]string, error)
	PopularLabels(ctx context.Context, limit int) ([]string, error)
	NodeDegrees(ctx context.Context, ids []string) ([]int, error)
	GetNodes(ctx context.Context, ids []string) ([]Props, error)
	GetNodesEdges(ctx context.Context, ids []string) ([]NodeEdges, error)
	GetEdges(ctx context.Context, pairs []Edge) ([]Props, error)
}

// BuildKnowledgeGraph is LightRAG's NetworkXStorage.get_knowledge_graph over
// any GraphView, for backends without a native traversal.
//
// "*" returns the maxNodes highest-degree nodes (ties by id ascending) and the
// edges among them; is_truncated when the graph has more nodes. Any other
// label is a BFS from that node: each depth level is processed by degree
// descending then id ascending, neighbours are queued up to maxDepth, and it
// stops at maxNodes. is_truncated follows LightRAG: only when maxNodes was
// reached and something was left (an unvisited queued node, an unvisited node
// later in the cut level, or an unvisited neighbour of a node at maxDepth). A
// missing label gives an empty graph.
//
// Deviations from NetworkX, whose output order is set-iteration order: nodes
// come in selection order ("*": rank order; BFS: visit order) and edges sorted
// by (source, target), each with source <= target. A negative maxNodes or
// maxDepth counts as 0. Capping maxNodes at max_graph_nodes is the caller's job.
func BuildKnowledgeGraph(ctx context.Context, g GraphView, label string, maxDepth, maxNodes int) (KnowledgeGraph, error) {
	maxDepth, maxNodes = max(maxDepth, 0), max(maxNodes, 0)
	var (
		ids       []string
		truncated bool
		err       error
	)
	if label == "*" {
		ids, truncated, err = topNodes(ctx, g, maxNodes)
	} else {
		ids, truncated, err = bfsNodes(ctx, g, label, maxDepth, maxNodes)
	}
	if err != nil {
		return KnowledgeGraph{}, err
	}
	kg, err := induced(ctx, g, ids)
	if err != nil {
		return KnowledgeGraph{}, err
	}
	kg.IsTruncated = truncated
	return kg, nil
}

func topNodes(ctx context.Context, g GraphView, maxNodes int) ([]string, bool, error) {
	// One more than needed tells whether the graph has more nodes. A limit
	// of 0 means "all" to PopularLabels, so maxNodes+1 is always >= 1.
	ids, err := g.PopularLabels(ctx, maxNodes+1)
	if err != nil {
		return nil, false, fmt.Errorf("knowledge graph: popular labels: %w", err)
	}
	if len(ids) > maxNodes {
		return ids[:maxNodes], true, nil
	}
	return ids, false, nil
}

type bfsEntry struct {
	id     string
	depth  int
	degree int
}

func bfsNodes(ctx context.Context, g GraphView, start string, maxDepth, maxNodes int) ([]string, bool, error) {
	found, err := g.GetNodesEdges(ctx, []string{start})
	if err != nil {
		return nil, false, fmt.Errorf("knowledge graph: node %q: %w", start, err)
	}
	if len(found) != 1 || !found[0].Found {
		return nil, false, nil
	}
	var (
		order                      []string
		visited                    = map[string]bool{}
		queue                      = []bfsEntry{{id: start}}
		unexplored, unprocessedCut bool
	)
	for len(queue) > 0 && len(order) < maxNodes {
		// The queue only ever holds one depth, then the next: take the level.
		depth := queue[0].depth
		n := 0
		for n < len(queue) && queue[n].depth == depth {
			n++
		}
		level := queue[:n:n]
		queue = slices.Clone(queue[n:])

		pending := uniqueUnvisited(level, visited)
		degrees, err := g.NodeDegrees(ctx, pending)
		if err != nil {
			return nil, false, fmt.Errorf("knowledge graph: degrees: %w", err)
		}
		deg := make(map[string]int, len(pending))
		for i, id := range pending {
			deg[id] = degrees[i]
		}
		for i := range level {
			level[i].degree = deg[level[i].id]
		}
		slices.SortStableFunc(level, func(a, b bfsEntry) int {
			if a.degree != b.degree {
				return b.degree - a.degree
			}
			return strings.Compare(a.id, b.id)
		})
		neighbours, err := neighboursOf(ctx, g, pending)
		if err != nil {
			return nil, false, err
		}
		for i, e := range level {
			if !visited[e.id] {
				visited[e.id] = true
				order = append(order, e.id)
				for _, nb := range neighbours[e.id] {
					if visited[nb] {
						continue
					}
					if e.depth < maxDepth {
						queue = append(queue, bfsEntry{id: nb, depth: e.depth + 1})
					} else {
						unexplored = true
					}
				}
			}
			if len(order) >= maxNodes {
				for _, rest := range level[i+1:] {
					if !visited[rest.id] {
						unprocessedCut = true
						break
					}
				}
				break
			}
		}
	}
	queued := false
	for _, e := range queue {
		if !visited[e.id] {
			queued = true
			break
		}
	}
	truncated := len(order) >= maxNodes && (queued || unprocessedCut || unexplored)
	return order, truncated, nil
}

func uniqueUnvisited(level []bfsEntry, visited map[string]bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range level {
		if !visited[e.id] && !seen[e.id] {
			seen[e.id] = true
			out = append(out, e.id)
		}
	}
	return out
}

// neighboursOf returns each id's neighbours (a self-loop lists the node itself).
func neighboursOf(ctx context.Context, g GraphView, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	all, err := g.GetNodesEdges(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("knowledge graph: node edges: %w", err)
	}
	for i, id := range ids {
		if i >= len(all) {
			break
		}
		for _, e := range all[i].Edges {
			nb := e.Tgt
			if e.Src != id && e.Tgt == id {
				nb = e.Src // tolerate (neighbour, node) orientation
			}
			out[id] = append(out[id], nb)
		}
	}
	return out, nil
}

// induced builds the KnowledgeGraph of ids and every edge between them.
func induced(ctx context.Context, g GraphView, ids []string) (KnowledgeGraph, error) {
	kg := KnowledgeGraph{Nodes: []KGNode{}, Edges: []KGEdge{}}
	if len(ids) == 0 {
		return kg, nil
	}
	props, err := g.GetNodes(ctx, ids)
	if err != nil {
		return kg, fmt.Errorf("knowledge graph: nodes: %w", err)
	}
	in := make(map[string]bool, len(ids))
	for i, id := range ids {
		in[id] = true
		p := Props{}
		if i < len(props) && props[i] != nil {
			p = props[i]
		}
		kg.Nodes = append(kg.Nodes, KGNode{ID: id, Labels: []string{id}, Properties: p})
	}
	neighbours, err := neighboursOf(ctx, g, ids)
	if err != nil {
		return kg, err
	}
	seen := map[Edge]bool{}
	var pairs []Edge
	for _, id := range ids {
		for _, nb := range neighbours[id] {
			if !in[nb] {
				continue
			}
			p := Edge{Src: min(id, nb), Tgt: max(id, nb)}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	slices.SortFunc(pairs, func(a, b Edge) int {
		if c := strings.Compare(a.Src, b.Src); c != 0 {
			return c
		}
		return strings.Compare(a.Tgt, b.Tgt)
	})
	if len(pairs) == 0 {
		return kg, nil
	}
	eprops, err := g.GetEdges(ctx, pairs)
	if err != nil {
		return kg, fmt.Errorf("knowledge graph: edges: %w", err)
	}
	for i, p := range pairs {
		ep := Props{}
		if i < len(eprops) && eprops[i] != nil {
			ep = eprops[i]
		}
		kg.Edges = append(kg.Edges, KGEdge{
			ID: p.Src + "-" + p.Tgt, Type: "DIRECTED", Source: p.Src, Target: p.Tgt, Properties: ep,
		})
	}
	return kg, nil
}

package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Label list limits (LightRAG's defaults).
const (
	defaultPopularLimit = 300
	defaultSearchLimit  = 50
	maxLabelLimit       = 100000
	defaultMaxDepth     = 3
	defaultMaxNodes     = 1000
)

// withGraph runs fn on the request's graph namespace.
func (s *Server) withGraph(c echo.Context, fn func(ctx context.Context, g adapters.Graph) error) error {
	h, ns, err := s.namespaceOf(c)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	ctx := ctxOf(c)
	g, err := h.backend.Graph(ctx, ns)
	if err != nil {
		return err
	}
	return s.backendCall(ctx, h, ns, func(ctx context.Context) error { return fn(ctx, g) })
}

type graphInfoBody struct {
	Nodes int64 `json:"nodes"`
	Edges int64 `json:"edges"`
}

func (s *Server) graphInfo(c echo.Context) error {
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		n, e, err := g.Counts(ctx)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, graphInfoBody{Nodes: n, Edges: e})
	})
}

func (s *Server) graphDrop(c echo.Context) error {
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		if err := g.Drop(ctx); err != nil {
			return err
		}
		return dropped(c)
	})
}

type existsBody struct {
	Exists []bool `json:"exists"`
}

type degreesBody struct {
	Degrees []int `json:"degrees"`
}

type nodePropsBody struct {
	Nodes []adapters.Props `json:"nodes"`
}

type edgePropsBody struct {
	Edges []adapters.Props `json:"edges"`
}

// graphIDs decodes {ids} and runs fn on the graph.
func (s *Server) graphIDs(c echo.Context, fn func(ctx context.Context, g adapters.Graph, ids []string) error) error {
	var req idsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error { return fn(ctx, g, req.IDs) })
}

// graphPairs decodes {pairs} and runs fn on the graph.
func (s *Server) graphPairs(c echo.Context, fn func(ctx context.Context, g adapters.Graph, pairs []adapters.Edge) error) error {
	var req edgesRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error { return fn(ctx, g, req.edges()) })
}

func (s *Server) graphHasNodes(c echo.Context) error {
	return s.graphIDs(c, func(ctx context.Context, g adapters.Graph, ids []string) error {
		has, err := g.HasNodes(ctx, ids)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, existsBody{Exists: nonNil(has)})
	})
}

func (s *Server) graphGetNodes(c echo.Context) error {
	return s.graphIDs(c, func(ctx context.Context, g adapters.Graph, ids []string) error {
		props, err := g.GetNodes(ctx, ids)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, nodePropsBody{Nodes: nonNil(props)})
	})
}

func (s *Server) graphNodeDegrees(c echo.Context) error {
	return s.graphIDs(c, func(ctx context.Context, g adapters.Graph, ids []string) error {
		d, err := g.NodeDegrees(ctx, ids)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, degreesBody{Degrees: nonNil(d)})
	})
}

func (s *Server) graphNodesEdges(c echo.Context) error {
	return s.graphIDs(c, func(ctx context.Context, g adapters.Graph, ids []string) error {
		ne, err := g.GetNodesEdges(ctx, ids)
		if err != nil {
			return err
		}
		return writeNodesEdges(c, ne)
	})
}

func (s *Server) graphUpsertNodes(c echo.Context) error {
	var req nodesUpsertRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	nodes := make([]adapters.Node, len(req.Nodes))
	for i, n := range req.Nodes {
		nodes[i] = adapters.Node{ID: *n.ID, Props: n.Props}
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		if err := g.UpsertNodes(ctx, nodes); err != nil {
			return err
		}
		s.recordWrite(c, len(nodes))
		return ok(c)
	})
}

func (s *Server) graphDeleteNodes(c echo.Context) error {
	return s.graphIDs(c, func(ctx context.Context, g adapters.Graph, ids []string) error {
		if err := g.DeleteNodes(ctx, ids); err != nil {
			return err
		}
		return ok(c)
	})
}

func (s *Server) graphHasEdges(c echo.Context) error {
	return s.graphPairs(c, func(ctx context.Context, g adapters.Graph, pairs []adapters.Edge) error {
		has, err := g.HasEdges(ctx, pairs)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, existsBody{Exists: nonNil(has)})
	})
}

func (s *Server) graphGetEdges(c echo.Context) error {
	return s.graphPairs(c, func(ctx context.Context, g adapters.Graph, pairs []adapters.Edge) error {
		props, err := g.GetEdges(ctx, pairs)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, edgePropsBody{Edges: nonNil(props)})
	})
}

func (s *Server) graphEdgeDegrees(c echo.Context) error {
	return s.graphPairs(c, func(ctx context.Context, g adapters.Graph, pairs []adapters.Edge) error {
		d, err := g.EdgeDegrees(ctx, pairs)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, degreesBody{Degrees: nonNil(d)})
	})
}

func (s *Server) graphUpsertEdges(c echo.Context) error {
	var req edgesUpsertRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	edges := make([]adapters.EdgeData, len(req.Edges))
	for i, e := range req.Edges {
		edges[i] = adapters.EdgeData{Src: *e.Src, Tgt: *e.Tgt, Props: e.Props}
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		if err := g.UpsertEdges(ctx, edges); err != nil {
			return err
		}
		s.recordWrite(c, len(edges))
		return ok(c)
	})
}

func (s *Server) graphDeleteEdges(c echo.Context) error {
	return s.graphPairs(c, func(ctx context.Context, g adapters.Graph, pairs []adapters.Edge) error {
		if err := g.DeleteEdges(ctx, pairs); err != nil {
			return err
		}
		return ok(c)
	})
}

type labelsBody struct {
	Labels []string `json:"labels"`
}

func (s *Server) graphLabels(c echo.Context) error {
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		l, err := g.AllLabels(ctx)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, labelsBody{Labels: nonNil(l)})
	})
}

func (s *Server) graphPopularLabels(c echo.Context) error {
	limit, err := intQuery(c, "limit", defaultPopularLimit, maxLabelLimit)
	if err != nil {
		return err
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		l, err := g.PopularLabels(ctx, limit)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, labelsBody{Labels: nonNil(l)})
	})
}

func (s *Server) graphSearchLabels(c echo.Context) error {
	limit, err := intQuery(c, "limit", defaultSearchLimit, maxLabelLimit)
	if err != nil {
		return err
	}
	q := c.QueryParam("q")
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		l, err := g.SearchLabels(ctx, q, limit)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, labelsBody{Labels: nonNil(l)})
	})
}

type nodesPageBody struct {
	Nodes []adapters.Node `json:"nodes"`
	Next  *string         `json:"next"`
	// Cursor continues an order=storage listing, null on the last page.
	Cursor *string `json:"cursor,omitempty"`
}

// storageOrder reads the order query parameter of the scan routes: "id"
// (the default, a stable order for copying) or "storage" (the order of the
// backend's LightRAG storage, which get_all_nodes/get_all_edges return).
func storageOrder(c echo.Context) (bool, error) {
	switch o := c.QueryParam("order"); o {
	case "", "id":
		return false, nil
	case "storage":
		return true, nil
	default:
		return false, malformed(`pass order=id or order=storage`, "query parameter order=%q is not an order", o)
	}
}

func (s *Server) graphScanNodes(c echo.Context) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	byStorage, err := storageOrder(c)
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	if byStorage {
		after = c.QueryParam("cursor")
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		var (
			nodes  []adapters.Node
			cursor string
			err    error
		)
		if so, ok := g.(adapters.StorageOrderScanner); ok && byStorage {
			nodes, cursor, err = so.ScanNodesStorageOrder(ctx, after, limit)
		} else {
			nodes, err = g.ScanNodes(ctx, after, limit)
			if len(nodes) == limit {
				cursor = nodes[len(nodes)-1].ID
			}
		}
		if err != nil {
			return err
		}
		body := nodesPageBody{Nodes: nonNil(nodes)}
		for i := range body.Nodes {
			if body.Nodes[i].Props == nil {
				body.Nodes[i].Props = adapters.Props{}
			}
		}
		switch {
		case byStorage:
			body.Cursor = &cursor
			if cursor == "" {
				body.Cursor = nil
			}
		case len(nodes) == limit:
			body.Next = &nodes[len(nodes)-1].ID
		}
		return writeJSON(c, http.StatusOK, body)
	})
}

type edgesPageBody struct {
	Edges []adapters.EdgeData `json:"edges"`
	// Next is the (src, tgt) cursor of the next page, null on the last.
	Next *adapters.Edge `json:"next"`
	// Cursor continues an order=storage listing, null on the last page.
	Cursor *string `json:"cursor,omitempty"`
}

func (s *Server) graphScanEdges(c echo.Context) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	byStorage, err := storageOrder(c)
	if err != nil {
		return err
	}
	after := adapters.Edge{Src: c.QueryParam("after_src"), Tgt: c.QueryParam("after_tgt")}
	cursor := c.QueryParam("cursor")
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		var (
			edges []adapters.EdgeData
			next  string
			err   error
		)
		so, native := g.(adapters.StorageOrderScanner)
		switch {
		case byStorage && native:
			edges, next, err = so.ScanEdgesStorageOrder(ctx, cursor, limit)
		case byStorage:
			// Without an order of its own the backend lists by id; the
			// cursor carries the last pair.
			if cursor != "" {
				var pair [2]string
				if json.Unmarshal([]byte(cursor), &pair) != nil {
					return malformed("pass the cursor of the previous page unchanged", "cursor %q is not a cursor this graph gave", cursor)
				}
				after = adapters.Edge{Src: pair[0], Tgt: pair[1]}
			}
			edges, err = g.ScanEdges(ctx, after, limit)
			if err == nil && len(edges) == limit {
				b, _ := json.Marshal([2]string{edges[len(edges)-1].Src, edges[len(edges)-1].Tgt})
				next = string(b)
			}
		default:
			edges, err = g.ScanEdges(ctx, after, limit)
		}
		if err != nil {
			return err
		}
		body := edgesPageBody{Edges: nonNil(edges)}
		for i := range body.Edges {
			if body.Edges[i].Props == nil {
				body.Edges[i].Props = adapters.Props{}
			}
		}
		switch {
		case byStorage:
			if next != "" {
				body.Cursor = &next
			}
		case len(edges) == limit:
			last := edges[len(edges)-1]
			body.Next = &adapters.Edge{Src: last.Src, Tgt: last.Tgt}
		}
		return writeJSON(c, http.StatusOK, body)
	})
}

func (s *Server) graphKnowledgeGraph(c echo.Context) error {
	var req knowledgeGraphRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	depth, nodes := defaultMaxDepth, defaultMaxNodes
	if req.MaxDepth != nil {
		depth = *req.MaxDepth
	}
	if req.MaxNodes != nil {
		nodes = *req.MaxNodes
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		kg, err := g.KnowledgeGraph(ctx, *req.Label, depth, nodes)
		if err != nil {
			return err
		}
		kg.Nodes, kg.Edges = nonNil(kg.Nodes), nonNil(kg.Edges)
		for i := range kg.Nodes {
			kg.Nodes[i].Labels = nonNil(kg.Nodes[i].Labels)
			if kg.Nodes[i].Properties == nil {
				kg.Nodes[i].Properties = adapters.Props{}
			}
		}
		for i := range kg.Edges {
			if kg.Edges[i].Properties == nil {
				kg.Edges[i].Properties = adapters.Props{}
			}
		}
		return writeJSON(c, http.StatusOK, kg)
	})
}

type nodesBody struct {
	Nodes []adapters.Node `json:"nodes"`
}

type edgesBody struct {
	Edges []adapters.EdgeData `json:"edges"`
}

func (s *Server) graphNodesByChunkIDs(c echo.Context) error {
	var req chunkIDsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		nodes, err := g.NodesByChunkIDs(ctx, req.ChunkIDs)
		if err != nil {
			return err
		}
		for i := range nodes {
			if nodes[i].Props == nil {
				nodes[i].Props = adapters.Props{}
			}
		}
		return writeJSON(c, http.StatusOK, nodesBody{Nodes: nonNil(nodes)})
	})
}

func (s *Server) graphEdgesByChunkIDs(c echo.Context) error {
	var req chunkIDsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withGraph(c, func(ctx context.Context, g adapters.Graph) error {
		edges, err := g.EdgesByChunkIDs(ctx, req.ChunkIDs)
		if err != nil {
			return err
		}
		for i := range edges {
			if edges[i].Props == nil {
				edges[i].Props = adapters.Props{}
			}
		}
		return writeJSON(c, http.StatusOK, edgesBody{Edges: nonNil(edges)})
	})
}

// nonNil turns a nil slice into an empty one so JSON says [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeNodesEdges writes {"edges": ne} as writeJSON would, without
// reflection (adapters.AppendNodesEdges).
func writeNodesEdges(c echo.Context, ne []adapters.NodeEdges) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	buf.Write(adapters.AppendNodesEdges(buf.AvailableBuffer(), ne))
	return writeBody(c, http.StatusOK, buf.Bytes())
}

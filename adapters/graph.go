package adapters

import "context"

// Edge is an undirected pair as the caller named it. Lookups match either
// orientation; answers are keyed in the orientation asked.
type Edge struct {
	Src string `json:"src"`
	Tgt string `json:"tgt"`
}

// Node is a node and its properties.
type Node struct {
	ID    string `json:"id"`
	Props Props  `json:"properties"`
}

// EdgeData is an edge and its properties.
type EdgeData struct {
	Src   string `json:"src"`
	Tgt   string `json:"tgt"`
	Props Props  `json:"properties"`
}

// NodeEdges answers get_node_edges for one node.
type NodeEdges struct {
	Found bool   `json:"found"`
	Edges []Edge `json:"edges"` // (node, neighbour) pairs
}

// Graph is LightRAG's BaseGraphStorage (NetworkX semantics: undirected).
// Node ids are entity names, compared byte for byte.
type Graph interface {
	HasNodes(ctx context.Context, ids []string) ([]bool, error)
	HasEdges(ctx context.Context, pairs []Edge) ([]bool, error)
	// NodeDegrees: number of incident edges, 0 for a missing node, aligned.
	NodeDegrees(ctx context.Context, ids []string) ([]int, error)
	// EdgeDegrees: degree(src)+degree(tgt) per pair, aligned.
	EdgeDegrees(ctx context.Context, pairs []Edge) ([]int, error)
	// GetNodes: properties per id, aligned, nil for a missing node.
	GetNodes(ctx context.Context, ids []string) ([]Props, error)
	// GetEdges: properties per pair (undirected lookup), aligned, nil if absent.
	GetEdges(ctx context.Context, pairs []Edge) ([]Props, error)
	// GetNodesEdges: incident edges per id as (id, neighbour), aligned;
	// Found=false and no edges for a missing node. Neighbours come in the
	// order of the backend's LightRAG storage: NetworkX adjacency order on
	// JSON (edge insertion order), id byte order on PostgreSQL.
	GetNodesEdges(ctx context.Context, ids []string) ([]NodeEdges, error)

	// UpsertNodes merges each node's properties into the stored ones (creating
	// the node); within one call the last write per id wins.
	UpsertNodes(ctx context.Context, nodes []Node) error
	// UpsertEdges merges each edge's properties into the stored edge between
	// the pair (either orientation), creating missing endpoint nodes with no
	// properties. Self-loops are allowed.
	UpsertEdges(ctx context.Context, edges []EdgeData) error
	// DeleteNodes removes nodes and their incident edges; missing ids ignored.
	DeleteNodes(ctx context.Context, ids []string) error
	// DeleteEdges removes edges in either orientation; missing pairs ignored.
	DeleteEdges(ctx context.Context, pairs []Edge) error

	// AllLabels returns every node id, sorted by byte order.
	AllLabels(ctx context.Context) ([]string, error)
	// ScanNodes pages through nodes in ascending id order after `after`.
	ScanNodes(ctx context.Context, after string, limit int) ([]Node, error)
	// ScanEdges pages through edges in ascending (src, tgt) order where each
	// edge is reported once with src <= tgt (byte order).
	ScanEdges(ctx context.Context, after Edge, limit int) ([]EdgeData, error)
	// PopularLabels: node ids by degree descending, ties by id ascending.
	PopularLabels(ctx context.Context, limit int) ([]string, error)
	// SearchLabels: see ScoreLabel for the ranking.
	SearchLabels(ctx context.Context, query string, limit int) ([]string, error)
	// KnowledgeGraph is LightRAG's get_knowledge_graph.
	KnowledgeGraph(ctx context.Context, label string, maxDepth, maxNodes int) (KnowledgeGraph, error)
	// NodesByChunkIDs / EdgesByChunkIDs are the 1.4.9.8-only methods: nodes
	// (edges) whose <SEP>-split source_id intersects chunkIDs, in the
	// backend's storage order (see StorageOrderScanner).
	NodesByChunkIDs(ctx context.Context, chunkIDs []string) ([]Node, error)
	EdgesByChunkIDs(ctx context.Context, chunkIDs []string) ([]EdgeData, error)

	Counts(ctx context.Context) (nodes, edges int64, err error)
	Drop(ctx context.Context) error
}

// StorageOrderScanner is implemented by a Graph whose LightRAG storage lists
// nodes and edges in an order of its own, which LightRAG's get_all_nodes and
// get_all_edges return: the JSON backend gives NetworkX's (node insertion
// order; edges node by node from the endpoint inserted first). A backend
// without it is listed in ScanNodes/ScanEdges order. Cursors are opaque, ""
// starts, and the next cursor is "" after the last page.
type StorageOrderScanner interface {
	ScanNodesStorageOrder(ctx context.Context, cursor string, limit int) ([]Node, string, error)
	ScanEdgesStorageOrder(ctx context.Context, cursor string, limit int) ([]EdgeData, string, error)
}

// KnowledgeGraph is LightRAG's types.KnowledgeGraph.
type KnowledgeGraph struct {
	Nodes       []KGNode `json:"nodes"`
	Edges       []KGEdge `json:"edges"`
	IsTruncated bool     `json:"is_truncated"`
}

// KGNode is a node of a KnowledgeGraph: id = name, labels = [name].
type KGNode struct {
	ID         string   `json:"id"`
	Labels     []string `json:"labels"`
	Properties Props    `json:"properties"`
}

// KGEdge is an edge of a KnowledgeGraph: id = "a-b" (sorted), type DIRECTED.
type KGEdge struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Source     string `json:"source"`
	Target     string `json:"target"`
	Properties Props  `json:"properties"`
}

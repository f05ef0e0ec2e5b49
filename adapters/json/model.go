// Package json is the adapter for LightRAG's own working-directory format:
// kv_store_<ns>.json (KV and doc status), vdb_<ns>.json (NanoVectorDB) and
// graph_<ns>.graphml (NetworkX). An existing LightRAG folder is served as is,
// and LightRAG can still open what this adapter writes.
//
// Files that use encoding/json import this package as jsonadapter.
package json

import (
	stdjson "encoding/json"
	"sync"

	"github.com/hybridrag/storage-proxy/adapters"
)

// The in-memory model of one namespace of each kind. The file readers and
// writers (kvfile.go, vdbfile.go, graphml.go) convert between these and
// LightRAG's files; the stores (kv.go, vector.go, graph.go, docstatus.go)
// answer requests from them. Everything here is guarded by the owning
// namespace's lock.

// kvData is a KV or doc-status namespace (kv_store_<ns>.json).
type kvData struct {
	// records maps id to the stored record (compact JSON object) and its
	// position, so a rewrite keeps LightRAG's key order and appends new keys.
	records map[string]*kvEntry
	nextSeq uint64
}

type kvEntry struct {
	seq  uint64
	data stdjson.RawMessage
}

// vectorData is a NanoVectorDB namespace (vdb_<ns>.json).
type vectorData struct {
	dim int
	// Row i of matrix (dim float32s, L2-normalised, as NanoVectorDB keeps it)
	// belongs to items[i]. Deletes swap the last row into the hole.
	ids    []string
	index  map[string]int
	matrix []float32
	items  []vectorItem
	// extra holds top-level keys other than embedding_dim, data and matrix
	// (e.g. additional_data), raw, in file order.
	extra []rawField
	// q is the int8 copy of matrix for large queries (quant.go), nil until
	// a query builds it; writes keep it in step once it exists. qmu guards
	// the build, which runs under the space's read lock.
	qmu sync.Mutex
	q   *quantized
}

// vectorItem is one element of NanoVectorDB's "data" array.
type vectorItem struct {
	// createdAt is __created_at__ as written (int or float text; "" if absent).
	createdAt stdjson.Number
	// fields are the meta fields and any unknown keys in file order, without
	// __id__, __created_at__ and vector.
	fields []rawField
	// vector16 is the per-item "vector" (base64 of zlib of float16, the
	// un-normalised embedding), "" when the item has none.
	vector16 string
}

type rawField struct {
	key string
	val stdjson.RawMessage
}

// graphData is a NetworkX graph (graph_<ns>.graphml), undirected.
type graphData struct {
	nodes map[string]*graphNode
	// edges are keyed by the canonical pair (smaller id first, byte order);
	// each remembers the orientation it was written in.
	edges map[edgeKey]*graphEdge
	// adj maps a node to its neighbours (both directions).
	adj     map[string]map[string]struct{}
	nextSeq uint64
	// keys are the file's <key> declarations in file order, so types and
	// unknown keys survive a rewrite. New attributes get new keys.
	keys []graphKey
	// header keeps what the writer needs to reproduce the file's layout:
	// graph id, edgedefault, and whether it was pretty-printed.
	header graphHeader
}

type edgeKey struct{ a, b string }

type graphNode struct {
	seq   uint64
	props adapters.Props
	// order is the order of the <data> elements as read, so an unchanged
	// node is written back the same; names not in it go after, by key.
	order []string
}

type graphEdge struct {
	seq      uint64
	src, tgt string // as written in the file or by the last upsert
	props    adapters.Props
	order    []string // as in graphNode
}

// graphKey is one <key id=.. for=.. attr.name=.. attr.type=..> declaration.
type graphKey struct {
	id, forWhat, name, typ string
	// extraAttrs are any other XML attributes of the <key>, kept verbatim.
	extraAttrs []rawAttr
	// def is the text of a <default> child, when the key has one.
	def    string
	hasDef bool
}

type rawAttr struct{ name, value string }

type graphHeader struct {
	graphID     string
	edgeDefault string // "undirected" in every LightRAG file
	pretty      bool
	// props are graph-level <data> values (NetworkX's G.graph).
	props adapters.Props
}

func newKVData() *kvData { return &kvData{records: map[string]*kvEntry{}} }

func newVectorData(dim int) *vectorData {
	return &vectorData{dim: dim, index: map[string]int{}}
}

func newGraphData() *graphData {
	return &graphData{
		nodes:  map[string]*graphNode{},
		edges:  map[edgeKey]*graphEdge{},
		adj:    map[string]map[string]struct{}{},
		header: graphHeader{edgeDefault: "undirected"},
	}
}

// canonicalEdge orders a pair so both orientations share one key.
func canonicalEdge(src, tgt string) edgeKey {
	if tgt < src {
		return edgeKey{a: tgt, b: src}
	}
	return edgeKey{a: src, b: tgt}
}

// putNode sets (replaces) a node's properties, creating the node if absent.
func (g *graphData) putNode(id string, props adapters.Props) {
	if props == nil {
		props = adapters.Props{}
	}
	if n, ok := g.nodes[id]; ok {
		n.props = props
		return
	}
	g.nodes[id] = &graphNode{seq: g.nextSeq, props: props}
	g.nextSeq++
}

// ensureNode creates a node with no properties if it is absent.
func (g *graphData) ensureNode(id string) {
	if _, ok := g.nodes[id]; !ok {
		g.putNode(id, nil)
	}
}

// putEdge sets (replaces) the properties of the undirected edge src-tgt,
// creating missing endpoints with no properties.
func (g *graphData) putEdge(src, tgt string, props adapters.Props) {
	if props == nil {
		props = adapters.Props{}
	}
	g.ensureNode(src)
	g.ensureNode(tgt)
	k := canonicalEdge(src, tgt)
	if e, ok := g.edges[k]; ok {
		e.props = props
		return
	}
	g.edges[k] = &graphEdge{seq: g.nextSeq, src: src, tgt: tgt, props: props}
	g.nextSeq++
	g.link(src, tgt)
	g.link(tgt, src)
}

func (g *graphData) link(a, b string) {
	m := g.adj[a]
	if m == nil {
		m = map[string]struct{}{}
		g.adj[a] = m
	}
	m[b] = struct{}{}
}

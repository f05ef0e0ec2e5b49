package adapters

import (
	"context"
	"encoding/json"
	"time"
)

// Namespace addresses one LightRAG storage instance inside a database:
// LightRAG's workspace ("" is the default workspace) and its namespace
// (full_docs, text_chunks, entities, chunk_entity_relation, doc_status, ...).
type Namespace struct {
	Workspace string `json:"workspace"`
	Name      string `json:"namespace"`
}

func (n Namespace) String() string {
	if n.Workspace == "" {
		return n.Name
	}
	return n.Workspace + "/" + n.Name
}

// Kind is one of LightRAG's four storage kinds.
type Kind string

const (
	KindKV        Kind = "kv"
	KindVector    Kind = "vector"
	KindGraph     Kind = "graph"
	KindDocStatus Kind = "doc_status"
)

// NamespaceInfo describes a namespace a backend already holds.
type NamespaceInfo struct {
	Namespace
	Kind    Kind  `json:"kind"`
	Records int64 `json:"records"` // KV/doc-status records, vectors, or graph nodes
	Edges   int64 `json:"edges,omitempty"`
	Dim     int   `json:"dim,omitempty"` // vector namespaces only
	// Error is set when the namespace exists but cannot be served (for
	// example a corrupt file); the other namespaces keep working.
	Error string `json:"error,omitempty"`
}

// Capabilities declares real differences between backends, so callers never
// branch on a backend's name.
type Capabilities struct {
	// Durable writes: an acknowledged write survives a crash of the proxy.
	Durable bool `json:"durable"`
	// NeedsFlush: writes reach LightRAG's own files only on Flush
	// (index_done_callback). False for backends that write through.
	NeedsFlush bool `json:"needs_flush"`
	// InsertionOrder: document-status lists (DocsByStatuses, DocsByTrackID)
	// come in the order the documents were first stored, as LightRAG's JSON
	// storage iterates its dict; false: ascending id order.
	InsertionOrder bool `json:"insertion_order,omitempty"`
}

// Backend is one database's storage. Every method is safe for concurrent use.
// Opening a namespace that does not exist yet creates it lazily: nothing is
// written until the first write.
type Backend interface {
	KV(ctx context.Context, ns Namespace) (KV, error)
	// Vector opens a vector namespace. dim is the caller's embedding dimension;
	// 0 means "whatever the stored namespace has". A stored namespace of another
	// dimension is an ErrInvalid naming both dimensions.
	Vector(ctx context.Context, ns Namespace, dim int) (Vector, error)
	Graph(ctx context.Context, ns Namespace) (Graph, error)
	DocStatus(ctx context.Context, ns Namespace) (DocStatus, error)

	// Namespaces lists what the backend holds, in a stable order.
	Namespaces(ctx context.Context) ([]NamespaceInfo, error)
	// Flush is LightRAG's index_done_callback for the whole database: after it
	// returns, LightRAG's own files (or tables) hold every acknowledged write.
	Flush(ctx context.Context) error
	// Ping reports whether the backend can serve requests (for /readyz).
	Ping(ctx context.Context) error
	Capabilities() Capabilities
	// Close flushes and releases everything (locks, files, connections).
	Close(ctx context.Context) error
}

// Record is one stored JSON object (a KV value, a doc-status record, the meta
// fields of a vector). It is kept as raw JSON so unknown fields survive
// untouched.
type Record = json.RawMessage

// Props are the properties of a graph node or edge. Values are raw JSON
// scalars: a string, or a number whose text tells int ("3") from float
// ("3.0"), which the GraphML writer needs for attr.type.
type Props map[string]json.RawMessage

// SharedMaintenanceStaleness bounds how old a proxy's view of shared
// maintenance may be: writes can still land that long after it is set.
const SharedMaintenanceStaleness = time.Second

// SharedMaintenance is implemented by backends several proxies may serve at
// once (PostgreSQL): maintenance mode set through one proxy is stored in the
// backend itself, for its default workspace, so every proxy on it refuses
// writes, not only the one whose registry says so.
type SharedMaintenance interface {
	// SetMaintenance records maintenance on or off for every proxy.
	SetMaintenance(ctx context.Context, on bool) error
	// InMaintenance reports the shared state; it may be up to a second old.
	InMaintenance(ctx context.Context) (bool, error)
}

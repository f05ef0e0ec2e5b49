package adapters

import (
	"context"
	"encoding/json"
)

// DefaultCosineThreshold is LightRAG's cosine_better_than_threshold default.
const DefaultCosineThreshold = 0.2

// Vector is LightRAG's BaseVectorStorage, minus embedding: the caller (the
// Python client) embeds and sends vectors.
type Vector interface {
	// Dim is the namespace's embedding dimension (0 while it is empty and no
	// dimension was given).
	Dim() int
	// Upsert replaces each record (fields and vector) by id and sets its
	// created_at to the record's CreatedAt when it is not 0 (a copied
	// record keeps its own), else to now. A vector of another dimension is
	// ErrInvalid.
	Upsert(ctx context.Context, records []VectorRecord) error
	// Query returns up to TopK matches by descending cosine similarity, keeping
	// only similarity >= Threshold (NanoVectorDB). Ties keep storage order.
	Query(ctx context.Context, q VectorQuery) ([]VectorMatch, error)
	// GetByIDs returns one entry per id, in order, nil for a missing id; the
	// records have no vector.
	GetByIDs(ctx context.Context, ids []string) ([]*VectorRecord, error)
	// GetVectorsByIDs returns the stored (un-normalised where known) vectors of
	// the ids that exist.
	GetVectorsByIDs(ctx context.Context, ids []string) (map[string][]float32, error)
	Delete(ctx context.Context, ids []string) error
	// DeleteEntity deletes the record with id "ent-"+md5(name) and any record
	// whose entity_name field equals name.
	DeleteEntity(ctx context.Context, name string) error
	// DeleteEntityRelation deletes every record whose src_id or tgt_id is name.
	DeleteEntityRelation(ctx context.Context, name string) error
	Count(ctx context.Context) (int64, error)
	// Scan pages through records (with vectors) in ascending id order.
	Scan(ctx context.Context, after string, limit int) ([]VectorRecord, error)
	Drop(ctx context.Context) error
}

// VectorRecord is one stored vector and its meta fields.
type VectorRecord struct {
	ID string `json:"id"`
	// Fields is a JSON object of the meta fields (content, entity_name, ...).
	// It never holds the reserved keys __id__, __created_at__, __vector__.
	Fields    Record `json:"fields"`
	CreatedAt int64  `json:"created_at"`
	// CreatedAtRaw is created_at exactly as stored when CreatedAt cannot
	// say it: a fractional number (LightRAG < 1.4 wrote time.time()) or
	// null (no created_at at all). Empty for whole seconds. Only copies
	// between backends (migration, export) carry it.
	CreatedAtRaw json.RawMessage `json:"-"`
	Vector       []float32       `json:"-"`
}

// VectorQuery is one similarity query.
type VectorQuery struct {
	Vector    []float32
	TopK      int
	Threshold float32
	// Exact asks for the exact answer where a backend would otherwise use an
	// approximate index (a migration's verification compares answers).
	Exact bool
}

// VectorMatch is one query result.
type VectorMatch struct {
	VectorRecord
	// Similarity is the cosine similarity (LightRAG calls it "distance").
	Similarity float32 `json:"similarity"`
}

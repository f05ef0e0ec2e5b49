package adapters

import (
	"context"
)

// KV is LightRAG's BaseKVStorage.
//
// Upsert semantics (JsonKVStorage's, the default backend's): each record
// replaces the stored one whole (no field merge); the adapter sets "_id" to the
// key, "update_time" to now (int epoch seconds), and "create_time" to now for a
// new key. For an existing key whose new record has no "create_time" the stored
// one is kept (LightRAG's PG behaviour; JSON's loses it, which is a bug we do
// not copy). In the text_chunks namespace a missing "llm_cache_list" becomes [].
// Use StampKV so every adapter does exactly this.
type KV interface {
	// GetByIDs returns one entry per id, in order; nil for a missing id. Each
	// record carries "_id" and defaults "create_time"/"update_time" to 0 when
	// absent (JsonKVStorage.get_by_id).
	GetByIDs(ctx context.Context, ids []string) ([]Record, error)
	// FilterKeys returns the keys that are NOT stored, in request order.
	FilterKeys(ctx context.Context, keys []string) ([]string, error)
	Upsert(ctx context.Context, records []KVRecord) error
	// Delete removes the ids; missing ids are ignored.
	Delete(ctx context.Context, ids []string) error
	Count(ctx context.Context) (int64, error)
	// Scan pages through the records in ascending id order (byte order),
	// starting after the id `after` ("" = from the start).
	Scan(ctx context.Context, after string, limit int) ([]KVRecord, error)
	// Drop wipes this namespace in this workspace and persists at once.
	Drop(ctx context.Context) error
}

// KVRecord is one KV entry.
type KVRecord struct {
	ID   string `json:"id"`
	Data Record `json:"data"`
}

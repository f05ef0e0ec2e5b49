package adapters

import "context"

// Moving a database between backends (migration, export) copies records in
// their stored form: what the backend keeps, not what a read answers. A KV
// read adds "_id" and default times (KVView); a copy must not, or a record
// that had no create_time would come back with "create_time": 0.

// Batch is one batch of records of one namespace, in stored form.
type Batch struct {
	NS   Namespace
	Kind Kind
	// KV holds KindKV and KindDocStatus records exactly as stored.
	KV []KVRecord
	// Vectors holds KindVector records with their vector and created_at.
	Vectors []VectorRecord
	// Nodes and Edges hold KindGraph; a batch may carry either or both.
	// Nodes are written before edges; an edge's missing endpoint is created
	// with no properties (as UpsertEdges does).
	Nodes []Node
	Edges []EdgeData
	// Online marks a batch loaded while the namespace takes writes (a live
	// migration's backfill): a backend that drops indexes for a bulk load
	// does so only where the rows are its workspace's own, and FinishLoad
	// rebuilds them without blocking writes.
	Online bool
	// KeepIndexes loads a few records into a table as it is (a live
	// migration's dual writes and repairs): no index is dropped.
	KeepIndexes bool
}

// Len is the number of records in the batch.
func (b Batch) Len() int { return len(b.KV) + len(b.Vectors) + len(b.Nodes) + len(b.Edges) }

// Checkpoint is a migration's progress, saved by a Loader together with a
// batch. Key names the job; State is opaque to the backend.
type Checkpoint struct {
	Key   string
	State []byte
}

// Loader is implemented by backends a migration or an export writes into.
type Loader interface {
	// Load writes the batch exactly as given: no stamping of "_id",
	// create_time or update_time, vector created_at kept, graph properties
	// replaced whole (not merged). A record whose id exists is replaced, so
	// loading a batch twice leaves the same rows as loading it once. When
	// cp.Key is not empty, cp is saved in the same atomic step where the
	// backend has one (a PostgreSQL transaction), else after the batch is
	// durable: after a crash the saved checkpoint never claims a batch that
	// is not stored.
	Load(ctx context.Context, b Batch, cp Checkpoint) error
	// LoadedCheckpoint returns the state saved under key (nil, nil if none).
	LoadedCheckpoint(ctx context.Context, key string) ([]byte, error)
	// DeleteCheckpoint forgets key (a finished or discarded job).
	DeleteCheckpoint(ctx context.Context, key string) error
	// FinishLoad builds what a bulk load of ns deferred (indexes,
	// statistics) and makes the loaded records durable in the backend's
	// own storage (the JSON backend flushes its files).
	FinishLoad(ctx context.Context, ns Namespace, kind Kind) error
}

// StoredKVScanner pages through KV or doc-status records in stored form, in
// ascending id order after `after` (Scan of KV answers the read view).
type StoredKVScanner interface {
	ScanStoredKV(ctx context.Context, ns Namespace, kind Kind, after string, limit int) ([]KVRecord, error)
	// GetStoredKV returns the stored form of the ids that exist, in id
	// order (a live migration reads back what a write stored).
	GetStoredKV(ctx context.Context, ns Namespace, kind Kind, ids []string) ([]KVRecord, error)
}

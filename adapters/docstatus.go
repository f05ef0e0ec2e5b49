package adapters

import "context"

// The document statuses LightRAG knows.
var DocStatuses = []string{"pending", "processing", "preprocessed", "processed", "failed"}

// DocStatus is LightRAG's DocStatusStorage. Records are stored exactly as
// given (no "_id", no create_time/update_time; a missing "chunks_list" becomes
// []), and whole-record replace on upsert. Query answers are normalised by
// NormalizeDoc so LightRAG can build DocProcessingStatus from them.
type DocStatus interface {
	// GetByIDs returns the stored records, aligned, nil for missing.
	GetByIDs(ctx context.Context, ids []string) ([]Record, error)
	FilterKeys(ctx context.Context, keys []string) ([]string, error)
	Upsert(ctx context.Context, records []KVRecord) error
	Delete(ctx context.Context, ids []string) error
	Count(ctx context.Context) (int64, error)
	Scan(ctx context.Context, after string, limit int) ([]KVRecord, error)
	Drop(ctx context.Context) error

	// StatusCounts returns every status in DocStatuses (0 when none) plus any
	// other status value found.
	StatusCounts(ctx context.Context) (map[string]int64, error)
	// DocsByStatuses returns the normalised records whose status is in the
	// list: in the order they were first stored where the backend declares
	// Capabilities.InsertionOrder (LightRAG's JSON storage iterates its
	// dict, and LightRAG processes a batch in that order), else by id.
	DocsByStatuses(ctx context.Context, statuses []string) ([]KVRecord, error)
	// DocsByTrackID returns the normalised records with that track_id, in
	// the same order as DocsByStatuses.
	DocsByTrackID(ctx context.Context, trackID string) ([]KVRecord, error)
	// DocsPaginated is get_docs_paginated; the request is validated by
	// DocPageRequest.Normalize first.
	DocsPaginated(ctx context.Context, req DocPageRequest) (DocPage, error)
	// DocByFilePath returns the stored record with that file_path, or nil.
	DocByFilePath(ctx context.Context, path string) (*KVRecord, error)
}

// DocPageRequest is get_docs_paginated's arguments.
type DocPageRequest struct {
	StatusFilter  string `json:"status_filter,omitempty"` // "" = all
	Page          int    `json:"page"`
	PageSize      int    `json:"page_size"`
	SortField     string `json:"sort_field"`     // created_at | updated_at | id | file_path
	SortDirection string `json:"sort_direction"` // asc | desc
}

// DocPage is one page of documents and the total matching.
type DocPage struct {
	Docs  []KVRecord `json:"docs"`
	Total int64      `json:"total"`
}

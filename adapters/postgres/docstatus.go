package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
)

// docStore is a doc-status namespace: the KV operations plus LightRAG's
// status queries, which run on the status, track_id, file_path and
// created_at/updated_at columns.
type docStore struct {
	kvStore
}

var _ adapters.DocStatus = (*docStore)(nil)

func (d *docStore) table() string { return quoteIdent(d.s.t.name) }

func (d *docStore) StatusCounts(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := d.b.ctx(ctx)
	defer cancel()
	where, args := d.s.where()
	rows, err := d.b.pool.Query(ctx, fmt.Sprintf("SELECT COALESCE(status, ''), count(*) FROM %s WHERE %s GROUP BY 1", d.table(), where), args...)
	if err != nil {
		return nil, d.b.mapError(d.op("count statuses of"), err)
	}
	out := make(map[string]int64, len(adapters.DocStatuses))
	for _, s := range adapters.DocStatuses {
		out[s] = 0
	}
	var status string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		out[status] += n
		return nil
	})
	return out, d.b.mapError(d.op("count statuses of"), err)
}

func normalized(recs []adapters.KVRecord) []adapters.KVRecord {
	if recs == nil {
		return []adapters.KVRecord{}
	}
	for i := range recs {
		recs[i].Data = adapters.NormalizeDoc(recs[i].Data)
	}
	return recs
}

func (d *docStore) DocsByStatuses(ctx context.Context, statuses []string) ([]adapters.KVRecord, error) {
	if len(statuses) == 0 {
		return []adapters.KVRecord{}, nil
	}
	ctx, cancel := d.b.ctx(ctx)
	defer cancel()
	where, args := d.s.where()
	args = append(args, statuses)
	recs, err := d.queryRecords(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND status = ANY($%d) ORDER BY id COLLATE "C"`,
		selectList(d.s.t), d.table(), where, len(args)), args...)
	if err != nil {
		return nil, d.b.mapError(d.op("get documents by status of"), err)
	}
	return normalized(recs), nil
}

func (d *docStore) DocsByTrackID(ctx context.Context, trackID string) ([]adapters.KVRecord, error) {
	ctx, cancel := d.b.ctx(ctx)
	defer cancel()
	where, args := d.s.where()
	args = append(args, trackID)
	recs, err := d.queryRecords(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND track_id = $%d ORDER BY id COLLATE "C"`,
		selectList(d.s.t), d.table(), where, len(args)), args...)
	if err != nil {
		return nil, d.b.mapError(d.op("get documents by track id of"), err)
	}
	return normalized(recs), nil
}

// sortExprs are the ORDER BY expressions of get_docs_paginated's sort fields.
var sortExprs = map[string]string{
	"created_at": "created_at",
	"updated_at": "updated_at",
	"id":         `id COLLATE "C"`,
	"file_path":  `file_path COLLATE "C"`,
}

func (d *docStore) DocsPaginated(ctx context.Context, req adapters.DocPageRequest) (adapters.DocPage, error) {
	req, err := req.Normalize()
	if err != nil {
		return adapters.DocPage{}, err
	}
	ctx, cancel := d.b.ctx(ctx)
	defer cancel()
	where, args := d.s.where()
	if req.StatusFilter != "" {
		args = append(args, req.StatusFilter)
		where += fmt.Sprintf(" AND status = $%d", len(args))
	}
	var total int64
	if err := d.b.pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", d.table(), where), args...).Scan(&total); err != nil {
		return adapters.DocPage{}, d.b.mapError(d.op("page through"), err)
	}
	// Missing values sort as the smallest (Python sorts "" first).
	order := sortExprs[req.SortField] + " ASC NULLS FIRST"
	if req.SortDirection == "desc" {
		order = sortExprs[req.SortField] + " DESC NULLS LAST"
	}
	args = append(args, int64(req.PageSize), int64((req.Page-1)*req.PageSize))
	recs, err := d.queryRecords(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s, id COLLATE "C" LIMIT $%d OFFSET $%d`,
		selectList(d.s.t), d.table(), where, order, len(args)-1, len(args)), args...)
	if err != nil {
		return adapters.DocPage{}, d.b.mapError(d.op("page through"), err)
	}
	return adapters.DocPage{Docs: normalized(recs), Total: total}, nil
}

func (d *docStore) DocByFilePath(ctx context.Context, path string) (*adapters.KVRecord, error) {
	ctx, cancel := d.b.ctx(ctx)
	defer cancel()
	where, args := d.s.where()
	args = append(args, path)
	recs, err := d.queryRecords(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND file_path = $%d ORDER BY id COLLATE "C" LIMIT 1`,
		selectList(d.s.t), d.table(), where, len(args)), args...)
	if err != nil {
		return nil, d.b.mapError(d.op("find by file path in"), err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return &recs[0], nil
}

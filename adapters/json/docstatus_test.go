package json

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func docIDs(recs []adapters.KVRecord) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func TestDocStatus(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	ds, err := b.DocStatus(ctx, ns("doc_status"))
	require.NoError(t, err)
	var recs []adapters.KVRecord
	statuses := []string{"processed", "failed", "pending"}
	for i := range 25 {
		recs = append(recs, adapters.KVRecord{ID: fmt.Sprintf("doc-%02d", i), Data: rec(fmt.Sprintf(
			`{"status":%q,"created_at":"2026-01-%02dT00:00:00+00:00","updated_at":"2026-02-%02dT00:00:00+00:00","file_path":"f%02d.txt","track_id":"t%d"}`,
			statuses[i%3], 25-i, i%5+1, i, i%2))})
	}
	recs = append(recs, adapters.KVRecord{ID: "legacy", Data: rec(`{"status":"failed","error":"boom","content":"x"}`)})
	require.NoError(t, ds.Upsert(ctx, recs))

	stored, err := ds.GetByIDs(ctx, []string{"legacy"})
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"failed","error":"boom","content":"x","chunks_list":[]}`, string(stored[0]), "stored as given")

	counts, err := ds.StatusCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"pending": 8, "processing": 0, "preprocessed": 0, "processed": 9, "failed": 9}, counts)

	failed, err := ds.DocsByStatuses(ctx, []string{"failed"})
	require.NoError(t, err)
	require.Len(t, failed, 9)
	require.Equal(t, "legacy", failed[8].ID)
	require.JSONEq(t, `{"status":"failed","chunks_list":[],"error_msg":"boom","file_path":"no-file-path","metadata":{}}`, string(failed[8].Data))

	byTrack, err := ds.DocsByTrackID(ctx, "t1")
	require.NoError(t, err)
	require.Len(t, byTrack, 12)

	tests := []struct {
		name  string
		req   adapters.DocPageRequest
		total int64
		ids   []string
	}{
		{"created asc page 1", adapters.DocPageRequest{PageSize: 10, SortField: "created_at", SortDirection: "asc"}, 26,
			[]string{"legacy", "doc-24", "doc-23", "doc-22", "doc-21", "doc-20", "doc-19", "doc-18", "doc-17", "doc-16"}},
		{"id desc page 3", adapters.DocPageRequest{Page: 3, PageSize: 10, SortField: "id"}, 26,
			[]string{"doc-05", "doc-04", "doc-03", "doc-02", "doc-01", "doc-00"}},
		{"updated desc ties by id", adapters.DocPageRequest{StatusFilter: "pending", PageSize: 10}, 8,
			[]string{"doc-14", "doc-08", "doc-23", "doc-02", "doc-17", "doc-11", "doc-05", "doc-20"}},
		{"file_path asc", adapters.DocPageRequest{StatusFilter: "processed", PageSize: 3, SortField: "file_path", SortDirection: "asc"}, 9,
			[]string{"doc-00", "doc-03", "doc-06", "doc-09", "doc-12", "doc-15", "doc-18", "doc-21", "doc-24"}[:9]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := ds.DocsPaginated(ctx, tc.req)
			require.NoError(t, err)
			require.Equal(t, tc.total, page.Total)
			want := tc.ids
			if len(want) > 10 {
				want = want[:10]
			}
			require.Equal(t, want, docIDs(page.Docs))
		})
	}
	_, err = ds.DocsPaginated(ctx, adapters.DocPageRequest{SortField: "bogus"})
	require.ErrorIs(t, err, adapters.ErrInvalid)

	doc, err := ds.DocByFilePath(ctx, "f07.txt")
	require.NoError(t, err)
	require.Equal(t, "doc-07", doc.ID)
	doc, err = ds.DocByFilePath(ctx, "nope")
	require.NoError(t, err)
	require.Nil(t, doc)
}

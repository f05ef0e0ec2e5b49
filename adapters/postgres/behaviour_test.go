package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func TestVectorQuerySemantics(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	v, err := b.Vector(ctx, adapters.Namespace{Name: "chunks"}, 0)
	require.NoError(t, err)
	recs := []adapters.VectorRecord{
		{ID: "b", Fields: adapters.Record(`{"content":"b"}`), Vector: []float32{1, 0}},
		{ID: "a", Fields: adapters.Record(`{"content":"a"}`), Vector: []float32{2, 0}}, // same direction: a tie, id order
		{ID: "c", Fields: adapters.Record(`{"content":"c"}`), Vector: []float32{1, 1}},
		{ID: "d", Fields: adapters.Record(`{"content":"d"}`), Vector: []float32{-1, 0}},
	}
	require.NoError(t, v.Upsert(ctx, recs))
	m, err := v.Query(ctx, adapters.VectorQuery{Vector: []float32{3, 0}, TopK: 10, Threshold: 0.2})
	require.NoError(t, err)
	var ids []string
	for _, x := range m {
		ids = append(ids, x.ID)
	}
	require.Equal(t, []string{"a", "b", "c"}, ids, "similarity >= threshold, descending, ties by id")
	require.InDelta(t, 1, m[0].Similarity, 1e-6)
	require.InDelta(t, 0.70710677, m[2].Similarity, 1e-6)
	require.JSONEq(t, `{"content":"c"}`, string(m[2].Fields))
	require.InDelta(t, time.Now().Unix(), m[0].CreatedAt, 5)

	m, err = v.Query(ctx, adapters.VectorQuery{Vector: []float32{3, 0}, TopK: 2, Threshold: 0.2})
	require.NoError(t, err)
	require.Len(t, m, 2)

	_, err = v.Query(ctx, adapters.VectorQuery{Vector: []float32{1, 2, 3}, TopK: 2})
	var ae *adapters.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "dimension_mismatch", ae.Code)
	require.Contains(t, ae.Message, "2-dimensional")
	require.Contains(t, ae.Message, "3-dimensional")
	require.ErrorIs(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "x", Vector: []float32{1, 2, 3}}}), adapters.ErrInvalid)
	_, err = b.Vector(ctx, adapters.Namespace{Name: "chunks"}, 5)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "dimension_mismatch", ae.Code)

	// Relationship deletes by endpoint name.
	rel, err := b.Vector(ctx, adapters.Namespace{Name: "relationships"}, 2)
	require.NoError(t, err)
	require.NoError(t, rel.Upsert(ctx, []adapters.VectorRecord{
		{ID: "r1", Fields: adapters.Record(`{"src_id":"A","tgt_id":"B"}`), Vector: []float32{1, 0}},
		{ID: "r2", Fields: adapters.Record(`{"src_id":"C","tgt_id":"A"}`), Vector: []float32{1, 0}},
		{ID: "r3", Fields: adapters.Record(`{"src_id":"C","tgt_id":"D"}`), Vector: []float32{1, 0}},
	}))
	require.NoError(t, rel.DeleteEntityRelation(ctx, "A"))
	n, err := rel.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// Drop empties the namespace; a new dimension is then accepted.
	require.NoError(t, v.Drop(ctx))
	require.Equal(t, 0, v.Dim())
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "x", Vector: []float32{1, 2, 3}}}))
	require.Equal(t, 3, v.Dim())
}

func TestKVSemantics(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "k", Data: adapters.Record(`{"content":"v1","create_time":100}`)}}))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "k", Data: adapters.Record(`{"content":"v2"}`)}}))
	got, err := kv.GetByIDs(ctx, []string{"k", "nope"})
	require.NoError(t, err)
	require.Nil(t, got[1])
	var rec map[string]any
	require.NoError(t, json.Unmarshal(got[0], &rec))
	require.Equal(t, "v2", rec["content"], "whole-record replace")
	require.EqualValues(t, 100, rec["create_time"], "create_time kept")
	require.Equal(t, []any{}, rec["llm_cache_list"])

	// Workspaces are isolated; "" is the configured workspace.
	other, err := b.KV(ctx, adapters.Namespace{Workspace: b.cfg.Workspace + "_x", Name: "text_chunks"})
	require.NoError(t, err)
	n, err := other.Count(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	same, err := b.KV(ctx, adapters.Namespace{Workspace: b.cfg.Workspace, Name: "text_chunks"})
	require.NoError(t, err)
	n, err = same.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NoError(t, other.Upsert(ctx, []adapters.KVRecord{{ID: "k", Data: adapters.Record(`{}`)}}))
	require.NoError(t, other.Drop(ctx))
	n, err = same.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "drop is isolated to its workspace")

	infos, err := b.Namespaces(ctx)
	require.NoError(t, err)
	require.Contains(t, infos, adapters.NamespaceInfo{Namespace: adapters.Namespace{Name: "text_chunks"}, Kind: adapters.KindKV, Records: 1})

	_, err = b.KV(ctx, adapters.Namespace{Name: "../x"})
	require.ErrorIs(t, err, adapters.ErrInvalid)
}

func TestDocStatusQueries(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	var recs []adapters.KVRecord
	for i, s := range []string{"processed", "failed", "pending", "processed"} {
		recs = append(recs, adapters.KVRecord{ID: string(rune('a' + i)), Data: adapters.Record(`{"status":"` + s +
			`","file_path":"f` + string(rune('0'+i)) + `","track_id":"t","created_at":"2025-01-0` + string(rune('1'+i)) + `T00:00:00+00:00"}`)})
	}
	require.NoError(t, ds.Upsert(ctx, recs))
	counts, err := ds.StatusCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"processed": 2, "failed": 1, "pending": 1, "processing": 0, "preprocessed": 0}, counts)
	docs, err := ds.DocsByStatuses(ctx, []string{"processed", "failed"})
	require.NoError(t, err)
	require.Len(t, docs, 3)
	require.Equal(t, "a", docs[0].ID)
	page, err := ds.DocsPaginated(ctx, adapters.DocPageRequest{Page: 1, PageSize: 10, SortField: "created_at", SortDirection: "desc"})
	require.NoError(t, err)
	require.EqualValues(t, 4, page.Total)
	require.Equal(t, "d", page.Docs[0].ID)
	doc, err := ds.DocByFilePath(ctx, "f1")
	require.NoError(t, err)
	require.Equal(t, "b", doc.ID)
	doc, err = ds.DocByFilePath(ctx, "none")
	require.NoError(t, err)
	require.Nil(t, doc)
}

func TestUnreachableIsUnavailableAndRedacted(t *testing.T) {
	ctx := context.Background()
	// A closed port on loopback: connection refused.
	_, err := Open(ctx, Config{DSN: "postgres://user:s3cretpass@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", QueryTimeout: 2 * time.Second})
	require.Error(t, err)
	require.ErrorIs(t, err, adapters.ErrUnavailable)
	var ae *adapters.Error
	require.True(t, errors.As(err, &ae))
	require.Equal(t, "backend_unavailable", ae.Code)
	require.NotContains(t, err.Error(), "s3cretpass")

	_, err = Open(ctx, Config{DSN: "postgres://user:s3cretpass@127.0.0.1:5432/db?sslmode=bogus"})
	require.ErrorIs(t, err, adapters.ErrInvalid)
	require.NotContains(t, err.Error(), "s3cretpass")
	require.Equal(t, "postgres://user:xxxxx@h/db", RedactDSN("postgres://user:pw@h/db"))
}

// A write is all or nothing, on the one-round-trip path (no BEGIN) too: a
// row the server refuses (here a trigger) leaves none of the write's rows.
func TestUpsertIsAtomic(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: adapters.Record(`{"content":"old"}`)}}))
	_, err = b.pool.Exec(ctx, `CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN IF NEW.id = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END$$;
CREATE TRIGGER refuse_boom BEFORE INSERT ON lightrag_doc_chunks FOR EACH ROW EXECUTE FUNCTION refuse_boom()`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = b.pool.Exec(context.Background(), `DROP TRIGGER IF EXISTS refuse_boom ON lightrag_doc_chunks; DROP FUNCTION IF EXISTS refuse_boom()`)
	})
	for _, n := range []int{2, writeBatch + 1} { // one pipeline; a transaction of several batches
		recs := []adapters.KVRecord{{ID: "a", Data: adapters.Record(`{"content":"new"}`)}}
		for i := range n - 2 {
			recs = append(recs, adapters.KVRecord{ID: fmt.Sprintf("c%04d", i), Data: adapters.Record(`{"content":"x"}`)})
		}
		recs = append(recs, adapters.KVRecord{ID: "boom", Data: adapters.Record(`{"content":"x"}`)})
		require.Error(t, kv.Upsert(ctx, recs), "%d rows", n)
		got, err := kv.GetByIDs(ctx, []string{"a", "c0000"})
		require.NoError(t, err)
		require.Contains(t, string(got[0]), `"content":"old"`, "%d rows: the earlier row was rolled back", n)
		require.Nil(t, got[1], "%d rows", n)
	}
}

package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
)

// Records whose round trip needs an extra document: fields no column holds,
// keys out of column order, a value a column would change.
const (
	chunkWithExtras = `{"content":"hello","tokens":3,"full_doc_id":"doc-1","chunk_order_index":0,"file_path":"a.txt","llm_cache_list":[],"custom":{"k":[1,2]},"ratio":1e+16}`
	docWithExtras   = `{"status":"processed","content_summary":"s","content_length":5,"file_path":"a.txt","created_at":"2025-01-02T03:04:05.5+00:00","updated_at":"2025-01-02T04:04:05+00:00","chunks_count":1,"multimodal_processed":true}`
	entityFields    = `{"content":"Alice\nperson","entity_name":"Alice","source_id":"c1","file_path":"a.txt","custom":"x"}`
)

// TestExtrasOutsideLightRAGTables: the rows the adapter writes into
// LightRAG's tables carry nothing of ours; the extras are in the side
// table, and the records read back exactly.
func TestExtrasOutsideLightRAGTables(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "c1", Data: adapters.Record(chunkWithExtras)}}))
	got, err := kv.GetByIDs(ctx, []string{"c1"})
	require.NoError(t, err)
	require.Contains(t, string(got[0]), `"custom":{"k":[1,2]},"ratio":1e+16,`)

	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM hybridrag_row_extras WHERE workspace = $1 AND table_name = 'lightrag_doc_chunks' AND id = 'c1'`,
		b.cfg.Workspace).Scan(&n))
	require.Equal(t, 1, n)

	// A record that is its columns exactly drops its entry (KV records
	// always have one: "_id" has no column).
	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: "d1", Data: adapters.Record(docWithExtras)}}))
	require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: "d1", Data: adapters.Record(`{"content_summary":"s","status":"processed","chunks_list":[]}`)}}))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM hybridrag_row_extras WHERE workspace = $1 AND table_name = 'lightrag_doc_status'`,
		b.cfg.Workspace).Scan(&n))
	require.Zero(t, n, "the record is its columns: no extra left")
	docs, err := ds.GetByIDs(ctx, []string{"d1"})
	require.NoError(t, err)
	require.Equal(t, `{"content_summary":"s","status":"processed","chunks_list":[]}`, string(docs[0]))

	// Deletes take the entries along.
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "c2", Data: adapters.Record(chunkWithExtras)}}))
	require.NoError(t, kv.Delete(ctx, []string{"c2"}))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM hybridrag_row_extras WHERE workspace = $1 AND id = 'c2'`, b.cfg.Workspace).Scan(&n))
	require.Zero(t, n)
	require.NoError(t, kv.Drop(ctx))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM hybridrag_row_extras WHERE workspace = $1 AND table_name = 'lightrag_doc_chunks'`,
		b.cfg.Workspace).Scan(&n))
	require.Zero(t, n)
}

// TestStaleExtraNeverOverrides: a row LightRAG rewrote after the proxy wrote
// it reads as LightRAG's columns say, without the proxy's older extras.
func TestStaleExtraNeverOverrides(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	ws := b.cfg.Workspace
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	// The extra holds a raw value for a column too: tokens 3.0 is no INTEGER.
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "c1", Data: adapters.Record(
		`{"tokens":3.0,"content":"old","full_doc_id":"doc-1","chunk_order_index":0,"file_path":"a.txt","custom":1}`)}}))
	// LightRAG's PGKVStorage.upsert (upsert_text_chunk), a second later.
	_, err = b.pool.Exec(ctx, `INSERT INTO LIGHTRAG_DOC_CHUNKS (workspace, id, tokens, chunk_order_index, full_doc_id, content, file_path, llm_cache_list, create_time, update_time)
VALUES ($1, 'c1', 7, 1, 'doc-1', 'new', 'b.txt', '[]', now() AT TIME ZONE 'UTC' + interval '1 second', now() AT TIME ZONE 'UTC' + interval '1 second')
ON CONFLICT (workspace,id) DO UPDATE SET tokens=EXCLUDED.tokens, chunk_order_index=EXCLUDED.chunk_order_index, full_doc_id=EXCLUDED.full_doc_id,
content = EXCLUDED.content, file_path=EXCLUDED.file_path, llm_cache_list=EXCLUDED.llm_cache_list, update_time = EXCLUDED.update_time`, ws)
	require.NoError(t, err)
	got, err := kv.GetByIDs(ctx, []string{"c1"})
	require.NoError(t, err)
	rec := string(got[0])
	require.Contains(t, rec, `"tokens":7,`, "LightRAG's column, not the stale raw 3.0")
	require.Contains(t, rec, `"content":"new"`)
	require.NotContains(t, rec, "custom", "the stale extra is not applied")

	// The same on a vector table.
	v, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 3)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "ent-1", Fields: adapters.Record(entityFields), Vector: []float32{1, 0, 0}}}))
	_, err = b.pool.Exec(ctx, `UPDATE lightrag_vdb_entity_test_model_3d SET content = 'rewritten', update_time = update_time + interval '1 second'
WHERE workspace = $1 AND id = 'ent-1'`, ws)
	require.NoError(t, err)
	vs, err := v.GetByIDs(ctx, []string{"ent-1"})
	require.NoError(t, err)
	require.JSONEq(t, `{"entity_name":"Alice","content":"rewritten","source_id":"c1","file_path":"a.txt"}`, string(vs[0].Fields))
}

// TestUpgradeMovesExtras: a database of schema version 1 (extras in a
// hybridrag_extra column of LightRAG's tables) is upgraded when a proxy
// opens it: the column is gone, and every record reads back as before.
func TestUpgradeMovesExtras(t *testing.T) {
	dsn := pgtest.FreshDatabase(t)
	ctx := context.Background()
	open := func() *Backend {
		b, err := Open(ctx, Config{DSN: dsn, Workspace: "ws", EmbeddingModel: "test-model"})
		require.NoError(t, err)
		return b
	}
	b := open()
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "c1", Data: adapters.Record(chunkWithExtras)}}))
	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: "d1", Data: adapters.Record(docWithExtras)}}))
	v, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 3)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "ent-1", Fields: adapters.Record(entityFields), Vector: []float32{1, 0, 0}}}))
	read := func(b *Backend) (kvRec, docRec, vecFields []byte) {
		kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
		require.NoError(t, err)
		k, err := kv.GetByIDs(ctx, []string{"c1"})
		require.NoError(t, err)
		ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
		require.NoError(t, err)
		d, err := ds.GetByIDs(ctx, []string{"d1"})
		require.NoError(t, err)
		v, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 0)
		require.NoError(t, err)
		vs, err := v.GetByIDs(ctx, []string{"ent-1"})
		require.NoError(t, err)
		return k[0], d[0], vs[0].Fields
	}
	wantKV, wantDoc, wantVec := read(b)

	// Turn the database back into version 1's layout.
	for _, tbl := range []string{"lightrag_doc_chunks", "lightrag_doc_status", "lightrag_vdb_entity_test_model_3d"} {
		for _, q := range []string{
			`ALTER TABLE ` + tbl + ` ADD COLUMN hybridrag_extra JSONB`,
			`UPDATE ` + tbl + ` t SET hybridrag_extra = x.extra::jsonb FROM hybridrag_row_extras x
WHERE x.workspace = t.workspace AND x.table_name = '` + tbl + `' AND x.id = t.id`,
		} {
			_, err := b.pool.Exec(ctx, q)
			require.NoError(t, err, q)
		}
	}
	for _, q := range []string{`DROP TABLE hybridrag_row_extras`, `DELETE FROM hybridrag_schema_version WHERE version > 1`} {
		_, err := b.pool.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, b.Close(ctx))

	b = open()
	defer b.Close(ctx)
	for _, tbl := range []string{"lightrag_doc_chunks", "lightrag_doc_status", "lightrag_vdb_entity_test_model_3d"} {
		require.NotContains(t, columnsOf(t, b, tbl), extraCol, "the upgrade drops %s.hybridrag_extra", tbl)
	}
	var version int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT max(version) FROM hybridrag_schema_version`).Scan(&version))
	require.Equal(t, SchemaVersion, version)
	gotKV, gotDoc, gotVec := read(b)
	// The moved documents went through JSONB: nested keys in its order.
	requireSameJSON(t, wantKV, gotKV)
	requireSameJSON(t, wantDoc, gotDoc)
	requireSameJSON(t, wantVec, gotVec)
}

// TestRowsEqualLightRAGs: for the same call, the row the adapter writes
// equals, column by column (workspace and times aside), the row LightRAG's
// own SQL (postgres_impl.py's upsert templates) writes, and SELECT * sees
// no column of ours.
func TestRowsEqualLightRAGs(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	ws := b.cfg.Workspace
	lws := ws + "_lightrag" // removed with ws (cleanupWorkspace matches the prefix)
	row := func(table, workspace, id string) string {
		var s string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT (to_jsonb(t) - 'workspace' - 'create_time' - 'update_time')::text FROM `+table+
			` t WHERE workspace = $1 AND id = $2`, workspace, id).Scan(&s))
		return s
	}

	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "c1", Data: adapters.Record(
		`{"tokens":5,"content":"hi","chunk_order_index":0,"full_doc_id":"doc-1","file_path":"a.txt","llm_cache_list":["x"]}`)}}))
	_, err = b.pool.Exec(ctx, `INSERT INTO LIGHTRAG_DOC_CHUNKS (workspace, id, tokens, chunk_order_index, full_doc_id, content, file_path, llm_cache_list, create_time, update_time)
VALUES ($1, 'c1', 5, 0, 'doc-1', 'hi', 'a.txt', '["x"]', now(), now())`, lws)
	require.NoError(t, err)
	require.Equal(t, row("lightrag_doc_chunks", lws, "c1"), row("lightrag_doc_chunks", ws, "c1"))

	v, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 3)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "ent-1", Vector: []float32{1, 0, 0}, Fields: adapters.Record(
		`{"entity_name":"Alice","content":"Alice\nperson","source_id":"c1<SEP>c2","file_path":"a.txt"}`)}}))
	_, err = b.pool.Exec(ctx, `INSERT INTO lightrag_vdb_entity_test_model_3d (workspace, id, entity_name, content, content_vector, chunk_ids, file_path, create_time, update_time)
VALUES ($1, 'ent-1', 'Alice', E'Alice\nperson', '[1,0,0]', '{c1,c2}'::varchar[], 'a.txt', now(), now())`, lws)
	require.NoError(t, err)
	require.Equal(t, row("lightrag_vdb_entity_test_model_3d", lws, "ent-1"), row("lightrag_vdb_entity_test_model_3d", ws, "ent-1"))

	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: adapters.Record(`{"status":"processed","content_summary":"s",` +
		`"content_length":5,"file_path":"a.txt","created_at":"2025-01-02T03:04:05+00:00","updated_at":"2025-01-02T04:04:05+00:00","track_id":"t","chunks_count":1,"chunks_list":["c1"],"metadata":{},"error_msg":null}`)}}))
	_, err = b.pool.Exec(ctx, `INSERT INTO LIGHTRAG_DOC_STATUS (workspace, id, content_summary, content_length, chunks_count, status, file_path, chunks_list, track_id, metadata, error_msg, created_at, updated_at)
VALUES ($1, 'doc-1', 's', 5, 1, 'processed', 'a.txt', '["c1"]', 't', '{}', NULL, '2025-01-02 03:04:05', '2025-01-02 04:04:05')`, lws)
	require.NoError(t, err)
	require.Equal(t, row("lightrag_doc_status", lws, "doc-1"), row("lightrag_doc_status", ws, "doc-1"))
}

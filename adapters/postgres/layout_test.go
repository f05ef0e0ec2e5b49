package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// lightragColumns is LightRAG's layout (contract doc section 4 and the
// PGTableGraphStorage notes): table -> column -> information_schema data_type.
var lightragColumns = map[string]map[string]string{
	"lightrag_doc_full": {"id": "character varying", "workspace": "character varying", "doc_name": "character varying",
		"content": "text", "meta": "jsonb", "create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_doc_chunks": {"id": "character varying", "workspace": "character varying", "full_doc_id": "character varying",
		"chunk_order_index": "integer", "tokens": "integer", "content": "text", "file_path": "text", "llm_cache_list": "jsonb",
		"create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_llm_cache": {"workspace": "character varying", "id": "character varying", "original_prompt": "text",
		"return_value": "text", "chunk_id": "character varying", "cache_type": "character varying", "queryparam": "jsonb",
		"create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_full_entities": {"id": "character varying", "workspace": "character varying", "entity_names": "jsonb",
		"count": "integer", "create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_full_relations": {"id": "character varying", "workspace": "character varying", "relation_pairs": "jsonb",
		"count": "integer", "create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_entity_chunks": {"id": "character varying", "workspace": "character varying", "chunk_ids": "jsonb",
		"count": "integer", "create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_relation_chunks": {"id": "character varying", "workspace": "character varying", "chunk_ids": "jsonb",
		"count": "integer", "create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_doc_status": {"workspace": "character varying", "id": "character varying", "content_summary": "character varying",
		"content_length": "integer", "chunks_count": "integer", "status": "character varying", "file_path": "text",
		"chunks_list": "jsonb", "track_id": "character varying", "metadata": "jsonb", "error_msg": "text",
		"created_at": "timestamp without time zone", "updated_at": "timestamp without time zone"},
	"lightrag_graph_nodes": {"workspace": "text", "namespace": "text", "id": "text", "properties": "jsonb",
		"updated_at": "timestamp with time zone"},
	"lightrag_graph_edges": {"workspace": "text", "namespace": "text", "src_id": "text", "tgt_id": "text",
		"properties": "jsonb", "updated_at": "timestamp with time zone"},
}

var vectorColumns = map[string]map[string]string{
	"lightrag_vdb_chunks": {"id": "character varying", "workspace": "character varying", "full_doc_id": "character varying",
		"chunk_order_index": "integer", "tokens": "integer", "content": "text", "content_vector": "USER-DEFINED",
		"file_path": "text", "create_time": "timestamp without time zone", "update_time": "timestamp without time zone"},
	"lightrag_vdb_entity": {"id": "character varying", "workspace": "character varying", "entity_name": "character varying",
		"content": "text", "content_vector": "USER-DEFINED", "create_time": "timestamp without time zone",
		"update_time": "timestamp without time zone", "chunk_ids": "ARRAY", "file_path": "text"},
	"lightrag_vdb_relation": {"id": "character varying", "workspace": "character varying", "source_id": "character varying",
		"target_id": "character varying", "content": "text", "content_vector": "USER-DEFINED",
		"create_time": "timestamp without time zone", "update_time": "timestamp without time zone", "chunk_ids": "ARRAY", "file_path": "text"},
}

func columnsOf(t *testing.T, b *Backend, table string) map[string]string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT column_name::text, data_type::text FROM information_schema.columns
WHERE table_name = $1 AND table_schema = current_schema()`, table)
	require.NoError(t, err)
	out := map[string]string{}
	var n, typ string
	_, err = pgx.ForEachRow(rows, []any{&n, &typ}, func() error { out[n] = typ; return nil })
	require.NoError(t, err)
	return out
}

func primaryKey(t *testing.T, b *Backend, table string) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT a.attname::text FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`, table)
	require.NoError(t, err)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return cols
}

// TestLayoutTables: LightRAG's KV and doc-status tables have exactly
// LightRAG's columns (schema version 2 moved our extras out of them, see
// TestUpgradeMovesExtras); the graph tables (no LightRAG 1.4.x class reads
// them) keep their hybridrag_extra column.
func TestLayoutTables(t *testing.T) {
	b := MustOpen(t)
	for table, want := range lightragColumns {
		t.Run(table, func(t *testing.T) {
			got := columnsOf(t, b, table)
			if strings.HasPrefix(table, "lightrag_graph_") {
				require.Equal(t, "jsonb", got[extraCol])
				delete(got, extraCol)
			}
			require.Equal(t, want, got, "%s has exactly LightRAG's columns", table)
			pk := primaryKey(t, b, table)
			switch {
			case table == "lightrag_graph_nodes":
				require.Equal(t, []string{"workspace", "namespace", "id"}, pk)
			case table == "lightrag_graph_edges":
				require.Equal(t, []string{"workspace", "namespace", "src_id", "tgt_id"}, pk)
			default:
				require.Equal(t, []string{"workspace", "id"}, pk)
			}
		})
	}
	require.Equal(t, map[string]string{"workspace": "text", "table_name": "text", "id": "text", "stamp": "uuid", "extra": "text"},
		columnsOf(t, b, extrasTable))
	require.Equal(t, []string{"workspace", "table_name", "id"}, primaryKey(t, b, extrasTable))
	var version int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT max(version) FROM hybridrag_schema_version`).Scan(&version))
	require.Equal(t, SchemaVersion, version)
}

func TestLayoutVectorTables(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		naming, model, suffix string
	}{
		{NamingSuffixed, "Text-Embedding-3.Small", "_text_embedding_3_small_3d"},
		{NamingLegacy, "ignored", ""},
	} {
		t.Run(tc.naming, func(t *testing.T) {
			b := MustOpen(t, func(c *Config) { c.VectorTableNaming, c.EmbeddingModel = tc.naming, tc.model })
			if tc.naming == NamingLegacy {
				// Legacy tables have one fixed dimension for every workspace;
				// start from none so this test picks it.
				for base := range vectorColumns {
					var n int64
					if b.pool.QueryRow(ctx, "SELECT count(*) FROM "+base).Scan(&n) == nil && n > 0 {
						t.Skipf("legacy table %s already holds rows", base)
					}
					_, _ = b.pool.Exec(ctx, "DROP TABLE IF EXISTS "+base)
				}
				b.vtables = map[string]int{}
			}
			for ns, base := range map[string]string{"chunks": "lightrag_vdb_chunks", "entities": "lightrag_vdb_entity", "relationships": "lightrag_vdb_relation"} {
				v, err := b.Vector(ctx, adapters.Namespace{Name: ns}, 3)
				require.NoError(t, err)
				require.Equal(t, 3, v.Dim())
				table := base + tc.suffix
				require.Equal(t, vectorColumns[base], columnsOf(t, b, table), "%s has exactly LightRAG's columns", table)
				require.Equal(t, []string{"workspace", "id"}, primaryKey(t, b, table))
				var typmod int
				require.NoError(t, b.pool.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'content_vector'`, table).Scan(&typmod))
				require.Equal(t, 3, typmod)
				var idx string
				require.NoError(t, b.pool.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%hnsw%'`, table).Scan(&idx))
				require.Contains(t, idx, "vector_cosine_ops")
			}
		})
	}
}

func TestVectorIndexByDimension(t *testing.T) {
	if testing.Short() {
		t.Skip("creates wide vector tables")
	}
	b := MustOpen(t)
	ctx := context.Background()
	for _, tc := range []struct {
		dim  int
		want string // "" = no ANN index
	}{{2000, "vector_cosine_ops"}, {2500, "halfvec_cosine_ops"}, {4001, ""}} {
		t.Run(fmt.Sprint(tc.dim), func(t *testing.T) {
			ns := adapters.Namespace{Name: fmt.Sprintf("wide_%d", tc.dim)}
			v, err := b.Vector(ctx, ns, tc.dim)
			require.NoError(t, err)
			table := fmt.Sprintf("hybridrag_vdb_%dd", tc.dim)
			var idx []string
			rows, err := b.pool.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%hnsw%'`, table)
			require.NoError(t, err)
			idx, err = pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			if tc.want == "" {
				require.Empty(t, idx)
			} else {
				require.Len(t, idx, 1)
				require.Contains(t, idx[0], tc.want)
			}
			// Queries work whatever the index.
			vec := make([]float32, tc.dim)
			vec[0] = 1
			require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "a", Fields: adapters.Record(`{}`), Vector: vec}}))
			m, err := v.Query(ctx, adapters.VectorQuery{Vector: vec, TopK: 5, Threshold: 0.2})
			require.NoError(t, err)
			require.Len(t, m, 1)
			require.InDelta(t, 1, m[0].Similarity, 1e-6)
		})
	}
}

// TestLightRAGReadsOurRows reads what the adapter wrote through the columns
// LightRAG's own queries select (postgres_impl.py's SQL templates).
func TestLightRAGReadsOurRows(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	ws := b.cfg.Workspace
	kv := func(ns string) adapters.KV {
		s, err := b.KV(ctx, adapters.Namespace{Name: ns})
		require.NoError(t, err)
		return s
	}
	rec := func(s string) adapters.Record { return adapters.Record(s) }
	require.NoError(t, kv("full_docs").Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: rec(`{"content":"hello","file_path":"a.txt"}`)}}))
	require.NoError(t, kv("text_chunks").Upsert(ctx, []adapters.KVRecord{{ID: "chunk-1", Data: rec(
		`{"tokens":5,"content":"hi","chunk_order_index":0,"full_doc_id":"doc-1","file_path":"a.txt","llm_cache_list":["x"],"create_time":1700000000}`)}}))
	require.NoError(t, kv("llm_response_cache").Upsert(ctx, []adapters.KVRecord{{ID: "default:extract:abc", Data: rec(
		`{"return":"R","cache_type":"extract","original_prompt":"P","chunk_id":"chunk-1","queryparam":null}`)}}))
	require.NoError(t, kv("entity_chunks").Upsert(ctx, []adapters.KVRecord{{ID: "Alice", Data: rec(`{"chunk_ids":["chunk-1"],"count":1}`)}}))

	var content, filePath string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id, content, COALESCE(doc_name, '') as file_path FROM LIGHTRAG_DOC_FULL WHERE workspace=$1 AND id=$2`,
		ws, "doc-1").Scan(new(string), &content, &filePath))
	require.Equal(t, []string{"hello", "a.txt"}, []string{content, filePath})

	var tokens, order int
	var cacheList string
	var created, updated int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id, tokens, COALESCE(content, '') as content, chunk_order_index, full_doc_id, file_path,
COALESCE(llm_cache_list, '[]'::jsonb)::text as llm_cache_list, EXTRACT(EPOCH FROM create_time)::BIGINT as create_time,
EXTRACT(EPOCH FROM update_time)::BIGINT as update_time FROM LIGHTRAG_DOC_CHUNKS WHERE workspace=$1 AND id=$2`, ws, "chunk-1").
		Scan(new(string), &tokens, &content, &order, new(string), &filePath, &cacheList, &created, &updated))
	require.Equal(t, 5, tokens)
	require.Equal(t, `["x"]`, cacheList)
	require.EqualValues(t, 1700000000, created, "create_time is naive UTC epoch")
	require.Greater(t, updated, created)

	var ret, cacheType string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT return_value, cache_type FROM LIGHTRAG_LLM_CACHE WHERE workspace=$1 AND id=$2`,
		ws, "default:extract:abc").Scan(&ret, &cacheType))
	require.Equal(t, []string{"R", "extract"}, []string{ret, cacheType})

	var chunkIDs string
	var count int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT chunk_ids::text, count FROM LIGHTRAG_ENTITY_CHUNKS WHERE workspace=$1 AND id=$2`, ws, "Alice").
		Scan(&chunkIDs, &count))
	require.Equal(t, `["chunk-1"]`, chunkIDs)

	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: rec(`{"status":"processed","content_summary":"s","content_length":5,` +
		`"file_path":"a.txt","created_at":"2025-01-02T03:04:05+00:00","updated_at":"2025-01-02T04:04:05+00:00","track_id":"t","chunks_count":1}`)}}))
	var status, createdAt string
	var chunksList string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT status, to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS'), chunks_list::text FROM LIGHTRAG_DOC_STATUS where workspace=$1 and id=$2`,
		ws, "doc-1").Scan(&status, &createdAt, &chunksList))
	require.Equal(t, []string{"processed", "2025-01-02T03:04:05", "[]"}, []string{status, createdAt, chunksList})

	v, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 3)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: adapters.EntityVectorID("Alice"),
		Fields: rec(`{"entity_name":"Alice","content":"Alice\nperson","source_id":"chunk-1<SEP>chunk-2","file_path":"a.txt"}`), Vector: []float32{1, 0, 0}}}))
	var entity string
	var chunkArr []string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT entity_name, chunk_ids, EXTRACT(EPOCH FROM create_time)::BIGINT as created_at
FROM LIGHTRAG_VDB_ENTITY_test_model_3d WHERE workspace=$1 AND content_vector <=> $4::vector < $2 ORDER BY content_vector <=> $4::vector LIMIT $3`,
		ws, 1-0.2, 5, "[1,0.1,0]").Scan(&entity, &chunkArr, new(int64)))
	require.Equal(t, "Alice", entity)
	require.Equal(t, []string{"chunk-1", "chunk-2"}, chunkArr)

	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "Bob", Props: adapters.Props{"entity_id": json.RawMessage(`"Bob"`)}}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "Bob", Tgt: "Alice", Props: adapters.Props{"weight": json.RawMessage(`1.0`)}}}))
	var src, tgt, props string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT src_id, tgt_id, properties::text FROM lightrag_graph_edges WHERE workspace=$1 AND namespace=$2`,
		ws, "chunk_entity_relation").Scan(&src, &tgt, &props))
	require.Equal(t, []string{"Alice", "Bob", `{"weight": 1.0}`}, []string{src, tgt, props}, "canonical order, JSONB properties")
	// Deleting a node cascades to its edges.
	require.NoError(t, g.DeleteNodes(ctx, []string{"Alice"}))
	_, edges, err := g.Counts(ctx)
	require.NoError(t, err)
	require.Zero(t, edges)
}

// TestWeReadLightRAGRows reads rows inserted the way LightRAG does (no
// hybridrag_extra) through the adapter.
func TestWeReadLightRAGRows(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	ws := b.cfg.Workspace
	_, err := b.pool.Exec(ctx, `INSERT INTO LIGHTRAG_DOC_CHUNKS (workspace, id, tokens, chunk_order_index, full_doc_id, content, file_path, llm_cache_list, create_time, update_time)
VALUES ($1, 'c1', 7, 2, 'd1', 'text', 'f.txt', '["k"]'::jsonb, to_timestamp(1700000000) AT TIME ZONE 'UTC', to_timestamp(1700000001) AT TIME ZONE 'UTC')`, ws)
	require.NoError(t, err)
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	got, err := kv.GetByIDs(ctx, []string{"c1"})
	require.NoError(t, err)
	require.JSONEq(t, `{"_id":"c1","full_doc_id":"d1","chunk_order_index":2,"tokens":7,"content":"text","file_path":"f.txt",
		"llm_cache_list":["k"],"create_time":1700000000,"update_time":1700000001}`, string(got[0]))

	_, err = b.pool.Exec(ctx, `INSERT INTO LIGHTRAG_DOC_STATUS (workspace, id, content_summary, content_length, chunks_count, status, file_path, chunks_list, track_id, metadata, error_msg, created_at, updated_at)
VALUES ($1, 'd1', 's', 4, 1, 'processed', 'f.txt', '["c1"]', 'tr', '{}', NULL, '2025-01-02 03:04:05', '2025-01-02 03:04:06')`, ws)
	require.NoError(t, err)
	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	docs, err := ds.DocsByTrackID(ctx, "tr")
	require.NoError(t, err)
	require.Len(t, docs, 1)
	require.JSONEq(t, `{"content_summary":"s","content_length":4,"file_path":"f.txt","status":"processed","created_at":"2025-01-02T03:04:05+00:00",
		"updated_at":"2025-01-02T03:04:06+00:00","track_id":"tr","chunks_count":1,"chunks_list":["c1"],"error_msg":null,"metadata":{}}`, string(docs[0].Data))
}

// TestConcurrentOpen starts several proxies against a fresh database at once:
// the advisory lock makes schema creation safe.
func TestConcurrentOpen(t *testing.T) {
	dsn := MustDSN(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	// Cleanups run last-registered first: the drop below, then this close
	// (a deferred close ran before the drop and leaked the database).
	t.Cleanup(func() { _ = admin.Close(ctx) })
	db := randomName("hybridrag_race_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Skipf("cannot create a scratch database (%v)", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	scratch := strings.Replace(dsn, "/"+cfg.Database, "/"+db, 1)
	require.NotEqual(t, dsn, scratch, "DSN must name its database in the path")

	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	backends := make([]*Backend, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			backends[i], errs[i] = Open(ctx, Config{DSN: scratch})
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		defer backends[i].Close(ctx)
	}
	// Vector tables created on demand race too.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = backends[i].Vector(ctx, adapters.Namespace{Name: "chunks"}, 8)
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
	}
	var versions []int
	rows, err := backends[0].pool.Query(ctx, `SELECT version FROM hybridrag_schema_version`)
	require.NoError(t, err)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{SchemaVersion}, versions)
	// Opening again is a no-op.
	again, err := Open(ctx, Config{DSN: scratch})
	require.NoError(t, err)
	again.Close(ctx)
	_, err = again.Namespaces(context.Background())
	require.ErrorIs(t, err, adapters.ErrUnavailable, "a closed pool is unavailable, not an internal error")
}

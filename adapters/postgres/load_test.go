package postgres

import (
	"context"
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func sj(v string) json.RawMessage { return adapters.MarshalString(v) }

// finishAfter rebuilds, when the test ends, the indexes a load into an
// empty shared table dropped.
func finishAfter(t *testing.T, b *Backend, kinds map[string]adapters.Kind) {
	t.Cleanup(func() {
		for ns, kind := range kinds {
			require.NoError(t, b.FinishLoad(context.Background(), adapters.Namespace{Name: ns}, kind))
		}
	})
}

// withModel gives the backend its own embedding model, so its vector tables
// are new (and dropped when the test ends).
func withModel(tb testing.TB) func(*Config) {
	model := randomName("m")
	tb.Cleanup(func() { dropModelTables(tb, model) })
	return func(c *Config) { c.EmbeddingModel = model }
}

func dropModelTables(tb testing.TB, model string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, MustDSN(tb))
	if err != nil {
		tb.Logf("drop tables of %s: %v", model, err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename::text FROM pg_tables WHERE tablename LIKE '%\_' || $1 || '\_%'`, model)
	if err != nil {
		tb.Logf("drop tables of %s: %v", model, err)
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+quoteIdent(n)); err != nil {
			tb.Logf("drop %s: %v", n, err)
		}
	}
}

// loadCase is one namespace loaded in stored form and checked through the
// stores' read paths.
type loadCase struct {
	name  string
	batch adapters.Batch
	check func(t *testing.T, b *Backend, batch adapters.Batch)
}

func kvBatch(ns string, kind adapters.Kind, recs ...adapters.KVRecord) adapters.Batch {
	return adapters.Batch{NS: adapters.Namespace{Name: ns}, Kind: kind, KV: recs}
}

func checkStoredKV(t *testing.T, b *Backend, batch adapters.Batch) {
	ctx := context.Background()
	got, err := b.ScanStoredKV(ctx, batch.NS, batch.Kind, "", 0)
	require.NoError(t, err)
	require.Len(t, got, len(batch.KV))
	want := map[string]adapters.Record{}
	ids := make([]string, 0, len(batch.KV))
	for _, r := range batch.KV {
		want[r.ID] = r.Data
		ids = append(ids, r.ID)
	}
	for _, r := range got {
		requireSameJSON(t, want[r.ID], r.Data, "stored form of %s", r.ID)
	}
	// The read view: KVView of what was loaded (doc status: as stored).
	var view []adapters.Record
	if batch.Kind == adapters.KindDocStatus {
		d, err := b.DocStatus(ctx, batch.NS)
		require.NoError(t, err)
		view, err = d.GetByIDs(ctx, ids)
		require.NoError(t, err)
	} else {
		kv, err := b.KV(ctx, batch.NS)
		require.NoError(t, err)
		view, err = kv.GetByIDs(ctx, ids)
		require.NoError(t, err)
	}
	for i, id := range ids {
		w := want[id]
		if batch.Kind == adapters.KindKV {
			w = adapters.KVView(id, w)
		}
		requireSameJSON(t, w, view[i], "read view of %s", id)
	}
}

func loadCases() []loadCase {
	return []loadCase{
		{"kv text_chunks", kvBatch("text_chunks", adapters.KindKV,
			adapters.KVRecord{ID: "c1", Data: adapters.Record(`{"content":"α","tokens":3,"chunk_order_index":0,"full_doc_id":"d1","file_path":"a.pdf","llm_cache_list":["x"]}`)},
			adapters.KVRecord{ID: "c2", Data: adapters.Record(`{"content":"b","create_time":1700000000,"update_time":1700000001,"extra":{"k":[1,2.5]},"score":1.0}`)},
		), checkStoredKV},
		{"kv generic namespace", kvBatch("custom_cache", adapters.KindKV,
			adapters.KVRecord{ID: "k1", Data: adapters.Record(`{"v":1}`)},
			adapters.KVRecord{ID: "k2", Data: adapters.Record(`{}`)},
		), checkStoredKV},
		{"doc status", kvBatch("doc_status", adapters.KindDocStatus,
			adapters.KVRecord{ID: "doc-1", Data: adapters.Record(`{"status":"processed","content_summary":"s","content_length":10,"chunks_count":1,` +
				`"chunks_list":["c1"],"file_path":"a.pdf","track_id":"t1","created_at":"2025-01-02T03:04:05+00:00","updated_at":"2025-01-02T03:04:06.123456+00:00","metadata":{}}`)},
			adapters.KVRecord{ID: "doc-2", Data: adapters.Record(`{"status":"failed","error_msg":"boom","created_at":"2025-01-02T03:04:05Z"}`)},
		), checkStoredKV},
		{"vectors", adapters.Batch{NS: adapters.Namespace{Name: "entities"}, Kind: adapters.KindVector, Vectors: []adapters.VectorRecord{
			{ID: "ent-a", Fields: adapters.Record(`{"entity_name":"A","content":"A desc","source_id":"c1<SEP>c2","file_path":"a.pdf","extra":7}`),
				Vector: []float32{0.1, -0.2, float32(math.Pi), 1e-30}, CreatedAt: 1700000000},
			{ID: "ent-b", Fields: adapters.Record(`{"entity_name":"B"}`), Vector: []float32{1, 2, 3, 4}, CreatedAt: 0},
			// Older NanoVectorDB files: a fractional created_at, and none at all.
			{ID: "ent-c", Fields: adapters.Record(`{"entity_name":"C"}`), Vector: []float32{1, 0, 0, 0}, CreatedAt: 1737427985,
				CreatedAtRaw: json.RawMessage(`1737427985.0156887`)},
			{ID: "ent-d", Fields: adapters.Record(`{}`), Vector: []float32{0, 1, 0, 0}, CreatedAtRaw: json.RawMessage(`null`)},
		}}, func(t *testing.T, b *Backend, batch adapters.Batch) {
			ctx := context.Background()
			v, err := b.Vector(ctx, batch.NS, 0)
			require.NoError(t, err)
			require.Equal(t, 4, v.Dim())
			got, err := v.Scan(ctx, "", 0)
			require.NoError(t, err)
			require.Len(t, got, len(batch.Vectors))
			for i, w := range batch.Vectors {
				require.Equal(t, w.ID, got[i].ID)
				requireSameJSON(t, w.Fields, got[i].Fields)
				require.Equal(t, w.CreatedAt, got[i].CreatedAt, "created_at kept")
				require.Equal(t, string(w.CreatedAtRaw), string(got[i].CreatedAtRaw), "exact created_at kept")
				require.Equal(t, len(w.Vector), len(got[i].Vector))
				for j := range w.Vector {
					require.Equal(t, math.Float32bits(w.Vector[j]), math.Float32bits(got[i].Vector[j]), "vector bits")
				}
			}
		}},
		{"graph", adapters.Batch{NS: adapters.Namespace{Name: "chunk_entity_relation"}, Kind: adapters.KindGraph,
			Nodes: []adapters.Node{
				{ID: "A", Props: adapters.Props{"entity_id": sj("A"), "weight": json.RawMessage(`1.0`), "big": json.RawMessage(`1e+16`)}},
				{ID: "B", Props: adapters.Props{"entity_id": sj("B")}},
			},
			Edges: []adapters.EdgeData{
				{Src: "B", Tgt: "A", Props: adapters.Props{"weight": json.RawMessage(`2.0`), "keywords": sj("k")}},
				{Src: "A", Tgt: "Z", Props: adapters.Props{"weight": json.RawMessage(`3`)}}, // Z undeclared
				{Src: "X", Tgt: "Y", Props: adapters.Props{}},                               // both undeclared
			}}, func(t *testing.T, b *Backend, batch adapters.Batch) {
			ctx := context.Background()
			g, err := b.Graph(ctx, batch.NS)
			require.NoError(t, err)
			nodes, edges, err := g.(*graphStore).Counts(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(5), nodes)
			require.Equal(t, int64(3), edges)
			props, err := g.GetNodes(ctx, []string{"A", "B", "Z", "X"})
			require.NoError(t, err)
			require.Equal(t, batch.Nodes[0].Props, props[0])
			require.Equal(t, batch.Nodes[1].Props, props[1])
			require.Equal(t, adapters.Props{}, props[2], "undeclared endpoint: no properties")
			require.Equal(t, adapters.Props{}, props[3])
			eps, err := g.GetEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}, {Src: "Z", Tgt: "A"}, {Src: "Y", Tgt: "X"}})
			require.NoError(t, err)
			for i, e := range batch.Edges {
				require.Equal(t, e.Props, eps[i])
			}
		}},
	}
}

func TestLoadStoredForm(t *testing.T) {
	b := MustOpen(t, withModel(t))
	ctx := context.Background()
	for _, tc := range loadCases() {
		t.Run(tc.name, func(t *testing.T) {
			cp := adapters.Checkpoint{Key: randomName("job-"), State: []byte(`{"ns":"` + tc.batch.NS.Name + `"}`)}
			require.NoError(t, b.Load(ctx, tc.batch, cp))
			tc.check(t, b, tc.batch)
			state, err := b.LoadedCheckpoint(ctx, cp.Key)
			require.NoError(t, err)
			require.Equal(t, cp.State, state, "checkpoint saved with the batch")

			before := dumpWorkspace(t, b)
			require.NoError(t, b.Load(ctx, tc.batch, cp), "loading a batch twice is harmless")
			tc.check(t, b, tc.batch)
			require.Equal(t, before, dumpWorkspace(t, b), "same rows after a second load")
			require.NoError(t, b.FinishLoad(ctx, tc.batch.NS, tc.batch.Kind))
			require.NoError(t, b.DeleteCheckpoint(ctx, cp.Key))
			state, err = b.LoadedCheckpoint(ctx, cp.Key)
			require.NoError(t, err)
			require.Nil(t, state)
		})
	}
}

// dumpWorkspace renders every row of the backend's workspace (minus the
// graph's and checkpoints' updated_at), to compare two loads.
func dumpWorkspace(t *testing.T, b *Backend) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	rows, err := b.WorkspaceRows(ctx, "")
	require.NoError(t, err)
	for _, tr := range rows {
		q := "SELECT (to_jsonb(x) - 'updated_at')::text FROM " + quoteIdent(tr.Table) + " x WHERE workspace = $1 ORDER BY 1"
		r, err := b.pool.Query(ctx, q, b.cfg.Workspace)
		require.NoError(t, err)
		texts, err := pgx.CollectRows(r, pgx.RowTo[string])
		require.NoError(t, err)
		out[tr.Table] = texts
	}
	return out
}

func TestLoadReplacesExactly(t *testing.T) {
	b := MustOpen(t)
	finishAfter(t, b, map[string]adapters.Kind{"full_docs": adapters.KindKV, "g": adapters.KindGraph})
	ctx := context.Background()
	// A stamped upsert first: the namespace is not fresh, the batch's id is
	// stored, so the load takes the staging + merge path.
	kv, err := b.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "d1", Data: adapters.Record(`{"content":"old","extra":1}`)}}))
	batch := kvBatch("full_docs", adapters.KindKV,
		adapters.KVRecord{ID: "d1", Data: adapters.Record(`{"content":"new","file_path":"f"}`)},
		adapters.KVRecord{ID: "d2", Data: adapters.Record(`{"content":"two"}`)})
	require.NoError(t, b.Load(ctx, batch, adapters.Checkpoint{}))
	checkStoredKV(t, b, batch)

	// Graph properties are replaced whole, not merged.
	g, err := b.Graph(ctx, adapters.Namespace{Name: "g"})
	require.NoError(t, err)
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "A", Props: adapters.Props{"x": sj("1"), "y": sj("2")}}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "A", Tgt: "B", Props: adapters.Props{"x": sj("1"), "y": sj("2")}}}))
	require.NoError(t, b.Load(ctx, adapters.Batch{NS: adapters.Namespace{Name: "g"}, Kind: adapters.KindGraph,
		Nodes: []adapters.Node{{ID: "A", Props: adapters.Props{"x": sj("3")}}},
		Edges: []adapters.EdgeData{{Src: "B", Tgt: "A", Props: adapters.Props{"y": json.RawMessage(`1e+16`)}}}}, adapters.Checkpoint{}))
	props, err := g.GetNodes(ctx, []string{"A"})
	require.NoError(t, err)
	require.Equal(t, adapters.Props{"x": sj("3")}, props[0])
	eps, err := g.GetEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}})
	require.NoError(t, err)
	require.Equal(t, adapters.Props{"y": json.RawMessage(`1e+16`)}, eps[0])
}

func TestLoadFailureLeavesNothing(t *testing.T) {
	b := MustOpen(t, withModel(t))
	ctx := context.Background()
	ns := adapters.Namespace{Name: "text_chunks"}
	finishAfter(t, b, map[string]adapters.Kind{"text_chunks": adapters.KindKV})
	first := kvBatch(ns.Name, adapters.KindKV, adapters.KVRecord{ID: "a", Data: adapters.Record(`{"content":"a"}`)})
	require.NoError(t, b.Load(ctx, first, adapters.Checkpoint{Key: "job", State: []byte("s1")}))

	requireUnchanged := func(t *testing.T) {
		t.Helper()
		got, err := b.ScanStoredKV(ctx, ns, adapters.KindKV, "", 0)
		require.NoError(t, err)
		require.Len(t, got, 1)
		state, err := b.LoadedCheckpoint(ctx, "job")
		require.NoError(t, err)
		require.Equal(t, []byte("s1"), state)
	}

	t.Run("COPY fails on the last row", func(t *testing.T) {
		var recs []adapters.KVRecord
		for i := range 3000 {
			recs = append(recs, adapters.KVRecord{ID: randomName("r"), Data: adapters.Record(`{"content":"x","n":` + strings.Repeat("1", 1+i%5) + `}`)})
		}
		recs = append(recs, adapters.KVRecord{ID: strings.Repeat("i", 300), Data: adapters.Record(`{}`)}) // id > VARCHAR(255)
		err := b.Load(ctx, kvBatch(ns.Name, adapters.KindKV, recs...), adapters.Checkpoint{Key: "job", State: []byte("s2")})
		require.ErrorIs(t, err, adapters.ErrInvalid)
		requireUnchanged(t)
	})
	t.Run("record that is not JSON, found while COPY runs", func(t *testing.T) {
		var recs []adapters.KVRecord
		for range 2000 {
			recs = append(recs, adapters.KVRecord{ID: randomName("r"), Data: adapters.Record(`{"content":"x"}`)})
		}
		recs = append(recs, adapters.KVRecord{ID: "bad", Data: adapters.Record(`{"content":`)})
		err := b.Load(ctx, kvBatch(ns.Name, adapters.KindKV, recs...), adapters.Checkpoint{Key: "job", State: []byte("s2")})
		require.ErrorIs(t, err, adapters.ErrInvalid)
		require.Contains(t, err.Error(), `"bad"`)
		requireUnchanged(t)
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := b.Load(cctx, kvBatch(ns.Name, adapters.KindKV, adapters.KVRecord{ID: "b", Data: adapters.Record(`{}`)}),
			adapters.Checkpoint{Key: "job", State: []byte("s2")})
		require.ErrorIs(t, err, context.Canceled)
		requireUnchanged(t)
	})
	t.Run("dimension mismatch", func(t *testing.T) {
		vns := adapters.Namespace{Name: "chunks"}
		require.NoError(t, b.Load(ctx, adapters.Batch{NS: vns, Kind: adapters.KindVector,
			Vectors: []adapters.VectorRecord{{ID: "v1", Vector: []float32{1, 2, 3}}}}, adapters.Checkpoint{}))
		for _, vecs := range [][]adapters.VectorRecord{
			{{ID: "v2", Vector: []float32{1, 2}}},
			{{ID: "v2", Vector: []float32{1, 2, 3}}, {ID: "v3", Vector: []float32{1, 2, 3, 4}}},
		} {
			err := b.Load(ctx, adapters.Batch{NS: vns, Kind: adapters.KindVector, Vectors: vecs},
				adapters.Checkpoint{Key: "job", State: []byte("s2")})
			var ae *adapters.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, "dimension_mismatch", ae.Code)
			requireUnchanged(t)
		}
		v, err := b.Vector(ctx, vns, 0)
		require.NoError(t, err)
		n, err := v.Count(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
	})
	t.Run("graph property that GraphML cannot hold", func(t *testing.T) {
		err := b.Load(ctx, adapters.Batch{NS: adapters.Namespace{Name: "g"}, Kind: adapters.KindGraph,
			Nodes: []adapters.Node{{ID: "A", Props: adapters.Props{"x": json.RawMessage(`[1]`)}}}},
			adapters.Checkpoint{Key: "job", State: []byte("s2")})
		require.ErrorIs(t, err, adapters.ErrInvalid)
		requireUnchanged(t)
	})
	t.Run("bad checkpoint key", func(t *testing.T) {
		err := b.Load(ctx, first, adapters.Checkpoint{Key: "../x", State: []byte("s2")})
		require.ErrorIs(t, err, adapters.ErrInvalid)
		requireUnchanged(t)
	})
}

func TestLoadDefersVectorIndex(t *testing.T) {
	b := MustOpen(t, withModel(t))
	ctx := context.Background()
	ns := adapters.Namespace{Name: "chunks"}
	var recs []adapters.VectorRecord
	for i := range 50 {
		recs = append(recs, adapters.VectorRecord{ID: randomName("v"), Vector: []float32{float32(i), 1, 2, 3}, CreatedAt: int64(i)})
	}
	require.NoError(t, b.Load(ctx, adapters.Batch{NS: ns, Kind: adapters.KindVector, Vectors: recs}, adapters.Checkpoint{}))
	v, err := b.Vector(ctx, ns, 0)
	require.NoError(t, err)
	name := v.(*vectorStore).t.name
	annIndexes := func() int {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = to_regclass($1) AND a.amname = 'hnsw'`, quoteIdent(name)).Scan(&n))
		return n
	}
	allIndexes := func() int {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_index WHERE indrelid = to_regclass($1) AND NOT indisprimary`,
			quoteIdent(name)).Scan(&n))
		return n
	}
	require.Equal(t, 0, annIndexes(), "the load defers the HNSW index")
	require.Equal(t, 0, allIndexes(), "and the btree ones")
	require.NoError(t, b.FinishLoad(ctx, ns, adapters.KindVector))
	require.Equal(t, 1, annIndexes(), "FinishLoad builds it")
	require.Equal(t, 4, allIndexes(), "id, workspace_id, hybridrag_scan, hnsw")
	require.NoError(t, b.FinishLoad(ctx, ns, adapters.KindVector), "idempotent")
	require.Equal(t, 1, annIndexes())
	m, err := v.Query(ctx, adapters.VectorQuery{Vector: []float32{49, 1, 2, 3}, TopK: 1})
	require.NoError(t, err)
	require.Len(t, m, 1)
	require.Equal(t, recs[49].ID, m[0].ID)
}

func TestWorkspaceRows(t *testing.T) {
	b := MustOpen(t)
	finishAfter(t, b, map[string]adapters.Kind{"text_chunks": adapters.KindKV, "custom": adapters.KindKV, "g": adapters.KindGraph})
	ctx := context.Background()
	require.NoError(t, b.Load(ctx, kvBatch("text_chunks", adapters.KindKV,
		adapters.KVRecord{ID: "a", Data: adapters.Record(`{}`)}, adapters.KVRecord{ID: "b", Data: adapters.Record(`{}`)}),
		adapters.Checkpoint{Key: randomName("job-"), State: []byte("x")}))
	require.NoError(t, b.Load(ctx, kvBatch("custom", adapters.KindKV, adapters.KVRecord{ID: "a", Data: adapters.Record(`{}`)}), adapters.Checkpoint{}))
	require.NoError(t, b.Load(ctx, adapters.Batch{NS: adapters.Namespace{Name: "g"}, Kind: adapters.KindGraph,
		Edges: []adapters.EdgeData{{Src: "a", Tgt: "b"}}}, adapters.Checkpoint{}))
	rows, err := b.WorkspaceRows(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []TableRows{
		{Table: "hybridrag_kv", Namespace: "custom", Rows: 1},
		{Table: "hybridrag_migration_checkpoints", Rows: 1},
		{Table: "lightrag_doc_chunks", Namespace: "text_chunks", Rows: 2},
		{Table: "lightrag_graph_edges", Namespace: "g", Rows: 1},
		{Table: "lightrag_graph_nodes", Namespace: "g", Rows: 2},
	}, rows)
	other, err := b.WorkspaceRows(ctx, randomName("none_"))
	require.NoError(t, err)
	require.Empty(t, other)
}

// freshDatabase creates an empty database, dropped when the test ends, and
// returns its DSN.
func freshDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := MustDSN(tb)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(tb, err)
	dbName := randomName("hybridrag_fresh_")
	_, err = admin.Exec(ctx, "CREATE DATABASE "+quoteIdent(dbName))
	require.NoError(tb, err)
	tb.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(dbName)+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", dbName, err)
		}
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(dsn)
	require.NoError(tb, err)
	u.Path = "/" + dbName
	return u.String()
}

// TestWorkspaceRowsCreatesNothing runs against a database created for the
// test: a backend from Prepare counts nothing and creates no table and no
// extension.
func TestWorkspaceRowsCreatesNothing(t *testing.T) {
	ctx := context.Background()
	fresh := freshDatabase(t)
	dsn := MustDSN(t)

	catalog := func() (tables, exts int) {
		conn, err := pgx.Connect(ctx, fresh)
		require.NoError(t, err)
		defer conn.Close(ctx)
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables))
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_extension WHERE extname = 'vector'`).Scan(&exts))
		return tables, exts
	}
	tables, exts := catalog()
	require.Zero(t, tables)
	require.Zero(t, exts)

	b, err := Prepare(Config{DSN: fresh, Workspace: "ws"})
	require.NoError(t, err)
	rows, err := b.WorkspaceRows(ctx, "")
	require.NoError(t, err)
	require.Empty(t, rows)
	require.NoError(t, b.Close(ctx))
	tables, exts = catalog()
	require.Zero(t, tables, "WorkspaceRows created a table")
	require.Zero(t, exts, "WorkspaceRows created the extension")

	// Unreachable: ErrUnavailable, no password in the message.
	u2, _ := url.Parse(dsn)
	u2.Host = "127.0.0.1:1"
	u2.User = url.UserPassword("postgres", "s3cret-pw")
	b, err = Prepare(Config{DSN: u2.String(), QueryTimeout: 2 * time.Second})
	require.NoError(t, err)
	_, err = b.WorkspaceRows(ctx, "")
	require.ErrorIs(t, err, adapters.ErrUnavailable)
	require.NotContains(t, err.Error(), "s3cret-pw")
}

func TestLoadPaths(t *testing.T) {
	b := MustOpen(t)
	finishAfter(t, b, map[string]adapters.Kind{"text_chunks": adapters.KindKV})
	ctx := context.Background()
	batch := func(ids ...string) adapters.Batch {
		var recs []adapters.KVRecord
		for _, id := range ids {
			recs = append(recs, adapters.KVRecord{ID: id, Data: adapters.Record(`{"content":"` + id + `"}`)})
		}
		return kvBatch("text_chunks", adapters.KindKV, recs...)
	}
	paths := func() [2]int64 { return [2]int64{b.load.direct.Load(), b.load.merged.Load()} }
	require.NoError(t, b.Load(ctx, batch("a", "b"), adapters.Checkpoint{}))
	require.Equal(t, [2]int64{1, 0}, paths(), "empty namespace: direct COPY")
	require.NoError(t, b.Load(ctx, batch("b", "c"), adapters.Checkpoint{}))
	require.Equal(t, [2]int64{1, 1}, paths(), "duplicate key: merged in the same transaction")

	// Another backend (a resumed job) finds the namespace not empty: it looks
	// the batch's ids up first.
	b2, err := Open(ctx, b.cfg)
	require.NoError(t, err)
	defer b2.Close(ctx)
	require.NoError(t, b2.Load(ctx, batch("d"), adapters.Checkpoint{}))
	require.Equal(t, [2]int64{1, 0}, [2]int64{b2.load.direct.Load(), b2.load.merged.Load()}, "new ids: direct COPY")
	require.NoError(t, b2.Load(ctx, batch("d", "a"), adapters.Checkpoint{}))
	require.Equal(t, [2]int64{1, 1}, [2]int64{b2.load.direct.Load(), b2.load.merged.Load()}, "stored ids: merge")
	got, err := b.ScanStoredKV(ctx, adapters.Namespace{Name: "text_chunks"}, adapters.KindKV, "", 0)
	require.NoError(t, err)
	require.Len(t, got, 4)
	requireSameJSON(t, []byte(`{"content":"a"}`), got[0].Data)
}

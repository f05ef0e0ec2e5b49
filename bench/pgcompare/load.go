package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
)

const (
	benchWorkspace = "bench"
	nsChunks       = "chunks"
	nsTextChunks   = "text_chunks"
	nsGraph        = "chunk_entity_relation"
	writeBatch     = 500
)

// loadTimes are the loader's phases, for the report.
type loadTimes struct {
	vectorTable string
	copyRows    time.Duration
	indexBuild  time.Duration
	indexDef    string
	kv          time.Duration
	graph       time.Duration
	analyze     time.Duration
}

// chunkFields is vector row i's meta fields, as LightRAG's chunks namespace
// stores them.
func chunkFields(rng *rand.Rand, i int) (content, file string, order, tokens int) {
	return text(rng, 40), fmt.Sprintf("docs/file-%05d.txt", i/20), i % 20, 60 + rng.IntN(40)
}

// chunkRecord is vector row i's fields in the chunks table's column order,
// so the adapter stores no extra for it, as the COPYed rows have none.
func chunkRecord(rng *rand.Rand, i int) (adapters.Record, error) {
	content, file, order, tokens := chunkFields(rng, i)
	return json.Marshal(struct {
		FullDocID       string `json:"full_doc_id"`
		ChunkOrderIndex int    `json:"chunk_order_index"`
		Tokens          int    `json:"tokens"`
		Content         string `json:"content"`
		FilePath        string `json:"file_path"`
	}{docID(i), order, tokens, content, file})
}

// loadVectors creates the chunks table and its HNSW index through the
// adapter (one upsert), then, because pgvector inserts into an HNSW table
// slowly, drops that index, COPYs the remaining rows in LightRAG's layout and
// rebuilds the index from its own stored definition.
func loadVectors(ctx context.Context, o options, b *postgres.Backend, conn *pgx.Conn, lt *loadTimes, log io.Writer) error {
	v, err := b.Vector(ctx, adapters.Namespace{Name: nsChunks}, o.dim)
	if err != nil {
		return fmt.Errorf("open vector namespace %s: %w", nsChunks, err)
	}
	rng := rand.New(rand.NewPCG(o.seed, 1<<40))
	first, err := chunkRecord(rng, 0)
	if err != nil {
		return err
	}
	if err := v.Upsert(ctx, []adapters.VectorRecord{{ID: chunkID(0), Vector: o.gen.stored(0), Fields: first}}); err != nil {
		return fmt.Errorf("first upsert into %s: %w", nsChunks, err)
	}
	if err := conn.QueryRow(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'content_vector'
WHERE c.relkind = 'r' AND c.relname LIKE 'lightrag_vdb_chunks%'`).Scan(&lt.vectorTable); err != nil {
		return fmt.Errorf("find the chunks vector table: %w", err)
	}
	var index string
	if err := conn.QueryRow(ctx, `SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef ILIKE '%USING hnsw%'`,
		lt.vectorTable).Scan(&index, &lt.indexDef); err != nil {
		return fmt.Errorf("find the HNSW index of %s (did the adapter create one?): %w", lt.vectorTable, err)
	}
	if _, err := conn.Exec(ctx, "DROP INDEX "+pgx.Identifier{index}.Sanitize()); err != nil {
		return fmt.Errorf("drop index %s: %w", index, err)
	}
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
		return fmt.Errorf("register pgvector types: %w", err)
	}
	start := time.Now()
	src := &vectorRows{o: o, rng: rng, i: 0, now: time.Unix(time.Now().Unix(), 0).UTC(), log: log, start: start}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{lt.vectorTable},
		[]string{"id", "workspace", "content_vector", "full_doc_id", "chunk_order_index", "tokens", "content", "file_path",
			"create_time", "update_time"}, src)
	if err != nil {
		return fmt.Errorf("copy vectors into %s: %w", lt.vectorTable, err)
	}
	lt.copyRows = time.Since(start)
	fmt.Fprintf(log, "  copied %d vectors in %s (%.0f rows/s)\n", n, lt.copyRows.Round(time.Millisecond), float64(n)/lt.copyRows.Seconds())
	start = time.Now()
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '"+strings.ReplaceAll(o.indexMemory, "'", "")+"'"); err != nil {
		return fmt.Errorf("set maintenance_work_mem: %w", err)
	}
	if _, err := conn.Exec(ctx, lt.indexDef); err != nil {
		return fmt.Errorf("rebuild index %s: %w", index, err)
	}
	lt.indexBuild = time.Since(start)
	fmt.Fprintf(log, "  built %s in %s (%.0f rows/s)\n", index, lt.indexBuild.Round(time.Millisecond), float64(o.vectors)/lt.indexBuild.Seconds())
	return nil
}

// vectorRows streams rows 1..n-1 to COPY, generating each on demand.
type vectorRows struct {
	o     options
	rng   *rand.Rand
	i     int
	now   time.Time
	row   []any
	log   io.Writer
	start time.Time
}

func (r *vectorRows) Next() bool {
	r.i++
	if r.i >= r.o.vectors {
		return false
	}
	if r.i%20000 == 0 {
		fmt.Fprintf(r.log, "  ... %d vectors (%s)\n", r.i, time.Since(r.start).Round(time.Second))
	}
	content, file, order, tokens := chunkFields(r.rng, r.i)
	r.row = []any{chunkID(r.i), benchWorkspace, pgvector.NewVector(r.o.gen.stored(r.i)), docID(r.i),
		int32(order), int32(tokens), content, file, r.now, r.now}
	return true
}

func (r *vectorRows) Values() ([]any, error) { return r.row, nil }
func (r *vectorRows) Err() error             { return nil }

// loadKV writes text_chunks through the adapter.
func loadKV(ctx context.Context, o options, b *postgres.Backend) error {
	kv, err := b.KV(ctx, adapters.Namespace{Name: nsTextChunks})
	if err != nil {
		return fmt.Errorf("open KV namespace %s: %w", nsTextChunks, err)
	}
	rng := rand.New(rand.NewPCG(o.seed, 2<<40))
	for start := 0; start < o.kvRecords; start += writeBatch {
		var recs []adapters.KVRecord
		for i := start; i < min(start+writeBatch, o.kvRecords); i++ {
			data, err := json.Marshal(map[string]any{"tokens": 900 + rng.IntN(300), "content": text(rng, 160),
				"chunk_order_index": i % 20, "full_doc_id": docID(i), "file_path": fmt.Sprintf("docs/file-%05d.txt", i/20),
				"llm_cache_list": []string{hashID("default:extract", i)}})
			if err != nil {
				return err
			}
			recs = append(recs, adapters.KVRecord{ID: chunkID(i), Data: data})
		}
		if err := kv.Upsert(ctx, recs); err != nil {
			return fmt.Errorf("upsert %s records %d..: %w", nsTextChunks, start, err)
		}
	}
	return nil
}

func props(kv ...any) (adapters.Props, error) {
	p := adapters.Props{}
	for i := 0; i+1 < len(kv); i += 2 {
		raw, err := json.Marshal(kv[i+1])
		if err != nil {
			return nil, err
		}
		p[kv[i].(string)] = raw
	}
	return p, nil
}

// loadGraph writes nodes, then random distinct undirected edges, through the
// adapter.
func loadGraph(ctx context.Context, o options, b *postgres.Backend, conn *pgx.Conn, log io.Writer) error {
	g, err := b.Graph(ctx, adapters.Namespace{Name: nsGraph})
	if err != nil {
		return fmt.Errorf("open graph namespace %s: %w", nsGraph, err)
	}
	rng := rand.New(rand.NewPCG(o.seed, 3<<40))
	now := time.Now().Unix()
	start := time.Now()
	for first := 0; first < o.nodes; first += writeBatch * 4 {
		var nodes []adapters.Node
		for i := first; i < min(first+writeBatch*4, o.nodes); i++ {
			p, err := props("entity_id", nodeID(i), "entity_type", "concept", "description", text(rng, 30),
				"source_id", chunkID(rng.IntN(o.vectors))+adapters.GraphFieldSep+chunkID(rng.IntN(o.vectors)),
				"file_path", "docs/file.txt", "created_at", now)
			if err != nil {
				return err
			}
			nodes = append(nodes, adapters.Node{ID: nodeID(i), Props: p})
		}
		if err := g.UpsertNodes(ctx, nodes); err != nil {
			return fmt.Errorf("upsert nodes %d..: %w", first, err)
		}
	}
	fmt.Fprintf(log, "  graph: %d nodes in %s\n", o.nodes, time.Since(start).Round(time.Millisecond))
	// Without statistics on the fresh nodes table, the adapter's edge
	// upserts run ~40x slower (measured: 4000 edges in 17.8 s instead of
	// 0.45 s; the foreign-key checks against the nodes), so analyze it first
	// as autovacuum would eventually.
	if _, err := conn.Exec(ctx, "ANALYZE lightrag_graph_nodes"); err != nil {
		return fmt.Errorf("analyze lightrag_graph_nodes: %w", err)
	}
	start = time.Now()
	type pair struct{ a, b int }
	seen := make(map[pair]bool, o.edges)
	var batch []adapters.EdgeData
	for len(seen) < o.edges {
		a, c := rng.IntN(o.nodes), rng.IntN(o.nodes)
		if a == c {
			continue
		}
		if c < a {
			a, c = c, a
		}
		if seen[pair{a, c}] {
			continue
		}
		seen[pair{a, c}] = true
		p, err := props("weight", 1.0+float64(rng.IntN(9)), "description", text(rng, 20), "keywords", text(rng, 3),
			"source_id", chunkID(rng.IntN(o.vectors)), "file_path", "docs/file.txt", "created_at", now)
		if err != nil {
			return err
		}
		batch = append(batch, adapters.EdgeData{Src: nodeID(a), Tgt: nodeID(c), Props: p})
		if len(batch) == writeBatch*4 || len(seen) == o.edges {
			if err := g.UpsertEdges(ctx, batch); err != nil {
				return fmt.Errorf("upsert edges: %w", err)
			}
			batch = batch[:0]
		}
	}
	fmt.Fprintf(log, "  graph: %d edges in %s\n", o.edges, time.Since(start).Round(time.Millisecond))
	return nil
}

// load fills the bench database and returns the phase times.
func load(ctx context.Context, o options, dsn string, log io.Writer) (loadTimes, error) {
	var lt loadTimes
	b, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: benchWorkspace, QueryTimeout: time.Hour})
	if err != nil {
		return lt, fmt.Errorf("open the PostgreSQL adapter: %w", err)
	}
	defer b.Close(context.WithoutCancel(ctx))
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return lt, fmt.Errorf("connect to the bench database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(log, "loading %d x %d vectors into %s ...\n", o.vectors, o.dim, nsChunks)
	if err := loadVectors(ctx, o, b, conn, &lt, log); err != nil {
		return lt, err
	}
	start := time.Now()
	if err := loadKV(ctx, o, b); err != nil {
		return lt, err
	}
	lt.kv = time.Since(start)
	fmt.Fprintf(log, "  %d %s records in %s\n", o.kvRecords, nsTextChunks, lt.kv.Round(time.Millisecond))
	start = time.Now()
	if err := loadGraph(ctx, o, b, conn, log); err != nil {
		return lt, err
	}
	lt.graph = time.Since(start)
	fmt.Fprintf(log, "  graph %d nodes / %d edges in %s\n", o.nodes, o.edges, lt.graph.Round(time.Millisecond))
	start = time.Now()
	// Fresh tables have no statistics until autovacuum gets to them; the
	// planner needs them to pick the HNSW index.
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return lt, fmt.Errorf("analyze: %w", err)
	}
	lt.analyze = time.Since(start)
	return lt, nil
}

// reused checks that a kept database holds what the flags describe and
// finds its vector table.
func reused(ctx context.Context, o options, dsn string) (loadTimes, error) {
	var lt loadTimes
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return lt, fmt.Errorf("connect to the reused database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'content_vector'
WHERE c.relkind = 'r' AND c.relname LIKE 'lightrag_vdb_chunks%'`).Scan(&lt.vectorTable); err != nil {
		return lt, fmt.Errorf("find the chunks vector table: %w", err)
	}
	var n int
	var first pgvector.Vector
	if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s), (SELECT content_vector FROM %[1]s WHERE id = $1)`,
		pgx.Identifier{lt.vectorTable}.Sanitize()), chunkID(0)).Scan(&n, &first); err != nil {
		return lt, fmt.Errorf("check the reused database: %w", err)
	}
	if n != o.vectors || !slices.Equal(first.Slice(), o.gen.stored(0)) {
		return lt, fmt.Errorf("the reused database holds %d vectors, or others than --vectors %d --dim %d --data %s --seed %d make",
			n, o.vectors, o.dim, o.data, o.seed)
	}
	return lt, nil
}

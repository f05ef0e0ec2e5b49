package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
)

// result is everything the report prints.
type result struct {
	o         options
	load      loadTimes
	dbBytes   int64
	timings   []timings
	floor     floorTimings
	hnswScans int64
	// vectorPlan is the direct vector query's plan under the adapter's
	// settings; recall compares the proxy's answers with exact ones.
	vectorPlan    string
	pgvector      string // the vector extension's version
	recallFound   int
	recallExact   int
	recallQueries int
	expectedScans int64
	scansBefore   int64
	hwmKB         int64
	rssKB         int64
	startRSS      int64
	loadAvg       string
	total         time.Duration
	setupTime     time.Duration
}

// run is the whole bench: fresh database, load, proxy and reference server,
// measurement, report. Cleanup (child processes, temp dir, database) runs
// whatever fails.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	start := time.Now()
	o.gen = newVectorGen(o)
	res := result{o: o, loadAvg: loadAvg()}
	fmt.Fprintf(out, "pgcompare: %d x %d vectors, %d KV, graph %d/%d, %d iterations (+%d warmup); machine %d cores, load %s\n",
		o.vectors, o.dim, o.kvRecords, o.nodes, o.edges, o.iterations, o.warmup, runtime.NumCPU(), res.loadAvg)
	var db *benchDB
	if o.reuse != "" {
		// A database a --keep run loaded with the same data flags: no load,
		// never dropped.
		dsn, err := withDatabase(o.dsn, o.reuse)
		if err != nil {
			return err
		}
		db, o.keep = &benchDB{admin: o.dsn, name: o.reuse, dsn: dsn}, true
	} else if db, err = createBenchDB(ctx, o.dsn); err != nil {
		return err
	}
	fmt.Fprintf(out, "database %s on %s\n", db.name, redact(o.dsn))
	defer func() {
		if o.keep {
			fmt.Fprintf(out, "kept database %s\n", db.name)
			return
		}
		err = errors.Join(err, db.drop(ctx))
	}()
	dir, err := os.MkdirTemp("", "pgcompare-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := o.proxyBin
	if bin == "" {
		if bin, err = buildProxy(ctx, dir); err != nil {
			return err
		}
	}
	if o.reuse != "" {
		res.load, err = reused(ctx, o, db.dsn)
	} else {
		res.load, err = load(ctx, o, db.dsn, out)
	}
	if err != nil {
		return err
	}
	// Index scans before this run (a reused database has earlier ones).
	if res.scansBefore, err = indexScans(ctx, db.dsn, res.load.vectorTable, 0); err != nil {
		return err
	}
	pool, err := directPool(ctx, db.dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&res.dbBytes); err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	proxy, err := startProxy(ctx, bin, dir, db.dsn)
	if err != nil {
		return err
	}
	defer func() {
		if serr := proxy.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if _, res.startRSS, err = proxy.memory(); err != nil {
		return err
	}
	ref, err := startReference(ctx, dir, db.dsn)
	if err != nil {
		return err
	}
	defer func() {
		if serr := ref.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	res.setupTime = time.Since(start)
	in := makeInputs(o)
	h := newHTTPPaths(proxy.base, o, in)
	defer h.c.CloseIdleConnections()
	rh := newHTTPPaths(ref.base, o, in)
	defer rh.c.CloseIdleConnections()
	bare, err := startBareServer()
	if err != nil {
		return err
	}
	defer bare.close()
	var index string
	if err := pool.QueryRow(ctx, `SELECT COALESCE((SELECT extversion FROM pg_extension WHERE extname = 'vector'), ''),
COALESCE((SELECT indexname::text FROM pg_indexes WHERE tablename = $1 AND indexdef ILIKE '%USING hnsw%' LIMIT 1), '')`,
		res.load.vectorTable).Scan(&res.pgvector, &index); err != nil {
		return fmt.Errorf("pgvector version and the HNSW index of %s: %w", res.load.vectorTable, err)
	}
	sp, err := newSQLPaths(pool, o, in, res.load.vectorTable, res.pgvector)
	if err != nil {
		return err
	}
	// The one plan the vector query is meant to have: fail before timing
	// anything else.
	if res.vectorPlan, err = sp.explainVector(ctx); err != nil {
		return err
	}
	if index == "" {
		return fmt.Errorf("FAIL: the vector table %s has no HNSW index; plan of the vector query:\n%s", res.load.vectorTable, res.vectorPlan)
	}
	if !usesIndex(res.vectorPlan, index, res.load.vectorTable) {
		return fmt.Errorf("FAIL: the vector query does not use the HNSW index %q under the adapter's settings; plan:\n%s", index, res.vectorPlan)
	}
	fmt.Fprintf(out, "measuring through the proxy (%s, pid %d) and straight to PostgreSQL ...\n", proxy.base, proxy.cmd.Process.Pid)
	fmt.Fprintf(out, "... and through the reference server (%s, pid %d, GOMAXPROCS=1) for KV get and get_nodes_edges_batch\n", ref.base, ref.cmd.Process.Pid)
	if res.timings, err = measure(ctx, o, kinds(h, rh, sp), proxy.cpuTime, ref.cpuTime); err != nil {
		return fmt.Errorf("%w\nproxy log tail:\n%s\nreference server log tail:\n%s", err, proxy.tail(), ref.tail())
	}
	if res.floor, err = measureFloor(ctx, o, h, bare.base, proxy.cpuTime); err != nil {
		return fmt.Errorf("%w\nproxy log tail:\n%s", err, proxy.tail())
	}
	fmt.Fprintf(out, "recall of the proxy's vector answers against exact scans (%d queries) ...\n", min(o.recallQueries, o.warmup+o.iterations))
	if err := measureRecall(ctx, o, h, sp, &res); err != nil {
		return fmt.Errorf("%w\nproxy log tail:\n%s", err, proxy.tail())
	}
	if res.hwmKB, res.rssKB, err = proxy.memory(); err != nil {
		return err
	}
	// Sessions report their statistics when they end: stop every client,
	// then count the HNSW index's scans.
	if err := proxy.stop(); err != nil {
		return err
	}
	if err := ref.stop(); err != nil {
		return err
	}
	pool.Close()
	// Every proxy and direct query of the timed loop and the recall's proxy
	// queries scan the index once.
	res.expectedScans = int64(2*(o.warmup+o.iterations) + res.recallQueries)
	if res.hnswScans, err = indexScans(ctx, db.dsn, res.load.vectorTable, res.scansBefore+res.expectedScans); err != nil {
		return err
	}
	res.hnswScans -= res.scansBefore
	res.total = time.Since(start)
	report(out, res)
	var fails []error
	if res.hnswScans < res.expectedScans {
		fails = append(fails, fmt.Errorf("FAIL: the HNSW index was scanned %d times for %d index queries: some vector queries used another plan",
			res.hnswScans, res.expectedScans))
	}
	if r := res.recall(); r < recallTarget {
		fails = append(fails, fmt.Errorf("FAIL: recall@%d %.3f is below %.2f", o.topK, r, recallTarget))
	}
	return errors.Join(fails...)
}

// recallTarget is issue 12's minimum recall@k of the indexed query.
const recallTarget = 0.95

func (r result) recall() float64 {
	if r.recallExact == 0 {
		return 1
	}
	return float64(r.recallFound) / float64(r.recallExact)
}

// measureRecall asks the proxy and an exact scan the same queries: recall
// is the share of the exact answers' ids (threshold applied to both) the
// proxy returned.
func measureRecall(ctx context.Context, o options, h *httpPaths, sp *sqlPaths, res *result) error {
	res.recallQueries = min(o.recallQueries, o.warmup+o.iterations)
	for i := range res.recallQueries {
		p, err := h.vectorQuery(ctx, i)
		if err != nil {
			return fmt.Errorf("recall, query %d: %w", i, err)
		}
		e, err := sp.exactVectorQuery(ctx, i)
		if err != nil {
			return fmt.Errorf("recall, query %d: %w", i, err)
		}
		for _, id := range e.ids {
			if slices.Contains(p.ids, id) {
				res.recallFound++
			}
		}
		res.recallExact += len(e.ids)
	}
	return nil
}

// directPool is configured as the adapter's pool is (pgvector types, UTC).
func directPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error { return pgxvec.RegisterTypes(ctx, c) }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open the direct pool: %w", err)
	}
	return pool, nil
}

// indexScans is how often the vector table's HNSW index was scanned. Ended
// sessions report their counts a moment after they close: it reads again
// for a few seconds while the count is below want.
func indexScans(ctx context.Context, dsn, table string, want int64) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("connect for index statistics: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	for try := 0; ; try++ {
		// A snapshot is kept for the transaction: read each time afresh.
		if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			return 0, fmt.Errorf("read index statistics: %w", err)
		}
		err = conn.QueryRow(ctx, `SELECT COALESCE(sum(s.idx_scan), 0)::bigint FROM pg_stat_user_indexes s JOIN pg_indexes i
ON i.indexname = s.indexrelname AND i.tablename = s.relname WHERE s.relname = $1 AND i.indexdef ILIKE '%USING hnsw%'`, table).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("read index statistics: %w", err)
		}
		if n >= want || try == 20 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func report(w io.Writer, r result) {
	o := r.o
	fmt.Fprintf(w, "\n### PostgreSQL: proxy vs direct pgx (bench/pgcompare)\n\n")
	fmt.Fprintf(w, "Data: %d x %d float32 unit vectors (`--data %s`) in `chunks` (HNSW m=16, ef_construction=64, cosine), %d `text_chunks` records, graph %d nodes / %d edges; PostgreSQL database size **%.2f GB** (%d bytes).\n",
		o.vectors, o.dim, o.data, o.kvRecords, o.nodes, o.edges, float64(r.dbBytes)/1e9, r.dbBytes)
	if o.reuse != "" {
		fmt.Fprintf(w, "Load: none, database %s reused (loaded by an earlier --keep run with the same data flags).\n", o.reuse)
	} else {
		fmt.Fprintf(w, "Load: adapter creates the table and index (1 upsert), index dropped, %d rows COPYed in %s, index rebuilt (%s) in %s; KV through the adapter %s; graph through the adapter %s; ANALYZE %s.\n",
			o.vectors-1, r.load.copyRows.Round(time.Millisecond), "maintenance_work_mem "+o.indexMemory, r.load.indexBuild.Round(time.Millisecond),
			r.load.kv.Round(time.Millisecond), r.load.graph.Round(time.Millisecond), r.load.analyze.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "Run: %d timed iterations per query and path after %d warmup (results checked equal on warmup), one phase per query, paths interleaved, one client, keep-alive HTTP on loopback; %d cores, load average at start %s.\n\n",
		o.iterations, o.warmup, runtime.NumCPU(), r.loadAvg)
	fmt.Fprintf(w, "| query | proxy p50 | proxy p90 | direct p50 | direct p90 | p50 ratio proxy/direct | proxy CPU per call | reference p50 | p50 ratio proxy/reference | reference CPU per call |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range r.timings {
		slices.Sort(t.proxy)
		slices.Sort(t.direct)
		slices.Sort(t.reference)
		pp50, dp50 := percentile(t.proxy, 50), percentile(t.direct, 50)
		refCols := "- | - | -"
		if len(t.reference) > 0 {
			rp50 := percentile(t.reference, 50)
			refCols = fmt.Sprintf("%s | %.2f | %s", ms(rp50), float64(pp50)/float64(rp50), ms(t.referenceCPU/time.Duration(len(t.reference))))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f | %s | %s |\n", t.name, ms(pp50), ms(percentile(t.proxy, 90)),
			ms(dp50), ms(percentile(t.direct, 90)), float64(pp50)/float64(dp50), ms(t.proxyCPU/time.Duration(len(t.proxy))), refCols)
	}
	slices.Sort(r.floor.proxy)
	slices.Sort(r.floor.bare)
	fp, fb := percentile(r.floor.proxy, 50), percentile(r.floor.bare, 50)
	fmt.Fprintf(w, "\nHTTP floor (its own phase: GET /v1/version through the proxy alternated with the same GET to a bare net/http server in the bench process, same client, no storage work): proxy p50 %s (p90 %s), bare p50 %s (p90 %s); the proxy adds %s (%.2fx); proxy CPU per call %s.\n",
		ms(fp), ms(percentile(r.floor.proxy, 90)), ms(fb), ms(percentile(r.floor.bare, 90)), ms(fp-fb), float64(fp)/float64(fb),
		ms(r.floor.proxyCPU/time.Duration(max(len(r.floor.proxy), 1))))
	fmt.Fprintf(w, "Proxy CPU per call: the proxy process's user+system time (/proc, 10 ms ticks) over each query's timed phase, divided by its proxy calls.\n")
	fmt.Fprintf(w, "Reference: the least an HTTP server in its own process can do for the same call: a separate process (this binary, hidden flag --%s) running a bare net/http server (no framework, middleware or logging) with a pgx pool configured as the direct path's, sending the adapter's own SQL and writing the JSON answer by hand into one buffer, under GOMAXPROCS=1 (one P measured best for such a server on these 2-core machines); it is sent the proxy's requests, from a client with connections of its own, in the same phases, the three paths in rotating order (no vector query: \"-\"). Reference CPU per call: the reference process's user+system time, counted as the proxy's.\n",
		referenceFlag)
	verdict := "ok"
	if r.hwmKB >= 100*1024 {
		verdict = "ABOVE TARGET"
	}
	fmt.Fprintf(w, "Proxy peak RSS (VmHWM) **%.1f MB** (target < 100 MB: %s); RSS after startup %.1f MB, at the end %.1f MB.\n",
		float64(r.hwmKB)/1024, verdict, float64(r.startRSS)/1024, float64(r.rssKB)/1024)
	for _, t := range r.timings {
		if t.matches > 0 {
			verdict := "ok"
			if p := percentile(t.proxy, 50); p >= vectorP50Target {
				verdict = "ABOVE TARGET"
			}
			fmt.Fprintf(w, "Vector queries returned %.1f matches on average (threshold %.2f); proxy p50 %s (target < %s: %s).\n",
				float64(t.matches)/float64(len(t.proxy)), o.threshold, ms(percentile(t.proxy, 50)), ms(vectorP50Target), verdict)
		}
	}
	verdict = "ok"
	if r.hnswScans < r.expectedScans {
		verdict = "FAIL: another plan was used"
	}
	fmt.Fprintf(w, "HNSW index scans: %d, expected at least %d (every timed and warm-up query of both paths, and the recall's proxy queries): %s.\n",
		r.hnswScans, r.expectedScans, verdict)
	if r.recallQueries == 0 {
		fmt.Fprintf(w, "Recall@%d of the proxy's answers: not measured (--recall-queries 0).\n", o.topK)
	} else {
		verdict = "ok"
		if r.recall() < recallTarget {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "Recall@%d of the proxy's answers against exact scans (threshold applied to both): **%.3f** (%d of %d ids, %d queries; target >= %.2f: %s).\n",
			o.topK, r.recall(), r.recallFound, r.recallExact, r.recallQueries, recallTarget, verdict)
	}
	iterative := "hnsw.iterative_scan relaxed_order"
	if !strings.Contains(postgres.ANNSettingsSQL(r.pgvector), "iterative_scan") {
		iterative = "no iterative scan before pgvector 0.8"
	}
	fmt.Fprintf(w, "Plan of the vector query under the adapter's settings (pgvector %s: enable_sort off, hnsw.ef_search %s, %s): `%s`.\n",
		r.pgvector, efSearch(o.topK), iterative, planSummary(r.vectorPlan))
	fmt.Fprintf(w, "Wall time: setup+load %s, total %s.\n", r.setupTime.Round(time.Second), r.total.Round(time.Second))
}

// vectorP50Target is issue 12's latency target for the indexed top k.
const vectorP50Target = 15 * time.Millisecond

// usesIndex reports whether plan scans table with index (the vector
// table's HNSW index). Other index scans do not count: the side table of
// extras is read by its own primary key for every row.
func usesIndex(plan, index, table string) bool {
	if index == "" {
		return false
	}
	return strings.Contains(plan, "Index Scan using "+index+" on "+table+" ")
}

// planSummary is the plan's node lines without the query vector.
func planSummary(plan string) string {
	var nodes []string
	for _, l := range strings.Split(plan, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "->"))
		if i := strings.Index(l, "  (cost="); i > 0 {
			nodes = append(nodes, l[:i])
		}
	}
	return strings.Join(nodes, " <- ")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// result is everything the report prints.
type result struct {
	o         options
	load      loadTimes
	dbBytes   int64
	timings   []timings
	floor     floorTimings
	hnswScans int64
	hwmKB     int64
	rssKB     int64
	startRSS  int64
	loadAvg   string
	total     time.Duration
	setupTime time.Duration
}

// run is the whole bench: fresh database, load, proxy, measurement, report.
// Cleanup (proxy, temp dir, database) runs whatever fails.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	start := time.Now()
	res := result{o: o, loadAvg: loadAvg()}
	fmt.Fprintf(out, "pgcompare: %d x %d vectors, %d KV, graph %d/%d, %d iterations (+%d warmup); machine %d cores, load %s\n",
		o.vectors, o.dim, o.kvRecords, o.nodes, o.edges, o.iterations, o.warmup, runtime.NumCPU(), res.loadAvg)
	db, err := createBenchDB(ctx, o.dsn)
	if err != nil {
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
	if res.load, err = load(ctx, o, db.dsn, out); err != nil {
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
	res.setupTime = time.Since(start)
	in := makeInputs(o)
	h := &httpPaths{base: proxy.base, o: o, in: in,
		c: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}}
	defer h.c.CloseIdleConnections()
	bare, err := startBareServer()
	if err != nil {
		return err
	}
	defer bare.close()
	fmt.Fprintf(out, "measuring through the proxy (%s, pid %d) and straight to PostgreSQL ...\n", proxy.base, proxy.cmd.Process.Pid)
	sqlp, err := newSQLPaths(pool, o, in, res.load.vectorTable)
	if err != nil {
		return err
	}
	if res.timings, err = measure(ctx, o, kinds(h, sqlp), proxy.cpuTime); err != nil {
		return fmt.Errorf("%w\nproxy log tail:\n%s", err, proxy.tail())
	}
	if res.floor, err = measureFloor(ctx, o, h, bare.base, proxy.cpuTime); err != nil {
		return fmt.Errorf("%w\nproxy log tail:\n%s", err, proxy.tail())
	}
	if res.hwmKB, res.rssKB, err = proxy.memory(); err != nil {
		return err
	}
	// Sessions report their statistics when they end: stop both clients,
	// then count the HNSW index's scans.
	if err := proxy.stop(); err != nil {
		return err
	}
	pool.Close()
	if res.hnswScans, err = indexScans(ctx, db.dsn, res.load.vectorTable); err != nil {
		return err
	}
	res.total = time.Since(start)
	report(out, res)
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

// indexScans is how often the vector table's HNSW index was scanned.
func indexScans(ctx context.Context, dsn, table string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("connect for index statistics: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	err = conn.QueryRow(ctx, `SELECT COALESCE(sum(s.idx_scan), 0)::bigint FROM pg_stat_user_indexes s JOIN pg_indexes i
ON i.indexname = s.indexrelname AND i.tablename = s.relname WHERE s.relname = $1 AND i.indexdef ILIKE '%USING hnsw%'`, table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read index statistics: %w", err)
	}
	return n, nil
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
	fmt.Fprintf(w, "Data: %d x %d float32 unit vectors in `chunks` (HNSW m=16, ef_construction=64, cosine), %d `text_chunks` records, graph %d nodes / %d edges; PostgreSQL database size **%.2f GB** (%d bytes).\n",
		o.vectors, o.dim, o.kvRecords, o.nodes, o.edges, float64(r.dbBytes)/1e9, r.dbBytes)
	fmt.Fprintf(w, "Load: adapter creates the table and index (1 upsert), index dropped, %d rows COPYed in %s, index rebuilt (%s) in %s; KV through the adapter %s; graph through the adapter %s; ANALYZE %s.\n",
		o.vectors-1, r.load.copyRows.Round(time.Millisecond), "maintenance_work_mem "+o.indexMemory, r.load.indexBuild.Round(time.Millisecond),
		r.load.kv.Round(time.Millisecond), r.load.graph.Round(time.Millisecond), r.load.analyze.Round(time.Millisecond))
	fmt.Fprintf(w, "Run: %d timed iterations per query and path after %d warmup (results checked equal on warmup), one phase per query, paths interleaved, one client, keep-alive HTTP on loopback; %d cores, load average at start %s.\n\n",
		o.iterations, o.warmup, runtime.NumCPU(), r.loadAvg)
	fmt.Fprintf(w, "| query | proxy p50 | proxy p90 | direct p50 | direct p90 | p50 ratio proxy/direct | proxy CPU per call |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|\n")
	for _, t := range r.timings {
		slices.Sort(t.proxy)
		slices.Sort(t.direct)
		pp50, dp50 := percentile(t.proxy, 50), percentile(t.direct, 50)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f | %s |\n", t.name, ms(pp50), ms(percentile(t.proxy, 90)),
			ms(dp50), ms(percentile(t.direct, 90)), float64(pp50)/float64(dp50), ms(t.proxyCPU/time.Duration(len(t.proxy))))
	}
	slices.Sort(r.floor.proxy)
	slices.Sort(r.floor.bare)
	fp, fb := percentile(r.floor.proxy, 50), percentile(r.floor.bare, 50)
	fmt.Fprintf(w, "\nHTTP floor (its own phase: GET /v1/version through the proxy alternated with the same GET to a bare net/http server in the bench process, same client, no storage work): proxy p50 %s (p90 %s), bare p50 %s (p90 %s); the proxy adds %s (%.2fx); proxy CPU per call %s.\n",
		ms(fp), ms(percentile(r.floor.proxy, 90)), ms(fb), ms(percentile(r.floor.bare, 90)), ms(fp-fb), float64(fp)/float64(fb),
		ms(r.floor.proxyCPU/time.Duration(max(len(r.floor.proxy), 1))))
	fmt.Fprintf(w, "Proxy CPU per call: the proxy process's user+system time (/proc, 10 ms ticks) over each query's timed phase, divided by its proxy calls.\n")
	verdict := "ok"
	if r.hwmKB >= 100*1024 {
		verdict = "ABOVE TARGET"
	}
	fmt.Fprintf(w, "Proxy peak RSS (VmHWM) **%.1f MB** (target < 100 MB: %s); RSS after startup %.1f MB, at the end %.1f MB.\n",
		float64(r.hwmKB)/1024, verdict, float64(r.startRSS)/1024, float64(r.rssKB)/1024)
	for _, t := range r.timings {
		if t.matches > 0 {
			fmt.Fprintf(w, "Vector queries returned %.1f matches on average (threshold %.2f); HNSW index scans during the run: %d (both paths, %d queries).\n",
				float64(t.matches)/float64(len(t.proxy)), o.threshold, r.hnswScans, 2*(o.warmup+o.iterations))
		}
	}
	fmt.Fprintf(w, "Wall time: setup+load %s, total %s.\n", r.setupTime.Round(time.Second), r.total.Round(time.Second))
}

// Command migratebench measures `proxy migrate` on a LightRAG folder in one
// run: the whole migration (phases, records per second in the data phase,
// the ETA error after 10 % of the copy) in a child process whose peak RSS
// it reads, then a raw pgx CopyFrom of the same records (read from the same
// files, into bare tables without indexes) as the floor to compare the data
// phase with.
//
// Usage:
//
//	go run ./bench/migratebench --dir /tmp/rag1g --dsn "$HYBRIDRAG_TEST_PG" [--batch 2000] [--raw=true]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

type options struct {
	dir, dsn, workspace, heapDir string
	batch                        int
	raw, keep, child             bool
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "LightRAG folder to migrate (never modified)")
	flag.StringVar(&o.dsn, "dsn", os.Getenv("HYBRIDRAG_TEST_PG"), "PostgreSQL with pgvector")
	flag.StringVar(&o.workspace, "workspace", "", "target workspace (default: a fresh one)")
	flag.IntVar(&o.batch, "batch", migration.DefaultBatchSize, "records per batch")
	flag.BoolVar(&o.raw, "raw", true, "also time a raw CopyFrom of the same records")
	flag.BoolVar(&o.keep, "keep", false, "keep the migrated rows")
	flag.BoolVar(&o.child, "child", false, "internal: run the migration in this process")
	flag.StringVar(&o.heapDir, "heap-profiles", "", "write a heap profile into this folder whenever the migrating process's RSS reaches a new high (16 MiB steps)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.child {
		err = child(ctx, o)
	} else {
		err = parent(ctx, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "migratebench:", err)
		os.Exit(1)
	}
}

// sample is one progress report of the child.
type sample struct {
	T      float64 `json:"t"`
	Phase  string  `json:"phase"`
	Work   float64 `json:"work"`
	ETA    float64 `json:"eta"`
	RSSMiB float64 `json:"rss_mib"` // resident set size now (/proc/self/statm)
}

// watchHeap writes a heap profile each time RSS grows 16 MiB past its high,
// to find what a peak holds.
func watchHeap(dir string) (stop func()) {
	done := make(chan struct{})
	go func() {
		high := rssMiB()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if r := rssMiB(); r > high+16 {
				high = r
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%03.0fMiB.pprof", r)))
				if err == nil {
					_ = pprof.WriteHeapProfile(f)
					_ = f.Close()
				}
			}
		}
	}()
	return func() { close(done) }
}

// rssMiB is this process's resident set size.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return float64(res*int64(os.Getpagesize())) / (1 << 20)
}

// child migrates o.dir (registered as database "bench" in a temporary
// registry) and prints progress samples, then the summary, as JSON lines.
func child(ctx context.Context, o options) error {
	data, err := os.MkdirTemp("", "migratebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	reg := filepath.Join(data, "registry.yaml")
	if err := registry.Update(reg, func(r *registry.Registry) error {
		r.Databases["bench"] = registry.Database{Backend: registry.BackendJSON, Path: dir}
		return nil
	}); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	sw := &backends.Switcher{RegistryPath: reg, DataDir: data, Catalog: backends.Default(log)}
	rn := &migration.Runner{Switcher: sw, Log: log}
	if o.heapDir != "" {
		stop := watchHeap(o.heapDir)
		defer stop()
	}
	out := json.NewEncoder(os.Stdout)
	start := time.Now()
	last := time.Time{}
	sum, err := rn.Migrate(ctx, "bench", migration.Request{To: registry.BackendPostgres, DSN: o.dsn, Workspace: o.workspace,
		EmbeddingModel: "bench", BatchSize: o.batch}, func(p migration.Progress) {
		if time.Since(last) < 200*time.Millisecond && p.Phase == migration.PhaseCopy {
			return
		}
		last = time.Now()
		work := 0.0
		if p.TotalBytes > 0 {
			work = float64(p.Bytes) / float64(p.TotalBytes)
		}
		_ = out.Encode(sample{T: time.Since(start).Seconds(), Phase: p.Phase, Work: work, ETA: p.ETASeconds, RSSMiB: rssMiB()})
	})
	if sum != nil {
		_ = out.Encode(map[string]any{"summary": sum})
	}
	return err
}

type result struct {
	summary  *migration.Summary
	samples  []sample
	maxRSSKB int64
	wall     time.Duration
}

func runChild(ctx context.Context, o options) (*result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-child", "-dir", o.dir, "-dsn", o.dsn, "-workspace", o.workspace, fmt.Sprintf("-batch=%d", o.batch),
		"-heap-profiles", o.heapDir}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res := &result{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if strings.HasPrefix(string(line), `{"summary"`) {
			var s struct {
				Summary *migration.Summary `json:"summary"`
			}
			if err := json.Unmarshal(line, &s); err == nil {
				res.summary = s.Summary
			}
			continue
		}
		var sm sample
		if json.Unmarshal(line, &sm) == nil {
			res.samples = append(res.samples, sm)
		}
	}
	err = cmd.Wait()
	res.wall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSSKB = ru.Maxrss
	}
	if err != nil {
		return res, fmt.Errorf("migration: %w", err)
	}
	return res, nil
}

func parent(ctx context.Context, o options, w io.Writer) error {
	if o.dir == "" || o.dsn == "" {
		return errors.New("give --dir and --dsn")
	}
	if o.workspace == "" {
		o.workspace = fmt.Sprintf("bench_%d", time.Now().UnixNano()%1e9)
	}
	src := migration.NewFolderSource(o.dir)
	units, err := src.Units(ctx)
	if err != nil {
		return err
	}
	var bytes int64
	for _, u := range units {
		bytes += u.Bytes
	}
	res, err := runChild(ctx, o)
	if !o.keep {
		defer cleanup(context.WithoutCancel(ctx), o)
	}
	if err != nil {
		return err
	}
	s := res.summary
	phases := map[string]float64{}
	for _, p := range s.Phases {
		phases[p.Phase] += p.Seconds
	}
	var records int64
	for _, u := range s.Units {
		records += u.Records
	}
	copySecs := phases[migration.PhaseCopy]
	fmt.Fprintf(w, "folder %s: %.1f MB, %d records in %d namespaces\n", o.dir, float64(bytes)/1e6, records, len(units))
	fmt.Fprintf(w, "whole migration: %.1f s (wall %.1f s), verified %v, cut over %v\n", s.Seconds, res.wall.Seconds(), s.Verified, s.CutOver)
	for _, p := range s.Phases {
		fmt.Fprintf(w, "  %-22s %7.1f s\n", p.Phase, p.Seconds)
	}
	fmt.Fprintf(w, "data phase: %.0f records/s, %.1f MB/s\n", float64(records)/copySecs, float64(bytes)/1e6/copySecs)
	fmt.Fprintf(w, "peak RSS of the migrating process: %.1f MB (largest sampled, by phase:%s)\n", float64(res.maxRSSKB)/1024, rssByPhase(res.samples))
	if e, ok := etaError(res.samples); ok {
		fmt.Fprintf(w, "ETA after 10%% of the copy: predicted %.1f s, actual %.1f s, error %.0f%%\n", e.pred, e.actual, 100*e.err)
	}
	if o.raw {
		n, d, err := rawCopy(ctx, o, src, units)
		if err != nil {
			return fmt.Errorf("raw copy: %w", err)
		}
		rate := float64(n) / d.Seconds()
		fmt.Fprintf(w, "raw pgx CopyFrom of the same records: %d in %.1f s = %.0f records/s\n", n, d.Seconds(), rate)
		fmt.Fprintf(w, "data phase / raw CopyFrom: %.2fx\n", float64(records)/copySecs/rate)
	}
	return nil
}

// rssByPhase is the largest sampled RSS of each phase, in phase order.
func rssByPhase(samples []sample) string {
	var order []string
	peak := map[string]float64{}
	for _, s := range samples {
		if _, ok := peak[s.Phase]; !ok {
			order = append(order, s.Phase)
		}
		peak[s.Phase] = max(peak[s.Phase], s.RSSMiB)
	}
	out := ""
	for _, p := range order {
		out += fmt.Sprintf(" %s %.0f MiB,", p, peak[p])
	}
	return strings.TrimSuffix(out, ",")
}

type etaResult struct{ pred, actual, err float64 }

// etaError compares the ETA reported once 10 % of the copy was done with
// the copy's actual remaining time.
func etaError(samples []sample) (etaResult, bool) {
	var at *sample
	end := -1.0
	for i := range samples {
		s := &samples[i]
		if s.Phase == migration.PhaseCopy && at == nil && s.Work >= 0.1 && s.ETA >= 0 {
			at = s
		}
		if s.Phase != migration.PhaseCopy && at != nil && end < 0 {
			end = s.T
		}
	}
	if at == nil || end < 0 {
		return etaResult{}, false
	}
	actual := end - at.T
	return etaResult{pred: at.ETA, actual: actual, err: abs(at.ETA-actual) / actual}, true
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// rawCopy streams the same records from the files and COPYs them into bare
// tables (no indexes, no checkpoints, no column split): the floor.
func rawCopy(ctx context.Context, o options, src *migration.FolderSource, units []migration.Unit) (int64, time.Duration, error) {
	conn, err := pgx.Connect(ctx, o.dsn)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
		return 0, 0, err
	}
	ddl := []string{
		`DROP TABLE IF EXISTS bench_raw_kv, bench_raw_vec, bench_raw_node, bench_raw_edge`,
		`CREATE UNLOGGED TABLE bench_raw_kv (workspace text, id text, data jsonb)`,
		`CREATE UNLOGGED TABLE bench_raw_vec (workspace text, id text, fields jsonb, created_at bigint, v vector)`,
		`CREATE UNLOGGED TABLE bench_raw_node (workspace text, id text, props jsonb)`,
		`CREATE UNLOGGED TABLE bench_raw_edge (workspace text, src text, tgt text, props jsonb)`,
	}
	for _, q := range ddl {
		if _, err := conn.Exec(ctx, q); err != nil {
			return 0, 0, err
		}
	}
	defer conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_raw_kv, bench_raw_vec, bench_raw_node, bench_raw_edge`)
	var n int64
	start := time.Now()
	for _, u := range units {
		err := src.Stream(ctx, u, 0, o.batch, nil, func(b adapters.Batch) error {
			ws := u.NS.Workspace
			var rows [][]any
			var table pgx.Identifier
			var cols []string
			switch {
			case len(b.KV) > 0:
				table, cols = pgx.Identifier{"bench_raw_kv"}, []string{"workspace", "id", "data"}
				for _, r := range b.KV {
					rows = append(rows, []any{ws, r.ID, string(r.Data)})
				}
			case len(b.Vectors) > 0:
				table, cols = pgx.Identifier{"bench_raw_vec"}, []string{"workspace", "id", "fields", "created_at", "v"}
				for _, r := range b.Vectors {
					rows = append(rows, []any{ws, r.ID, string(r.Fields), r.CreatedAt, pgvector.NewVector(r.Vector)})
				}
			}
			if len(b.Nodes) > 0 {
				nrows := make([][]any, 0, len(b.Nodes))
				for _, nd := range b.Nodes {
					p, _ := json.Marshal(nd.Props)
					nrows = append(nrows, []any{ws, nd.ID, string(p)})
				}
				c, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_raw_node"}, []string{"workspace", "id", "props"}, pgx.CopyFromRows(nrows))
				n += c
				if err != nil {
					return err
				}
			}
			if len(b.Edges) > 0 {
				erows := make([][]any, 0, len(b.Edges))
				for _, e := range b.Edges {
					p, _ := json.Marshal(e.Props)
					erows = append(erows, []any{ws, e.Src, e.Tgt, string(p)})
				}
				c, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_raw_edge"}, []string{"workspace", "src", "tgt", "props"}, pgx.CopyFromRows(erows))
				n += c
				if err != nil {
					return err
				}
			}
			if len(rows) == 0 {
				return nil
			}
			c, err := conn.CopyFrom(ctx, table, cols, pgx.CopyFromRows(rows))
			n += c
			return err
		})
		if err != nil {
			return n, time.Since(start), err
		}
	}
	return n, time.Since(start), nil
}

// cleanup drops the migrated rows (the default workspace of the run).
func cleanup(ctx context.Context, o options) {
	b, err := postgres.Open(ctx, postgres.Config{DSN: o.dsn, Workspace: o.workspace, EmbeddingModel: "bench",
		QueryTimeout: 10 * time.Minute}) // dropping a GB takes a while
	if err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
		return
	}
	defer b.Close(ctx)
	if err := migration.Discard(ctx, b); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
	}
}

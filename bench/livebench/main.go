// Command livebench measures a live migration from the client's side, in
// one run: the latency (p50, p99) of a KV get of 10 ids and of a vector
// top-10 query, and the throughput of an ingest-like write loop, before the
// migration, during its backfill (dual-write), during its verification,
// during shadow reads, and after the cutover (on PostgreSQL).
//
// Usage:
//
//	go run ./bench/livebench --dir /tmp/gen-50MB --dsn "$DSN" [--seconds 10]
//
// The folder (made by `proxy gen`) is copied first and never modified. The
// proxy runs in this process and is called over HTTP on loopback.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/proxy"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
)

type options struct {
	dir, dsn  string
	seconds   float64
	ingesters int
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "LightRAG folder made by `proxy gen` (copied, never modified)")
	flag.StringVar(&o.dsn, "dsn", os.Getenv("HYBRIDRAG_BENCH_PG"), "PostgreSQL with pgvector (an empty database of its own)")
	flag.Float64Var(&o.seconds, "seconds", 10, "seconds measured before the migration, in the shadow phase and after the cutover")
	flag.IntVar(&o.ingesters, "ingesters", 2, "concurrent ingest loops")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "livebench:", err)
		os.Exit(1)
	}
}

// phaseStats collects one phase's figures.
type phaseStats struct {
	mu        sync.Mutex
	kv, vq    []time.Duration
	writes    int64
	failures  int64
	started   time.Time
	stopped   time.Time
	firstSeen bool
}

func run(ctx context.Context, o options) error {
	if o.dir == "" || o.dsn == "" {
		return errors.New("give --dir and --dsn (or HYBRIDRAG_BENCH_PG)")
	}
	work, err := os.MkdirTemp("", "livebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-r", o.dir, filepath.Join(data, "bench")).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", o.dir, err, out)
	}
	reg := filepath.Join(data, "registry.yaml")
	if err := os.WriteFile(reg, []byte("version: 1\ndatabases:\n  bench: {backend: json, path: bench}\n"), 0o600); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := proxy.NewServer(ctx, proxy.Config{RegistryPath: reg, DataDir: data, Logger: log, Backends: backends.Default(log),
		NoMonitor: true, Version: "bench"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	url := "http://" + ln.Addr().String()
	c := proxyclient.New(url, "bench", "", nil)

	chunks, err := c.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	if err != nil {
		return err
	}
	page, err := chunks.Scan(ctx, "", 1000)
	if err != nil {
		return err
	}
	ids := make([]string, len(page))
	for i, r := range page {
		ids[i] = r.ID
	}
	vec, err := c.Vector(ctx, adapters.Namespace{Name: "chunks"}, 0)
	if err != nil {
		return err
	}
	dim := vec.Dim()
	if len(ids) < 10 || dim == 0 {
		return fmt.Errorf("%s has too few chunks (%d) or no chunk vectors", o.dir, len(ids))
	}
	fmt.Printf("folder %s: %d-dimensional chunk vectors; %d ingest loops\n", o.dir, dim, o.ingesters)

	var phase atomic.Value
	phase.Store("before")
	stats := map[string]*phaseStats{}
	var smu sync.Mutex
	statsOf := func(p string) *phaseStats {
		smu.Lock()
		defer smu.Unlock()
		s := stats[p]
		if s == nil {
			s = &phaseStats{started: time.Now()}
			stats[p] = s
		}
		s.stopped = time.Now()
		return s
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	// The probe: one client alternating a KV get and a vector query.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		q := make([]float32, dim)
		for !done.Load() {
			get := make([]string, 10)
			for i := range get {
				get[i] = ids[rng.IntN(len(ids))]
			}
			t0 := time.Now()
			_, err := chunks.GetByIDs(ctx, get)
			d := time.Since(t0)
			s := statsOf(phase.Load().(string))
			s.mu.Lock()
			if err == nil {
				s.kv = append(s.kv, d)
			} else {
				s.failures++
			}
			s.mu.Unlock()
			for i := range q {
				q[i] = float32(rng.NormFloat64())
			}
			t0 = time.Now()
			_, err = vec.Query(ctx, adapters.VectorQuery{Vector: q, TopK: 10, Threshold: -1})
			d = time.Since(t0)
			s = statsOf(phase.Load().(string))
			s.mu.Lock()
			if err == nil {
				s.vq = append(s.vq, d)
			} else {
				s.failures++
			}
			s.mu.Unlock()
		}
	}()
	// Ingest loops: what LightRAG writes per chunk (the chunk, its vector,
	// an entity node and a relation edge).
	graph, err := c.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	if err != nil {
		return err
	}
	for w := range o.ingesters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			v := make([]float32, dim)
			for i := 0; !done.Load(); i++ {
				id := fmt.Sprintf("bench-%d-%d", w, i)
				for j := range v {
					v[j] = float32(rng.NormFloat64())
				}
				content, _ := json.Marshal(map[string]any{"content": fmt.Sprintf("chunk %s %0200d", id, i), "tokens": 200})
				err := chunks.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: content}})
				if err == nil {
					err = vec.Upsert(ctx, []adapters.VectorRecord{{ID: id, Vector: v, Fields: adapters.Record(`{"content":"x"}`)}})
				}
				if err == nil {
					err = graph.UpsertEdges(ctx, []adapters.EdgeData{{Src: "E" + id, Tgt: fmt.Sprintf("E-hub-%d", i%50),
						Props: adapters.Props{"weight": []byte("1.0")}}})
				}
				s := statsOf(phase.Load().(string))
				s.mu.Lock()
				if err == nil {
					s.writes++
				} else {
					s.failures++
				}
				s.mu.Unlock()
			}
		}()
	}
	wait := func(d time.Duration) { time.Sleep(d) }
	measure := time.Duration(o.seconds * float64(time.Second))
	wait(measure)

	hc := &http.Client{Timeout: time.Minute}
	call := func(method, path string, body any, out any) error {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, url+path, rd)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		return json.Unmarshal(b, out)
	}
	var st migration.LiveStatus
	started := time.Now()
	if err := call("POST", "/v1/databases/bench/migration", map[string]any{"to": "postgres", "dsn": o.dsn, "mode": "live",
		"cutover": "manual", "clean_requests": 1 << 40, "clean_minutes": 0, "embedding_model": "bench"}, &st); err != nil {
		done.Store(true)
		wg.Wait()
		return err
	}
	timeline := []string{}
	for {
		if err := call("GET", "/v1/databases/bench/migration", nil, &st); err != nil {
			return err
		}
		if st.State == migration.LiveFailed || st.State == migration.LiveAborted {
			return fmt.Errorf("migration %s: %+v", st.State, st.Error)
		}
		if cur := phase.Load().(string); cur != st.Phase {
			timeline = append(timeline, fmt.Sprintf("%s at %.1fs", st.Phase, time.Since(started).Seconds()))
			phase.Store(st.Phase)
		}
		if st.Phase == "shadow" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wait(measure)
	if err := call("POST", "/v1/databases/bench/migration/cutover", map[string]any{"force": true}, &st); err != nil {
		return err
	}
	for st.State != migration.LiveDone {
		time.Sleep(50 * time.Millisecond)
		if err := call("GET", "/v1/databases/bench/migration", nil, &st); err != nil {
			return err
		}
	}
	timeline = append(timeline, fmt.Sprintf("cut over at %.1fs", time.Since(started).Seconds()))
	phase.Store("after (PostgreSQL)")
	wait(measure)
	done.Store(true)
	wg.Wait()
	fmt.Printf("timeline: %v; %d records copied, %d verification rounds, %d repaired, %d shadow reads compared (%d skipped), %d mismatches\n",
		timeline, st.Records, st.VerifyRounds, st.Repaired, st.Shadow.Compared, st.Shadow.Skipped, st.Shadow.Mismatches)
	for _, m := range st.Shadow.Recent {
		fmt.Printf("  shadow mismatch: %s %s ids %v: %s\n", m.Op, m.NS, m.IDs, m.Detail)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tseconds\tKV get p50\tp99\tvector top-10 p50\tp99\tingest chunks/s\tvs before\tfailed requests")
	base := stats["before"]
	baseRate := float64(base.writes) / base.stopped.Sub(base.started).Seconds()
	for _, p := range []string{"before", "backfill", "verify", "shadow", "after (PostgreSQL)"} {
		s := stats[p]
		if s == nil {
			continue
		}
		secs := s.stopped.Sub(s.started).Seconds()
		rate := float64(s.writes) / secs
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%.1f\t%.2fx\t%d\n", p, secs, pct(s.kv, 50), pct(s.kv, 99), pct(s.vq, 50), pct(s.vq, 99),
			rate, rate/baseRate, s.failures)
	}
	return tw.Flush()
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d := s[(len(s)-1)*p/100]
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkKVGet10 is the issue's target "KV get of 10 ids through HTTP on
// loopback: p50 under 1 ms": a real 127.0.0.1 listener, the JSON adapter,
// a keep-alive client, 10 ids per call out of 10,000 stored records of
// text_chunks-like size. It reports p50 and p99 latency.
//
//	go test ./proxy -run '^$' -bench 'KVGet10$' -benchtime 5000x
func BenchmarkKVGet10(b *testing.B) {
	kv := newKVGetBench(b, startServer(b, testOptions{noValidation: true}).URL, "default")
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		lat = append(lat, kv.get(b, i))
	}
	b.ReportMetric(micros(percentile(lat, 50)), "p50-µs")
	b.ReportMetric(micros(percentile(lat, 99)), "p99-µs")
}

// BenchmarkKVGet10Postgres is BenchmarkKVGet10 on a PostgreSQL database (a
// fresh one on HYBRIDRAG_TEST_PG's server), for profiling the proxy's CPU per
// call (issue 12 item 2; client and server share the process, so read the
// profile's server side):
//
//	go test ./proxy -run '^$' -bench 'KVGet10Postgres$' -benchtime 3000x -cpuprofile cpu.out
func BenchmarkKVGet10Postgres(b *testing.B) {
	ts := startPGServer(b, pgRegistry(freshDatabase(b), [3]string{"pg", "pgbench", "bench"}), pgServerOptions{})
	kv := newKVGetBench(b, ts.URL, "pg")
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		lat = append(lat, kv.get(b, i))
	}
	b.ReportMetric(micros(percentile(lat, 50)), "p50-µs")
	b.ReportMetric(micros(percentile(lat, 99)), "p99-µs")
}

// BenchmarkKVGet10TracingOverhead measures issue 4's "tracing on vs off:
// per-request overhead on KV get under 10% at p50". Two servers, one with
// tracing and metrics on (every span sampled and batched to a discarding
// exporter, a manual metric reader), one without; requests alternate between
// them in one loop so both see the same machine load.
//
//	go test ./proxy -run '^$' -bench 'KVGet10TracingOverhead' -benchtime 10000x
func BenchmarkKVGet10TracingOverhead(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	traced := newKVGetBench(b, startServerWith(b, false, func(c *Config) {
		c.Telemetry = &Telemetry{TracerProvider: tp, MeterProvider: mp}
	}).URL, "default")
	plain := newKVGetBench(b, startServer(b, testOptions{noValidation: true}).URL, "default")
	var on, off []time.Duration
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			off = append(off, plain.get(b, i/2))
		} else {
			on = append(on, traced.get(b, i/2))
		}
	}
	p50off, p50on := percentile(off, 50), percentile(on, 50)
	b.ReportMetric(micros(p50off), "off-p50-µs")
	b.ReportMetric(micros(p50on), "on-p50-µs")
	if p50off > 0 {
		b.ReportMetric(100*(float64(p50on)/float64(p50off)-1), "overhead-%")
	}
}

// kvGetBench is a server loaded with 10,000 text_chunks records and the
// request bodies to read them 10 at a time.
type kvGetBench struct {
	client *http.Client
	path   string
	bodies [][]byte
}

func newKVGetBench(b *testing.B, base, database string) *kvGetBench {
	b.Helper()
	kv := &kvGetBench{client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		path: base + "/v1/databases/" + database + "/kv/text_chunks"}
	const stored = 10000
	content := bytes.Repeat([]byte("lorem ipsum "), 100) // ~1.2 KB, like a chunk
	for start := 0; start < stored; start += 1000 {
		recs := map[string]any{}
		for i := start; i < start+1000; i++ {
			recs[fmt.Sprintf("chunk-%08d", i)] = map[string]any{"content": string(content), "tokens": 300,
				"full_doc_id": "doc-1", "chunk_order_index": i}
		}
		body, err := json.Marshal(map[string]any{"records": recs})
		require.NoError(b, err)
		resp, err := kv.client.Post(kv.path+"/upsert", "application/json", bytes.NewReader(body))
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	kv.bodies = make([][]byte, 64)
	for i := range kv.bodies {
		ids := make([]string, 10)
		for j := range ids {
			ids[j] = fmt.Sprintf("chunk-%08d", (i*997+j*131)%stored)
		}
		kv.bodies[i], _ = json.Marshal(map[string]any{"ids": ids})
	}
	return kv
}

// get sends the i-th get of 10 ids and returns its latency.
func (kv *kvGetBench) get(b *testing.B, i int) time.Duration {
	start := time.Now()
	resp, err := kv.client.Post(kv.path+"/get", "application/json", bytes.NewReader(kv.bodies[i%len(kv.bodies)]))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return time.Since(start)
}

func percentile(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*p/100]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// BenchmarkNodesEdges40Postgres is get_nodes_edges_batch of 40 nodes on a
// PostgreSQL database (a fresh one on HYBRIDRAG_TEST_PG's server; 2,000
// nodes, 4,000 edges), for profiling the proxy's CPU per call (issue 12
// item 3):
//
//	go test ./proxy -run '^$' -bench 'NodesEdges40Postgres$' -benchtime 3000x -cpuprofile cpu.out
func BenchmarkNodesEdges40Postgres(b *testing.B) {
	ts := startPGServer(b, pgRegistry(freshDatabase(b), [3]string{"pg", "pgbench", "bench"}), pgServerOptions{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	base := ts.URL + "/v1/databases/pg/graphs/chunk_entity_relation"
	post := func(path string, body any) {
		raw, err := json.Marshal(body)
		require.NoError(b, err)
		resp, err := client.Post(base+path, "application/json", bytes.NewReader(raw))
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	const nodes, edges = 2000, 4000
	name := func(i int) string { return fmt.Sprintf("ENTITY_%06d", i) }
	var ns []map[string]any
	for i := range nodes {
		ns = append(ns, map[string]any{"id": name(i), "properties": map[string]any{"entity_id": name(i), "entity_type": "thing"}})
	}
	post("/nodes/upsert", map[string]any{"nodes": ns})
	var es []map[string]any
	for i := range edges {
		es = append(es, map[string]any{"src": name(i % nodes), "tgt": name((i*7919 + 1) % nodes), "properties": map[string]any{"weight": 1.0}})
	}
	post("/edges/upsert", map[string]any{"edges": es})
	bodies := make([][]byte, 64)
	for i := range bodies {
		ids := make([]string, 40)
		for j := range ids {
			ids[j] = name((i*997 + j*131) % nodes)
		}
		bodies[i], _ = json.Marshal(map[string]any{"ids": ids})
	}
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		resp, err := client.Post(base+"/nodes/edges", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(micros(percentile(lat, 50)), "p50-µs")
}

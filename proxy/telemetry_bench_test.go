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

// BenchmarkKVGet10Traced is BenchmarkKVGet10 with tracing and metrics on
// (every span sampled and batched to a discarding exporter; a manual metric
// reader), for the "tracing overhead under 10% at p50":
//
//	go test ./proxy -run '^$' -bench 'KVGet10' -benchtime 5000x
func BenchmarkKVGet10Traced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	ts := startServerWith(b, false, func(c *Config) {
		c.Telemetry = &Telemetry{TracerProvider: tp, MeterProvider: mp}
	})
	benchKVGet(b, ts.URL)
}

// benchKVGet mirrors BenchmarkKVGet10's load and measurement.
func benchKVGet(b *testing.B, base string) {
	path := base + "/v1/databases/default/kv/text_chunks"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	const stored = 10000
	content := bytes.Repeat([]byte("lorem ipsum "), 100)
	for start := 0; start < stored; start += 1000 {
		recs := map[string]any{}
		for i := start; i < start+1000; i++ {
			recs[fmt.Sprintf("chunk-%08d", i)] = map[string]any{"content": string(content), "tokens": 300,
				"full_doc_id": "doc-1", "chunk_order_index": i}
		}
		body, err := json.Marshal(map[string]any{"records": recs})
		require.NoError(b, err)
		resp, err := client.Post(path+"/upsert", "application/json", bytes.NewReader(body))
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	bodies := make([][]byte, 64)
	for i := range bodies {
		ids := make([]string, 10)
		for j := range ids {
			ids[j] = fmt.Sprintf("chunk-%08d", (i*997+j*131)%stored)
		}
		bodies[i], _ = json.Marshal(map[string]any{"ids": ids})
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		resp, err := client.Post(path+"/get", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

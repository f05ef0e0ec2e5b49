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
)

// BenchmarkKVGet10 is the issue's target "KV get of 10 ids through HTTP on
// loopback: p50 under 1 ms": a real 127.0.0.1 listener, the JSON adapter,
// a keep-alive client, 10 ids per call out of 10,000 stored records of
// text_chunks-like size. It reports p50 and p99 latency.
//
//	go test ./proxy -run '^$' -bench KVGet10 -benchtime 5000x
func BenchmarkKVGet10(b *testing.B) {
	ts := startServer(b, testOptions{noValidation: true})
	path := ts.URL + "/v1/databases/default/kv/text_chunks"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

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
		resp, err := client.Post(path+"/upsert", "application/json", bytes.NewReader(body))
		require.NoError(b, err)
		io.Copy(io.Discard, resp.Body)
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

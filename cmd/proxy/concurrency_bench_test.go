package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
)

// TestBenchOverlappingBatches measures the throughput of 4 concurrent
// clients writing overlapping batches (KV, vectors, graph nodes, graph
// edges in turn; 50 ids drawn from a shared pool of 80) in random versus
// sorted id order, through 1 and through 3 proxies on one PostgreSQL
// database. It only runs with HYBRIDRAG_BENCH_CONCURRENCY set (seconds per
// configuration, e.g. 5); docs/BENCHMARKS.md records its figures.
func TestBenchOverlappingBatches(t *testing.T) {
	secs := os.Getenv("HYBRIDRAG_BENCH_CONCURRENCY")
	if secs == "" {
		t.Skip("set HYBRIDRAG_BENCH_CONCURRENCY=<seconds per configuration> to run this benchmark")
	}
	needBinary(t)
	d, err := time.ParseDuration(secs + "s")
	if err != nil || d <= 0 || d > 10*time.Minute {
		t.Fatalf("HYBRIDRAG_BENCH_CONCURRENCY=%q: give whole seconds up to 600", secs)
	}
	pool := make([]string, 80)
	for i := range pool {
		pool[i] = fmt.Sprintf("ent-%02d", i)
	}
	for _, nproxies := range []int{1, 3} {
		dsn := pgtest.FreshDatabase(t)
		procs := startPGProxies(t, dsn, nproxies)
		for _, sorted := range []bool{false, true} {
			var ok, failed atomic.Int64
			var lat []time.Duration
			var latMu sync.Mutex
			ctx, cancel := context.WithTimeout(context.Background(), d)
			var wg sync.WaitGroup
			for c := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(c), uint64(nproxies)))
					base := procs[c%nproxies].url + "/v1/databases/db"
					for i := 0; ctx.Err() == nil; i++ {
						ids := slices.Clone(pool)
						rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
						ids = ids[:50]
						if sorted {
							slices.Sort(ids)
						}
						path, body := benchWrite(i%4, ids)
						t0 := time.Now()
						st, _, err := send(ctx, base+path, body)
						if ctx.Err() != nil {
							return
						}
						if err == nil && st == http.StatusOK {
							ok.Add(1)
							latMu.Lock()
							lat = append(lat, time.Since(t0))
							latMu.Unlock()
						} else {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			cancel()
			slices.Sort(lat)
			p := func(q float64) time.Duration {
				if len(lat) == 0 {
					return 0
				}
				return lat[min(len(lat)-1, int(q*float64(len(lat))))].Round(10 * time.Microsecond)
			}
			order := "random"
			if sorted {
				order = "sorted"
			}
			t.Logf("proxies=%d order=%s: %d ok (%.0f req/s), %d failed, p50 %v, p99 %v",
				nproxies, order, ok.Load(), float64(ok.Load())/d.Seconds(), failed.Load(), p(0.5), p(0.99))
		}
	}
}

// benchWrite is the body of the kind-th write of ids.
func benchWrite(kind int, ids []string) (string, []byte) {
	switch kind {
	case 0:
		return "/kv/text_chunks/upsert", kvBody(ids, func(id string) map[string]any {
			return map[string]any{"content": "chunk " + id}
		})
	case 1:
		recs := make([]any, len(ids))
		for i, id := range ids {
			recs[i] = map[string]any{"id": id, "vector": mpVector(id, vecDim), "fields": map[string]any{"entity_name": id}}
		}
		return "/vectors/entities/upsert", mustJSON(map[string]any{"records": recs})
	case 2:
		nodes := make([]any, len(ids))
		for i, id := range ids {
			nodes[i] = map[string]any{"id": id, "properties": map[string]any{"entity_id": id}}
		}
		return "/graphs/chunk_entity_relation/nodes/upsert", mustJSON(map[string]any{"nodes": nodes})
	default:
		edges := make([]any, len(ids))
		for i := range ids {
			edges[i] = map[string]any{"src": ids[i], "tgt": ids[(i+1)%len(ids)], "properties": map[string]any{"weight": 1}}
		}
		return "/graphs/chunk_entity_relation/edges/upsert", mustJSON(map[string]any{"edges": edges})
	}
}

package json

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// BenchmarkAcknowledgedUpsert times one KV upsert of a 1 KB record until it
// is acknowledged (in the log and synced), one writer, on the folder's real
// file system. A flush every 200 writes rotates the log, as the background
// flush does during an ingest. Reports the median and p90 per write.
func BenchmarkAcknowledgedUpsert(b *testing.B) {
	ctx := context.Background()
	bk := mustOpen(b, b.TempDir())
	defer bk.Close(ctx)
	kv := mustKV(b, bk, ns("text_chunks"))
	data := adapters.Record(`{"content":"` + strings.Repeat("x", 1000) + `"}`)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if i%200 == 0 {
			b.StopTimer()
			if err := bk.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // let the background work after a flush finish
			b.StartTimer()
		}
		t0 := time.Now()
		if err := kv.Upsert(ctx, []adapters.KVRecord{{ID: fmt.Sprint("r", i%1000), Data: data}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
}

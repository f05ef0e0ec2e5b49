package monitor

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkStatus10GB is the target: status over a folder of 10
// files totalling 10 GB (sparse) under 100 ms.
//
//	go test ./monitor -run '^$' -bench Status10GB
func BenchmarkStatus10GB(b *testing.B) {
	dir := b.TempDir()
	for i := range 10 {
		sparse(b, filepath.Join(dir, "big", fmt.Sprintf("kv_store_ns%d.json", i)), 1<<30)
	}
	reg := jsonRegistry("big")
	coll := Collector{DataDir: dir}
	ctx := context.Background()
	for b.Loop() {
		st := coll.Database(ctx, reg, "big")
		if st.TotalBytes != 10<<30 {
			b.Fatalf("total %d", st.TotalBytes)
		}
	}
}

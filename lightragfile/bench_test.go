package lightragfile_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// writeBigVDB writes a NanoVectorDB file of n items of dimension dim,
// streaming, and returns its size.
func writeBigVDB(tb testing.TB, path string, n, dim int) int64 {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, `{"embedding_dim": %d, "data": [`, dim)
	for i := 0; i < n; i++ {
		if i > 0 {
			w.WriteString(", ")
		}
		fmt.Fprintf(w, `{"__id__": "chunk-%08d", "__created_at__": %d, "full_doc_id": "doc-%d", "content": "some chunk text %d", "file_path": "f.txt"}`, i, 1700000000+i, i/10, i)
	}
	w.WriteString(`], "matrix": "`)
	enc := base64.NewEncoder(base64.StdEncoding, w)
	row := make([]byte, 4*dim)
	for i := 0; i < n; i++ {
		for k := 0; k < dim; k++ {
			binary.LittleEndian.PutUint32(row[4*k:], math.Float32bits(float32((i+k)%97)/97))
		}
		enc.Write(row)
	}
	enc.Close()
	w.WriteString(`"}`)
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return st.Size()
}

// BenchmarkReadVectors100MB streams a generated ~100 MB vdb file and
// reports throughput and the peak live heap seen while reading, which
// stays flat (ids set + buffers) whatever the file size.
func BenchmarkReadVectors100MB(b *testing.B) {
	path := filepath.Join(b.TempDir(), "vdb_chunks.json")
	size := writeBigVDB(b, path, 18000, 1024)
	f := lightragfile.File{Path: path, Namespace: "chunks", Kind: adapters.KindVector, Bytes: size}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		_, err := lightragfile.ReadVectors(context.Background(), f, lightragfile.Options{}, func(r adapters.VectorRecord) error {
			if n++; n%2000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != 18000 {
			b.Fatalf("%d records", n)
		}
	}
	b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(size)/(1<<20), "file-MB")
}

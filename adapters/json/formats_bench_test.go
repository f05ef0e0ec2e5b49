package json

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	stdjson "encoding/json"
	"fmt"
	"github.com/hybridrag/storage-proxy/lightragfile"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The benchmarks generate LightRAG-shaped files of about benchMB each
// (1536-dim vectors, LightRAG's ids and fields) and report MB/s and the
// heap the loaded model holds relative to the file size.
// Run: go test -run x -bench . -benchtime 3x ./adapters/json/
const benchMB = 100

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func benchText(r *rand.Rand, n int) string {
	words := []string{"the", "river", "Scrooge", "said", "of", "a", "light", "graph", "東京", "naïve", "and", "storage"}
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	return sb.String()
}

func genKVFile(tb testing.TB, dir string, mb int) string {
	r := rand.New(rand.NewPCG(1, 2))
	d := newKVData()
	size := 0
	for i := 0; size < mb<<20; i++ {
		content := benchText(r, 1200)
		id := "chunk-" + md5hex(content+fmt.Sprint(i))
		rec, _ := stdjson.Marshal(map[string]any{
			"tokens": 300, "content": content, "chunk_order_index": i % 40, "full_doc_id": "doc-" + md5hex(fmt.Sprint(i/40)),
			"file_path": "docs/book.txt", "llm_cache_list": []string{"default:extract:" + md5hex(id)},
			"create_time": 1735689600, "update_time": 1735689600, "_id": id,
		})
		d.records[id] = &kvEntry{seq: d.nextSeq, data: rec}
		d.nextSeq++
		size += len(rec) + 40
	}
	path := filepath.Join(dir, "kv_store_text_chunks.json")
	require.NoError(tb, writeFileAtomic(path, func(w io.Writer) error { return writeKVFile(w, d) }))
	return path
}

func genVectorFile(tb testing.TB, dir string, mb int) string {
	r := rand.New(rand.NewPCG(3, 4))
	const dim = 1536
	n := mb << 20 / (dim*4*4/3 + 4200 + 700)
	d := newVectorData(dim)
	d.matrix = make([]float32, n*dim)
	for i := 0; i < n; i++ {
		row := d.matrix[i*dim : (i+1)*dim]
		for k := range row {
			row[k] = float32(r.NormFloat64())
		}
		v16, err := lightragfile.EncodeVector16(row)
		require.NoError(tb, err)
		content, _ := stdjson.Marshal(benchText(r, 600))
		id := "chunk-" + md5hex(fmt.Sprint(i))
		d.ids = append(d.ids, id)
		d.items = append(d.items, vectorItem{createdAt: "1735689600", vector16: v16, fields: []rawField{
			{"full_doc_id", []byte(`"doc-` + md5hex(fmt.Sprint(i/40)) + `"`)}, {"content", content}, {"file_path", []byte(`"docs/book.txt"`)},
		}})
	}
	normalizeRows(d.matrix, dim)
	path := filepath.Join(dir, "vdb_chunks.json")
	require.NoError(tb, writeFileAtomic(path, func(w io.Writer) error { return writeVectorFile(w, d) }))
	return path
}

func genGraphFile(tb testing.TB, dir string, mb int) string {
	r := rand.New(rand.NewPCG(5, 6))
	g := newGraphData()
	n := mb << 20 / 1400
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ENTITY %d %s", i, benchText(r, 10))
		desc, _ := stdjson.Marshal(benchText(r, 300))
		g.putNode(names[i], props("entity_id", string(lightragfile.JSONString(names[i])), "entity_type", `"person"`, "description", string(desc),
			"source_id", `"chunk-`+md5hex(names[i])+`<SEP>chunk-`+md5hex(names[i]+"x")+`"`, "file_path", `"docs/book.txt"`, "created_at", "1735689600"))
	}
	for i := 0; i < n*3/2; i++ {
		a, b := names[r.IntN(n)], names[r.IntN(n)]
		desc, _ := stdjson.Marshal(benchText(r, 200))
		g.putEdge(a, b, props("weight", "2.0", "description", string(desc), "keywords", `"friendship,work"`,
			"source_id", `"chunk-`+md5hex(a+b)+`"`, "file_path", `"docs/book.txt"`, "created_at", "1735689600"))
	}
	path := filepath.Join(dir, "graph_chunk_entity_relation.graphml")
	require.NoError(tb, writeFileAtomic(path, func(w io.Writer) error { return writeGraphFile(w, g) }))
	return path
}

// heapAfter reports the live heap held by v relative to the file size.
func reportHeap(b *testing.B, size int64, keep func() any) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	v := keep()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(size), "heap/file")
}

func benchRead(b *testing.B, gen func(testing.TB, string, int) string, read func(string) (any, error)) {
	path := gen(b, b.TempDir(), benchMB)
	st, err := os.Stat(path)
	require.NoError(b, err)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := read(path); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportHeap(b, st.Size(), func() any { v, _ := read(path); return v })
}

func BenchmarkReadKVFile(b *testing.B) {
	benchRead(b, genKVFile, func(p string) (any, error) { return readKVFile(context.Background(), p) })
}

func BenchmarkReadVectorFile(b *testing.B) {
	benchRead(b, genVectorFile, func(p string) (any, error) { return readVectorFile(context.Background(), p) })
}

func BenchmarkReadGraphFile(b *testing.B) {
	benchRead(b, genGraphFile, func(p string) (any, error) { return readGraphFile(context.Background(), p) })
}

func benchInspect(b *testing.B, gen func(testing.TB, string, int) string) {
	dir := b.TempDir()
	path := gen(b, dir, benchMB)
	st, err := os.Stat(path)
	require.NoError(b, err)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := Inspect(context.Background(), dir)
		if err != nil || rep.Files[0].Error != "" {
			b.Fatal(err, rep.Files[0].Error)
		}
	}
}

func BenchmarkInspectKV(b *testing.B)     { benchInspect(b, genKVFile) }
func BenchmarkInspectVector(b *testing.B) { benchInspect(b, genVectorFile) }
func BenchmarkInspectGraph(b *testing.B)  { benchInspect(b, genGraphFile) }

func BenchmarkWriteKVFile(b *testing.B) {
	path := genKVFile(b, b.TempDir(), benchMB)
	d, err := readKVFile(context.Background(), path)
	require.NoError(b, err)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, writeKVFile(discard{}, d))
	}
}

func BenchmarkWriteVectorFile(b *testing.B) {
	path := genVectorFile(b, b.TempDir(), benchMB)
	d, err := readVectorFile(context.Background(), path)
	require.NoError(b, err)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, writeVectorFile(discard{}, d))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

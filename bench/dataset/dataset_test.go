package dataset

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/x448/float16"

	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
)

type vdbDoc struct {
	EmbeddingDim int              `json:"embedding_dim"`
	Data         []map[string]any `json:"data"`
	Matrix       string           `json:"matrix"`
}

type graphDoc struct {
	Keys []struct {
		ID   string `xml:"id,attr"`
		For  string `xml:"for,attr"`
		Name string `xml:"attr.name,attr"`
		Type string `xml:"attr.type,attr"`
	} `xml:"key"`
	Graph struct {
		EdgeDefault string `xml:"edgedefault,attr"`
		Nodes       []struct {
			ID string `xml:"id,attr"`
		} `xml:"node"`
		Edges []struct {
			Source string `xml:"source,attr"`
			Target string `xml:"target,attr"`
		} `xml:"edge"`
	} `xml:"graph"`
}

func md5ID(prefix, s string) string {
	sum := md5.Sum([]byte(s))
	return prefix + hex.EncodeToString(sum[:])
}

func readKV(t *testing.T, dir, ns string) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kv_store_"+ns+".json"))
	require.NoError(t, err)
	out := map[string]map[string]any{}
	require.NoError(t, json.Unmarshal(data, &out), ns)
	return out
}

func readVDB(t *testing.T, dir, ns string) vdbDoc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "vdb_"+ns+".json"))
	require.NoError(t, err)
	var v vdbDoc
	require.NoError(t, json.Unmarshal(data, &v), ns)
	return v
}

func TestGenerateSmallFolder(t *testing.T) {
	dir := t.TempDir()
	const size = 2 << 20
	st, err := Generate(context.Background(), dir, Options{Size: size, Seed: 7})
	require.NoError(t, err)
	require.InDelta(t, size, st.Bytes, size*0.2, "size near the target")

	// Exactly LightRAG's files, no temp files left, and Bytes is the real size.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	var total int64
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		require.NoError(t, err)
		total += info.Size()
	}
	require.ElementsMatch(t, Files(), names)
	require.Equal(t, st.Bytes, total)

	docs := readKV(t, dir, "full_docs")
	chunks := readKV(t, dir, "text_chunks")
	status := readKV(t, dir, "doc_status")
	entChunks := readKV(t, dir, "entity_chunks")
	relChunks := readKV(t, dir, "relation_chunks")
	cache := readKV(t, dir, "llm_response_cache")
	fullEnts := readKV(t, dir, "full_entities")
	fullRels := readKV(t, dir, "full_relations")
	require.Len(t, docs, st.Docs)
	require.Len(t, status, st.Docs)
	require.Len(t, chunks, st.Chunks)
	require.Len(t, entChunks, st.Entities)
	require.Len(t, relChunks, st.Relations)
	require.Len(t, cache, st.CacheEntries)
	require.Len(t, fullEnts, st.Docs-st.FailedDocs)
	require.Len(t, fullRels, st.Docs-st.FailedDocs)

	// Ratios like real LightRAG output: a handful of entities and relations
	// per chunk, about as many relations as entities.
	require.Positive(t, st.Chunks)
	perChunk := float64(st.Entities) / float64(st.Chunks)
	require.True(t, perChunk >= 3 && perChunk <= 9, "entities per chunk %.1f", perChunk)
	relPerEnt := float64(st.Relations) / float64(st.Entities)
	require.True(t, relPerEnt >= 0.5 && relPerEnt <= 1.5, "relations per entity %.2f", relPerEnt)

	// LightRAG's id schemes and record fields.
	for id, d := range docs {
		require.Equal(t, md5ID("doc-", d["content"].(string)), id)
		require.Equal(t, id, d["_id"])
		require.Contains(t, d, "create_time")
	}
	for id, c := range chunks {
		require.Equal(t, md5ID("chunk-", c["content"].(string)), id)
		require.Contains(t, docs, c["full_doc_id"])
		for _, k := range []string{"tokens", "chunk_order_index", "file_path", "llm_cache_list", "update_time"} {
			require.Contains(t, c, k)
		}
		for _, key := range c["llm_cache_list"].([]any) {
			require.Contains(t, cache, key)
		}
	}
	for id, s := range status {
		require.Contains(t, []any{"processed", "failed"}, s["status"])
		require.NotContains(t, s, "_id", "doc_status records have no _id")
		if s["status"] == "processed" {
			require.Len(t, s["chunks_list"], int(s["chunks_count"].(float64)), id)
		}
	}
	for key := range relChunks {
		a, b, ok := strings.Cut(key, "<SEP>")
		require.True(t, ok)
		require.Less(t, a, b, "relation keys are sorted")
	}

	dim := DefaultDim
	for ns, want := range map[string]int{"entities": st.Entities, "relationships": st.Relations, "chunks": st.Chunks} {
		v := readVDB(t, dir, ns)
		require.Equal(t, dim, v.EmbeddingDim)
		require.Len(t, v.Data, want, ns)
		raw, err := base64.StdEncoding.DecodeString(v.Matrix)
		require.NoError(t, err)
		require.Len(t, raw, want*dim*4, ns)
		for i, item := range v.Data {
			id := item["__id__"].(string)
			switch ns {
			case "entities":
				require.Equal(t, md5ID("ent-", item["entity_name"].(string)), id)
				require.Contains(t, entChunks, item["entity_name"])
			case "relationships":
				src, tgt := item["src_id"].(string), item["tgt_id"].(string)
				require.Equal(t, md5ID("rel-", src+tgt), id)
				require.Contains(t, relChunks, src+"<SEP>"+tgt)
			case "chunks":
				require.Contains(t, chunks, id)
			}
			if i%17 != 0 {
				continue
			}
			// Matrix row unit length; per-item vector is float16 of the
			// same direction.
			row := make([]float64, dim)
			var n float64
			for j := range row {
				row[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[(i*dim+j)*4:])))
				n += row[j] * row[j]
			}
			require.InDelta(t, 1, math.Sqrt(n), 1e-4)
			vec := decodeVector(t, item["vector"].(string), dim)
			var dot, vn float64
			for j := range vec {
				dot += vec[j] * row[j]
				vn += vec[j] * vec[j]
			}
			require.InDelta(t, 1, dot/math.Sqrt(vn), 1e-3, "per-item vector matches the matrix row")
			require.InDelta(t, 1, math.Sqrt(vn), 0.05, "embeddings have a norm near 1")
		}
	}

	data, err := os.ReadFile(filepath.Join(dir, "graph_chunk_entity_relation.graphml"))
	require.NoError(t, err)
	var g graphDoc
	require.NoError(t, xml.Unmarshal(data, &g))
	require.Equal(t, "undirected", g.Graph.EdgeDefault)
	require.Len(t, g.Graph.Nodes, st.Entities)
	require.Len(t, g.Graph.Edges, st.Relations)
	types := map[string]string{}
	for _, k := range g.Keys {
		types[k.For+"."+k.Name] = k.Type
	}
	require.Equal(t, "double", types["edge.weight"])
	require.Equal(t, "long", types["edge.created_at"])
	require.Equal(t, "long", types["node.created_at"])
	for _, n := range g.Graph.Nodes {
		require.Contains(t, entChunks, n.ID)
	}

	// The JSON adapter's offline report agrees.
	rep, err := jsonadapter.Inspect(context.Background(), dir)
	require.NoError(t, err)
	want := map[string]int64{
		"kv_store_full_docs.json": int64(st.Docs), "kv_store_text_chunks.json": int64(st.Chunks),
		"kv_store_entity_chunks.json": int64(st.Entities), "kv_store_relation_chunks.json": int64(st.Relations),
		"kv_store_llm_response_cache.json": int64(st.CacheEntries), "kv_store_doc_status.json": int64(st.Docs),
		"vdb_entities.json": int64(st.Entities), "vdb_relationships.json": int64(st.Relations),
		"vdb_chunks.json": int64(st.Chunks),
	}
	require.Len(t, rep.Files, len(Files()))
	for _, f := range rep.Files {
		require.Empty(t, f.Error, f.File)
		if n, ok := want[f.File]; ok {
			require.NotNil(t, f.Records, f.File)
			require.Equal(t, n, *f.Records, f.File)
		}
		if f.Nodes != nil {
			require.Equal(t, int64(st.Entities), *f.Nodes)
			require.Equal(t, int64(st.Relations), *f.Edges)
		}
		if f.Dim != nil {
			require.Equal(t, dim, *f.Dim)
		}
	}
}

func decodeVector(t *testing.T, s string, dim int) []float64 {
	t.Helper()
	require.True(t, strings.HasPrefix(s, "eJ"), "zlib default header, as Python writes")
	z, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	r, err := zlib.NewReader(bytes.NewReader(z))
	require.NoError(t, err)
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Len(t, raw, dim*2)
	out := make([]float64, dim)
	for i := range out {
		out[i] = float64(float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32())
	}
	return out
}

func TestGenerateDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	opts := Options{Size: 300 << 10, Dim: 64, Seed: 42}
	sa, err := Generate(context.Background(), a, opts)
	require.NoError(t, err)
	sb, err := Generate(context.Background(), b, opts)
	require.NoError(t, err)
	require.Equal(t, sa, sb)
	opts.Seed = 43
	_, err = Generate(context.Background(), c, opts)
	require.NoError(t, err)
	for _, f := range Files() {
		x, err := os.ReadFile(filepath.Join(a, f))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, f))
		require.NoError(t, err)
		require.Equal(t, x, y, f)
		z, err := os.ReadFile(filepath.Join(c, f))
		require.NoError(t, err)
		require.NotEqual(t, x, z, f)
	}
}

func TestGenerateBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"zero size", Options{}, "size must be positive"},
		{"bad dim", Options{Size: 1000, Dim: -3}, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(context.Background(), dir, tc.opts)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := Generate(context.Background(), dir, Options{Size: 1000, Dim: 8})
	require.NoError(t, err)
	_, err = Generate(context.Background(), dir, Options{Size: 1000, Dim: 8})
	require.ErrorContains(t, err, "already holds LightRAG files")
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := Generate(ctx, dir, Options{Size: 1 << 20, Dim: 8})
	require.ErrorIs(t, err, context.Canceled)
	matches, _ := filepath.Glob(filepath.Join(dir, ".gen-*"))
	require.Empty(t, matches, "temp files removed")
}

func TestFloat16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e6, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00}, {5.960464477539063e-08, 0x0001}, {0.333333333, 0x3555},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, float16.Fromfloat32(tc.in).Bits(), "%g", tc.in)
	}
	for _, x := range []float32{0.1, -0.02, 0.5, 3.25, 2e-4} {
		require.InEpsilon(t, x, float16.Frombits(float16.Fromfloat32(x).Bits()).Float32(), 1e-3)
	}
}

func TestEntityNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := range 50000 {
		n := entityName(i)
		require.False(t, seen[n], n)
		seen[n] = true
	}
	require.Len(t, words, 256)
}

// BenchmarkGenerate measures generation throughput (bytes/s via SetBytes).
func BenchmarkGenerate(b *testing.B) {
	const size = 32 << 20
	b.SetBytes(size)
	for i := range b.N {
		dir := filepath.Join(b.TempDir(), strconv.Itoa(i))
		if _, err := Generate(context.Background(), dir, Options{Size: size, Seed: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

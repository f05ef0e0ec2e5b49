package lightragfile_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/x448/float16"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func matrixB64(rows ...[]float32) string {
	var b bytes.Buffer
	for _, r := range rows {
		for _, v := range r {
			binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
		}
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func vector16(v []float32) string {
	raw := make([]byte, 2*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint16(raw[2*i:], float16.Fromfloat32(f).Bits())
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// Tricky but valid layouts: each must read exactly as adapters/json loads it.
func TestEdgeCasesMatchJSONAdapter(t *testing.T) {
	ctx := context.Background()
	cases := map[string]map[string]string{
		"duplicate kv keys and CRLF": {
			"kv_store_text_chunks.json": "{\r\n  \"a\": {\"x\": 1},\r\n  \"b\": {\"x\": 2},\r\n  \"a\": {\"x\": 3}\r\n}",
			"kv_store_doc_status.json":  "\xef\xbb\xbf{}",
		},
		"legacy nested cache with a flat record and a duplicate mode": {
			"kv_store_llm_response_cache.json": `{
  "global": {"h1": {"return": "r1", "cache_type": "query"}, "h2": {"return": "r2"}},
  "default": {"h3": {"return": "r3", "cache_type": null}},
  "odd": {"x": 1},
  "global": {"h9": {"return": "r9"}}
}`,
		},
		"flat cache stays": {
			"kv_store_llm_response_cache.json": `{"default:extract:h": {"return": "x"}, "global": {"h": {"return": "y"}}}`,
		},
		"vdb matrix before data, duplicates, vector16, unnormalised rows": {
			"vdb_entities.json": `{"embedding_dim": 3, "matrix": "` +
				matrixB64([]float32{3, 4, 0}, []float32{1, 0, 0}, []float32{0, 0, 2}, []float32{0, 0, 0}) +
				`", "data": [{"__id__": "a", "__created_at__": 1.9, "entity_name": "A", "content": "x"}, ` +
				`{"__id__": "b", "__created_at__": 17, "vector": "` + vector16([]float32{0.5, 0.25, -2}) + `"}, ` +
				`{"__id__": "a", "__created_at__": 5, "entity_name": "A2", "entity_name": "dup field"}, ` +
				`{"__id__": "z", "vector": 7}], "additional_data": {"k": 1}}`,
			"vdb_empty.json": `{"embedding_dim": 1024, "data": [], "matrix": ""}`,
		},
		"graph: undeclared endpoints, repeated nodes and edges, edge ids": {
			"graph_chunk_entity_relation.graphml": `<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="d0" for="node" attr.name="entity_type" attr.type="string"/>
<key id="d1" for="edge" attr.name="weight" attr.type="double"/>
<key id="d2" for="edge" attr.name="keywords" attr.type="string"/>
<key id="d3" for="node" attr.name="created_at" attr.type="long"/>
<graph edgedefault="undirected">
<node id="a"><data key="d0">person</data></node>
<edge source="a" target="x" id="e1"><data key="d1">1</data><data key="d2">k&lt;SEP&gt;j</data></edge>
<node id="b"><data key="d0"></data><data key="d3">17</data></node>
<edge source="y" target="a"><data key="d1">2.5</data></edge>
<edge source="x" target="a"><data key="d1">3</data></edge>
<node id="a"><data key="d3">42</data></node>
<node id="x"><data key="d0">place</data></node>
<edge source="b" target="b"/>
</graph>
</graphml>`,
		},
		"workspace sub-folder": {
			"ws1/kv_store_full_docs.json": `{"d": {"content": "é\u00e9"}}`,
			"vdb_chunks.json":             `{"embedding_dim": 2, "data": [{"__id__": "c"}], "matrix": "` + matrixB64([]float32{0, 1}) + `"}`,
		},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) { compareFolder(ctx, t, writeFiles(t, files)) })
	}
}

type result struct {
	ids      []string
	problems []lightragfile.Problem
	err      error
}

func read(t *testing.T, path string, skip int64) result {
	t.Helper()
	kind, ns, ok := lightragfile.Classify(filepath.Base(path))
	require.True(t, ok)
	f := lightragfile.File{Path: path, Namespace: ns, Kind: kind}
	var r result
	opt := lightragfile.Options{Skip: skip, OnProblem: func(p lightragfile.Problem) { r.problems = append(r.problems, p) }}
	ctx := context.Background()
	switch kind {
	case adapters.KindKV, adapters.KindDocStatus:
		r.err = lightragfile.ReadKV(ctx, f, opt, func(rec adapters.KVRecord) error {
			r.ids = append(r.ids, rec.ID+"="+string(rec.Data))
			return nil
		})
	case adapters.KindVector:
		_, r.err = lightragfile.ReadVectors(ctx, f, opt, func(rec adapters.VectorRecord) error {
			r.ids = append(r.ids, fmt.Sprintf("%s=%s%v", rec.ID, rec.Fields, rec.Vector))
			return nil
		})
	case adapters.KindGraph:
		r.err = lightragfile.ReadGraph(ctx, f, opt, func(n adapters.Node) error {
			r.ids = append(r.ids, "n:"+n.ID+"="+canonProps(t, n.Props))
			return nil
		}, func(e adapters.EdgeData) error {
			r.ids = append(r.ids, "e:"+e.Src+"-"+e.Tgt+"="+canonProps(t, e.Props))
			return nil
		})
	}
	return r
}

func kvFile(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n  \"id%d\": {\n    \"content\": \"text %d with \\\"quotes\\\" and \\n\",\n    \"n\": [%d, 1.5e3, true, null]\n  }", i, i, i)
	}
	b.WriteString("\n}")
	return b.String()
}

func vdbFile(n, dim int, matrixFirst bool) string {
	var items []string
	var rows [][]float32
	for i := 0; i < n; i++ {
		items = append(items, fmt.Sprintf(`{"__id__": "v%d", "__created_at__": %d, "content": "c %d"}`, i, 1700000000+i, i))
		row := make([]float32, dim)
		for k := range row {
			row[k] = float32(i+1) / float32(k+2)
		}
		rows = append(rows, row)
	}
	data := `"data": [` + strings.Join(items, ", ") + `]`
	matrix := `"matrix": "` + matrixB64(rows...) + `"`
	if matrixFirst {
		return fmt.Sprintf(`{"embedding_dim": %d, %s, %s}`, dim, matrix, data)
	}
	return fmt.Sprintf(`{"embedding_dim": %d, %s, %s}`, dim, data, matrix)
}

const gmlKeys = `<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><key id="d0" for="node" attr.name="entity_type" attr.type="string"/>
<key id="d1" for="edge" attr.name="weight" attr.type="double"/><key id="d2" for="node" attr.name="created_at" attr.type="long"/>
<graph edgedefault="undirected">`

func graphFile(n int) string {
	var b strings.Builder
	b.WriteString(gmlKeys)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\n  <node id=\"n%d\">\n    <data key=\"d0\">type &amp; %d</data>\n    <data key=\"d2\">%d</data>\n  </node>", i, i, i)
	}
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "\n  <edge source=\"n%d\" target=\"n%d\">\n    <data key=\"d1\">%d.5</data>\n  </edge>", i-1, i, i)
	}
	b.WriteString("\n</graph></graphml>\n")
	return b.String()
}

func isPrefix(all, got []string) bool {
	if len(got) > len(all) {
		return false
	}
	for i := range got {
		if got[i] != all[i] {
			return false
		}
	}
	return true
}

// Every cut of a file yields a prefix of its records and exactly one
// Problem (or, before the format is recognisable, a corrupt_file error).
func TestTruncatedFiles(t *testing.T) {
	cases := []struct {
		name, content string
		minCut        int // below this the cut file is not recognisably the format
	}{
		{"kv_store_text_chunks.json", kvFile(6), 1},
		{"vdb_entities.json", vdbFile(5, 4, false), 1},
		{"vdb_relationships.json", vdbFile(5, 3, true), 1},
		{"graph_chunk_entity_relation.graphml", graphFile(5), len(gmlKeys)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{c.name: c.content})
			full := read(t, filepath.Join(dir, c.name), 0)
			require.NoError(t, full.err)
			require.Empty(t, full.problems)
			require.NotEmpty(t, full.ids)
			cutPath := filepath.Join(dir, "cut", c.name)
			require.NoError(t, os.MkdirAll(filepath.Dir(cutPath), 0o755))
			sawPartial := false
			for cut := 0; cut < len(c.content); cut++ {
				require.NoError(t, os.WriteFile(cutPath, []byte(c.content[:cut]), 0o644))
				got := read(t, cutPath, 0)
				if cut < c.minCut {
					require.True(t, isCorrupt(got.err), "cut %d: %v", cut, got.err)
					continue
				}
				require.NoError(t, got.err, "cut at %d", cut)
				require.True(t, isPrefix(full.ids, got.ids), "cut at %d: %v", cut, got.ids)
				if strings.TrimSpace(c.content[:cut]) == strings.TrimSpace(c.content) {
					require.Empty(t, got.problems)
					continue
				}
				require.Len(t, got.problems, 1, "cut at %d: %v", cut, got.problems)
				p := got.problems[0]
				require.Equal(t, c.name, p.File)
				require.NotEmpty(t, p.Reason)
				require.LessOrEqual(t, p.Offset, int64(cut))
				if len(got.ids) > 0 && len(got.ids) < len(full.ids) {
					sawPartial = true
				}
			}
			require.True(t, sawPartial)
			// A long cut of the vdb keeps rows: most items survive.
			if c.name == "vdb_entities.json" {
				require.NoError(t, os.WriteFile(cutPath, []byte(c.content[:len(c.content)-2]), 0o644))
				got := read(t, cutPath, 0)
				require.Equal(t, full.ids, got.ids)
			}
		})
	}
}

// A malformed record in the middle is skipped with a Problem naming its
// offset and the reason; the records around it are read.
func TestMalformedRecordInTheMiddle(t *testing.T) {
	rows := matrixB64([]float32{1, 0}, []float32{0, 1}, []float32{3, 4}, []float32{0, 2})
	cases := []struct {
		name, content string
		bad           string // text at the problem's offset
		want          []string
	}{
		{"kv_store_full_docs.json", "{\n  \"a\": {\"x\": 1},\n  \"b\": {\"x\": tru},\n  \"c\": {\"x\": \"un\nterminated},\n  \"d\": {\"y\": [1, 2]}\n}",
			`"b"`, []string{`a={"x":1}`, `d={"y":[1,2]}`}},
		{"vdb_chunks.json", `{"embedding_dim": 2, "data": [{"__id__": "a"}, {"__id__": "b", "x": 1 2}, {"__id__": "c"}, {"__id__": "d", "t": "` +
			"\x01" + `"}], "matrix": "` + rows + `"}`,
			`{"__id__": "b"`, []string{"a={}[1 0]", "c={}[0.6 0.8]"}},
		{"graph_g.graphml", gmlKeys + `<node id="a"><data key="d2">soon</data></node><node id="b"><data key="d0">t</data></node>` +
			`<node id="c"><data key="d0">x<y</data></node><node id="d"/><edge source="b" target="d"><data key="d1">1</data></edge></graph></graphml>`,
			`<node id="a"`, []string{`n:b={"entity_type":"t"}`, `n:d={}`, `e:b-d={"weight":1.0}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{c.name: c.content})
			got := read(t, filepath.Join(dir, c.name), 0)
			require.NoError(t, got.err)
			require.Equal(t, c.want, got.ids)
			require.Len(t, got.problems, 2, "%v", got.problems)
			p := got.problems[0]
			require.Equal(t, c.name, p.File)
			require.True(t, strings.HasPrefix(c.content[p.Offset:], c.bad), "problem at %d: %q", p.Offset, c.content[p.Offset:])
			require.NotEmpty(t, p.Reason)
			for _, p := range got.problems {
				t.Logf("%s", p)
			}
		})
	}
}

func TestNotTheFormat(t *testing.T) {
	for name, content := range map[string]string{
		"kv_store_a.json":   `[]`,
		"kv_store_b.json":   ``,
		"vdb_a.json":        `[]`,
		"vdb_b.json":        `{"embedding_dim": 2, "data": [{"__id__": "a"}], "matrix": ""}`,
		"graph_a.graphml":   `<html></html>`,
		"graph_b.graphml":   gmlKeys[:40],
		"graph_dir.graphml": `<graphml><key id="d0" for="node" attr.name="label"/><graph edgedefault="directed"><node id="a"/></graph></graphml>`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{name: content})
			got := read(t, filepath.Join(dir, name), 0)
			require.True(t, isCorrupt(got.err), "%v", got.err)
			require.Contains(t, got.err.Error(), name)
			require.Empty(t, got.ids)
		})
	}
}

func TestList(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"vdb_b.json": "{}", "kv_store_a.json": "{}", "notes.txt": "", "ws2/graph_g.graphml": "", "ws1/kv_store_x.json": "{}",
		"bad name!/kv_store_y.json": "{}",
	})
	files, err := lightragfile.List(dir)
	require.NoError(t, err)
	var got []string
	for _, f := range files {
		got = append(got, f.Workspace+"|"+f.Namespace+"|"+string(f.Kind)+"|"+filepath.Base(f.Path))
	}
	require.Equal(t, []string{"|a|kv|kv_store_a.json", "|b|vector|vdb_b.json", "ws1|x|kv|kv_store_x.json", "ws2|g|graph|graph_g.graphml"}, got)
}

// A KV record that is not a JSON object is skipped as a Problem naming its
// kind, not copied as a record (issue 14 #4).
func TestKVRecordNotAnObject(t *testing.T) {
	content := "{\n  \"a\": {\"x\": 1},\n  \"b\": 5,\n  \"c\": null,\n  \"d\": {}\n}"
	dir := writeFiles(t, map[string]string{"kv_store_full_docs.json": content})
	got := read(t, filepath.Join(dir, "kv_store_full_docs.json"), 0)
	require.NoError(t, got.err)
	require.Equal(t, []string{`a={"x":1}`, `d={}`}, got.ids)
	require.Len(t, got.problems, 2, "%v", got.problems)
	require.Contains(t, got.problems[0].Reason, "a JSON number, want a JSON object")
	require.Equal(t, "b", got.problems[0].Record)
	require.Contains(t, got.problems[1].Reason, "null, want a JSON object")
}

package proxy

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
	"github.com/hybridrag/storage-proxy/registry"
)

// TestJSONFixtures serves every real LightRAG folder through the HTTP server
// on the JSON adapter (every call through proxyclient, checked against
// openapi.yaml) and checks, against files parsed independently here with
// encoding/json and encoding/xml:
//   - every record reads back equal to the file;
//   - a flush without changes leaves every file byte-identical;
//   - after upserts and deletes of each kind and a flush, the files parse
//     back to exactly the expected state (unknown fields, GraphML types,
//     normalised matrix rows, per-item float16 vectors), and a new server on
//     the same folder reads the changes back;
//   - the non-LightRAG folder answers 409 corrupt_file per broken file while
//     new namespaces in it work.
func TestJSONFixtures(t *testing.T) {
	root := fixtures.Dir(t)
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			runJSONFixture(t, filepath.Join(root, e.Name()), e.Name() == "wachout__AgentTest__root")
		})
	}
	require.Positive(t, n)
}

const fxDB = "fx"

func runJSONFixture(t *testing.T, src string, degenerate bool) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	copyTree(t, src, dir)
	files := lightRAGFiles(t, dir)
	orig := readFiles(t, dir, files)

	srv := startFixtureServer(t, dir)
	c := proxyclient.New(srv.URL, fxDB, "", nil)

	if degenerate {
		checkDegenerate(t, srv, c, dir, files, orig)
		return
	}

	// Served through the proxy, every record reads back equal to the file.
	checkServedEqual(ctx, t, c, dir, files)

	// Flushing without changes leaves every file byte-identical.
	require.NoError(t, c.Flush(ctx))
	requireBytesEqual(t, dir, files, orig)

	// Upserts and deletes of every kind, then a flush.
	nestedCache := func(f fixtureFile) bool {
		_, _, nested := kvRecords(t, f.ns.Name, orig[f.name], f.name)
		return nested
	}
	t0 := time.Now().Unix()
	var changes []fxChange
	for _, f := range files {
		switch {
		case f.kind == adapters.KindDocStatus:
			changes = append(changes, mutateDocStatus(ctx, t, c, dir, f))
		case f.kind == adapters.KindKV && !nestedCache(f):
			changes = append(changes, mutateKV(ctx, t, c, dir, f, orig[f.name]))
		case f.kind == adapters.KindVector:
			changes = append(changes, mutateVector(ctx, t, c, dir, f))
		case f.kind == adapters.KindGraph:
			changes = append(changes, mutateGraph(ctx, t, c, dir, f))
		}
	}
	require.NoError(t, c.Flush(ctx))
	window := [2]int64{t0, time.Now().Unix()}
	for _, ch := range changes {
		ch.file(t, window)
	}
	// Namespaces nobody changed (nested legacy caches) stay byte-identical.
	for _, f := range files {
		if f.kind == adapters.KindKV && nestedCache(f) {
			requireBytesEqual(t, dir, []fixtureFile{f}, orig)
		}
	}

	// Reopen: a new server on the same folder reads the changes back.
	srv.close(t)
	srv2 := startFixtureServer(t, dir)
	c2 := proxyclient.New(srv2.URL, fxDB, "", nil)
	for _, ch := range changes {
		ch.served(ctx, t, c2, window)
	}
}

// fxChange checks one namespace's upserts and deletes: in its flushed file
// (parsed here) and as a reopened database serves them.
type fxChange struct {
	file   func(t *testing.T, w [2]int64)
	served func(ctx context.Context, t *testing.T, c *proxyclient.Client, w [2]int64)
}

// ---- server ----

type fixtureServer struct {
	URL  string
	once sync.Once
	ts   *httptest.Server
	s    *Server
}

// startFixtureServer runs a proxy (spec-validated, like startServer) over a
// fresh registry and registers dir as the JSON database "fx" through the
// admin API. close can be called early; cleanup calls it too.
func startFixtureServer(t *testing.T, dir string) *fixtureServer {
	base := t.TempDir()
	cfg := Config{RegistryPath: filepath.Join(base, "registry.yaml"), DataDir: filepath.Join(base, "data"),
		Logger: slog.New(slog.DiscardHandler), Version: "test",
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener}, AllowedRoots: []string{filepath.Dir(dir)}}
	s, err := NewServer(context.Background(), cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(newSpecValidator(t, loadSpec(t), s.Handler()))
	fs := &fixtureServer{URL: ts.URL, ts: ts, s: s}
	t.Cleanup(func() { fs.close(t) })
	tsv := &testServer{Server: s, URL: ts.URL}
	var out map[string]any
	resp := tsv.call(t, http.MethodPut, "/v1/databases/"+fxDB,
		map[string]string{"backend": registry.BackendJSON, "path": dir}, &out)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	return fs
}

func (fs *fixtureServer) close(t *testing.T) {
	fs.once.Do(func() {
		fs.ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, fs.s.Close(ctx))
	})
}

// ---- files ----

type fixtureFile struct {
	name string
	kind adapters.Kind
	ns   adapters.Namespace
}

// lightRAGFiles lists a folder's LightRAG files, classified by name here
// (kv_store_<ns>.json, vdb_<ns>.json, graph_<ns>.graphml).
func lightRAGFiles(t *testing.T, dir string) []fixtureFile {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []fixtureFile
	for _, e := range entries {
		name := e.Name()
		f := fixtureFile{name: name}
		if ns, ok := cutAffixes(name, "kv_store_", ".json"); ok {
			f.kind, f.ns = adapters.KindKV, adapters.Namespace{Name: ns}
			if ns == "doc_status" {
				f.kind = adapters.KindDocStatus
			}
		} else if ns, ok := cutAffixes(name, "vdb_", ".json"); ok {
			f.kind, f.ns = adapters.KindVector, adapters.Namespace{Name: ns}
		} else if ns, ok := cutAffixes(name, "graph_", ".graphml"); ok {
			f.kind, f.ns = adapters.KindGraph, adapters.Namespace{Name: ns}
		} else {
			continue
		}
		out = append(out, f)
	}
	return out
}

func cutAffixes(s, prefix, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, suffix)
	return rest, ok && rest != ""
}

func readFiles(t *testing.T, dir string, files []fixtureFile) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		out[f.name] = b
	}
	return out
}

func requireBytesEqual(t *testing.T, dir string, files []fixtureFile, orig map[string][]byte) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(orig[f.name], b), "%s changed (%d -> %d bytes)", f.name, len(orig[f.name]), len(b))
	}
}

// ---- the non-LightRAG folder ----

func checkDegenerate(t *testing.T, srv *fixtureServer, c *proxyclient.Client, dir string,
	files []fixtureFile, orig map[string][]byte) {
	ctx := context.Background()
	route := map[adapters.Kind]string{adapters.KindKV: "kv", adapters.KindDocStatus: "doc-status",
		adapters.KindVector: "vectors", adapters.KindGraph: "graphs"}
	broken := 0
	for _, f := range files {
		if string(bytes.TrimSpace(orig[f.name])) == "{}" {
			continue // an empty store is valid, even here
		}
		broken++
		resp, err := http.Get(srv.URL + "/v1/databases/" + fxDB + "/" + route[f.kind] + "/" + f.ns.Name)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusConflict, resp.StatusCode, "%s: %s", f.name, body)
		var eb ErrorBody
		require.NoError(t, json.Unmarshal(body, &eb))
		require.Equal(t, "corrupt_file", eb.Code, f.name)
		require.Contains(t, eb.Message, f.name)
		require.NotEmpty(t, eb.Hint, f.name)
	}
	require.Positive(t, broken)

	// Namespaces reports each broken file; a new namespace works beside them.
	infos, err := c.Namespaces(ctx)
	require.NoError(t, err)
	errs := map[string]string{}
	for _, in := range infos {
		errs[in.Name] = in.Error
	}
	for _, f := range files {
		if string(bytes.TrimSpace(orig[f.name])) != "{}" {
			require.Contains(t, errs[f.ns.Name], f.name, "namespaces: %s", f.ns.Name)
		}
	}
	kv, err := c.KV(ctx, adapters.Namespace{Name: "fx_fresh"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: json.RawMessage(`{"v":1}`)}}))
	got, err := kv.GetByIDs(ctx, []string{"a"})
	require.NoError(t, err)
	require.NotNil(t, got[0])
	require.NoError(t, c.Flush(ctx))
	requireBytesEqual(t, dir, files, orig) // broken files are never overwritten
	_, err = os.Stat(filepath.Join(dir, "kv_store_fx_fresh.json"))
	require.NoError(t, err)
}

// ---- served equal to the files ----

const fxBatch = 200

func checkServedEqual(ctx context.Context, t *testing.T, c *proxyclient.Client, dir string, files []fixtureFile) {
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		switch f.kind {
		case adapters.KindKV:
			checkKV(ctx, t, c, f, raw)
		case adapters.KindDocStatus:
			checkDocStatus(ctx, t, c, f, raw)
		case adapters.KindVector:
			checkVectors(ctx, t, c, f, raw)
		case adapters.KindGraph:
			checkGraph(ctx, t, c, f, raw)
		}
	}
}

// orderedObject parses a top-level JSON object in key order; a repeated key
// keeps its first position and last value, as a Python dict does.
func orderedObject(t *testing.T, raw []byte, what string) ([]string, map[string]json.RawMessage) {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
	tok, err := dec.Token()
	require.NoError(t, err, what)
	require.Equal(t, json.Delim('{'), tok, "%s: not a JSON object", what)
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err, what)
		k := tok.(string)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v), what)
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	return keys, vals
}

func jsonValue(t *testing.T, raw []byte) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%.200s", raw)
	return v
}

// kvView is what get_by_id answers for a stored value: "_id" set to the key
// and create_time/update_time defaulted to 0.
func kvView(id string, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m)+3)
	for k, x := range m {
		out[k] = x
	}
	out["_id"] = id
	for _, k := range []string{"create_time", "update_time"} {
		if _, ok := out[k]; !ok {
			out[k] = json.Number("0")
		}
	}
	return out
}

func batches(ids []string, fn func([]string)) {
	for i := 0; i < len(ids); i += fxBatch {
		fn(ids[i:min(i+fxBatch, len(ids))])
	}
}

func checkKV(ctx context.Context, t *testing.T, c *proxyclient.Client, f fixtureFile, raw []byte) {
	keys, vals, nested := kvRecords(t, f.ns.Name, raw, f.name)
	kv, err := c.KV(ctx, f.ns)
	require.NoError(t, err)
	n, err := kv.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(len(keys)), n, "%s count", f.name)
	batches(keys, func(ids []string) {
		got, err := kv.GetByIDs(ctx, ids)
		require.NoError(t, err)
		for i, id := range ids {
			require.NotNil(t, got[i], "%s %q missing", f.name, id)
			require.Equal(t, kvView(id, jsonValue(t, vals[id])), jsonValue(t, got[i]), "%s %q", f.name, id)
		}
	})
	if nested {
		t.Logf("%s: legacy nested cache, flattened to %d records, all equal", f.name, len(keys))
	} else {
		t.Logf("%s: %d records equal", f.name, len(keys))
	}
}

// isLegacyCache: an LLM cache whose first key is not "mode:type:hash" goes
// through LightRAG's legacy-cache migration on load (and so the adapter's).
func isLegacyCache(ns string, raw []byte) bool {
	if !strings.HasSuffix(ns, "_cache") {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	tok, err := dec.Token()
	k, ok := tok.(string)
	return err == nil && ok && len(strings.Split(k, ":")) != 3
}

// kvRecords is a KV file as JsonKVStorage holds it after load: for a legacy
// cache, each value that is an object of objects holding "return" becomes
// "mode:cache_type:hash" entries (cache_type defaults to "extract"); every
// other record stays. nested reports whether anything was flattened.
func kvRecords(t *testing.T, ns string, raw []byte, what string) (keys []string, vals map[string]json.RawMessage, nested bool) {
	keys, vals = orderedObject(t, raw, what)
	if !isLegacyCache(ns, raw) {
		return keys, vals, false
	}
	var outKeys []string
	out := map[string]json.RawMessage{}
	put := func(k string, v json.RawMessage) {
		if _, ok := out[k]; !ok {
			outKeys = append(outKeys, k)
		}
		out[k] = v
	}
	for _, k := range keys {
		v := vals[k]
		if !bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
			put(k, v)
			continue
		}
		hashes, entries := orderedObject(t, v, what)
		types := make([]string, len(hashes))
		for i, h := range hashes {
			var entry map[string]json.RawMessage
			if json.Unmarshal(entries[h], &entry) != nil || entry == nil || entry["return"] == nil {
				types = nil
				break
			}
			types[i] = "extract"
			if ct, ok := entry["cache_type"]; ok {
				require.NoError(t, json.Unmarshal(ct, &types[i]), "%s: non-string cache_type", what)
			}
		}
		if types == nil {
			put(k, v)
			continue
		}
		nested = true
		for i, h := range hashes {
			put(k+":"+types[i]+":"+h, entries[h])
		}
	}
	return outKeys, out, nested
}

func checkDocStatus(ctx context.Context, t *testing.T, c *proxyclient.Client, f fixtureFile, raw []byte) {
	keys, vals := orderedObject(t, raw, f.name)
	ds, err := c.DocStatus(ctx, f.ns)
	require.NoError(t, err)
	n, err := ds.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(len(keys)), n, "%s count", f.name)
	batches(keys, func(ids []string) {
		got, err := ds.GetByIDs(ctx, ids)
		require.NoError(t, err)
		for i, id := range ids {
			require.NotNil(t, got[i], "%s %q missing", f.name, id)
			require.Equal(t, jsonValue(t, vals[id]), jsonValue(t, got[i]), "%s %q", f.name, id)
		}
	})
	t.Logf("%s: %d doc-status records equal", f.name, len(keys))
}

// vdbFile is a NanoVectorDB file parsed here.
type vdbFile struct {
	top   map[string]json.RawMessage
	dim   int
	ids   []string // first positions, each once
	items map[string]map[string]json.RawMessage
	rows  map[string][]float32 // matrix rows as written
}

func parseVDB(t *testing.T, raw []byte, what string) vdbFile {
	var v vdbFile
	require.NoError(t, json.Unmarshal(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")), &v.top), what)
	require.NoError(t, json.Unmarshal(v.top["embedding_dim"], &v.dim), what)
	var data []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(v.top["data"], &data), what)
	var m64 string
	require.NoError(t, json.Unmarshal(v.top["matrix"], &m64), what)
	mat, err := base64.StdEncoding.DecodeString(m64)
	require.NoError(t, err, what)
	require.Len(t, mat, 4*v.dim*len(data), "%s: matrix size", what)
	v.items, v.rows = map[string]map[string]json.RawMessage{}, map[string][]float32{}
	for i, it := range data {
		var id string
		require.NoError(t, json.Unmarshal(it["__id__"], &id), what)
		if _, ok := v.items[id]; !ok {
			v.ids = append(v.ids, id)
		}
		v.items[id] = it
		row := make([]float32, v.dim)
		for k := range row {
			row[k] = math.Float32frombits(binary.LittleEndian.Uint32(mat[4*(i*v.dim+k):]))
		}
		v.rows[id] = row
	}
	return v
}

// vectorOf is what get_vectors_by_ids answers: the per-item float16
// vector when there is one, else the (normalised) matrix row.
func (v vdbFile) vectorOf(t *testing.T, id string) []float32 {
	if raw, ok := v.items[id]["vector"]; ok {
		var s string
		require.NoError(t, json.Unmarshal(raw, &s))
		return decodeHalfVector(t, s)
	}
	return unit(v.rows[id])
}

func unit(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if ss == 0 {
		return out
	}
	for i, x := range v {
		out[i] = float32(float64(x) / math.Sqrt(ss))
	}
	return out
}

// decodeHalfVector decodes NanoVectorDB's per-item vector: base64 of zlib
// of little-endian float16.
func decodeHalfVector(t *testing.T, s string) []float32 {
	comp, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	zr, err := zlib.NewReader(bytes.NewReader(comp))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Zero(t, len(raw)%2)
	out := make([]float32, len(raw)/2)
	for i := range out {
		out[i] = halfBits(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return out
}

func halfBits(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * float32(math.Ldexp(mant, -24))
	case 31:
		if mant != 0 {
			return float32(math.NaN())
		}
		return sign * float32(math.Inf(1))
	}
	return sign * float32(math.Ldexp(1024+mant, exp-25))
}

func requireClose(t *testing.T, want, got []float32, tol float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if d := math.Abs(float64(want[i]) - float64(got[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s: element %d: want %v got %v", what, i, want[i], got[i])
		}
	}
}

// itemFields are an item's meta fields: all but __id__, __created_at__, vector.
func itemFields(t *testing.T, it map[string]json.RawMessage) map[string]any {
	out := map[string]any{}
	for k, v := range it {
		if k != "__id__" && k != "__created_at__" && k != "vector" {
			out[k] = jsonValue(t, v)
		}
	}
	return out
}

func createdAtOf(t *testing.T, it map[string]json.RawMessage) int64 {
	raw, ok := it["__created_at__"]
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	require.NoError(t, err)
	return int64(f)
}

func checkVectors(ctx context.Context, t *testing.T, c *proxyclient.Client, f fixtureFile, raw []byte) {
	v := parseVDB(t, raw, f.name)
	vs, err := c.Vector(ctx, f.ns, 0)
	require.NoError(t, err)
	require.Equal(t, v.dim, vs.Dim(), "%s dim", f.name)
	n, err := vs.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(len(v.ids)), n, "%s count", f.name)
	batches(v.ids, func(ids []string) {
		got, err := vs.GetByIDs(ctx, ids)
		require.NoError(t, err)
		vecs, err := vs.GetVectorsByIDs(ctx, ids)
		require.NoError(t, err)
		for i, id := range ids {
			require.NotNil(t, got[i], "%s %q missing", f.name, id)
			require.Equal(t, itemFields(t, v.items[id]), jsonValue(t, got[i].Fields), "%s %q fields", f.name, id)
			require.Equal(t, createdAtOf(t, v.items[id]), got[i].CreatedAt, "%s %q created_at", f.name, id)
			requireClose(t, v.vectorOf(t, id), vecs[id], 1e-5, fmt.Sprintf("%s %q vector", f.name, id))
		}
	})
	// The matrix is what queries search: a few rows must find themselves.
	for _, id := range v.ids[:min(3, len(v.ids))] {
		row := v.rows[id]
		m, err := vs.Query(ctx, adapters.VectorQuery{Vector: row, TopK: 1, Threshold: 0.5})
		require.NoError(t, err)
		require.Len(t, m, 1, "%s: query by the row of %q", f.name, id)
		require.InDelta(t, 1, m[0].Similarity, 1e-3, "%s: query by the row of %q", f.name, id)
		if m[0].ID != id { // an identical row may come first
			requireClose(t, unit(row), unit(v.rows[m[0].ID]), 1e-4, fmt.Sprintf("%s rows %q %q", f.name, id, m[0].ID))
		}
	}
	t.Logf("%s: %d vectors of %d dimensions equal", f.name, len(v.ids), v.dim)
}

// ---- GraphML, parsed here ----

type gmlDoc struct {
	Keys  []gmlKey `xml:"key"`
	Graph struct {
		EdgeDefault string    `xml:"edgedefault,attr"`
		Nodes       []gmlNode `xml:"node"`
		Edges       []gmlEdge `xml:"edge"`
	} `xml:"graph"`
}

type gmlKey struct {
	ID   string `xml:"id,attr"`
	For  string `xml:"for,attr"`
	Name string `xml:"attr.name,attr"`
	Type string `xml:"attr.type,attr"`
}

type gmlData struct {
	Key   string `xml:"key,attr"`
	Value string `xml:",chardata"`
}

type gmlNode struct {
	ID   string    `xml:"id,attr"`
	Data []gmlData `xml:"data"`
}

type gmlEdge struct {
	Source string    `xml:"source,attr"`
	Target string    `xml:"target,attr"`
	Data   []gmlData `xml:"data"`
}

type pairKey struct{ a, b string }

func canonPair(a, b string) pairKey {
	if b < a {
		a, b = b, a
	}
	return pairKey{a, b}
}

// gmlGraph is a graph as NetworkX reads it: typed values, undirected edges,
// repeated nodes and edges merged, endpoints created as needed.
type gmlGraph struct {
	keyTypes  map[[2]string]string // (for, attr.name) -> attr.type
	nodeOrder []string
	nodes     map[string]map[string]any
	edgeOrder []pairKey
	edgeDir   map[pairKey][2]string // as written
	edges     map[pairKey]map[string]any
}

func parseGraphML(t *testing.T, raw []byte, what string) gmlGraph {
	var d gmlDoc
	require.NoError(t, xml.Unmarshal(raw, &d), what)
	require.Equal(t, "undirected", d.Graph.EdgeDefault, what)
	g := gmlGraph{keyTypes: map[[2]string]string{}, nodes: map[string]map[string]any{},
		edgeDir: map[pairKey][2]string{}, edges: map[pairKey]map[string]any{}}
	byID := map[string]gmlKey{}
	for _, k := range d.Keys {
		if k.Name == "" {
			k.Name = k.ID
		}
		byID[k.ID] = k
		g.keyTypes[[2]string{k.For, k.Name}] = k.Type
	}
	props := func(data []gmlData) map[string]any {
		out := map[string]any{}
		for _, x := range data {
			k, ok := byID[x.Key]
			require.True(t, ok, "%s: undeclared key %q", what, x.Key)
			if x.Value == "" {
				out[k.Name] = "" // NetworkX reads a <data> without text as "" (how it writes "")
				continue
			}
			out[k.Name] = typedGML(t, k.Type, x.Value, what)
		}
		return out
	}
	addNode := func(id string, p map[string]any) {
		n, ok := g.nodes[id]
		if !ok {
			n = map[string]any{}
			g.nodes[id] = n
			g.nodeOrder = append(g.nodeOrder, id)
		}
		for k, v := range p {
			n[k] = v
		}
	}
	for _, n := range d.Graph.Nodes {
		addNode(n.ID, props(n.Data))
	}
	for _, e := range d.Graph.Edges {
		addNode(e.Source, nil)
		addNode(e.Target, nil)
		pk := canonPair(e.Source, e.Target)
		m, ok := g.edges[pk]
		if !ok {
			m = map[string]any{}
			g.edges[pk] = m
			g.edgeOrder = append(g.edgeOrder, pk)
			g.edgeDir[pk] = [2]string{e.Source, e.Target}
		}
		for k, v := range props(e.Data) {
			m[k] = v
		}
	}
	return g
}

// typedGML converts <data> text by its key's attr.type as NetworkX does.
func typedGML(t *testing.T, typ, text, what string) any {
	switch typ {
	case "long", "int", "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		require.NoError(t, err, what)
		return n
	case "double", "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		require.NoError(t, err, what)
		return f
	case "boolean":
		return map[string]bool{"true": true, "1": true}[strings.ToLower(text)]
	}
	return text
}

// typedProps converts the API's JSON props the same way: integers int64,
// other numbers float64, so int-vs-float differences show.
func typedProps(t *testing.T, p adapters.Props) map[string]any {
	out := make(map[string]any, len(p))
	for k, raw := range p {
		s := strings.TrimSpace(string(raw))
		switch {
		case s == "true" || s == "false":
			out[k] = s == "true"
		case strings.HasPrefix(s, `"`):
			var str string
			require.NoError(t, json.Unmarshal(raw, &str))
			out[k] = str
		case strings.ContainsAny(s, ".eE"):
			f, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err, "%s: %s", k, s)
			out[k] = f
		default:
			n, err := strconv.ParseInt(s, 10, 64)
			require.NoError(t, err, "%s: %s", k, s)
			out[k] = n
		}
	}
	return out
}

func checkGraph(ctx context.Context, t *testing.T, c *proxyclient.Client, f fixtureFile, raw []byte) {
	g := parseGraphML(t, raw, f.name)
	gs, err := c.Graph(ctx, f.ns)
	require.NoError(t, err)
	nn, ne, err := gs.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{int64(len(g.nodes)), int64(len(g.edges))}, []int64{nn, ne}, "%s counts", f.name)
	batches(g.nodeOrder, func(ids []string) {
		got, err := gs.GetNodes(ctx, ids)
		require.NoError(t, err)
		for i, id := range ids {
			require.NotNil(t, got[i], "%s node %q missing", f.name, id)
			require.Equal(t, g.nodes[id], typedProps(t, got[i]), "%s node %q", f.name, id)
		}
	})
	for i := 0; i < len(g.edgeOrder); i += fxBatch {
		chunk := g.edgeOrder[i:min(i+fxBatch, len(g.edgeOrder))]
		pairs := make([]adapters.Edge, len(chunk))
		for j, pk := range chunk {
			d := g.edgeDir[pk]
			pairs[j] = adapters.Edge{Src: d[0], Tgt: d[1]}
		}
		got, err := gs.GetEdges(ctx, pairs)
		require.NoError(t, err)
		for j, pk := range chunk {
			require.NotNil(t, got[j], "%s edge %v missing", f.name, pk)
			require.Equal(t, g.edges[pk], typedProps(t, got[j]), "%s edge %v", f.name, pk)
		}
	}
	t.Logf("%s: %d nodes, %d edges equal", f.name, len(g.nodes), len(g.edges))
}

// ---- mutations and the expected state after a flush ----

// requireStamp checks a server-written epoch second against the window of
// the mutations.
func requireStamp(t *testing.T, w [2]int64, v any, what string) {
	t.Helper()
	num, ok := v.(json.Number)
	require.True(t, ok, "%s: %v is not a number", what, v)
	n, err := num.Int64()
	require.NoError(t, err, what)
	require.True(t, n >= w[0] && n <= w[1], "%s: %d outside [%d, %d]", what, n, w[0], w[1])
}

// expectStamped is a KV upsert's stored record: sent + _id, update_time now,
// create_time kept from sent or existing, else now; llm_cache_list for text
// chunks. Timestamps written by the server are checked and removed.
func expectStamped(t *testing.T, w [2]int64, ns, id string, sent, existing, got map[string]any) {
	t.Helper()
	want := map[string]any{}
	for k, v := range sent {
		want[k] = v
	}
	want["_id"] = id
	got = cloneMap(got)
	requireStamp(t, w, got["update_time"], id+" update_time")
	delete(got, "update_time")
	delete(want, "update_time")
	if _, ok := want["create_time"]; !ok {
		if ct, ok := existing["create_time"]; ok {
			want["create_time"] = ct
		} else {
			requireStamp(t, w, got["create_time"], id+" create_time")
			delete(got, "create_time")
		}
	}
	if strings.HasSuffix(ns, "text_chunks") {
		if _, ok := want["llm_cache_list"]; !ok {
			want["llm_cache_list"] = []any{}
		}
	}
	require.Equal(t, want, got, "%s %q", ns, id)
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mutateKV(ctx context.Context, t *testing.T, c *proxyclient.Client, dir string, f fixtureFile, orig []byte) fxChange {
	keys, vals := orderedObject(t, orig, f.name)
	kv, err := c.KV(ctx, f.ns)
	require.NoError(t, err)
	const newID = "fx-new-record"
	sentNew := map[string]any{"content": "a new record", "fx_unknown": map[string]any{"nested": []any{json.Number("1"), json.Number("2.5"), "x"}}}
	ups := []adapters.KVRecord{{ID: newID, Data: mustJSON(t, sentNew)}}
	replaced, deleted := "", ""
	var sentRepl, oldRepl map[string]any
	if len(keys) > 0 {
		if m, ok := jsonValue(t, vals[keys[0]]).(map[string]any); ok {
			replaced, oldRepl = keys[0], m
			sentRepl = cloneMap(m) // keep every unknown field
			sentRepl["fx_replaced"] = true
			ups = append(ups, adapters.KVRecord{ID: replaced, Data: mustJSON(t, sentRepl)})
		}
	}
	if len(keys) > 1 {
		deleted = keys[len(keys)-1]
	}
	require.NoError(t, kv.Upsert(ctx, ups))
	if deleted != "" {
		require.NoError(t, kv.Delete(ctx, []string{deleted}))
	}
	return fxChange{file: func(t *testing.T, w [2]int64) {
		raw, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		gotKeys, gotVals := orderedObject(t, raw, f.name)
		var wantKeys []string
		for _, k := range keys {
			if k != deleted {
				wantKeys = append(wantKeys, k)
			}
		}
		wantKeys = append(wantKeys, newID)
		require.Equal(t, wantKeys, gotKeys, "%s key order", f.name)
		for _, k := range gotKeys {
			switch k {
			case newID:
				expectStamped(t, w, f.ns.Name, k, sentNew, nil, jsonValue(t, gotVals[k]).(map[string]any))
			case replaced:
				expectStamped(t, w, f.ns.Name, k, sentRepl, oldRepl, jsonValue(t, gotVals[k]).(map[string]any))
			default:
				require.Equal(t, jsonValue(t, vals[k]), jsonValue(t, gotVals[k]), "%s %q untouched", f.name, k)
			}
		}
	}, served: func(ctx context.Context, t *testing.T, c *proxyclient.Client, _ [2]int64) {
		kv, err := c.KV(ctx, f.ns)
		require.NoError(t, err)
		servedIDs(ctx, t, kv, dir, f, []string{newID, replaced}, deleted, kvView)
	}}
}

// servedIDs checks that ids read back equal to the flushed file (through
// view), that deleted is gone, and the count.
func servedIDs(ctx context.Context, t *testing.T, s interface {
	GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error)
	Count(ctx context.Context) (int64, error)
}, dir string, f fixtureFile, ids []string, deleted string, view func(string, any) any) {
	raw, err := os.ReadFile(filepath.Join(dir, f.name))
	require.NoError(t, err)
	keys, vals := orderedObject(t, raw, f.name)
	n, err := s.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(len(keys)), n, "%s count after reopen", f.name)
	var ask []string
	for _, id := range append(ids, deleted) {
		if id != "" {
			ask = append(ask, id)
		}
	}
	got, err := s.GetByIDs(ctx, ask)
	require.NoError(t, err)
	for i, id := range ask {
		if id == deleted {
			require.Nil(t, got[i], "%s %q deleted, still served after reopen", f.name, id)
			continue
		}
		require.NotNil(t, got[i], "%s %q after reopen", f.name, id)
		require.Equal(t, view(id, jsonValue(t, vals[id])), jsonValue(t, got[i]), "%s %q after reopen", f.name, id)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func mutateDocStatus(ctx context.Context, t *testing.T, c *proxyclient.Client, dir string, f fixtureFile) fxChange {
	raw, err := os.ReadFile(filepath.Join(dir, f.name))
	require.NoError(t, err)
	keys, vals := orderedObject(t, raw, f.name)
	ds, err := c.DocStatus(ctx, f.ns)
	require.NoError(t, err)
	const newID = "doc-fx-new"
	sent := map[string]any{"status": "processed", "content_summary": "fx", "content_length": json.Number("2"),
		"file_path": "fx.txt", "created_at": "2025-01-01T00:00:00+00:00", "updated_at": "2025-01-01T00:00:01+00:00",
		"chunks_count": json.Number("1"), "fx_unknown": map[string]any{"kept": true}}
	require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: newID, Data: mustJSON(t, sent)}}))
	deleted := ""
	if len(keys) > 0 {
		deleted = keys[0]
		require.NoError(t, ds.Delete(ctx, []string{deleted}))
	}
	return fxChange{file: func(t *testing.T, w [2]int64) {
		raw, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		gotKeys, gotVals := orderedObject(t, raw, f.name)
		want := map[string]any{}
		for _, k := range keys {
			if k != deleted {
				want[k] = jsonValue(t, vals[k])
			}
		}
		stored := cloneMap(sent)
		stored["chunks_list"] = []any{}
		want[newID] = stored
		got := map[string]any{}
		for _, k := range gotKeys {
			got[k] = jsonValue(t, gotVals[k])
		}
		require.Equal(t, want, got, f.name)
		require.Equal(t, newID, gotKeys[len(gotKeys)-1], "%s: a new record goes last", f.name)
	}, served: func(ctx context.Context, t *testing.T, c *proxyclient.Client, _ [2]int64) {
		ds, err := c.DocStatus(ctx, f.ns)
		require.NoError(t, err)
		servedIDs(ctx, t, ds, dir, f, []string{newID}, deleted, func(_ string, v any) any { return v })
	}}
}

// fxVector is a deterministic, un-normalised test embedding.
func fxVector(dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(math.Sin(float64(i)*0.37+1)) * 3
	}
	return v
}

func mutateVector(ctx context.Context, t *testing.T, c *proxyclient.Client, dir string, f fixtureFile) fxChange {
	raw, err := os.ReadFile(filepath.Join(dir, f.name))
	require.NoError(t, err)
	before := parseVDB(t, raw, f.name)
	if before.dim == 0 {
		return fxChange{file: func(*testing.T, [2]int64) {},
			served: func(context.Context, *testing.T, *proxyclient.Client, [2]int64) {}}
	}
	vs, err := c.Vector(ctx, f.ns, before.dim)
	require.NoError(t, err)
	const newID = "fx-new-vector"
	sentFields := map[string]any{"entity_name": "FX NEW", "content": "fx", "source_id": "chunk-fx",
		"file_path": "fx.txt", "fx_unknown": []any{json.Number("1"), "two"}}
	sentVec := fxVector(before.dim)
	require.NoError(t, vs.Upsert(ctx, []adapters.VectorRecord{{ID: newID, Fields: mustJSON(t, sentFields), Vector: sentVec}}))
	deleted := ""
	if len(before.ids) > 0 {
		deleted = before.ids[0]
		require.NoError(t, vs.Delete(ctx, []string{deleted}))
	}
	return fxChange{file: func(t *testing.T, w [2]int64) {
		raw, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		after := parseVDB(t, raw, f.name)
		require.Equal(t, before.dim, after.dim, "%s embedding_dim", f.name)
		for k, v := range before.top {
			if k != "data" && k != "matrix" {
				require.JSONEq(t, string(v), string(after.top[k]), "%s top-level %s", f.name, k)
			}
		}
		wantIDs := []string{}
		for _, id := range before.ids {
			if id != deleted {
				wantIDs = append(wantIDs, id)
			}
		}
		wantIDs = append(wantIDs, newID)
		gotIDs := append([]string(nil), after.ids...)
		sort.Strings(wantIDs)
		sort.Strings(gotIDs)
		require.Equal(t, wantIDs, gotIDs, "%s ids", f.name)
		require.Len(t, after.ids, len(after.items), "%s: duplicate ids written", f.name)
		for _, id := range after.ids {
			requireUnitRow(t, after.rows[id], fmt.Sprintf("%s %q row", f.name, id))
			if id == newID {
				continue
			}
			wantItem, gotItem := map[string]any{}, map[string]any{}
			for k, v := range before.items[id] {
				wantItem[k] = jsonValue(t, v)
			}
			for k, v := range after.items[id] {
				gotItem[k] = jsonValue(t, v)
			}
			require.Equal(t, wantItem, gotItem, "%s %q item", f.name, id)
			requireClose(t, unit(before.rows[id]), after.rows[id], 1e-6, fmt.Sprintf("%s %q row", f.name, id))
		}
		it := after.items[newID]
		require.Equal(t, sentFields, itemFields(t, it), "%s new item fields", f.name)
		requireStamp(t, w, jsonValue(t, it["__created_at__"]), f.name+" __created_at__")
		requireClose(t, unit(sentVec), after.rows[newID], 1e-6, f.name+" new row")
		var v16 string
		require.NoError(t, json.Unmarshal(it["vector"], &v16), "%s: new item has no per-item vector", f.name)
		requireClose(t, sentVec, decodeHalfVector(t, v16), 2e-3, f.name+" new per-item vector")
	}, served: func(ctx context.Context, t *testing.T, c *proxyclient.Client, w [2]int64) {
		vs, err := c.Vector(ctx, f.ns, before.dim)
		require.NoError(t, err)
		n, err := vs.Count(ctx)
		require.NoError(t, err)
		want := len(before.ids) + 1
		if deleted != "" {
			want--
		}
		require.Equal(t, int64(want), n, "%s count after reopen", f.name)
		ask := []string{newID}
		if deleted != "" {
			ask = append(ask, deleted)
		}
		got, err := vs.GetByIDs(ctx, ask)
		require.NoError(t, err)
		require.NotNil(t, got[0], "%s new vector after reopen", f.name)
		require.Equal(t, sentFields, jsonValue(t, got[0].Fields), "%s new vector fields after reopen", f.name)
		require.True(t, got[0].CreatedAt >= w[0] && got[0].CreatedAt <= w[1], "%s created_at %d", f.name, got[0].CreatedAt)
		if deleted != "" {
			require.Nil(t, got[1], "%s %q deleted, still served after reopen", f.name, deleted)
		}
		vecs, err := vs.GetVectorsByIDs(ctx, []string{newID})
		require.NoError(t, err)
		requireClose(t, sentVec, vecs[newID], 2e-3, f.name+" new vector after reopen")
	}}
}

func requireUnitRow(t *testing.T, row []float32, what string) {
	t.Helper()
	var ss float64
	for _, x := range row {
		ss += float64(x) * float64(x)
	}
	require.InDelta(t, 1, math.Sqrt(ss), 1e-4, "%s: not L2-normalised", what)
}

func mutateGraph(ctx context.Context, t *testing.T, c *proxyclient.Client, dir string, f fixtureFile) fxChange {
	raw, err := os.ReadFile(filepath.Join(dir, f.name))
	require.NoError(t, err)
	before := parseGraphML(t, raw, f.name)
	gs, err := c.Graph(ctx, f.ns)
	require.NoError(t, err)

	const newNode = "FX_NEW_NODE"
	props := func(kv ...string) adapters.Props {
		p := adapters.Props{}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = json.RawMessage(kv[i+1])
		}
		return p
	}
	nodes := []adapters.Node{{ID: newNode, Props: props("entity_id", `"FX_NEW_NODE"`, "entity_type", `"test"`,
		"description", `"a new node"`, "source_id", `"chunk-fx"`, "created_at", "1700000000",
		"fx_float", "0.25", "fx_int", "42")}}
	wantNodes := map[string]map[string]any{}
	for id, p := range before.nodes {
		wantNodes[id] = p
	}
	wantNodes[newNode] = map[string]any{"entity_id": newNode, "entity_type": "test", "description": "a new node",
		"source_id": "chunk-fx", "created_at": int64(1700000000), "fx_float": 0.25, "fx_int": int64(42)}
	wantEdges := map[pairKey]map[string]any{}
	for k, p := range before.edges {
		wantEdges[k] = p
	}
	var first string
	if len(before.nodeOrder) > 0 {
		first = before.nodeOrder[0]
		nodes = append(nodes, adapters.Node{ID: first, Props: props("fx_note", `"merged"`)})
		m := cloneMap(before.nodes[first])
		m["fx_note"] = "merged"
		wantNodes[first] = m
	}
	require.NoError(t, gs.UpsertNodes(ctx, nodes))
	if first != "" {
		require.NoError(t, gs.UpsertEdges(ctx, []adapters.EdgeData{{Src: newNode, Tgt: first,
			Props: props("weight", "2.0", "description", `"a new edge"`, "keywords", `"fx"`,
				"source_id", `"chunk-fx"`, "created_at", "1700000001")}}))
		wantEdges[canonPair(newNode, first)] = map[string]any{"weight": 2.0, "description": "a new edge",
			"keywords": "fx", "source_id": "chunk-fx", "created_at": int64(1700000001)}
	}
	var deletedEdge *adapters.Edge
	if len(before.edgeOrder) > 0 {
		pk := before.edgeOrder[0]
		d := before.edgeDir[pk]
		deletedEdge = &adapters.Edge{Src: d[0], Tgt: d[1]}
		require.NoError(t, gs.DeleteEdges(ctx, []adapters.Edge{{Src: d[1], Tgt: d[0]}})) // either orientation
		delete(wantEdges, pk)
	}
	return fxChange{file: func(t *testing.T, w [2]int64) {
		raw, err := os.ReadFile(filepath.Join(dir, f.name))
		require.NoError(t, err)
		after := parseGraphML(t, raw, f.name)
		require.Equal(t, wantNodes, after.nodes, "%s nodes", f.name)
		require.Equal(t, wantEdges, after.edges, "%s edges", f.name)
		for k, typ := range before.keyTypes {
			require.Equal(t, typ, after.keyTypes[k], "%s: key %v lost its type", f.name, k)
		}
		for k, typ := range map[[2]string]string{{"node", "created_at"}: "long", {"node", "fx_float"}: "double",
			{"node", "fx_int"}: "long", {"edge", "weight"}: "double", {"edge", "created_at"}: "long"} {
			if k[0] == "edge" && first == "" {
				continue
			}
			require.Equal(t, typ, after.keyTypes[k], "%s: attr.type of %v", f.name, k)
		}
	}, served: func(ctx context.Context, t *testing.T, c *proxyclient.Client, _ [2]int64) {
		gs, err := c.Graph(ctx, f.ns)
		require.NoError(t, err)
		nn, ne, err := gs.Counts(ctx)
		require.NoError(t, err)
		require.Equal(t, []int64{int64(len(wantNodes)), int64(len(wantEdges))}, []int64{nn, ne}, "%s counts after reopen", f.name)
		ids := []string{newNode}
		if first != "" {
			ids = append(ids, first)
		}
		got, err := gs.GetNodes(ctx, ids)
		require.NoError(t, err)
		for i, id := range ids {
			require.Equal(t, wantNodes[id], typedProps(t, got[i]), "%s node %q after reopen", f.name, id)
		}
		if first != "" {
			e, err := gs.GetEdges(ctx, []adapters.Edge{{Src: first, Tgt: newNode}})
			require.NoError(t, err)
			require.Equal(t, wantEdges[canonPair(newNode, first)], typedProps(t, e[0]), "%s new edge after reopen", f.name)
		}
		if deletedEdge != nil {
			has, err := gs.HasEdges(ctx, []adapters.Edge{*deletedEdge})
			require.NoError(t, err)
			require.False(t, has[0], "%s deleted edge %v still served after reopen", f.name, *deletedEdge)
		}
	}}
}

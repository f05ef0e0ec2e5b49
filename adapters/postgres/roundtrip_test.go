package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// requireSameJSON compares two JSON values strictly: same top-level key
// order, same keys everywhere, numbers with the same text (so 1 and 1.0
// differ), nested object key order ignored (JSONB sorts it).
func requireSameJSON(t *testing.T, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	wk, _, err := splitObject(want)
	require.NoError(t, err)
	gk, _, err := splitObject(got)
	require.NoError(t, err, "got %s", got)
	require.Equal(t, wk, gk, "top-level key order; got %s", got)
	require.Equal(t, strictValue(t, want), strictValue(t, got), msgAndArgs...)
}

func strictValue(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return v
}

// losslessRecords are records whose every field and value type must survive.
var losslessRecords = []struct {
	name string
	ns   string
	rec  string
}{
	{"text chunk with custom-KG and multimodal fields", "text_chunks",
		`{"tokens":12,"content":"α <SEP> \"quoted\" \\ $x","chunk_order_index":0,"full_doc_id":"doc-1","file_path":"a.pdf",` +
			`"llm_cache_list":["c1"],"source_id":"s1<SEP>s2","is_multimodal":true,"modal_info":{"type":"image","bbox":[1,2.5,3e2]},` +
			`"page_idx":3,"score":1.0,"tiny":1e-7,"huge":1e+16,"neg_zero":-0.0,"nul":"a\u0000b","null_field":null}`},
	{"chunk with wrong column types", "text_chunks",
		`{"tokens":12.5,"chunk_order_index":"7","content":42,"full_doc_id":null,"file_path":["x"],"create_time":1700000000.5}`},
	{"full doc", "full_docs", `{"content":"body","file_path":"f.txt","extra":{"b":1,"a":[true,null]}}`},
	{"llm cache", "llm_response_cache", `{"return":"ans","cache_type":"extract","original_prompt":"p","chunk_id":"c",` +
		`"queryparam":{"mode":"local","top_k":60,"ratio":0.5},"mode":"default","embedding":"xyz","embedding_shape":[1,3]}`},
	{"entity chunks", "entity_chunks", `{"chunk_ids":["c1","c2"],"count":2,"count_f":2.0}`},
	{"generic namespace", "community_reports", `{"title":"t","rating":7.50,"n":3,"nested":{"z":1,"a":{"k":[1.0,2]}},"e":2E3}`},
	{"empty record", "parse_cache", `{}`},
}

func TestLosslessKV(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	for _, tc := range losslessRecords {
		t.Run(tc.name, func(t *testing.T) {
			kv, err := b.KV(ctx, adapters.Namespace{Name: tc.ns})
			require.NoError(t, err)
			id := randomName("id-")
			require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: adapters.Record(tc.rec)}}))
			got, err := kv.GetByIDs(ctx, []string{id})
			require.NoError(t, err)
			require.NotNil(t, got[0])
			// What the adapter stored is StampKV's output.
			want, err := adapters.StampKV(tc.ns, id, adapters.Record(tc.rec), nil, 0)
			require.NoError(t, err)
			gotObj := strictValue(t, got[0]).(map[string]any)
			wantObj := strictValue(t, want).(map[string]any)
			wantObj["update_time"], wantObj["create_time"] = gotObj["update_time"], gotObj["create_time"]
			if _, ok := strictValue(t, []byte(tc.rec)).(map[string]any)["create_time"]; ok {
				wantObj["create_time"] = json.Number("1700000000.5")
			}
			require.Equal(t, wantObj, gotObj)
			wk, _, _ := splitObject(want)
			gk, _, _ := splitObject(got[0])
			require.Equal(t, wk, gk, "top-level key order")
		})
	}
}

func TestLosslessDocStatus(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	recs := []string{
		`{"status":"processed","content_summary":"s","content_length":10,"file_path":"a.txt","created_at":"2025-01-02T03:04:05+00:00",` +
			`"updated_at":"2025-01-02T03:04:05.123456+00:00","track_id":"t1","chunks_count":2,"chunks_list":["c1","c2"],"error_msg":null,"metadata":{"k":"v","n":1.5}}`,
		`{"status":"failed","error":"legacy","content":"legacy content","created_at":"2024-05-06T07:08:09.5+02:00","updated_at":"not a date",` +
			`"content_summary":"` + string(bytes.Repeat([]byte("é"), 300)) + `","multimodal_processed":false,"content_length":1e3}`,
	}
	for _, ns := range []string{"doc_status", "other_doc_status"} {
		ds, err := b.DocStatus(ctx, adapters.Namespace{Name: ns})
		require.NoError(t, err)
		for i, rec := range recs {
			id := fmt.Sprintf("doc-%d", i)
			require.NoError(t, ds.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: adapters.Record(rec)}}))
			got, err := ds.GetByIDs(ctx, []string{id})
			require.NoError(t, err)
			want, err := adapters.StampDoc(id, adapters.Record(rec))
			require.NoError(t, err)
			requireSameJSON(t, want, got[0])
		}
	}
}

func TestLosslessVector(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	cases := []struct{ ns, fields string }{
		{"entities", `{"entity_name":"Alice","source_id":"c1<SEP>c2","content":"Alice\nperson","file_path":"a.txt",` +
			`"vector":"eJxjYGBgAAAABAAB","entity_type":"person","weight":1.0,"rank":3}`},
		{"relationships", `{"src_id":"A","tgt_id":"B","source_id":"c1","content":"A-B","file_path":"f","keywords":"k","weight":2.50}`},
		{"chunks", `{"full_doc_id":"d","content":"text","file_path":"f","tokens":5,"chunk_order_index":1,"vector":"abc=","x":1e+16}`},
		{"custom_vectors", `{"content":"c","n":1,"f":1.0,"o":{"b":2,"a":1}}`},
	}
	for _, tc := range cases {
		t.Run(tc.ns, func(t *testing.T) {
			v, err := b.Vector(ctx, adapters.Namespace{Name: tc.ns}, 0)
			require.NoError(t, err)
			require.Equal(t, 0, v.Dim())
			vec := []float32{0.5, -1.25, 3}
			require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "v1", Fields: adapters.Record(tc.fields), Vector: vec}}))
			require.Equal(t, 3, v.Dim())
			got, err := v.GetByIDs(ctx, []string{"v1", "missing"})
			require.NoError(t, err)
			require.Nil(t, got[1])
			requireSameJSON(t, []byte(tc.fields), got[0].Fields)
			vecs, err := v.GetVectorsByIDs(ctx, []string{"v1"})
			require.NoError(t, err)
			require.Equal(t, vec, vecs["v1"], "stored un-normalised")
			scan, err := v.Scan(ctx, "", 10)
			require.NoError(t, err)
			require.Len(t, scan, 1)
			requireSameJSON(t, []byte(tc.fields), scan[0].Fields)
			require.Equal(t, vec, scan[0].Vector)
		})
	}
}

func TestLosslessGraphProps(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	props := adapters.Props{"entity_id": json.RawMessage(`"A"`), "weight": json.RawMessage(`1.0`), "created_at": json.RawMessage(`1700000000`),
		"big": json.RawMessage(`1e+16`), "nul": json.RawMessage(`"a\u0000b"`), "flag": json.RawMessage(`true`), "f": json.RawMessage(`0.25`)}
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "A", Props: props}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "B", Tgt: "A", Props: props}}))
	nodes, err := g.GetNodes(ctx, []string{"A", "B"})
	require.NoError(t, err)
	require.Equal(t, props, nodes[0])
	require.Equal(t, adapters.Props{}, nodes[1])
	edges, err := g.GetEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}})
	require.NoError(t, err)
	require.Equal(t, props, edges[0])
	// A merge replaces an override with a plain value and keeps the others.
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "A", Props: adapters.Props{"big": json.RawMessage(`2`)}}}))
	nodes, err = g.GetNodes(ctx, []string{"A"})
	require.NoError(t, err)
	want := cloneProps(props)
	want["big"] = json.RawMessage(`2`)
	require.Equal(t, want, nodes[0])
}

// specialIDs are ids that break naive SQL or JSON handling.
var specialIDs = []string{`it's`, `"quoted"`, `back\slash`, `$1 $$`, `a<SEP>b`, `中文实体`, `emoji 🚀`, `%_like`, `semi;colon--`, "tab\tnew\nline"}

func TestSpecialIDs(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	kv, err := b.KV(ctx, adapters.Namespace{Name: "full_entities"})
	require.NoError(t, err)
	var recs []adapters.KVRecord
	for _, id := range specialIDs {
		recs = append(recs, adapters.KVRecord{ID: id, Data: adapters.Record(`{"entity_names":["x"],"count":1}`)})
	}
	require.NoError(t, kv.Upsert(ctx, recs))
	got, err := kv.GetByIDs(ctx, specialIDs)
	require.NoError(t, err)
	for i, id := range specialIDs {
		require.NotNil(t, got[i], id)
		require.Equal(t, id, adapters.StringField(got[i], "_id"))
	}
	missing, err := kv.FilterKeys(ctx, append([]string{"nope"}, specialIDs...))
	require.NoError(t, err)
	require.Equal(t, []string{"nope"}, missing)

	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	var edges []adapters.EdgeData
	for i := 1; i < len(specialIDs); i++ {
		edges = append(edges, adapters.EdgeData{Src: specialIDs[i], Tgt: specialIDs[i-1], Props: adapters.Props{"w": json.RawMessage(`1.0`)}})
	}
	require.NoError(t, g.UpsertEdges(ctx, edges))
	labels, err := g.AllLabels(ctx)
	require.NoError(t, err)
	require.Len(t, labels, len(specialIDs))
	require.IsIncreasing(t, labels)
	has, err := g.HasEdges(ctx, []adapters.Edge{{Src: specialIDs[0], Tgt: specialIDs[1]}, {Src: specialIDs[0], Tgt: specialIDs[2]}})
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, has)

	v, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 2)
	require.NoError(t, err)
	var vrecs []adapters.VectorRecord
	for _, id := range specialIDs {
		vrecs = append(vrecs, adapters.VectorRecord{ID: adapters.EntityVectorID(id), Fields: adapters.Record(`{"entity_name":` + string(adapters.MarshalString(id)) + `}`), Vector: []float32{1, 1}})
	}
	require.NoError(t, v.Upsert(ctx, vrecs))
	require.NoError(t, v.DeleteEntity(ctx, specialIDs[4]))
	n, err := v.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(specialIDs)-1, n)
}

func TestJSONBStable(t *testing.T) {
	for _, tc := range []struct {
		in     string
		stable bool
	}{
		{`1`, true}, {`1.0`, true}, {`-0`, false}, {`-0.0`, false}, {`1e5`, false}, {`"a"`, true}, {`"\u0000"`, false},
		{`{"a":1,"b":[1,2,{"c":1.5}]}`, true}, {`{"a":1,"a":2}`, false}, {`[{"a":{}},{"a":[]}]`, true}, {`{"a":{"b":1},"b":{"b":2}}`, true},
		{`[1E2]`, false}, {`-1.5`, true},
	} {
		require.Equal(t, tc.stable, jsonbStable(json.RawMessage(tc.in)), tc.in)
	}
}

func TestEncodeValue(t *testing.T) {
	for _, tc := range []struct {
		col   column
		in    string
		exact bool
	}{
		{intCol("n"), `3`, true}, {intCol("n"), `3.0`, false}, {intCol("n"), `"3"`, false}, {intCol("n"), `99999999999`, false},
		{textCol("s", "s", 3), `"abc"`, true}, {textCol("s", "s", 3), `"abcd"`, false}, {textCol("s", "s", 0), `"a\u0000"`, false},
		{kvTimes[0], `1700000000`, true}, {kvTimes[0], `1700000000.25`, false},
		{docStatusCols()[9], `"2025-01-02T03:04:05+00:00"`, true}, {docStatusCols()[9], `"2025-01-02T03:04:05Z"`, false},
		{docStatusCols()[9], `"2025-01-02T03:04:05.000001+00:00"`, true},
		{vectorBases["entities"].cols[2], `"a<SEP>b"`, true}, {vectorBases["entities"].cols[2], `""`, true},
	} {
		_, exact := encodeValue(tc.col, json.RawMessage(tc.in))
		require.Equal(t, tc.exact, exact, "%s %s", tc.col.name, tc.in)
	}
}

package json

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "kv_store_full_docs.json", `{"a": {"content": "x"}, "b": {}}`)
	writeTemp(t, dir, "kv_store_doc_status.json", `{"d1": {"status": "processed"}, "d2": {"status": "failed", "x": {"status": "no"}}, "d3": {"status": "weird"}, "d4": {}}`)
	writeTemp(t, dir, "vdb_chunks.json", `{"embedding_dim": 2, "data": [{"__id__": "a"}, {"__id__": "b"}], "matrix": "`+matrixB64(1, 0, 0, 1)+`"}`)
	writeTemp(t, dir, "graph_chunk_entity_relation.graphml", gmlPretty)
	writeTemp(t, dir, "vdb_entities.json", `[]`)
	writeTemp(t, dir, "vdb_bad.json", `{"embedding_dim": 2, "data": [{"__id__": "a"}], "matrix": ""}`)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "ws1"), 0o755))
	writeTemp(t, filepath.Join(dir, "ws1"), "kv_store_full_docs.json", `{}`)
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".hidden"), 0o755))
	writeTemp(t, filepath.Join(dir, ".hidden"), "kv_store_full_docs.json", `{}`)

	rep, err := Inspect(context.Background(), dir)
	require.NoError(t, err)
	i64 := func(n int64) *int64 { return &n }
	two := 2
	require.Equal(t, &Report{Dir: dir, Files: []FileReport{
		{File: "graph_chunk_entity_relation.graphml", Kind: adapters.KindGraph, Namespace: "chunk_entity_relation", Bytes: int64(len(gmlPretty)), Nodes: i64(3), Edges: i64(2)},
		{File: "kv_store_doc_status.json", Kind: adapters.KindDocStatus, Namespace: "doc_status", Bytes: 119, Records: i64(4),
			Statuses: map[string]int64{"pending": 0, "processing": 0, "preprocessed": 0, "processed": 1, "failed": 1, "weird": 1}},
		{File: "kv_store_full_docs.json", Kind: adapters.KindKV, Namespace: "full_docs", Bytes: 32, Records: i64(2)},
		{File: "vdb_bad.json", Kind: adapters.KindVector, Namespace: "bad", Bytes: 61,
			Error: "vdb_bad.json: matrix holds about 0 bytes, want len(data) x embedding_dim x 4 = 1 x 2 x 4 = 8"},
		{File: "vdb_chunks.json", Kind: adapters.KindVector, Namespace: "chunks", Bytes: 102, Records: i64(2), Dim: &two, Vectors: i64(2)},
		{File: "vdb_entities.json", Kind: adapters.KindVector, Namespace: "entities", Bytes: 2,
			Error: "vdb_entities.json: top level is a JSON array, want an object with embedding_dim, data and matrix"},
		{File: "kv_store_full_docs.json", Workspace: "ws1", Kind: adapters.KindKV, Namespace: "full_docs", Bytes: 2, Records: i64(0)},
	}}, rep)
	// The JSON form has only the fields that apply.
	b, err := stdjson.Marshal(rep.Files[2])
	require.NoError(t, err)
	require.JSONEq(t, `{"file":"kv_store_full_docs.json","kind":"kv","namespace":"full_docs","bytes":32,"records":2}`, string(b))

	_, err = Inspect(context.Background(), filepath.Join(dir, "missing"))
	require.Error(t, err)
}

package json

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

func TestListFolder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"kv_store_full_docs.json", "kv_store_doc_status.json", "kv_store_x_doc_status.json",
		"vdb_entities.json", "graph_chunk_entity_relation.graphml", "kv_store_.json", "notes.txt", "vdb_x.json.bak"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "kv_store_dir.json"), 0o755))
	got, err := listFolder(dir)
	require.NoError(t, err)
	require.Equal(t, []folderFile{
		{Name: "graph_chunk_entity_relation.graphml", Kind: adapters.KindGraph, Namespace: "chunk_entity_relation", Bytes: 2},
		{Name: "kv_store_doc_status.json", Kind: adapters.KindDocStatus, Namespace: "doc_status", Bytes: 2},
		{Name: "kv_store_full_docs.json", Kind: adapters.KindKV, Namespace: "full_docs", Bytes: 2},
		{Name: "kv_store_x_doc_status.json", Kind: adapters.KindDocStatus, Namespace: "x_doc_status", Bytes: 2},
		{Name: "vdb_entities.json", Kind: adapters.KindVector, Namespace: "entities", Bytes: 2},
	}, got)
	require.Equal(t, "kv_store_a.json", lightragfile.KVFileName("a"))
	require.Equal(t, "vdb_a.json", lightragfile.VectorFileName("a"))
	require.Equal(t, "graph_a.graphml", lightragfile.GraphFileName("a"))

	got, err = listFolder(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Empty(t, got)
}

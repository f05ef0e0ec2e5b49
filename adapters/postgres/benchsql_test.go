package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// The exported statements are the ones Query sends, so bench/pgcompare
// measures and EXPLAINs the adapter's own query.
func TestVectorQuerySQLIsQuerys(t *testing.T) {
	for _, tc := range []struct {
		table string
		dim   int
	}{
		{"lightrag_vdb_chunks", 1536},
		{"lightrag_vdb_chunks_text_embedding_3_large_3072d", 3072}, // halfvec distance
		{"lightrag_vdb_entity", 256},
		{"lightrag_vdb_relation", 8},
	} {
		t.Run(tc.table, func(t *testing.T) {
			tbl, ok := lightragTable(tc.table, tc.dim)
			require.True(t, ok)
			want, args := (&vectorStore{ws: "w"}).querySQL(tbl, adapters.VectorQuery{Vector: make([]float32, tc.dim), TopK: 10})
			require.Len(t, args, 3)
			got, err := VectorQuerySQL(tc.table, tc.dim)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
	for _, bad := range []string{"lightrag_doc_chunks", "hybridrag_vdb_chunks_8d", "other"} {
		_, err := VectorQuerySQL(bad, 8)
		require.Error(t, err, bad)
	}
}

func TestANNSettingsSQL(t *testing.T) {
	require.Equal(t, annSettingsSQL(true), ANNSettingsSQL("0.8.0"))
	require.Contains(t, ANNSettingsSQL("0.8.0"), "hnsw.iterative_scan")
	require.Equal(t, annSettingsSQL(false), ANNSettingsSQL("0.7.4"))
	require.NotContains(t, ANNSettingsSQL("0.7.4"), "iterative")
	require.Equal(t, 120, EfSearch(10))
}

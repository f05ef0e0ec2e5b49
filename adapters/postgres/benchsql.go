package postgres

import "fmt"

// The vector query's statements as the adapter sends them, so benchmarks
// (bench/pgcompare) send the adapter's own SQL straight to PostgreSQL and
// check its plan, rather than a copy that drifts.

// VectorQuerySQL is the statement Query sends to LightRAG's vector table
// tableName of dimension dim (scoped by workspace only, as LightRAG's
// tables are): $1 the workspace, $2 the query vector, $3 the top k.
func VectorQuerySQL(tableName string, dim int) (string, error) {
	t, ok := lightragTable(tableName, dim)
	if !ok || t.dim == 0 {
		return "", fmt.Errorf("%s is none of LightRAG's vector tables", tableName)
	}
	where, _ := scope{t: t}.where()
	return queryStatement(t, where, 2), nil
}

// ANNSettingsSQL is the settings statement Query sends before an indexed
// query on a server whose pgvector extension has version extVersion
// (iterative scans from 0.8); its $1 is EfSearch's value as text.
func ANNSettingsSQL(extVersion string) string {
	return annSettingsSQL(versionAtLeast(extVersion, 0, 8))
}

// ExactSettingsSQL is the settings statement of an exact query
// (VectorQuery.Exact, or the fallback when the index yields too few rows).
const ExactSettingsSQL = exactSettingsSQL

// EfSearch is the hnsw.ef_search Query sets for a top k.
func EfSearch(k int) int { return efSearch(k) }

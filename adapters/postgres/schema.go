package postgres

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
)

// SchemaVersion is the version of the tables this code reads and writes.
// Version 1: LightRAG's KV, doc-status, vector and plain-table graph layouts,
// each with a hybridrag_extra JSONB column, plus hybridrag_kv,
// hybridrag_doc_status and hybridrag_vdb_<dim>d for namespaces LightRAG has no
// table for.
// Version 2: LightRAG's KV, doc-status and vector tables lose the
// hybridrag_extra column (their rows are LightRAG's, column by column); the
// extras move to hybridrag_row_extras with a stamp of the row (extras.go).
// The graph tables keep theirs (LightRAG 1.4.x has no class reading them).
// A later version adds a step to upgrades and bumps this.
const SchemaVersion = 2

// Advisory lock keys. Ours serialises schema changes between proxies;
// LightRAG's PGTableGraphStorage takes hashtext('lightrag_pgtable_schema')
// before creating the graph tables, so we take it too.
const (
	schemaLockSQL    = `SELECT pg_advisory_xact_lock(hashtext('hybridrag_storage_proxy_schema'))`
	lightragLockSQL  = `SELECT pg_advisory_xact_lock(hashtext('lightrag_pgtable_schema'))`
	versionTableDDL  = `CREATE TABLE IF NOT EXISTS hybridrag_schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`
	hnswMaxDim       = 2000
	halfvecMaxDim    = 4000
	defaultGraphName = "chunk_entity_relation"
)

// upgrades[i] brings existing tables from version i to i+1 (nil: nothing
// to change); currentDDL then creates or repairs the current layout.
var upgrades = []func(ctx context.Context, tx pgx.Tx) error{
	nil, // 0 -> 1: the first layout, all of it currentDDL's
	moveExtrasToSideTable,
}

// ensureSchema creates or migrates the tables under the advisory locks, so
// two proxies starting at once do not race. It is idempotent.
func ensureSchema(ctx context.Context, conn *pgx.Conn) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{schemaLockSQL, lightragLockSQL} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("take schema lock: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
			return fmt.Errorf("create extension vector: %w", err)
		}
		if _, err := tx.Exec(ctx, versionTableDDL); err != nil {
			return fmt.Errorf("create hybridrag_schema_version: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM hybridrag_schema_version`).Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > SchemaVersion {
			return adapters.Errorf(adapters.ErrUnsupported, "schema_too_new",
				"upgrade the proxy to a version that knows this schema",
				"the database's proxy schema is version %d, this proxy knows up to %d", have, SchemaVersion)
		}
		for v := have; v < SchemaVersion; v++ {
			if upgrades[v] == nil {
				continue
			}
			if err := upgrades[v](ctx, tx); err != nil {
				return fmt.Errorf("schema v%d: %w", v+1, err)
			}
		}
		// The current layout's idempotent DDL runs every time: it repairs
		// tables LightRAG created without our columns, or that someone
		// dropped.
		if err := execDDL(ctx, tx, currentDDL()); err != nil {
			return fmt.Errorf("schema v%d: %w", SchemaVersion, err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO hybridrag_schema_version (version) VALUES ($1) ON CONFLICT DO NOTHING`, SchemaVersion)
		return err
	})
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i > 0 {
		q = q[:i]
	}
	if len(q) > 80 {
		q = q[:80]
	}
	return q
}

// currentDDL creates the tables of the current version (vector tables are
// created on demand, see vectorDDL).
func currentDDL() []string {
	ddl := []string{extrasDDL}
	seen := map[string]bool{}
	add := func(t table) {
		if seen[t.name] {
			return
		}
		seen[t.name] = true
		ddl = append(ddl, tableDDL(t)...)
	}
	for _, ns := range []string{"full_docs", "text_chunks", "llm_response_cache", "full_entities", "full_relations",
		"entity_chunks", "relation_chunks"} {
		add(kvTables[ns])
	}
	add(genericKV)
	add(docStatusTable)
	add(genericDocStatus)
	ddl = append(ddl,
		`CREATE INDEX IF NOT EXISTS idx_lightrag_doc_status_track_id ON lightrag_doc_status (track_id)`,
		`CREATE INDEX IF NOT EXISTS idx_lightrag_doc_status_workspace_status_updated_at ON lightrag_doc_status (workspace, status, updated_at DESC)`,
		`CREATE INDEX IF NOT EXISTS idx_lightrag_doc_status_workspace_file_path ON lightrag_doc_status (workspace, file_path)`,
	)
	ddl = append(ddl, graphDDL()...)
	return ddl
}

// tableDDL creates a table in LightRAG's layout (or ours), then adds any
// column an older LightRAG-created table lacks, so both paths converge.
func tableDDL(t table) []string {
	var cols []string
	cols = append(cols, "id "+t.idType+" NOT NULL", "workspace VARCHAR(255) NOT NULL")
	pk := "workspace, id"
	if t.nsCol {
		cols = append(cols, "namespace VARCHAR(255) NOT NULL")
		pk = "workspace, namespace, id"
	}
	if t.dim > 0 {
		cols = append(cols, "content_vector VECTOR("+fmt.Sprint(t.dim)+")")
	}
	for _, c := range t.cols {
		cols = append(cols, quoteIdent(c.name)+" "+c.sqlType)
	}
	if t.name == "lightrag_doc_full" {
		cols = append(cols, "meta JSONB")
	}
	if t.dim > 0 {
		cols = append(cols, "create_time TIMESTAMP(0) DEFAULT CURRENT_TIMESTAMP", "update_time TIMESTAMP(0) DEFAULT CURRENT_TIMESTAMP")
	}
	if !t.side() {
		cols = append(cols, quoteIdent(t.extra)+" JSONB")
	}
	q := quoteIdent(t.name)
	ddl := []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n%s,\nCONSTRAINT %s PRIMARY KEY (%s))",
		q, strings.Join(cols, ",\n"), quoteIdent(t.name+"_pk"), pk)}
	for _, c := range cols[2:] {
		ddl = append(ddl, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s", q, strings.TrimSuffix(c, " NOT NULL")))
	}
	ddl = append(ddl,
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (id)", indexName(t.name, "id"), q),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (workspace, id)", indexName(t.name, "workspace_id"), q),
	)
	// Our scans page in byte order; this index serves them whatever the
	// database's collation.
	scanCols := "workspace, id COLLATE \"C\""
	if t.nsCol {
		scanCols = "workspace, namespace, id COLLATE \"C\""
	}
	ddl = append(ddl, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", indexName(t.name, "hybridrag_scan"), q, scanCols))
	return ddl
}

// vectorDDL creates a vector table and its ANN index: HNSW cosine up to 2000
// dimensions, HNSW on a halfvec cast up to 4000, none above (pgvector's
// limits). It reports whether an index exists.
func vectorDDL(t table) (ddl []string, indexed bool) {
	ddl = tableDDL(t)
	q := quoteIdent(t.name)
	switch {
	case t.dim <= hnswMaxDim:
		ddl = append(ddl, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s USING hnsw (content_vector vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
			indexName(t.name, "hnsw_cosine"), q))
		return ddl, true
	case t.dim <= halfvecMaxDim:
		ddl = append(ddl, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s USING hnsw ((content_vector::halfvec(%d)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)",
			indexName(t.name, "hnsw_halfvec_cosine"), q, t.dim))
		return ddl, true
	}
	return ddl, false
}

// indexName is LightRAG's idx_<table>_<suffix>, hashed when over 63 bytes.
func indexName(tableName, suffix string) string {
	n := "idx_" + tableName + "_" + suffix
	if len(n) <= 63 {
		return quoteIdent(n)
	}
	sum := md5.Sum([]byte(tableName))
	return quoteIdent("idx_" + hex.EncodeToString(sum[:])[:12] + "_" + suffix)
}

func graphDDL() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS lightrag_graph_nodes (
workspace TEXT NOT NULL,
namespace TEXT NOT NULL DEFAULT 'chunk_entity_relation',
id TEXT NOT NULL,
properties JSONB NOT NULL DEFAULT '{}'::jsonb,
updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
PRIMARY KEY (workspace, namespace, id))`,
		`CREATE TABLE IF NOT EXISTS lightrag_graph_edges (
workspace TEXT NOT NULL,
namespace TEXT NOT NULL DEFAULT 'chunk_entity_relation',
src_id TEXT NOT NULL,
tgt_id TEXT NOT NULL,
properties JSONB NOT NULL DEFAULT '{}'::jsonb,
updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
PRIMARY KEY (workspace, namespace, src_id, tgt_id),
FOREIGN KEY (workspace, namespace, src_id) REFERENCES lightrag_graph_nodes (workspace, namespace, id) ON DELETE CASCADE,
FOREIGN KEY (workspace, namespace, tgt_id) REFERENCES lightrag_graph_nodes (workspace, namespace, id) ON DELETE CASCADE)`,
		`ALTER TABLE lightrag_graph_nodes ADD COLUMN IF NOT EXISTS hybridrag_extra JSONB`,
		`ALTER TABLE lightrag_graph_edges ADD COLUMN IF NOT EXISTS hybridrag_extra JSONB`,
		`CREATE INDEX IF NOT EXISTS idx_lightrag_graph_edges_tgt ON lightrag_graph_edges (workspace, namespace, tgt_id)`,
		`CREATE INDEX IF NOT EXISTS idx_lightrag_graph_nodes_hybridrag_scan ON lightrag_graph_nodes (workspace, namespace, id COLLATE "C")`,
		`CREATE INDEX IF NOT EXISTS idx_lightrag_graph_edges_hybridrag_scan ON lightrag_graph_edges (workspace, namespace, src_id COLLATE "C", tgt_id COLLATE "C")`,
	}
}

// moveExtrasToSideTable is the upgrade to version 2: every LightRAG KV,
// doc-status and vector table with a hybridrag_extra column has its extras
// copied to the side table, stamped with their rows as they are now, and
// the column dropped.
func moveExtrasToSideTable(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, extrasDDL); err != nil {
		return fmt.Errorf("create %s: %w", extrasTable, err)
	}
	rows, err := tx.Query(ctx, `SELECT c.relname::text, COALESCE(v.atttypmod, 0) FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'hybridrag_extra' AND NOT a.attisdropped
LEFT JOIN pg_attribute v ON v.attrelid = c.oid AND v.attname = 'content_vector' AND NOT v.attisdropped
WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) AND c.relname LIKE 'lightrag\_%'
  AND c.relname NOT IN ('lightrag_graph_nodes', 'lightrag_graph_edges')
ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("list tables with hybridrag_extra: %w", err)
	}
	type found struct {
		name string
		dim  int32
	}
	var tables []found
	var f found
	if _, err := pgx.ForEachRow(rows, []any{&f.name, &f.dim}, func() error {
		tables = append(tables, f)
		return nil
	}); err != nil {
		return fmt.Errorf("list tables with hybridrag_extra: %w", err)
	}
	for _, f := range tables {
		t, ok := lightragTable(f.name, int(f.dim))
		if !ok {
			return fmt.Errorf("table %s has a hybridrag_extra column but is none of LightRAG's tables this proxy knows", f.name)
		}
		q := quoteIdent(t.name)
		for _, stmt := range []string{
			fmt.Sprintf(`INSERT INTO %s (workspace, table_name, id, stamp, extra)
SELECT workspace, %s, id, %s, hybridrag_extra::text FROM %s WHERE hybridrag_extra IS NOT NULL
ON CONFLICT (workspace, table_name, id) DO UPDATE SET stamp = EXCLUDED.stamp, extra = EXCLUDED.extra`,
				extrasTable, quoteLiteral(t.name), stampExpr(t, q+"."), q),
			fmt.Sprintf(`ALTER TABLE %s DROP COLUMN hybridrag_extra`, q),
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %s: %w", t.name, firstLine(stmt), err)
			}
		}
	}
	return nil
}

// lightragTable is the definition of LightRAG's table name (a vector table
// with its dimension).
func lightragTable(name string, dim int) (table, bool) {
	for _, t := range kvTables {
		if t.name == name {
			return t, true
		}
	}
	if name == docStatusTable.name {
		return docStatusTable, true
	}
	if dim > 0 {
		for _, b := range vectorBases {
			if name == b.base || strings.HasPrefix(name, b.base+"_") {
				return b.table(name, dim), true
			}
		}
	}
	return table{}, false
}

// The idempotent DDL of a layout runs at every open, but "IF NOT EXISTS"
// still takes the table's ACCESS EXCLUSIVE lock for ALTER TABLE: run on
// tables that serve queries (other proxies, LightRAG itself, a concurrent
// load touching several tables), it queues behind them and can deadlock
// with a transaction that locks two tables in the other order. So each
// statement first asks the catalog (no table lock) whether its object is
// missing, and only then runs.
var (
	ddlCreateTable = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\S+)`)
	ddlCreateIndex = regexp.MustCompile(`^CREATE INDEX IF NOT EXISTS (\S+) ON`)
	ddlAddColumn   = regexp.MustCompile(`^ALTER TABLE (\S+) ADD COLUMN IF NOT EXISTS (\S+)`)
)

// indexLockXactSQL takes, for the rest of a transaction, the lock every
// builder of the index named $1 takes first (buildConcurrently holds the
// same key as a session lock); indexTryLockXactSQL takes it only when free.
const (
	indexLockXactSQL    = `SELECT pg_advisory_xact_lock(hashtext($1))`
	indexTryLockXactSQL = `SELECT pg_try_advisory_xact_lock(hashtext($1))`
)

// ddlNeeded reports whether q would change anything; a statement of
// another form always runs.
func ddlNeeded(ctx context.Context, tx pgx.Tx, q string) (bool, error) {
	var missing bool
	var err error
	switch {
	case ddlCreateTable.MatchString(q):
		err = tx.QueryRow(ctx, `SELECT to_regclass($1) IS NULL`, ddlCreateTable.FindStringSubmatch(q)[1]).Scan(&missing)
	case ddlCreateIndex.MatchString(q):
		err = tx.QueryRow(ctx, `SELECT to_regclass($1) IS NULL`, ddlCreateIndex.FindStringSubmatch(q)[1]).Scan(&missing)
	case ddlAddColumn.MatchString(q):
		m := ddlAddColumn.FindStringSubmatch(q)
		err = tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1)
AND attname = $2 AND NOT attisdropped)`, m[1], strings.ReplaceAll(strings.Trim(m[2], `"`), `""`, `"`)).Scan(&missing)
	default:
		return true, nil
	}
	return missing, err
}

// execDDL runs the statements of ddl whose objects are missing.
//
// An index whose lock another session holds is being built by it
// (FinishLoad's deferred build, which may take minutes): execDDL leaves
// that index to it rather than wait, or race it into a duplicate-key error
// from the catalog. Its callers hold the schema lock, so that session is
// never another execDDL.
func execDDL(ctx context.Context, tx pgx.Tx, ddl []string) error {
	for _, q := range ddl {
		needed, err := ddlNeeded(ctx, tx, q)
		if err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
		if !needed {
			continue
		}
		if m := ddlCreateIndex.FindStringSubmatch(q); m != nil {
			var locked bool
			if err := tx.QueryRow(ctx, indexTryLockXactSQL, m[1]).Scan(&locked); err != nil {
				return fmt.Errorf("lock index %s: %w", m[1], err)
			}
			if !locked {
				continue
			}
			// Built and committed between the look and the lock?
			needed, err = ddlNeeded(ctx, tx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", firstLine(q), err)
			}
			if !needed {
				continue
			}
		}
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

package postgres

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// colKind says how one JSON field of a record is held by a SQL column.
type colKind int

const (
	kText  colKind = iota // JSON string <-> TEXT / VARCHAR(n)
	kInt                  // JSON integer <-> INTEGER
	kJSONB                // any JSON value <-> JSONB
	kEpoch                // JSON epoch seconds (int) <-> TIMESTAMP, naive UTC
	kISO                  // JSON ISO-8601 string <-> TIMESTAMP, naive UTC
	kSep                  // JSON "<SEP>"-joined string <-> VARCHAR(255)[]
)

// column maps one JSON field to one column of a LightRAG table.
type column struct {
	key     string // JSON field name
	name    string // SQL column name
	kind    colKind
	sqlType string // DDL type
	maxLen  int    // characters a VARCHAR(n) holds (0 = unbounded)
}

// table is one table the adapter reads and writes: a LightRAG table (fixed
// columns, keyed by (workspace, id)) or one of ours with a namespace column.
type table struct {
	name   string
	nsCol  bool // keyed by (workspace, namespace, id)
	idType string
	cols   []column
	// extra is the JSONB column of our own tables holding what the fixed
	// columns cannot (see codec.go). LightRAG's tables have none ("" here):
	// their rows stay exactly the rows LightRAG writes, and the extras live
	// in the side table (extras.go).
	extra string
	// vector tables only
	dim int
}

// extraCol is the extra column of our namespaced doc-status table.
const extraCol = "hybridrag_extra"

func textCol(key, name string, maxLen int) column {
	typ := "TEXT"
	if maxLen > 0 {
		typ = fmt.Sprintf("VARCHAR(%d)", maxLen)
	}
	return column{key: key, name: name, kind: kText, sqlType: typ, maxLen: maxLen}
}

func intCol(key string) column {
	return column{key: key, name: key, kind: kInt, sqlType: "INTEGER"}
}

func jsonbCol(key, def string) column {
	typ := "JSONB"
	if def != "" {
		typ += " DEFAULT '" + def + "'::jsonb"
	}
	return column{key: key, name: key, kind: kJSONB, sqlType: typ}
}

var kvTimes = []column{
	{key: "create_time", name: "create_time", kind: kEpoch, sqlType: "TIMESTAMP(0) DEFAULT CURRENT_TIMESTAMP"},
	{key: "update_time", name: "update_time", kind: kEpoch, sqlType: "TIMESTAMP(0) DEFAULT CURRENT_TIMESTAMP"},
}

func withTimes(cols ...column) []column { return append(cols, kvTimes...) }

// kvTables are LightRAG's KV tables, by namespace (NAMESPACE_TABLE_MAP).
// Namespaces are matched exactly, so "full_entities" never lands in the
// entities table and a custom namespace never collides with LightRAG's.
var kvTables = map[string]table{
	"full_docs": {name: "lightrag_doc_full", idType: "VARCHAR(255)", cols: withTimes(
		textCol("file_path", "doc_name", 1024), textCol("content", "content", 0))},
	"text_chunks": {name: "lightrag_doc_chunks", idType: "VARCHAR(255)", cols: withTimes(
		textCol("full_doc_id", "full_doc_id", 256), intCol("chunk_order_index"), intCol("tokens"),
		textCol("content", "content", 0), textCol("file_path", "file_path", 0), jsonbCol("llm_cache_list", "[]"))},
	"llm_response_cache": {name: "lightrag_llm_cache", idType: "VARCHAR(255)", cols: []column{
		textCol("original_prompt", "original_prompt", 0), textCol("return", "return_value", 0),
		textCol("chunk_id", "chunk_id", 255), textCol("cache_type", "cache_type", 32), jsonbCol("queryparam", ""),
		{key: "create_time", name: "create_time", kind: kEpoch, sqlType: "TIMESTAMP DEFAULT CURRENT_TIMESTAMP"},
		{key: "update_time", name: "update_time", kind: kEpoch, sqlType: "TIMESTAMP DEFAULT CURRENT_TIMESTAMP"}}},
	"full_entities": {name: "lightrag_full_entities", idType: "VARCHAR(255)", cols: withTimes(
		jsonbCol("entity_names", ""), intCol("count"))},
	"full_relations": {name: "lightrag_full_relations", idType: "VARCHAR(255)", cols: withTimes(
		jsonbCol("relation_pairs", ""), intCol("count"))},
	"entity_chunks": {name: "lightrag_entity_chunks", idType: "VARCHAR(512)", cols: withTimes(
		jsonbCol("chunk_ids", ""), intCol("count"))},
	"relation_chunks": {name: "lightrag_relation_chunks", idType: "VARCHAR(512)", cols: withTimes(
		jsonbCol("chunk_ids", ""), intCol("count"))},
}

// genericKV holds every KV namespace LightRAG has no table for
// (community_reports, parse_cache, any kv_store_<name>).
var genericKV = table{name: "hybridrag_kv", nsCol: true, idType: "TEXT", extra: "data", cols: withTimes()}

func docStatusCols() []column {
	return []column{
		textCol("content_summary", "content_summary", 255), intCol("content_length"), intCol("chunks_count"),
		textCol("status", "status", 64), textCol("file_path", "file_path", 0), jsonbCol("chunks_list", "[]"),
		textCol("track_id", "track_id", 255), jsonbCol("metadata", "{}"), textCol("error_msg", "error_msg", 0),
		{key: "created_at", name: "created_at", kind: kISO, sqlType: "TIMESTAMP NULL"},
		{key: "updated_at", name: "updated_at", kind: kISO, sqlType: "TIMESTAMP NULL"},
	}
}

// docStatusTable is LightRAG's; other doc-status namespaces share our
// namespaced copy of its layout.
var (
	docStatusTable   = table{name: "lightrag_doc_status", idType: "VARCHAR(255)", cols: docStatusCols()}
	genericDocStatus = table{name: "hybridrag_doc_status", nsCol: true, idType: "TEXT", extra: extraCol, cols: docStatusCols()}
)

func kvTableFor(ns string) table {
	if t, ok := kvTables[ns]; ok {
		return t
	}
	return genericKV
}

func docStatusTableFor(ns string) table {
	if ns == "doc_status" {
		return docStatusTable
	}
	return genericDocStatus
}

// vectorBase is a LightRAG vector table before its model/dimension suffix.
type vectorBase struct {
	base  string
	nsCol bool
	cols  []column
}

var vectorBases = map[string]vectorBase{
	"chunks": {base: "lightrag_vdb_chunks", cols: []column{
		textCol("full_doc_id", "full_doc_id", 256), intCol("chunk_order_index"), intCol("tokens"),
		textCol("content", "content", 0), textCol("file_path", "file_path", 0)}},
	"entities": {base: "lightrag_vdb_entity", cols: []column{
		textCol("entity_name", "entity_name", 512), textCol("content", "content", 0),
		{key: "source_id", name: "chunk_ids", kind: kSep, sqlType: "VARCHAR(255)[]", maxLen: 255},
		textCol("file_path", "file_path", 0)}},
	"relationships": {base: "lightrag_vdb_relation", cols: []column{
		textCol("src_id", "source_id", 512), textCol("tgt_id", "target_id", 512), textCol("content", "content", 0),
		{key: "source_id", name: "chunk_ids", kind: kSep, sqlType: "VARCHAR(255)[]", maxLen: 255},
		textCol("file_path", "file_path", 0)}},
}

var genericVector = vectorBase{base: "hybridrag_vdb", nsCol: true}

func vectorBaseFor(ns string) vectorBase {
	if b, ok := vectorBases[ns]; ok {
		return b
	}
	return genericVector
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]`)

// Vector table naming modes.
const (
	NamingSuffixed = "suffixed" // LightRAG >= 1.4.9.10: <BASE>_<model>_<dim>d
	NamingLegacy   = "legacy"   // LightRAG 1.4.9.8: <BASE>
)

// vectorTableName names a vector table as LightRAG does: lower case (the
// names are unquoted there, so PostgreSQL folds them), with the model suffix
// in suffixed mode. Our generic table always carries the dimension so
// namespaces of different dimensions never share a column type.
func vectorTableName(b vectorBase, naming, model string, dim int) (string, error) {
	name := b.base
	switch {
	case b.nsCol:
		name = fmt.Sprintf("%s_%dd", b.base, dim)
	case naming == NamingSuffixed && model != "":
		name = fmt.Sprintf("%s_%s_%dd", b.base, nonIdent.ReplaceAllString(strings.ToLower(model), "_"), dim)
	}
	if len(name) > 63 {
		return "", adapters.Errorf(adapters.ErrInvalid, "table_name_too_long",
			"use a shorter embedding model name, or the legacy vector table naming",
			"vector table name %q is %d bytes long, PostgreSQL allows 63", name, len(name))
	}
	return name, nil
}

// side reports whether the table's extras live in the side table.
func (t table) side() bool { return t.extra == "" }

func (b vectorBase) table(name string, dim int) table {
	extra := ""
	if b.nsCol {
		extra = "data"
	}
	idType := "VARCHAR(255)"
	if b.nsCol {
		idType = "TEXT"
	}
	return table{name: name, nsCol: b.nsCol, idType: idType, cols: b.cols, extra: extra, dim: dim}
}

// Graph tables: LightRAG's PGTableGraphStorage layout.
const (
	graphNodes = "lightrag_graph_nodes"
	graphEdges = "lightrag_graph_edges"
)

// quoteIdent quotes a SQL identifier (our table names are lower case, but
// quoting keeps them safe whatever a model name turned into).
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

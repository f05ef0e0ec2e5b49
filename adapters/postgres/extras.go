package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The side table keeps the extras (codec.go's extra documents) of rows in
// LightRAG's own tables, so those rows hold exactly the columns LightRAG's
// classes write and read (a SELECT * there sees nothing of ours). Each
// extra carries a stamp, the md5 of the row's LightRAG columns when the
// proxy wrote it: a read takes the extra only while the row still has that
// stamp, so a row LightRAG rewrote since reads from its columns alone and a
// stale extra never overrides LightRAG's newer values. Extras are stored as
// the text the encoder wrote (compact, the record's own key order), which
// the read path parses in one pass.
const (
	extrasTable = "hybridrag_row_extras"
	extrasDDL   = `CREATE TABLE IF NOT EXISTS hybridrag_row_extras (
workspace TEXT NOT NULL,
table_name TEXT NOT NULL,
id TEXT NOT NULL,
stamp UUID NOT NULL,
extra TEXT NOT NULL,
PRIMARY KEY (workspace, table_name, id))`
)

// stampExpr is the stamp of the row ref refers to ("<table>." or an alias
// and a dot): the md5 of its LightRAG columns, times as epoch seconds so
// the text does not depend on the session's DateStyle. The vector itself is
// left out (costly to hash; LightRAG never rewrites it alone, its update_time
// changes too).
func stampExpr(t table, ref string) string {
	parts := make([]string, 0, len(t.cols)+2)
	for _, c := range t.cols {
		col := ref + quoteIdent(c.name)
		if c.kind == kEpoch || c.kind == kISO {
			col = "EXTRACT(EPOCH FROM " + col + ")"
		}
		parts = append(parts, col)
	}
	if t.dim > 0 {
		parts = append(parts, "EXTRACT(EPOCH FROM "+ref+"create_time)", "EXTRACT(EPOCH FROM "+ref+"update_time)")
	}
	return "md5(ROW(" + strings.Join(parts, ", ") + ")::text)::uuid"
}

// quoteLiteral quotes a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// extraExpr selects a row's extra document as text: its extra column, or
// for LightRAG's tables the side table's entry while its stamp matches.
func extraExpr(t table) string {
	if !t.side() {
		return quoteIdent(t.extra) + "::text"
	}
	ref := quoteIdent(t.name) + "."
	return fmt.Sprintf(`(SELECT x.extra FROM %s x WHERE x.workspace = %sworkspace AND x.table_name = %s AND x.id = %sid AND x.stamp = %s)`,
		extrasTable, ref, quoteLiteral(t.name), ref, stampExpr(t, ref))
}

// syncExtrasSQL stores the extras of rows just written to a LightRAG table
// ($1 the workspace, $2 the ids with an extra, $3 their extras), stamped
// with the rows as written, and drops the entries of the rows written
// without one ($4). The stamp is a scalar subquery and the delete matches
// ids with = ANY, so both are index lookups per id, whatever the table's
// size (a join lets the planner hash the workspace's whole table).
func syncExtrasSQL(t table) string {
	return fmt.Sprintf(`WITH d AS (DELETE FROM %[1]s WHERE workspace = $1 AND table_name = %[2]s AND id = ANY($4::text[]))
INSERT INTO %[1]s (workspace, table_name, id, stamp, extra)
SELECT $1, %[2]s, s.id, (SELECT %[3]s FROM %[4]s a WHERE a.workspace = $1 AND a.id = s.id), s.extra
FROM unnest($2::text[], $3::text[]) AS s(id, extra)
ON CONFLICT (workspace, table_name, id) DO UPDATE SET stamp = EXCLUDED.stamp, extra = EXCLUDED.extra`,
		extrasTable, quoteLiteral(t.name), stampExpr(t, "a."), quoteIdent(t.name))
}

// syncExtras runs syncExtrasSQL for rows of t in workspace ws; extras[i]
// belongs to ids[i] (nil: none).
func syncExtras(ctx context.Context, tx pgx.Tx, t table, ws string, ids []string, extras [][]byte) error {
	sql, args, ok := syncExtrasArgs(t, ws, ids, extras)
	if !ok {
		return nil
	}
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// syncExtrasArgs is syncExtras's statement and arguments; ok is false when
// t keeps no extras in the side table or there are no rows.
func syncExtrasArgs(t table, ws string, ids []string, extras [][]byte) (sql string, args []any, ok bool) {
	if !t.side() || len(ids) == 0 {
		return "", nil, false
	}
	var with, without, xs []string
	for i, x := range extras {
		if x != nil {
			with, xs = append(with, ids[i]), append(xs, string(x))
		} else {
			without = append(without, ids[i])
		}
	}
	if with == nil {
		with, xs = []string{}, []string{}
	}
	if without == nil {
		without = []string{}
	}
	return syncExtrasSQL(t), []any{ws, with, xs, without}, true
}

// withExtrasDeleted turns a DELETE from t (whose WHERE has the workspace as
// $1) into one that also deletes the side table's entries of those rows.
func withExtrasDeleted(t table, del string) string {
	if !t.side() {
		return del
	}
	return fmt.Sprintf(`WITH d AS (%s RETURNING id) DELETE FROM %s x USING d WHERE x.workspace = $1 AND x.table_name = %s AND x.id = d.id`,
		del, extrasTable, quoteLiteral(t.name))
}

// SelectListSQL is the select list the adapter reads records of one of
// LightRAG's tables with (vector tables: their dimension), extras included,
// so benchmarks can send the adapter's own SQL straight to PostgreSQL.
func SelectListSQL(tableName string, dim int) (string, error) {
	t, ok := lightragTable(tableName, dim)
	if !ok {
		return "", fmt.Errorf("%s is none of LightRAG's tables", tableName)
	}
	return selectList(t), nil
}

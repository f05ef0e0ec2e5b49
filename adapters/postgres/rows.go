package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
)

// TableRows counts one table's rows of one workspace (and namespace, for
// the tables holding several).
type TableRows struct {
	Table     string
	Namespace string
	Rows      int64
}

// Prepare checks the settings and parses the DSN without connecting: no
// schema or extension is created. Such a backend answers WorkspaceRows
// (over one connection per call); every other method answers
// ErrUnavailable. Use Open for a backend that serves or loads.
func Prepare(cfg Config) (*Backend, error) {
	return newBackend(cfg)
}

// workspaceTablesSQL lists the tables of ours and LightRAG's that have a
// workspace column, and whether they have a namespace column.
const workspaceTablesSQL = `SELECT c.relname::text,
  EXISTS (SELECT 1 FROM pg_attribute n WHERE n.attrelid = c.oid AND n.attname = 'namespace' AND NOT n.attisdropped)
FROM pg_class c
JOIN pg_namespace s ON s.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace' AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND s.nspname = current_schema()
  AND (c.relname LIKE 'lightrag\_%' OR c.relname LIKE 'hybridrag\_%')
ORDER BY 1`

// WorkspaceRows lists every table (LightRAG's and ours, the migration
// checkpoints included) holding rows of workspace ("" is the configured
// one), with their counts, in table then namespace order. It only reads,
// in a read-only transaction, and never creates a table or the extension: a
// database without the tables has no rows. It works on a backend from
// Prepare (without Open's schema step) as well as on an open one.
func (b *Backend) WorkspaceRows(ctx context.Context, workspace string) ([]TableRows, error) {
	if err := adapters.ValidateName("workspace", workspace); err != nil {
		return nil, err
	}
	if workspace == "" {
		workspace = b.cfg.Workspace
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	b.mu.Lock()
	pool := b.pool
	b.mu.Unlock()
	var out []TableRows
	count := func(tx pgx.Tx) error {
		var err error
		out, err = workspaceRows(ctx, tx, workspace)
		return err
	}
	ro := pgx.TxOptions{AccessMode: pgx.ReadOnly}
	var err error
	if pool != nil {
		err = pgx.BeginTxFunc(ctx, pool, ro, count)
	} else {
		var conn *pgx.Conn
		conn, err = pgx.ConnectConfig(ctx, b.pcfg.ConnConfig.Copy())
		if err != nil {
			return nil, b.mapError("connect to PostgreSQL", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		err = pgx.BeginTxFunc(ctx, conn, ro, count)
	}
	if err != nil {
		return nil, b.mapError("count the rows of workspace "+workspace, err)
	}
	if out == nil {
		out = []TableRows{}
	}
	return out, nil
}

func workspaceRows(ctx context.Context, tx pgx.Tx, ws string) ([]TableRows, error) {
	rows, err := tx.Query(ctx, workspaceTablesSQL)
	if err != nil {
		return nil, err
	}
	type tbl struct {
		name  string
		nsCol bool
	}
	var tables []tbl
	var t tbl
	if _, err := pgx.ForEachRow(rows, []any{&t.name, &t.nsCol}, func() error {
		tables = append(tables, t)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []TableRows
	for _, t := range tables {
		q := fmt.Sprintf("SELECT %s, count(*) FROM %s WHERE workspace = $1 GROUP BY 1 ORDER BY 1",
			map[bool]string{true: "namespace::text", false: "''"}[t.nsCol], quoteIdent(t.name))
		rows, err := tx.Query(ctx, q, ws)
		if err != nil {
			return nil, err
		}
		var ns string
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&ns, &n}, func() error {
			if !t.nsCol {
				ns = tableNamespace(t.name)
			}
			out = append(out, TableRows{Table: t.name, Namespace: ns, Rows: n})
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tableNamespace is the namespace a LightRAG table without a namespace
// column holds ("" when it is not one the adapter knows).
func tableNamespace(name string) string {
	for ns, t := range kvTables {
		if t.name == name {
			return ns
		}
	}
	if name == docStatusTable.name {
		return "doc_status"
	}
	for ns, b := range vectorBases {
		if name == b.base || strings.HasPrefix(name, b.base+"_") {
			return ns
		}
	}
	return ""
}

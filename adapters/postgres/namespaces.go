package postgres

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Namespaces lists every namespace with rows, in every workspace, ordered by
// workspace, then name. The configured workspace is reported as "".
func (b *Backend) Namespaces(ctx context.Context) ([]adapters.NamespaceInfo, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	var out []adapters.NamespaceInfo
	add := func(ws, ns string, kind adapters.Kind, n, edges int64, dim int) {
		if ws == b.cfg.Workspace {
			ws = ""
		}
		out = append(out, adapters.NamespaceInfo{Namespace: adapters.Namespace{Workspace: ws, Name: ns},
			Kind: kind, Records: n, Edges: edges, Dim: dim})
	}
	for ns, t := range kvTables {
		if err := b.countGroups(ctx, t, func(ws, _ string, n int64) { add(ws, ns, adapters.KindKV, n, 0, 0) }); err != nil {
			return nil, err
		}
	}
	if err := b.countGroups(ctx, genericKV, func(ws, ns string, n int64) { add(ws, ns, adapters.KindKV, n, 0, 0) }); err != nil {
		return nil, err
	}
	if err := b.countGroups(ctx, docStatusTable, func(ws, _ string, n int64) { add(ws, "doc_status", adapters.KindDocStatus, n, 0, 0) }); err != nil {
		return nil, err
	}
	if err := b.countGroups(ctx, genericDocStatus, func(ws, ns string, n int64) { add(ws, ns, adapters.KindDocStatus, n, 0, 0) }); err != nil {
		return nil, err
	}
	if err := b.vectorNamespaces(ctx, add); err != nil {
		return nil, err
	}
	rows, err := b.pool.Query(ctx, `SELECT n.workspace, n.namespace, count(*),
	(SELECT count(*) FROM lightrag_graph_edges e WHERE e.workspace = n.workspace AND e.namespace = n.namespace)
FROM lightrag_graph_nodes n GROUP BY 1, 2`)
	if err != nil {
		return nil, b.mapError("list graph namespaces", err)
	}
	var ws, ns string
	var n, e int64
	if _, err := pgx.ForEachRow(rows, []any{&ws, &ns, &n, &e}, func() error {
		add(ws, ns, adapters.KindGraph, n, e, 0)
		return nil
	}); err != nil {
		return nil, b.mapError("list graph namespaces", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workspace != out[j].Workspace {
			return out[i].Workspace < out[j].Workspace
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}

// countGroups counts a table's rows per workspace (and namespace).
func (b *Backend) countGroups(ctx context.Context, t table, fn func(ws, ns string, n int64)) error {
	nsExpr := "''"
	if t.nsCol {
		nsExpr = "namespace"
	}
	rows, err := b.pool.Query(ctx, fmt.Sprintf("SELECT workspace, %s, count(*) FROM %s GROUP BY 1, 2", nsExpr, quoteIdent(t.name)))
	if err != nil {
		return b.mapError("list namespaces in "+t.name, err)
	}
	var ws, ns string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&ws, &ns, &n}, func() error {
		fn(ws, ns, n)
		return nil
	})
	return b.mapError("list namespaces in "+t.name, err)
}

// vectorNamespaces reports the vector tables this configuration uses.
func (b *Backend) vectorNamespaces(ctx context.Context, add func(ws, ns string, kind adapters.Kind, n, edges int64, dim int)) error {
	type cand struct {
		ns   string
		base vectorBase
		re   *regexp.Regexp
	}
	var cands []cand
	for ns, base := range vectorBases {
		pattern := "^" + regexp.QuoteMeta(base.base) + "$"
		if b.cfg.VectorTableNaming == NamingSuffixed && b.cfg.EmbeddingModel != "" {
			name, err := vectorTableName(base, NamingSuffixed, b.cfg.EmbeddingModel, 1)
			if err != nil {
				return err
			}
			pattern = "^" + regexp.QuoteMeta(name[:len(name)-2]) + "[0-9]+d$"
		}
		cands = append(cands, cand{ns: ns, base: base, re: regexp.MustCompile(pattern)})
	}
	cands = append(cands, cand{base: genericVector, re: regexp.MustCompile("^" + genericVector.base + "_[0-9]+d$")})
	rows, err := b.pool.Query(ctx, `SELECT c.relname::text, a.atttypmod FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'content_vector' AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) AND (c.relname LIKE 'lightrag_vdb_%' OR c.relname LIKE 'hybridrag_vdb_%')
ORDER BY 1`)
	if err != nil {
		return b.mapError("list vector tables", err)
	}
	type found struct {
		name string
		dim  int
	}
	var tables []found
	var name string
	var dim int32
	if _, err := pgx.ForEachRow(rows, []any{&name, &dim}, func() error {
		tables = append(tables, found{name, int(dim)})
		return nil
	}); err != nil {
		return b.mapError("list vector tables", err)
	}
	for _, f := range tables {
		for _, c := range cands {
			if !c.re.MatchString(f.name) {
				continue
			}
			t := c.base.table(f.name, f.dim)
			err := b.countGroups(ctx, t, func(ws, ns string, n int64) {
				if !t.nsCol {
					ns = c.ns
				}
				add(ws, ns, adapters.KindVector, n, 0, f.dim)
			})
			if err != nil {
				return err
			}
			break
		}
	}
	return nil
}

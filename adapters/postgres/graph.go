package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hybridrag/storage-proxy/adapters"
)

// graphStore is a graph namespace in LightRAG's plain-table layout
// (PGTableGraphStorage): one row per node, one row per undirected edge stored
// with src_id <= tgt_id (code point order, which is byte order for UTF-8),
// edges cascading with their nodes. Semantics are NetworkX's (the JSON
// adapter's): properties merge on upsert, a self-loop counts twice in a
// degree.
type graphStore struct {
	b    *Backend
	ws   string
	ns   string
	name string
}

var (
	_ adapters.Graph     = (*graphStore)(nil)
	_ adapters.GraphView = (*graphStore)(nil)
)

func (g *graphStore) op(what string) string { return what + " graph " + g.name }

// canonical orders a pair as the edges table stores it.
func canonical(a, b string) (string, string) {
	if b < a {
		return b, a
	}
	return a, b
}

// encodeProps splits properties into the JSONB column and the extra column's
// "raw" overrides (values JSONB would change, see codec.go).
func encodeProps(ns, what string, props adapters.Props) (string, string, error) {
	stored := make(map[string]json.RawMessage, len(props))
	raw := map[string]string{}
	for k, v := range props {
		var c bytes.Buffer
		err := json.Compact(&c, v)
		if err == nil {
			switch b := c.Bytes(); {
			case len(b) == 0:
				err = fmt.Errorf("empty value")
			case b[0] == '{' || b[0] == '[':
				err = fmt.Errorf("objects and arrays cannot be stored in GraphML")
			case string(b) == "null":
				err = fmt.Errorf("null cannot be stored in GraphML; leave the property out")
			}
		}
		if err != nil {
			return "", "", &adapters.Error{Kind: adapters.ErrInvalid, Code: "invalid_property",
				Message: fmt.Sprintf("namespace %s: %s: property %q", ns, what, k),
				Hint:    "send property values as strings, numbers or booleans", Err: err}
		}
		val := json.RawMessage(c.Bytes())
		if jsonbStorable(val) {
			stored[k] = val
		}
		if !jsonbStable(val) {
			raw[k] = string(val)
		}
	}
	p, err := json.Marshal(stored)
	if err != nil {
		return "", "", err
	}
	x, err := json.Marshal(map[string]any{"raw": raw})
	return string(p), string(x), err
}

// decodeProps rebuilds properties from the JSONB column and the overrides.
func decodeProps(props string, extra pgtype.Text) (adapters.Props, error) {
	out := adapters.Props{}
	if err := json.Unmarshal([]byte(props), &out); err != nil {
		return nil, fmt.Errorf("%w: graph properties: %w", adapters.ErrCorrupt, err)
	}
	if extra.Valid {
		var x struct {
			Raw map[string]string `json:"raw"`
		}
		if err := json.Unmarshal([]byte(extra.String), &x); err != nil {
			return nil, fmt.Errorf("%w: graph hybridrag_extra: %w", adapters.ErrCorrupt, err)
		}
		for k, v := range x.Raw {
			out[k] = json.RawMessage(v)
		}
	}
	return out, nil
}

// mergeExtra keeps the stored overrides of keys the new write does not set.
const mergeExtra = `hybridrag_extra = jsonb_build_object('raw',
	(COALESCE(t.hybridrag_extra->'raw', '{}'::jsonb)
		- ARRAY(SELECT jsonb_object_keys(EXCLUDED.properties))
		- ARRAY(SELECT jsonb_object_keys(COALESCE(EXCLUDED.hybridrag_extra->'raw', '{}'::jsonb))))
	|| COALESCE(EXCLUDED.hybridrag_extra->'raw', '{}'::jsonb))`

func (g *graphStore) HasNodes(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	rows, err := g.b.pool.Query(ctx, `SELECT id FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 AND id = ANY($3)`, g.ws, g.ns, ids)
	if err != nil {
		return nil, g.b.mapError(g.op("has nodes in"), err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, g.b.mapError(g.op("has nodes in"), err)
	}
	have := toSet(found)
	for i, id := range ids {
		out[i] = have[id]
	}
	return out, nil
}

func toSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

type pairKey struct{ a, b string }

// edgeProps fetches the stored edges among pairs, keyed canonically.
func (g *graphStore) edgeProps(ctx context.Context, pairs []adapters.Edge) (map[pairKey]adapters.Props, error) {
	srcs := make([]string, len(pairs))
	tgts := make([]string, len(pairs))
	for i, p := range pairs {
		srcs[i], tgts[i] = canonical(p.Src, p.Tgt)
	}
	rows, err := g.b.pool.Query(ctx, `SELECT e.src_id, e.tgt_id, e.properties::text, e.hybridrag_extra::text
FROM lightrag_graph_edges e JOIN unnest($3::text[], $4::text[]) AS u(s, t) ON e.src_id = u.s AND e.tgt_id = u.t
WHERE e.workspace = $1 AND e.namespace = $2`, g.ws, g.ns, srcs, tgts)
	if err != nil {
		return nil, err
	}
	out := map[pairKey]adapters.Props{}
	var s, t, props string
	var extra pgtype.Text
	_, err = pgx.ForEachRow(rows, []any{&s, &t, &props, &extra}, func() error {
		p, err := decodeProps(props, extra)
		out[pairKey{s, t}] = p
		return err
	})
	return out, err
}

func (g *graphStore) HasEdges(ctx context.Context, pairs []adapters.Edge) ([]bool, error) {
	out := make([]bool, len(pairs))
	if len(pairs) == 0 {
		return out, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	m, err := g.edgeProps(ctx, pairs)
	if err != nil {
		return nil, g.b.mapError(g.op("has edges in"), err)
	}
	for i, p := range pairs {
		a, b := canonical(p.Src, p.Tgt)
		_, out[i] = m[pairKey{a, b}]
	}
	return out, nil
}

func (g *graphStore) GetEdges(ctx context.Context, pairs []adapters.Edge) ([]adapters.Props, error) {
	out := make([]adapters.Props, len(pairs))
	if len(pairs) == 0 {
		return out, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	m, err := g.edgeProps(ctx, pairs)
	if err != nil {
		return nil, g.b.mapError(g.op("get edges of"), err)
	}
	for i, p := range pairs {
		a, b := canonical(p.Src, p.Tgt)
		if props, ok := m[pairKey{a, b}]; ok {
			out[i] = cloneProps(props)
		}
	}
	return out, nil
}

func cloneProps(p adapters.Props) adapters.Props {
	out := make(adapters.Props, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// degreeSQL counts incident edges; a self-loop matches both counts, so it
// counts twice, as in NetworkX.
const degreeSQL = `SELECT u.id,
	(SELECT count(*) FROM lightrag_graph_edges e WHERE e.workspace = $1 AND e.namespace = $2 AND e.src_id = u.id) +
	(SELECT count(*) FROM lightrag_graph_edges e WHERE e.workspace = $1 AND e.namespace = $2 AND e.tgt_id = u.id)
FROM unnest($3::text[]) AS u(id)`

func (g *graphStore) degrees(ctx context.Context, ids []string) (map[string]int, error) {
	rows, err := g.b.pool.Query(ctx, degreeSQL, g.ws, g.ns, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(ids))
	var id string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = int(n)
		return nil
	})
	return out, err
}

func (g *graphStore) NodeDegrees(ctx context.Context, ids []string) ([]int, error) {
	out := make([]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	m, err := g.degrees(ctx, ids)
	if err != nil {
		return nil, g.b.mapError(g.op("node degrees in"), err)
	}
	for i, id := range ids {
		out[i] = m[id]
	}
	return out, nil
}

func (g *graphStore) EdgeDegrees(ctx context.Context, pairs []adapters.Edge) ([]int, error) {
	out := make([]int, len(pairs))
	if len(pairs) == 0 {
		return out, nil
	}
	ids := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		ids = append(ids, p.Src, p.Tgt)
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	m, err := g.degrees(ctx, ids)
	if err != nil {
		return nil, g.b.mapError(g.op("edge degrees in"), err)
	}
	for i, p := range pairs {
		out[i] = m[p.Src] + m[p.Tgt]
	}
	return out, nil
}

// queryNodes returns nodes (id, props) selected by a WHERE tail.
func (g *graphStore) queryNodes(ctx context.Context, tail string, args ...any) ([]adapters.Node, error) {
	rows, err := g.b.pool.Query(ctx, `SELECT id, properties::text, hybridrag_extra::text FROM lightrag_graph_nodes
WHERE workspace = $1 AND namespace = $2 `+tail, append([]any{g.ws, g.ns}, args...)...)
	if err != nil {
		return nil, err
	}
	out := []adapters.Node{}
	var id, props string
	var extra pgtype.Text
	_, err = pgx.ForEachRow(rows, []any{&id, &props, &extra}, func() error {
		p, err := decodeProps(props, extra)
		out = append(out, adapters.Node{ID: id, Props: p})
		return err
	})
	return out, err
}

// queryEdges returns edges selected by a WHERE tail.
func (g *graphStore) queryEdges(ctx context.Context, tail string, args ...any) ([]adapters.EdgeData, error) {
	rows, err := g.b.pool.Query(ctx, `SELECT src_id, tgt_id, properties::text, hybridrag_extra::text FROM lightrag_graph_edges
WHERE workspace = $1 AND namespace = $2 `+tail, append([]any{g.ws, g.ns}, args...)...)
	if err != nil {
		return nil, err
	}
	out := []adapters.EdgeData{}
	var s, t, props string
	var extra pgtype.Text
	_, err = pgx.ForEachRow(rows, []any{&s, &t, &props, &extra}, func() error {
		p, err := decodeProps(props, extra)
		out = append(out, adapters.EdgeData{Src: s, Tgt: t, Props: p})
		return err
	})
	return out, err
}

func (g *graphStore) GetNodes(ctx context.Context, ids []string) ([]adapters.Props, error) {
	out := make([]adapters.Props, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	nodes, err := g.queryNodes(ctx, "AND id = ANY($3)", ids)
	if err != nil {
		return nil, g.b.mapError(g.op("get nodes of"), err)
	}
	m := make(map[string]adapters.Props, len(nodes))
	for _, n := range nodes {
		m[n.ID] = n.Props
	}
	for i, id := range ids {
		if p, ok := m[id]; ok {
			out[i] = cloneProps(p)
		}
	}
	return out, nil
}

// NodesEdgesSQL is the one statement GetNodesEdges runs ($1 workspace, $2
// namespace, $3 the ids): the ids' nodes that exist (src_id NULL), then
// their edges. One statement reads one snapshot, in one round trip.
const NodesEdgesSQL = `SELECT id, NULL::text, NULL::text FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 AND id = ANY($3)
UNION ALL (SELECT NULL, src_id, tgt_id FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2 AND src_id = ANY($3)
UNION SELECT NULL, src_id, tgt_id FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2 AND tgt_id = ANY($3))`

func (g *graphStore) GetNodesEdges(ctx context.Context, ids []string) ([]adapters.NodeEdges, error) {
	if len(ids) == 0 {
		return []adapters.NodeEdges{}, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	rows, err := g.b.pool.Query(ctx, NodesEdgesSQL, g.ws, g.ns, ids)
	if err != nil {
		return nil, g.b.mapError(g.op("get node edges of"), err)
	}
	out, err := ScanNodesEdges(rows, ids)
	if err != nil {
		return nil, g.b.mapError(g.op("get node edges of"), err)
	}
	return out, nil
}

// ScanNodesEdges reads NodesEdgesSQL's rows for ids into
// get_nodes_edges_batch's answer, one entry per id in order: whether the
// node exists and its edges, the first position of a repeated id sorted by
// neighbour (a self-loop counts once). Benchmarks use it to answer as the
// adapter does.
func ScanNodesEdges(rows pgx.Rows, ids []string) ([]adapters.NodeEdges, error) {
	out := make([]adapters.NodeEdges, len(ids))
	for i := range out {
		out[i].Edges = []adapters.Edge{}
	}
	// first[id] is the first position of id in ids; nbs[p] the neighbours
	// of the node at position p.
	first := make(map[string]int, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		first[ids[i]] = i
	}
	found := make([]bool, len(ids))
	nbs := make([][]string, len(ids))
	var node, s, t pgtype.Text
	_, err := pgx.ForEachRow(rows, []any{&node, &s, &t}, func() error {
		if node.Valid {
			found[first[node.String]] = true
			return nil
		}
		if p, ok := first[s.String]; ok {
			nbs[p] = append(nbs[p], t.String)
		}
		if p, ok := first[t.String]; ok && s.String != t.String {
			nbs[p] = append(nbs[p], s.String)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		p := first[id]
		if !found[p] {
			continue
		}
		out[i].Found = true
		list := nbs[p]
		if p == i {
			sort.Strings(list)
		}
		out[i].Edges = make([]adapters.Edge, len(list))
		for j, nb := range list {
			out[i].Edges[j] = adapters.Edge{Src: id, Tgt: nb}
		}
	}
	return out, nil
}

func (g *graphStore) UpsertNodes(ctx context.Context, nodes []adapters.Node) error {
	if len(nodes) == 0 {
		return nil
	}
	// Last write per id wins within the batch, then merges into the stored
	// node (the JSON adapter's semantics).
	last := make(map[string]int, len(nodes))
	for i, n := range nodes {
		last[n.ID] = i
	}
	keep := make([]int, 0, len(last))
	for i, n := range nodes {
		if last[n.ID] == i {
			keep = append(keep, i)
		}
	}
	// The canonical lock order (concurrency.go): INSERT ... SELECT FROM
	// unnest writes the rows in array order.
	sort.Slice(keep, func(a, b int) bool { return nodes[keep[a]].ID < nodes[keep[b]].ID })
	var ids, props, extras []string
	for _, i := range keep {
		n := nodes[i]
		p, x, err := encodeProps(g.name, fmt.Sprintf("node %q", n.ID), n.Props)
		if err != nil {
			return err
		}
		ids, props, extras = append(ids, n.ID), append(props, p), append(extras, x)
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	err := retryWrite(ctx, func() error {
		_, err := g.b.pool.Exec(ctx, `INSERT INTO lightrag_graph_nodes AS t (workspace, namespace, id, properties, updated_at, hybridrag_extra)
SELECT $1, $2, u.id, u.p::jsonb, now(), u.x::jsonb FROM unnest($3::text[], $4::text[], $5::text[]) AS u(id, p, x)
ON CONFLICT (workspace, namespace, id) DO UPDATE SET properties = t.properties || EXCLUDED.properties, updated_at = now(), `+mergeExtra,
			g.ws, g.ns, ids, props, extras)
		return err
	})
	return g.b.mapError(g.op("upsert nodes into"), err)
}

func (g *graphStore) UpsertEdges(ctx context.Context, edges []adapters.EdgeData) error {
	if len(edges) == 0 {
		return nil
	}
	last := make(map[pairKey]int, len(edges))
	for i, e := range edges {
		a, b := canonical(e.Src, e.Tgt)
		last[pairKey{a, b}] = i
	}
	keep := make([]int, 0, len(last))
	for _, i := range last {
		keep = append(keep, i)
	}
	sort.Slice(keep, func(x, y int) bool {
		a1, b1 := canonical(edges[keep[x]].Src, edges[keep[x]].Tgt)
		a2, b2 := canonical(edges[keep[y]].Src, edges[keep[y]].Tgt)
		return a1 < a2 || (a1 == a2 && b1 < b2)
	})
	var srcs, tgts, props, extras []string
	ends := map[string]bool{}
	for _, i := range keep {
		e := edges[i]
		a, b := canonical(e.Src, e.Tgt)
		p, x, err := encodeProps(g.name, fmt.Sprintf("edge %q-%q", e.Src, e.Tgt), e.Props)
		if err != nil {
			return err
		}
		srcs, tgts, props, extras = append(srcs, a), append(tgts, b), append(props, p), append(extras, x)
		ends[a], ends[b] = true, true
	}
	endIDs := make([]string, 0, len(ends))
	for id := range ends {
		endIDs = append(endIDs, id)
	}
	sort.Strings(endIDs) // the canonical lock order
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	err := g.b.writeTx(ctx, func(tx pgx.Tx) error {
		if err := g.lockEndpoints(ctx, tx, endIDs); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO lightrag_graph_edges AS t (workspace, namespace, src_id, tgt_id, properties, updated_at, hybridrag_extra)
SELECT $1, $2, u.s, u.t, u.p::jsonb, now(), u.x::jsonb FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS u(s, t, p, x)
ON CONFLICT (workspace, namespace, src_id, tgt_id) DO UPDATE SET properties = t.properties || EXCLUDED.properties, updated_at = now(), `+mergeExtra,
			g.ws, g.ns, srcs, tgts, props, extras)
		return err
	})
	return g.b.mapError(g.op("upsert edges into"), err)
}

// maxEndpointRounds bounds lockEndpoints' rounds; each lost round means a
// concurrent delete committed, which a write loop could repeat forever.
const maxEndpointRounds = 20

// lockEndpoints makes every endpoint exist and holds it (FOR KEY SHARE, the
// lock the foreign key check takes) until the transaction ends, so a
// concurrent delete of an endpoint waits for the edge instead of failing
// it. An existing node skipped by INSERT ... ON CONFLICT DO NOTHING is not
// locked, and may be deleted before the lock is taken: such ids are
// inserted again (each statement sees the deletes committed before it).
func (g *graphStore) lockEndpoints(ctx context.Context, tx pgx.Tx, ids []string) error {
	missing := ids
	for round := 0; ; round++ {
		if _, err := tx.Exec(ctx, `INSERT INTO lightrag_graph_nodes (workspace, namespace, id)
SELECT $1, $2, u.id FROM unnest($3::text[]) AS u(id) ORDER BY u.id COLLATE "C" ON CONFLICT DO NOTHING`, g.ws, g.ns, missing); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 AND id = ANY($3)
ORDER BY id COLLATE "C" FOR KEY SHARE`, g.ws, g.ns, missing)
		if err != nil {
			return err
		}
		locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(locked) == len(missing) {
			return nil
		}
		if round >= maxEndpointRounds {
			return adapters.Errorf(adapters.ErrUnavailable, "backend_busy", "retry the request",
				"graph %s: the endpoints of an edge were deleted concurrently %d times in a row", g.name, round+1)
		}
		have := toSet(locked)
		next := missing[:0:0]
		for _, id := range missing {
			if !have[id] {
				next = append(next, id)
			}
		}
		missing = next
	}
}

func (g *graphStore) DeleteNodes(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	// Edges go with their nodes (ON DELETE CASCADE). The nodes are locked
	// in the canonical order first, as upserts lock them.
	err := retryWrite(ctx, func() error {
		_, err := g.b.pool.Exec(ctx, `DELETE FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 AND id IN (
SELECT id FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 AND id = ANY($3) ORDER BY id COLLATE "C" FOR UPDATE)`, g.ws, g.ns, ids)
		return err
	})
	return g.b.mapError(g.op("delete nodes from"), err)
}

func (g *graphStore) DeleteEdges(ctx context.Context, pairs []adapters.Edge) error {
	if len(pairs) == 0 {
		return nil
	}
	srcs := make([]string, len(pairs))
	tgts := make([]string, len(pairs))
	for i, p := range pairs {
		srcs[i], tgts[i] = canonical(p.Src, p.Tgt)
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	err := retryWrite(ctx, func() error {
		_, err := g.b.pool.Exec(ctx, `DELETE FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2 AND (src_id, tgt_id) IN (
SELECT e.src_id, e.tgt_id FROM lightrag_graph_edges e JOIN unnest($3::text[], $4::text[]) AS u(s, t) ON e.src_id = u.s AND e.tgt_id = u.t
WHERE e.workspace = $1 AND e.namespace = $2 ORDER BY e.src_id COLLATE "C", e.tgt_id COLLATE "C" FOR UPDATE OF e)`, g.ws, g.ns, srcs, tgts)
		return err
	})
	return g.b.mapError(g.op("delete edges from"), err)
}

func (g *graphStore) AllLabels(ctx context.Context) ([]string, error) {
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	rows, err := g.b.pool.Query(ctx, `SELECT id FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 ORDER BY id COLLATE "C"`, g.ws, g.ns)
	if err != nil {
		return nil, g.b.mapError(g.op("list labels of"), err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, g.b.mapError(g.op("list labels of"), err)
}

func (g *graphStore) ScanNodes(ctx context.Context, after string, limit int) ([]adapters.Node, error) {
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	out, err := g.queryNodes(ctx, `AND id COLLATE "C" > $3 ORDER BY id COLLATE "C" LIMIT $4`, after, limitArg(limit))
	return out, g.b.mapError(g.op("scan nodes of"), err)
}

func (g *graphStore) ScanEdges(ctx context.Context, after adapters.Edge, limit int) ([]adapters.EdgeData, error) {
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	out, err := g.queryEdges(ctx, `AND ($3 OR (src_id COLLATE "C", tgt_id COLLATE "C") > ($4 COLLATE "C", $5 COLLATE "C"))
ORDER BY src_id COLLATE "C", tgt_id COLLATE "C" LIMIT $6`, after == (adapters.Edge{}), after.Src, after.Tgt, limitArg(limit))
	return out, g.b.mapError(g.op("scan edges of"), err)
}

// popularSQL ranks nodes by degree (a self-loop counts twice), ties by id.
const popularSQL = `SELECT n.id FROM lightrag_graph_nodes n
LEFT JOIN (
	SELECT id, sum(c) AS d FROM (
		SELECT src_id AS id, count(*) AS c FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2 GROUP BY src_id
		UNION ALL
		SELECT tgt_id, count(*) FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2 GROUP BY tgt_id
	) x GROUP BY id
) deg ON deg.id = n.id
WHERE n.workspace = $1 AND n.namespace = $2
ORDER BY COALESCE(deg.d, 0) DESC, n.id COLLATE "C" LIMIT $3`

func (g *graphStore) PopularLabels(ctx context.Context, limit int) ([]string, error) {
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	rows, err := g.b.pool.Query(ctx, popularSQL, g.ws, g.ns, limitArg(limit))
	if err != nil {
		return nil, g.b.mapError(g.op("popular labels of"), err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, g.b.mapError(g.op("popular labels of"), err)
}

// SearchLabels ranks with adapters.SearchLabels over every label: the
// ranking and its case folding are Go's, identical to the JSON adapter's
// whatever the database's collation.
func (g *graphStore) SearchLabels(ctx context.Context, query string, limit int) ([]string, error) {
	labels, err := g.AllLabels(ctx)
	if err != nil {
		return nil, err
	}
	out := adapters.SearchLabels(labels, query, limit)
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func (g *graphStore) KnowledgeGraph(ctx context.Context, label string, maxDepth, maxNodes int) (adapters.KnowledgeGraph, error) {
	return adapters.BuildKnowledgeGraph(ctx, g, label, maxDepth, maxNodes)
}

// chunkFilter matches a <SEP>-joined source_id sharing an id with $3.
const chunkFilter = `AND string_to_array(properties->>'source_id', '` + adapters.GraphFieldSep + `') && $3::text[]`

func (g *graphStore) NodesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.Node, error) {
	if len(chunkIDs) == 0 {
		return []adapters.Node{}, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	out, err := g.queryNodes(ctx, chunkFilter+` ORDER BY id COLLATE "C"`, chunkIDs)
	return out, g.b.mapError(g.op("nodes by chunk ids in"), err)
}

func (g *graphStore) EdgesByChunkIDs(ctx context.Context, chunkIDs []string) ([]adapters.EdgeData, error) {
	if len(chunkIDs) == 0 {
		return []adapters.EdgeData{}, nil
	}
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	out, err := g.queryEdges(ctx, chunkFilter+` ORDER BY src_id COLLATE "C", tgt_id COLLATE "C"`, chunkIDs)
	return out, g.b.mapError(g.op("edges by chunk ids in"), err)
}

func (g *graphStore) Counts(ctx context.Context) (nodes, edges int64, err error) {
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	err = g.b.pool.QueryRow(ctx, `SELECT
	(SELECT count(*) FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2),
	(SELECT count(*) FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2)`, g.ws, g.ns).Scan(&nodes, &edges)
	return nodes, edges, g.b.mapError(g.op("count"), err)
}

func (g *graphStore) Drop(ctx context.Context) error {
	ctx, cancel := g.b.ctx(ctx)
	defer cancel()
	err := g.b.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM lightrag_graph_edges WHERE workspace = $1 AND namespace = $2`, g.ws, g.ns); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2`, g.ws, g.ns)
		return err
	})
	return g.b.mapError(g.op("drop"), err)
}

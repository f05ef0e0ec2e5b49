package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/hybridrag/storage-proxy/adapters"
)

// vectorStore is a vector namespace. Its table is known once the dimension
// is (from the stored rows, the caller, or the first upsert).
type vectorStore struct {
	b    *Backend
	base vectorBase
	ws   string
	ns   string
	nsID adapters.Namespace

	mu sync.RWMutex
	t  table // t.name == "" while unknown
	// decided is set once rows of t were seen or written: until then t is
	// only this caller's guess and the first upsert decides the dimension
	// under a lock (see decideDim).
	decided bool
}

var _ adapters.Vector = (*vectorStore)(nil)

// Vector opens a vector namespace; see adapters.Backend.
func (b *Backend) Vector(ctx context.Context, ns adapters.Namespace, dim int) (adapters.Vector, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	if dim < 0 {
		return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_dimension", "give a positive dimension, or 0 for the stored one",
			"dimension %d for %s is negative", dim, ns)
	}
	v := &vectorStore{b: b, base: vectorBaseFor(ns.Name), ws: b.workspace(ns), ns: ns.Name, nsID: ns}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	t, err := v.find(ctx)
	if err != nil {
		return nil, b.mapError("open vector namespace "+ns.String(), err)
	}
	switch {
	case t.name != "" && dim > 0 && t.dim != dim:
		return nil, adapters.DimensionError(ns, t.dim, dim)
	case t.name == "" && dim > 0:
		if t, err = v.ensure(ctx, dim); err != nil {
			return nil, err
		}
	default:
		v.decided = t.name != ""
	}
	v.t = t
	return v, nil
}

func (v *vectorStore) op(what string) string { return what + " " + v.nsID.String() }

func (v *vectorStore) scope(t table) scope {
	return scope{t: t, ws: v.ws, ns: v.ns, name: v.nsID.String()}
}

// candidates lists the existing tables this namespace may live in, with
// their dimension: the one name for legacy naming, every <base>_<model>_<N>d
// for suffixed naming.
func (v *vectorStore) candidates(ctx context.Context, q querier) ([]table, error) {
	var pattern string
	switch {
	case v.base.nsCol:
		pattern = "^" + regexp.QuoteMeta(v.base.base) + `_[0-9]+d$`
	case v.b.cfg.VectorTableNaming == NamingSuffixed && v.b.cfg.EmbeddingModel != "":
		name, err := vectorTableName(v.base, NamingSuffixed, v.b.cfg.EmbeddingModel, 1)
		if err != nil {
			return nil, err
		}
		pattern = "^" + regexp.QuoteMeta(name[:len(name)-2]) + `[0-9]+d$`
	default:
		pattern = "^" + regexp.QuoteMeta(v.base.base) + "$"
	}
	rows, err := q.Query(ctx, `SELECT c.relname::text, a.atttypmod FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'content_vector' AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) AND c.relname ~ $1 ORDER BY 1`, pattern)
	if err != nil {
		return nil, err
	}
	var out []table
	var name string
	var dim int32
	_, err = pgx.ForEachRow(rows, []any{&name, &dim}, func() error {
		out = append(out, v.base.table(name, int(dim)))
		return nil
	})
	return out, err
}

// find returns the table holding this namespace's rows, or the legacy table
// whose column fixes the dimension; a zero table when there is none.
func (v *vectorStore) find(ctx context.Context) (table, error) {
	return v.findIn(ctx, v.b.pool)
}

// findIn is find through q (a transaction sees what its locks protect).
func (v *vectorStore) findIn(ctx context.Context, q querier) (table, error) {
	cands, err := v.candidates(ctx, q)
	if err != nil {
		return table{}, err
	}
	for _, t := range cands {
		where, args := v.scope(t).where()
		var has bool
		if err := q.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s)", quoteIdent(t.name), where), args...).Scan(&has); err != nil {
			return table{}, err
		}
		if has {
			return t, nil
		}
	}
	return table{}, nil
}

// ensure creates (if needed) the table for dim and returns it.
func (v *vectorStore) ensure(ctx context.Context, dim int) (table, error) {
	name, err := vectorTableName(v.base, v.b.cfg.VectorTableNaming, v.b.cfg.EmbeddingModel, dim)
	if err != nil {
		return table{}, err
	}
	t := v.base.table(name, dim)
	got, err := v.b.ensureVectorTable(ctx, t)
	if err != nil {
		return table{}, v.b.mapError(v.op("create the vector table of"), err)
	}
	if got != dim {
		// A legacy (unsuffixed) table fixes one dimension for everyone.
		return table{}, adapters.DimensionError(v.nsID, got, dim)
	}
	return t, nil
}

// ensureVectorTable creates a vector table and its index under the schema
// lock, once per process, and returns the dimension of its column.
func (b *Backend) ensureVectorTable(ctx context.Context, t table) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.vtables[t.name]; ok {
		return d, nil
	}
	var dim int32
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLockSQL); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, quoteIdent(t.name)).Scan(&exists); err != nil {
			return err
		}
		ddl, indexed := vectorDDL(t)
		if exists {
			// LightRAG's (or an earlier proxy's) table: add our columns, keep
			// whatever index it has.
			ddl = tableDDL(t)
		} else if !indexed {
			b.log.Warn("no ANN index: pgvector indexes at most 4000 dimensions, queries scan the whole table",
				logKeyTable, t.name, logKeyDim, t.dim)
		}
		if err := execDDL(ctx, tx, ddl); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'content_vector'`,
			quoteIdent(t.name)).Scan(&dim)
	})
	if err != nil {
		return 0, err
	}
	b.vtables[t.name] = int(dim)
	return int(dim), nil
}

// current returns the table, looking again for one while it is unknown
// (another proxy may have written since).
func (v *vectorStore) current(ctx context.Context) (table, error) {
	v.mu.RLock()
	t := v.t
	v.mu.RUnlock()
	if t.name != "" {
		return t, nil
	}
	t, err := v.find(ctx)
	if err != nil || t.name == "" {
		return t, err
	}
	v.mu.Lock()
	v.t, v.decided = t, true
	v.mu.Unlock()
	return t, nil
}

// dimLockSQL serialises the first writes of one namespace (of one
// workspace) across proxies, so its dimension is decided once.
const dimLockSQL = `SELECT pg_advisory_xact_lock(hashtext('hybridrag_vector_dim'), hashtext($1))`

// decideDim runs first in the transaction of an upsert into a namespace
// with no rows seen yet: under the namespace's lock it looks again, and a
// concurrent first write that committed rows of another dimension wins.
func (v *vectorStore) decideDim(dim int) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, dimLockSQL, v.ws+"/"+v.ns); err != nil {
			return err
		}
		got, err := v.findIn(ctx, tx)
		if err != nil {
			return err
		}
		if got.name != "" && got.dim != dim {
			return adapters.DimensionError(v.nsID, got.dim, dim)
		}
		return nil
	}
}

func (v *vectorStore) Dim() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.t.dim
}

func (v *vectorStore) Upsert(ctx context.Context, records []adapters.VectorRecord) error {
	records = dedupeVectors(records)
	if len(records) == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil {
		return v.b.mapError(v.op("upsert into"), err)
	}
	dim := t.dim
	if t.name == "" {
		dim = len(records[0].Vector)
	}
	for _, r := range records {
		if r.ID == "" {
			return adapters.Errorf(adapters.ErrInvalid, "invalid_id", "give every record a non-empty id", "a vector in %s has an empty id", v.nsID)
		}
		if len(r.Vector) == 0 {
			return adapters.Errorf(adapters.ErrInvalid, "missing_vector", "send the record's embedding", "vector record %q in %s has no vector", r.ID, v.nsID)
		}
		if len(r.Vector) != dim {
			return adapters.DimensionError(v.nsID, dim, len(r.Vector))
		}
	}
	if t.name == "" {
		if t, err = v.ensure(ctx, dim); err != nil {
			return err
		}
		v.mu.Lock()
		v.t = t
		v.mu.Unlock()
	}
	v.mu.RLock()
	decided := v.decided
	v.mu.RUnlock()
	var pre func(ctx context.Context, tx pgx.Tx) error
	if !decided {
		pre = v.decideDim(dim)
	}
	rows := make([]encoded, len(records))
	ids := make([]string, len(records))
	for i, r := range records {
		fields := r.Fields
		if len(fields) == 0 {
			fields = adapters.Record("{}")
		}
		if rows[i], err = t.encode(r.ID, fields); err != nil {
			return err
		}
		ids[i] = r.ID
	}
	now := time.Unix(time.Now().Unix(), 0).UTC()
	wctx, wcancel := v.b.writeCtx(parent, len(rows))
	defer wcancel()
	err = v.b.upsertRows(wctx, v.scope(t), ids, rows, upsertSQL(t, upsertOpts{vectors: true, vecCast: "::vector"}), func(i int) []any {
		if at := records[i].CreatedAt; at != 0 { // a copied record's own, as a load keeps it
			created := time.Unix(at, 0).UTC()
			return []any{pgvector.NewVector(records[i].Vector), created, created}
		}
		return []any{pgvector.NewVector(records[i].Vector), now, now}
	}, pre)
	if err != nil {
		return v.b.mapError(v.op("upsert into"), err)
	}
	v.mu.Lock()
	v.decided = true
	v.mu.Unlock()
	return nil
}

func dedupeVectors(records []adapters.VectorRecord) []adapters.VectorRecord {
	pos := make(map[string]int, len(records))
	out := make([]adapters.VectorRecord, 0, len(records))
	for _, r := range records {
		if i, ok := pos[r.ID]; ok {
			out[i] = r
			continue
		}
		pos[r.ID] = len(out)
		out = append(out, r)
	}
	return out
}

// distanceExpr is the ANN-index-friendly cosine distance to $n.
func distanceExpr(t table, n int) string {
	if t.dim > hnswMaxDim && t.dim <= halfvecMaxDim {
		return fmt.Sprintf("content_vector::halfvec(%d) <=> $%d::vector::halfvec(%d)", t.dim, n, t.dim)
	}
	return fmt.Sprintf("content_vector <=> $%d::vector", n)
}

// Query returns up to TopK records by descending cosine similarity with
// similarity >= Threshold. The index (HNSW) picks the candidates; their
// similarity is then computed exactly in float32 as NanoVectorDB does. Ties
// are ordered by id (byte order): PostgreSQL has no storage order to keep.
//
// The planner costs a sequential scan with a top-N sort below the HNSW scan
// (it does not count reading each 6 KB vector out of TOAST), so it never
// picks the index, and a scan takes 10-20x longer than the index from a few
// hundred rows up. The query therefore runs with sorting disabled, which
// leaves the index's ordered scan as the one plan (annSettingsSQL). The
// workspace filter is applied during the scan; pgvector 0.8's iterative
// scan keeps going until TopK rows of this workspace are found. When the
// index still yields fewer than TopK rows (a workspace smaller than TopK,
// or one too rare in a shared table for the scan's limit) the query runs
// again exactly. VectorQuery.Exact, and a table without an HNSW index,
// scan exactly from the start.
func (v *vectorStore) Query(ctx context.Context, q adapters.VectorQuery) ([]adapters.VectorMatch, error) {
	out := []adapters.VectorMatch{}
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil {
		return nil, v.b.mapError(v.op("query"), err)
	}
	if t.name == "" || q.TopK <= 0 {
		return out, nil
	}
	if len(q.Vector) != t.dim {
		return nil, adapters.DimensionError(v.nsID, t.dim, len(q.Vector))
	}
	exact := q.Exact
	var settings string
	var settingArgs []any
	if !exact {
		indexed, err := v.b.hasHNSW(ctx, t.name)
		if err != nil {
			return nil, v.b.mapError(v.op("query"), err)
		}
		iterative, err := v.b.iterativeScan(ctx)
		if err != nil {
			return nil, v.b.mapError(v.op("query"), err)
		}
		// Without an HNSW index, an exact scan: another index (LightRAG can
		// build IVFFlat) would answer at its own default recall.
		exact = !indexed
		settings, settingArgs = annSettingsSQL(iterative), []any{strconv.Itoa(efSearch(q.TopK))}
	}
	if exact {
		settings, settingArgs = exactSettingsSQL, nil
	}
	sql, args := v.querySQL(t, q)
	qnorm := normalize(q.Vector)
	for {
		var rows int
		out, rows, err = queryRows(ctx, v.b.pool, t, settings, settingArgs, sql, args, qnorm, q.Threshold, out[:0])
		if err != nil || exact || rows >= q.TopK {
			break
		}
		settings, settingArgs, exact = exactSettingsSQL, nil, true
	}
	if err != nil {
		return nil, v.b.mapError(v.op("query"), err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Similarity != out[j].Similarity {
			return out[i].Similarity > out[j].Similarity
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > q.TopK {
		out = out[:q.TopK]
	}
	return out, nil
}

// querySQL is the vector query: the TopK rows of the namespace nearest to
// q.Vector, by the distance the index orders by.
func (v *vectorStore) querySQL(t table, q adapters.VectorQuery) (string, []any) {
	where, args := v.scope(t).where()
	args = append(args, pgvector.NewVector(q.Vector), int64(q.TopK))
	return queryStatement(t, where, len(args)-1), args
}

// queryStatement is querySQL's statement: where's parameters, then the
// query vector ($qn) and the limit ($qn+1).
func queryStatement(t table, where string, qn int) string {
	return fmt.Sprintf(`SELECT %s, EXTRACT(EPOCH FROM create_time)::bigint, content_vector FROM %s
WHERE %s ORDER BY %s LIMIT $%d`,
		selectList(t), quoteIdent(t.name), where, distanceExpr(t, qn), qn+1)
}

// annCaps is whether the server's pgvector has iterative index scans
// (0.8.0 and later), read once, and which vector tables have an HNSW index.
type annCaps struct {
	mu        sync.Mutex
	known     bool
	iterative bool
	// hnsw maps a table to whether it had an HNSW index when last looked
	// at: yes is kept, no is looked at again after hnswRecheck (a bulk load
	// builds the index at its end).
	hnsw map[string]hnswSeen
}

type hnswSeen struct {
	has bool
	at  time.Time
}

const hnswRecheck = 30 * time.Second

// hasHNSW reports whether table has an HNSW index. Only then is the query
// pushed onto the index: another index (LightRAG can build IVFFlat) would
// answer with its own, lower, default recall, and no index means a scan.
func (b *Backend) hasHNSW(ctx context.Context, table string) (bool, error) {
	b.ann.mu.Lock()
	seen, ok := b.ann.hnsw[table]
	b.ann.mu.Unlock()
	if ok && (seen.has || time.Since(seen.at) < hnswRecheck) {
		return seen.has, nil
	}
	var has bool
	err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = to_regclass($1) AND a.amname = 'hnsw')`, quoteIdent(table)).Scan(&has)
	if err != nil {
		return false, err
	}
	b.ann.mu.Lock()
	if b.ann.hnsw == nil {
		b.ann.hnsw = map[string]hnswSeen{}
	}
	b.ann.hnsw[table] = hnswSeen{has: has, at: time.Now()}
	b.ann.mu.Unlock()
	return has, nil
}

// iterativeScan reports whether hnsw.iterative_scan exists on the server.
func (b *Backend) iterativeScan(ctx context.Context) (bool, error) {
	b.ann.mu.Lock()
	defer b.ann.mu.Unlock()
	if b.ann.known {
		return b.ann.iterative, nil
	}
	var version string
	err := b.pool.QueryRow(ctx, `SELECT COALESCE((SELECT extversion FROM pg_extension WHERE extname = 'vector'), '')`).Scan(&version)
	if err != nil {
		return false, err
	}
	b.ann.known, b.ann.iterative = true, versionAtLeast(version, 0, 8)
	return b.ann.iterative, nil
}

// versionAtLeast compares a "major.minor[.patch]" version.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// efSearch is hnsw.ef_search for a top k: the candidates HNSW keeps while
// searching. On embedding-like vectors (bench/pgcompare --data lowrank,
// 1536 dimensions, the index as LightRAG builds it: m 16, ef_construction
// 64) pgvector's default 40 gave recall@10 0.92 at 20k rows and 0.81 at
// 100k; at 100k, 100 gave 0.945, 110 0.955, 120 0.962, 160 0.981 (at about
// 1.3x the time of 120). 120, and twice k for larger k.
func efSearch(k int) int { return min(max(120, 2*k), 1000) }

// annSettingsSQL makes the index's ordered scan the only plan for this
// transaction's vector query ($1 is hnsw.ef_search: HNSW returns at most that
// many candidates). With iterative scans (pgvector 0.8) a filtered scan goes
// on past ef_search until LIMIT rows pass the workspace filter;
// relaxed_order is enough because Query re-sorts by exact similarity.
func annSettingsSQL(iterative bool) string {
	sql := `SELECT set_config('enable_sort', 'off', true), set_config('hnsw.ef_search', $1, true)`
	if iterative {
		sql += `, set_config('hnsw.iterative_scan', 'relaxed_order', true)`
	}
	return sql
}

// exactSettingsSQL turns the index scan off (and sorting back on).
const exactSettingsSQL = `SELECT set_config('enable_sort', 'on', true), set_config('enable_indexscan', 'off', true)`

// queryRows runs settings and then one vector query, in one round trip,
// appending the rows at or above threshold to out; n is how many rows the
// query returned. Both go as one pipeline, one implicit transaction: the
// settings (set_config's is_local) last until its end, so they apply to
// the query and to nothing after it, without a BEGIN and a COMMIT.
func queryRows(ctx context.Context, pool *pgxpool.Pool, t table, settings string, settingArgs []any, sql string, args []any,
	qnorm []float32, threshold float32, out []adapters.VectorMatch) (_ []adapters.VectorMatch, n int, err error) {
	batch := &pgx.Batch{}
	batch.Queue(settings, settingArgs...)
	batch.Queue(sql, args...)
	br := pool.SendBatch(ctx, batch)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return nil, 0, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		n++
		var created pgtype.Int8
		var vec pgvector.Vector
		id, rec, err := scanRecord(t, rows, &created, &vec)
		if err != nil {
			return nil, 0, err
		}
		sim := dot(qnorm, normalize(vec.Slice()))
		if sim < threshold {
			continue
		}
		out = append(out, adapters.VectorMatch{
			VectorRecord: vectorRecord(id, rec, created.Int64),
			Similarity:   sim,
		})
	}
	return out, n, rows.Err()
}

// normalize returns v scaled to unit length in float32 (NanoVectorDB's
// normalisation); a zero vector stays zero.
func normalize(v []float32) []float32 {
	var s float32
	for _, x := range v {
		s += x * x
	}
	out := make([]float32, len(v))
	if s == 0 {
		return out
	}
	n := float32(math.Sqrt(float64(s)))
	for i, x := range v {
		out[i] = x / n
	}
	return out
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (v *vectorStore) GetByIDs(ctx context.Context, ids []string) ([]*adapters.VectorRecord, error) {
	out := make([]*adapters.VectorRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return out, v.b.mapError(v.op("get from"), err)
	}
	where, args := v.scope(t).where()
	args = append(args, ids)
	recs, err := v.queryVectors(ctx, t, false, fmt.Sprintf("WHERE %s AND id = ANY($%d)", where, len(args)), args...)
	if err != nil {
		return nil, v.b.mapError(v.op("get from"), err)
	}
	m := make(map[string]*adapters.VectorRecord, len(recs))
	for i := range recs {
		m[recs[i].ID] = &recs[i]
	}
	for i, id := range ids {
		out[i] = m[id]
	}
	return out, nil
}

// queryVectors selects records (and their vectors when withVec) with the
// given WHERE/ORDER tail.
func (v *vectorStore) queryVectors(ctx context.Context, t table, withVec bool, tail string, args ...any) ([]adapters.VectorRecord, error) {
	sel := selectList(t) + ", EXTRACT(EPOCH FROM create_time)::bigint"
	if withVec {
		sel += ", content_vector"
	}
	rows, err := v.b.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM %s %s", sel, quoteIdent(t.name), tail), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []adapters.VectorRecord
	for rows.Next() {
		var created pgtype.Int8
		var vec pgvector.Vector
		more := []any{&created}
		if withVec {
			more = append(more, &vec)
		}
		id, rec, err := scanRecord(t, rows, more...)
		if err != nil {
			return nil, err
		}
		r := vectorRecord(id, rec, created.Int64)
		if withVec {
			r.Vector = vec.Slice()
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (v *vectorStore) GetVectorsByIDs(ctx context.Context, ids []string) (map[string][]float32, error) {
	out := map[string][]float32{}
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return out, v.b.mapError(v.op("get vectors from"), err)
	}
	where, args := v.scope(t).where()
	args = append(args, ids)
	rows, err := v.b.pool.Query(ctx, fmt.Sprintf("SELECT id, content_vector FROM %s WHERE %s AND id = ANY($%d) AND content_vector IS NOT NULL",
		quoteIdent(t.name), where, len(args)), args...)
	if err != nil {
		return nil, v.b.mapError(v.op("get vectors from"), err)
	}
	var id string
	var vec pgvector.Vector
	_, err = pgx.ForEachRow(rows, []any{&id, &vec}, func() error {
		out[id] = vec.Slice()
		return nil
	})
	if err != nil {
		return nil, v.b.mapError(v.op("get vectors from"), err)
	}
	return out, nil
}

// deleteWhere deletes the rows matching cond (placeholders after the scope's).
func (v *vectorStore) deleteWhere(ctx context.Context, what string, cond func(t table, next int) string, extra ...any) error {
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return v.b.mapError(v.op(what), err)
	}
	where, args := v.scope(t).where()
	next := len(args) + 1
	args = append(args, extra...)
	sql := withExtrasDeleted(t, fmt.Sprintf("DELETE FROM %s WHERE %s AND id IN (SELECT id FROM %s WHERE %s AND (%s) ORDER BY id COLLATE \"C\" FOR UPDATE)",
		quoteIdent(t.name), where, quoteIdent(t.name), where, cond(t, next)))
	err = retryWrite(ctx, func() error {
		_, err := v.b.pool.Exec(ctx, sql, args...)
		return err
	})
	return v.b.mapError(v.op(what), err)
}

// fieldExpr reads a string field: its column, or the extra document.
func fieldExpr(t table, key string) string {
	for _, c := range t.cols {
		if c.key == key && c.kind == kText {
			return quoteIdent(c.name)
		}
	}
	if t.side() {
		return fmt.Sprintf("(%s::jsonb->'fields'->>%s)", extraExpr(t), quoteLiteral(key))
	}
	return fmt.Sprintf("(%s->'fields'->>%s)", quoteIdent(t.extra), quoteLiteral(key))
}

func (v *vectorStore) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return v.b.mapError(v.op("delete from"), err)
	}
	return v.b.mapError(v.op("delete from"), v.b.deleteIDs(ctx, v.scope(t), ids))
}

func (v *vectorStore) DeleteEntity(ctx context.Context, name string) error {
	return v.deleteWhere(ctx, "delete entity from", func(t table, n int) string {
		return fmt.Sprintf("id = $%d OR %s = $%d", n, fieldExpr(t, "entity_name"), n+1)
	}, adapters.EntityVectorID(name), name)
}

func (v *vectorStore) DeleteEntityRelation(ctx context.Context, name string) error {
	return v.deleteWhere(ctx, "delete entity relations from", func(t table, n int) string {
		return fmt.Sprintf("%s = $%d OR %s = $%d", fieldExpr(t, "src_id"), n, fieldExpr(t, "tgt_id"), n)
	}, name)
}

func (v *vectorStore) Count(ctx context.Context) (int64, error) {
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return 0, v.b.mapError(v.op("count"), err)
	}
	where, args := v.scope(t).where()
	var n int64
	err = v.b.pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", quoteIdent(t.name), where), args...).Scan(&n)
	return n, v.b.mapError(v.op("count"), err)
}

func (v *vectorStore) Scan(ctx context.Context, after string, limit int) ([]adapters.VectorRecord, error) {
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return []adapters.VectorRecord{}, v.b.mapError(v.op("scan"), err)
	}
	where, args := v.scope(t).where()
	args = append(args, after, limitArg(limit))
	recs, err := v.queryVectors(ctx, t, true, fmt.Sprintf(`WHERE %s AND id COLLATE "C" > $%d ORDER BY id COLLATE "C" LIMIT $%d`,
		where, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, v.b.mapError(v.op("scan"), err)
	}
	if recs == nil {
		recs = []adapters.VectorRecord{}
	}
	return recs, nil
}

func (v *vectorStore) Drop(ctx context.Context) error {
	ctx, cancel := v.b.ctx(ctx)
	defer cancel()
	t, err := v.current(ctx)
	if err != nil || t.name == "" {
		return v.b.mapError(v.op("drop"), err)
	}
	where, args := v.scope(t).where()
	_, err = v.b.pool.Exec(ctx, withExtrasDeleted(t, fmt.Sprintf("DELETE FROM %s WHERE %s", quoteIdent(t.name), where)), args...)
	if err != nil {
		return v.b.mapError(v.op("drop"), err)
	}
	// The namespace is empty again: a later upsert may bring a new dimension.
	v.mu.Lock()
	v.t, v.decided = table{}, false
	v.mu.Unlock()
	return nil
}

// createdAtKey keeps a copied vector's exact created_at (a fraction, or
// null for none: adapters.VectorRecord.CreatedAtRaw) among the fields that
// no column holds, under NanoVectorDB's own name for it; the create_time
// column holds the whole seconds as LightRAG reads them.
const createdAtKey = "__created_at__"

// withCreatedAtRaw adds raw to the fields object (fields unchanged if raw
// is empty).
func withCreatedAtRaw(fields adapters.Record, raw json.RawMessage) adapters.Record {
	if len(raw) == 0 {
		return fields
	}
	body := bytes.TrimSpace(fields)
	out := make([]byte, 0, len(body)+len(raw)+len(createdAtKey)+4)
	out = append(out, '{')
	out = strconv.AppendQuote(out, createdAtKey)
	out = append(out, ':')
	out = append(out, raw...)
	if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, '}')
}

// splitCreatedAtRaw takes the exact created_at back out of stored fields.
func splitCreatedAtRaw(rec adapters.Record) (adapters.Record, json.RawMessage) {
	if !bytes.Contains(rec, []byte(`"`+createdAtKey+`"`)) {
		return rec, nil
	}
	keys, vals, err := splitObject(rec)
	if err != nil {
		return rec, nil
	}
	var b recordBuilder
	var raw json.RawMessage
	for i, k := range keys {
		if k == createdAtKey {
			raw = vals[i]
			continue
		}
		b.add(k, vals[i])
	}
	return b.done(), raw
}

func vectorRecord(id string, rec adapters.Record, created int64) adapters.VectorRecord {
	r := adapters.VectorRecord{ID: id, CreatedAt: created}
	r.Fields, r.CreatedAtRaw = splitCreatedAtRaw(rec)
	return r
}

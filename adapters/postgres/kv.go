package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
)

// writeBatch is how many rows one pipelined batch carries.
const writeBatch = 500

// kvStore is a KV namespace; with doc set it is a doc-status namespace
// (records stored as given, no _id or times).
type kvStore struct {
	b   *Backend
	s   scope
	doc bool
}

func (k *kvStore) op(what string) string {
	return fmt.Sprintf("%s %s (table %s)", what, k.s.name, k.s.t.name)
}

// selectList is "id, <columns>, <extra document>" as rowOf reads it.
func selectList(t table) string {
	exprs := []string{"id"}
	for _, c := range t.cols {
		exprs = append(exprs, selectExpr(c))
	}
	exprs = append(exprs, extraExpr(t))
	return strings.Join(exprs, ", ")
}

// rowOf is the current row's values as selectList selects them (sub-slices
// of pgx's buffer, valid until the next row). r, when given, is the
// previous row's, whose buffers are reused.
func rowOf(t table, rows pgx.Rows, r *rowVals) (id string, _ rowVals, err error) {
	if r == nil {
		r = &rowVals{}
	}
	raw := rows.RawValues()
	fds := rows.FieldDescriptions()
	n := len(t.cols)
	if len(raw) < n+2 {
		return "", *r, fmt.Errorf("%w: %s: %d columns selected, want at least %d", adapters.ErrCorrupt, t.name, len(raw), n+2)
	}
	if len(r.formats) != n {
		r.formats = make([]int16, n)
		for i := range n {
			r.formats[i] = fds[1+i].Format
		}
	}
	if r.scratch == nil {
		r.scratch = new(extraView)
	}
	r.cols, r.extra = raw[1:1+n], raw[1+n]
	return string(raw[0]), *r, nil
}

// scanRecord reads one row selected with selectList: the id and the
// record. more are scanned from the columns after the extra column.
func scanRecord(t table, rows pgx.Rows, more ...any) (string, adapters.Record, error) {
	id, r, err := rowOf(t, rows, nil)
	if err != nil {
		return "", nil, err
	}
	rec, err := t.appendRecord(nil, id, r, false)
	if err != nil {
		return "", nil, err
	}
	if len(more) > 0 {
		dest := make([]any, len(t.cols)+2, len(t.cols)+2+len(more))
		if err := rows.Scan(append(dest, more...)...); err != nil {
			return "", nil, err
		}
	}
	return id, rec, nil
}

// queryRecords runs a query selecting selectList and returns the rows.
func (k *kvStore) queryRecords(ctx context.Context, sql string, args ...any) ([]adapters.KVRecord, error) {
	rows, err := k.b.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []adapters.KVRecord
	for rows.Next() {
		id, rec, err := scanRecord(k.s.t, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, adapters.KVRecord{ID: id, Data: rec})
	}
	return out, rows.Err()
}

// stored returns the stored records of ids, by id.
func (k *kvStore) stored(ctx context.Context, ids []string) (map[string]adapters.Record, error) {
	where, args := k.s.where()
	args = append(args, ids)
	recs, err := k.queryRecords(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s AND id = ANY($%d)",
		selectList(k.s.t), quoteIdent(k.s.t.name), where, len(args)), args...)
	if err != nil {
		return nil, err
	}
	m := make(map[string]adapters.Record, len(recs))
	for _, r := range recs {
		m[r.ID] = r.Data
	}
	return m, nil
}

// GetByIDs reads the records in one pass from the rows' wire bytes into
// one buffer (KV namespaces get adapters.KVView's form in the same pass).
func (k *kvStore) GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error) {
	out := make([]adapters.Record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	where, args := k.s.where()
	args = append(args, ids)
	rows, err := k.b.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s AND id = ANY($%d)",
		selectList(k.s.t), quoteIdent(k.s.t.name), where, len(args)), args...)
	if err != nil {
		return nil, k.b.mapError(k.op("get"), err)
	}
	defer rows.Close()
	pos := make(map[string]int, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		pos[ids[i]] = i
	}
	type span struct{ at, start, end int }
	var buf []byte
	spans := make([]span, 0, len(ids))
	var prev rowVals
	for rows.Next() {
		id, r, err := rowOf(k.s.t, rows, &prev)
		if err != nil {
			return nil, k.b.mapError(k.op("get"), err)
		}
		start := len(buf)
		if buf, err = k.s.t.appendRecord(buf, id, r, !k.doc); err != nil {
			return nil, k.b.mapError(k.op("get"), err)
		}
		spans = append(spans, span{pos[id], start, len(buf)})
		if want := len(buf) * (len(ids) + 1); len(spans) == 1 && len(ids) > 1 && want <= 1<<20 {
			// Room for the rest at the first record's size: no regrowth
			// (large records grow as append grows them).
			nb := make([]byte, len(buf), want)
			copy(nb, buf)
			buf = nb
		}
	}
	if err := rows.Err(); err != nil {
		return nil, k.b.mapError(k.op("get"), err)
	}
	for _, s := range spans {
		out[s.at] = adapters.Record(buf[s.start:s.end:s.end])
	}
	// An id asked for twice gets the record twice.
	for i, id := range ids {
		if out[i] == nil {
			if j := pos[id]; j != i {
				out[i] = out[j]
			}
		}
	}
	return out, nil
}

func (k *kvStore) FilterKeys(ctx context.Context, keys []string) ([]string, error) {
	missing := []string{}
	if len(keys) == 0 {
		return missing, nil
	}
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	where, args := k.s.where()
	args = append(args, keys)
	rows, err := k.b.pool.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE %s AND id = ANY($%d)",
		quoteIdent(k.s.t.name), where, len(args)), args...)
	if err != nil {
		return nil, k.b.mapError(k.op("filter keys of"), err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, k.b.mapError(k.op("filter keys of"), err)
	}
	have := make(map[string]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	for _, key := range keys {
		if !have[key] {
			missing = append(missing, key)
		}
	}
	return missing, nil
}

// dedupe keeps the last record per id, in first-seen order (an upsert
// statement may touch a row only once).
func dedupe(records []adapters.KVRecord) []adapters.KVRecord {
	pos := make(map[string]int, len(records))
	out := make([]adapters.KVRecord, 0, len(records))
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

func (k *kvStore) Upsert(ctx context.Context, records []adapters.KVRecord) error {
	records = dedupe(records)
	if len(records) == 0 {
		return nil
	}
	for _, r := range records {
		if r.ID == "" {
			return adapters.Errorf(adapters.ErrInvalid, "invalid_id", "give every record a non-empty id", "a record in %s has an empty id", k.s.name)
		}
	}
	parent := ctx
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	rows := make([]encoded, len(records))
	var own []bool
	if k.doc {
		for i, r := range records {
			rec, err := adapters.StampDoc(r.ID, r.Data)
			if err != nil {
				return err
			}
			if rows[i], err = k.s.t.encode(r.ID, rec); err != nil {
				return err
			}
		}
	} else {
		// A record without create_time keeps the stored one: the upsert
		// statement does that in SQL (its last parameter says which rows
		// bring their own), so the write needs no read first.
		now := time.Now().Unix()
		own = make([]bool, len(records))
		for i, r := range records {
			var rec adapters.Record
			var err error
			rec, own[i], err = adapters.StampKVOwnTime(k.s.ns, r.ID, r.Data, now)
			if err != nil {
				return err
			}
			if rows[i], err = k.s.t.encode(r.ID, rec); err != nil {
				return err
			}
		}
	}
	ids := make([]string, len(records))
	for i, r := range records {
		ids[i] = r.ID
	}
	wctx, wcancel := k.b.writeCtx(parent, len(rows))
	defer wcancel()
	sql := upsertSQL(k.s.t, upsertOpts{})
	var tail func(i int) []any
	if own != nil {
		sql, tail = upsertSQL(k.s.t, upsertOpts{keepCreateTime: true}), func(i int) []any { return []any{own[i]} }
	}
	return k.b.mapError(k.op("upsert"), k.b.upsertRows(wctx, k.s, ids, rows, sql, tail, nil))
}

// upsertOpts shapes upsertSQL's statement.
type upsertOpts struct {
	// vectors adds the content_vector (cast by vecCast), create_time and
	// update_time parameters.
	vectors bool
	vecCast string
	// keepCreateTime adds a last boolean parameter: false keeps an existing
	// row's create_time column (the record brought none).
	keepCreateTime bool
}

// upsertSQL is the INSERT ... ON CONFLICT statement for a table.
func upsertSQL(t table, o upsertOpts) string {
	cols := []string{"id", "workspace"}
	vals := []string{"$1", "$2"}
	conflict := "workspace, id"
	n := 3
	if t.nsCol {
		cols = append(cols, "namespace")
		vals = append(vals, "$3")
		conflict = "workspace, namespace, id"
		n++
	}
	var sets []string
	add := func(col, val string) {
		cols = append(cols, col)
		vals = append(vals, val)
		sets = append(sets, col+" = EXCLUDED."+col)
	}
	for _, c := range t.cols {
		p := fmt.Sprintf("$%d", n)
		n++
		switch c.kind {
		case kText:
			p += "::text"
		case kInt:
			p += "::integer"
		case kJSONB:
			p += "::text::jsonb"
		case kEpoch, kISO:
			p += "::timestamp"
		case kSep:
			p += "::text[]"
		}
		add(quoteIdent(c.name), p)
	}
	if !t.side() {
		add(quoteIdent(t.extra), fmt.Sprintf("$%d::text::jsonb", n))
		n++
	}
	if o.vectors {
		add("content_vector", fmt.Sprintf("$%d%s", n, o.vecCast))
		add("create_time", fmt.Sprintf("$%d::timestamp", n+1))
		add("update_time", fmt.Sprintf("$%d::timestamp", n+2))
		n += 3
	}
	if o.keepCreateTime {
		for i, set := range sets {
			if col := quoteIdent("create_time"); set == col+" = EXCLUDED."+col {
				sets[i] = fmt.Sprintf("%[1]s = CASE WHEN $%[2]d::boolean THEN EXCLUDED.%[1]s ELSE COALESCE(%[3]s.%[1]s, EXCLUDED.%[1]s) END",
					col, n, quoteIdent(t.name))
			}
		}
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		quoteIdent(t.name), strings.Join(cols, ", "), strings.Join(vals, ", "), conflict, strings.Join(sets, ", "))
}

// upsertRows writes encoded rows with sql (upsertSQL's) as one write
// (sendWrite), in byte order of id (the canonical lock order, see
// concurrency.go), the extras synced after the rows. tail, when set,
// returns the parameters sql takes after the columns of row i; pre, when
// set, runs first.
func (b *Backend) upsertRows(ctx context.Context, s scope, ids []string, rows []encoded, sql string, tail func(i int) []any,
	pre func(ctx context.Context, tx pgx.Tx) error) error {
	ord := byteOrder(ids)
	extras := make([][]byte, len(rows))
	for i := range rows {
		extras[i] = rows[i].extra
	}
	return b.sendWrite(ctx, len(ord), pre, func(batch *pgx.Batch, lo, hi int) {
		for _, i := range ord[lo:hi] {
			args := []any{ids[i], s.ws}
			if s.t.nsCol {
				args = append(args, s.ns)
			}
			args = append(args, rows[i].vals...)
			if !s.t.side() {
				if x := rows[i].extra; x != nil {
					args = append(args, x)
				} else {
					args = append(args, nil) // the columns are the record
				}
			}
			if tail != nil {
				args = append(args, tail(i)...)
			}
			batch.Queue(sql, args...)
		}
		if hi == len(ord) {
			if xsql, xargs, ok := syncExtrasArgs(s.t, s.ws, ids, extras); ok {
				batch.Queue(xsql, xargs...)
			}
		}
	})
}

// sendWrite sends a write of n items as one transaction, retried by
// retryWrite: queue queues items [lo, hi) of it into a batch (the last
// batch has hi == n). A write that fits one batch and needs no pre goes as
// one pipeline without BEGIN and COMMIT: PostgreSQL runs the statements
// before the pipeline's Sync as one implicit transaction (all or nothing),
// so it takes one round trip instead of four. A larger one, or one with
// pre (run first), goes as BEGIN, pre, batches of writeBatch, COMMIT.
func (b *Backend) sendWrite(ctx context.Context, n int, pre func(ctx context.Context, tx pgx.Tx) error,
	queue func(batch *pgx.Batch, lo, hi int)) error {
	if pre == nil && n <= writeBatch {
		return retryWrite(ctx, func() error {
			batch := &pgx.Batch{}
			queue(batch, 0, n)
			return b.pool.SendBatch(ctx, batch).Close()
		})
	}
	return b.writeTx(ctx, func(tx pgx.Tx) error {
		if pre != nil {
			if err := pre(ctx, tx); err != nil {
				return err
			}
		}
		for lo := 0; lo < n; lo += writeBatch {
			batch := &pgx.Batch{}
			queue(batch, lo, min(lo+writeBatch, n))
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (k *kvStore) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	return k.b.mapError(k.op("delete from"), k.b.deleteIDs(ctx, k.s, ids))
}

// deleteIDs deletes the rows of ids from s's table, and their extras, as
// one transaction: it first locks the rows one by one in the canonical
// order (concurrency.go), then deletes them. Every statement finds its rows
// by (workspace, id) equality, so its plan is an index lookup per id even
// on a table without statistics yet. (A lock subquery ordered by id
// COLLATE "C" let the planner, which assumes a workspace matches 0.5% of
// the rows until ANALYZE, scan the whole workspace once per row: 14 ms per
// delete at 250 rows during a first ingest, growing with the table.) Up to
// writeBatch ids go as one pipeline, one round trip.
func (b *Backend) deleteIDs(ctx context.Context, s scope, ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	where, args := s.where()
	n := len(args) + 1
	lock := fmt.Sprintf("SELECT 1 FROM %s WHERE %s AND id = $%d FOR UPDATE", quoteIdent(s.t.name), where, n)
	del := withExtrasDeleted(s.t, fmt.Sprintf("DELETE FROM %s WHERE %s AND id = ANY($%d)", quoteIdent(s.t.name), where, n))
	with := func(v any) []any { return append(slices.Clip(args), v) }
	return b.sendWrite(ctx, len(ids), nil, func(batch *pgx.Batch, lo, hi int) {
		part := ids[lo:hi]
		for _, id := range part {
			batch.Queue(lock, with(id)...)
		}
		batch.Queue(del, with(part)...)
	})
}

func (k *kvStore) Count(ctx context.Context) (int64, error) {
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	where, args := k.s.where()
	var n int64
	err := k.b.pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", quoteIdent(k.s.t.name), where), args...).Scan(&n)
	return n, k.b.mapError(k.op("count"), err)
}

func (k *kvStore) Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error) {
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	where, args := k.s.where()
	args = append(args, after, limitArg(limit))
	recs, err := k.queryRecords(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND id COLLATE "C" > $%d ORDER BY id COLLATE "C" LIMIT $%d`,
		selectList(k.s.t), quoteIdent(k.s.t.name), where, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, k.b.mapError(k.op("scan"), err)
	}
	if recs == nil {
		recs = []adapters.KVRecord{}
	}
	return recs, nil
}

// limitArg turns "no limit" (<= 0) into NULL, which LIMIT takes as ALL.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return int64(limit)
}

func (k *kvStore) Drop(ctx context.Context) error {
	ctx, cancel := k.b.ctx(ctx)
	defer cancel()
	where, args := k.s.where()
	_, err := k.b.pool.Exec(ctx, withExtrasDeleted(k.s.t, fmt.Sprintf("DELETE FROM %s WHERE %s", quoteIdent(k.s.t.name), where)), args...)
	return k.b.mapError(k.op("drop"), err)
}

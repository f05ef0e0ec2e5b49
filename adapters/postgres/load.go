package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgvector/pgvector-go"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Bulk loading (adapters.Loader): one batch is written with binary COPY into
// the tables and columns the stores use, in one transaction with the
// migration's checkpoint, so a crash leaves the batch and its checkpoint or
// neither.
//
// The fast path COPYs straight into the table. It is taken when no row of
// the batch's ids is stored: the namespace was empty when this backend first
// loaded into it, or a lookup of the batch's ids finds none. Otherwise (and,
// in a new transaction, when the direct COPY meets a duplicate key anyway,
// e.g. the same batch loaded twice) the batch is COPYed into a temporary
// staging table and merged with INSERT ... ON CONFLICT DO UPDATE, which
// replaces the rows.
//
// A vector table the load creates gets no ANN index, and the ANN index of an
// existing vector table without any row is dropped; FinishLoad builds it
// (HNSW over a loaded table is much faster than row by row) and ANALYZEs.

var (
	_ adapters.Loader          = (*Backend)(nil)
	_ adapters.StoredKVScanner = (*Backend)(nil)
)

// checkpointTable holds the migration jobs' checkpoints, one row per job
// key, with the workspace the job loads into.
const (
	checkpointTable = "hybridrag_migration_checkpoints"
	checkpointDDL   = `CREATE TABLE IF NOT EXISTS hybridrag_migration_checkpoints (
key TEXT PRIMARY KEY,
workspace VARCHAR(255) NOT NULL,
state BYTEA NOT NULL,
updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`
	saveCheckpointSQL = `INSERT INTO hybridrag_migration_checkpoints (key, workspace, state, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (key) DO UPDATE SET workspace = EXCLUDED.workspace, state = EXCLUDED.state, updated_at = now()`
)

// Load and index-build time bounds: a batch moves far more data than one
// request, an HNSW build over a large table takes minutes.
const (
	loadTimeoutFactor = 10
	finishLoadTimeout = time.Hour
	// annBuildMemory is the maintenance_work_mem of a deferred ANN build.
	annBuildMemory = "512MB"
)

// loadState is the backend's bookkeeping of bulk loads.
type loadState struct {
	mu sync.Mutex
	// fresh: per table+workspace+namespace, whether the namespace had no
	// rows when this backend first loaded into it.
	fresh map[string]bool
	// prepared: tables whose indexes were dropped if empty (prepareTable).
	prepared map[string]bool
	// online: tables loaded while they take writes (a live migration):
	// their indexes are built without blocking writes (CONCURRENTLY).
	online map[string]bool
	// vindexes: the index DDL of the vector tables prepared for loading.
	vindexes map[string][]string
	// vns: the table of each vector namespace loaded into.
	vns map[string]table
	// cpTable: the checkpoint table is known to exist.
	cpTable bool
	// direct and merged count the row sets written by each path (tests,
	// benchmarks).
	direct, merged atomic.Int64
}

func freshKey(tableName, ws, ns string) string { return tableName + "\x00" + ws + "\x00" + ns }

// copySpec is one table's part of a batch: the COPY columns, the key that a
// replaced row conflicts on, and how to tell whether any row already exists.
type copySpec struct {
	table     string
	cols      []string // unquoted; pgx quotes them
	keys      []string // conflict target
	rows      *rowCache
	scope     string // WHERE clause selecting the namespace's rows ($1, $2)
	args      []any  // its arguments
	fresh     string // loadState.fresh key
	anyStored func(ctx context.Context, tx pgx.Tx) (bool, error)
	// extras, when set, stores the rows' extras in the side table once the
	// rows are written (LightRAG's tables, extras.go).
	extras func(ctx context.Context, tx pgx.Tx) error
}

// Load writes one batch in stored form; see adapters.Loader.
func (b *Backend) Load(ctx context.Context, batch adapters.Batch, cp adapters.Checkpoint) error {
	if err := b.ready(); err != nil {
		return err
	}
	if err := validateNS(batch.NS); err != nil {
		return err
	}
	if cp.Key != "" {
		if err := validateCheckpointKey(cp.Key); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, loadTimeoutFactor*b.cfg.QueryTimeout)
	defer cancel()
	op := fmt.Sprintf("load %s %s", batch.Kind, batch.NS)
	ws := b.workspace(batch.NS)
	var specs []copySpec
	var pre func(ctx context.Context, tx pgx.Tx) error // graph: endpoint nodes
	var err error
	switch batch.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		specs, err = b.kvSpecs(batch, ws)
	case adapters.KindVector:
		specs, err = b.vectorSpecs(ctx, batch, ws)
	case adapters.KindGraph:
		specs, pre, err = b.graphSpecs(batch, ws)
	default:
		return adapters.Errorf(adapters.ErrInvalid, "invalid_kind", "use kv, doc_status, vector or graph",
			"load %s: unknown kind %q", batch.NS, batch.Kind)
	}
	if err != nil {
		return b.mapError(op, err)
	}
	defer func() {
		for i := range specs {
			specs[i].rows.close()
		}
	}()
	for i := range specs {
		specs[i].rows.start()
	}
	for i := range specs {
		if specs[i].rows.n > 0 && !batch.KeepIndexes {
			if err := b.prepareTable(ctx, specs[i].table, batch.Online, ws); err != nil {
				return b.mapError(op, err)
			}
		}
	}
	if cp.Key != "" {
		if err := b.ensureCheckpointTable(ctx); err != nil {
			return b.mapError(op, err)
		}
	}
	write := func(merge bool) error {
		return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			for i := range specs {
				if i == 1 && pre != nil { // edges after nodes, their endpoints before them
					if err := pre(ctx, tx); err != nil {
						return err
					}
				}
				if err := b.writeRows(ctx, tx, &specs[i], i, merge); err != nil {
					return err
				}
			}
			if cp.Key == "" {
				return nil
			}
			state := cp.State
			if state == nil {
				state = []byte{}
			}
			_, err := tx.Exec(ctx, saveCheckpointSQL, cp.Key, ws, state)
			return err
		})
	}
	err = write(false)
	if errors.Is(err, errRowsStored) {
		// A direct COPY met a stored row (a batch loaded twice, a
		// concurrent writer): the transaction is rolled back, and the
		// batch written again, merging.
		err = write(true)
	}
	return b.mapError(op, err)
}

// errRowsStored: a direct COPY met a duplicate key.
var errRowsStored = errors.New("rows of the batch are stored")

func validateCheckpointKey(key string) error { return adapters.ValidateName("checkpoint", key) }

// writeRows writes one spec's rows: COPY into the table when none of them
// is stored (not when merge is set), else COPY into a staging table and
// merge. A direct COPY that meets a stored row returns errRowsStored, and
// Load writes the batch again with merge set (no savepoint per batch: it
// costs round trips on the common path).
func (b *Backend) writeRows(ctx context.Context, tx pgx.Tx, s *copySpec, n int, merge bool) error {
	if s.rows.n == 0 {
		return nil
	}
	direct := false
	if !merge {
		var err error
		if direct, err = b.isFresh(ctx, tx, s); err != nil {
			return err
		}
		if !direct {
			found, err := s.anyStored(ctx, tx)
			if err != nil {
				return err
			}
			direct = !found
		}
	}
	if direct {
		rd := s.rows.reader()
		_, err := tx.CopyFrom(ctx, pgx.Identifier{s.table}, s.cols, rd)
		if rd.Err() != nil {
			return rd.Err() // the record's error, not the COPY's "canceled"
		}
		if err == nil {
			b.load.direct.Add(1)
			return s.syncExtras(ctx, tx)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			return err
		}
		// Rows are being replaced: look the ids up from now on rather
		// than COPY in vain again.
		b.load.mu.Lock()
		b.load.fresh[s.fresh] = false
		b.load.mu.Unlock()
		return errRowsStored
	}
	b.load.merged.Add(1)
	if err := mergeRows(ctx, tx, s, n); err != nil {
		return err
	}
	return s.syncExtras(ctx, tx)
}

func (s *copySpec) syncExtras(ctx context.Context, tx pgx.Tx) error {
	if s.extras == nil {
		return nil
	}
	return s.extras(ctx, tx)
}

// isFresh reports whether the namespace had no rows when this backend first
// loaded into it (checking once).
func (b *Backend) isFresh(ctx context.Context, tx pgx.Tx, s *copySpec) (bool, error) {
	b.load.mu.Lock()
	fresh, known := b.load.fresh[s.fresh]
	b.load.mu.Unlock()
	if known {
		return fresh, nil
	}
	var has bool
	if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s)", quoteIdent(s.table), s.scope),
		s.args...).Scan(&has); err != nil {
		return false, err
	}
	b.load.mu.Lock()
	if b.load.fresh == nil {
		b.load.fresh = map[string]bool{}
	}
	b.load.fresh[s.fresh] = !has
	b.load.mu.Unlock()
	return !has, nil
}

// mergeRows COPYs into a temporary table dropped at commit, then upserts
// from it, replacing every column the load writes.
func mergeRows(ctx context.Context, tx pgx.Tx, s *copySpec, n int) error {
	stage := "hybridrag_load_stage_" + strconv.Itoa(n)
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMPORARY TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP",
		quoteIdent(stage), quoteIdent(s.table))); err != nil {
		return err
	}
	rd := s.rows.reader()
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, s.cols, rd); err != nil {
		if rd.Err() != nil {
			return rd.Err()
		}
		return err
	}
	key := map[string]bool{}
	for _, k := range s.keys {
		key[k] = true
	}
	cols := make([]string, len(s.cols))
	var sets []string
	for i, c := range s.cols {
		cols[i] = quoteIdent(c)
		if !key[c] {
			sets = append(sets, cols[i]+" = EXCLUDED."+cols[i])
		}
	}
	keys := make([]string, len(s.keys))
	for i, k := range s.keys {
		keys[i] = quoteIdent(k)
	}
	list := strings.Join(cols, ", ")
	_, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO UPDATE SET %s",
		quoteIdent(s.table), list, list, quoteIdent(stage), strings.Join(keys, ", "), strings.Join(sets, ", ")))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "DROP TABLE "+quoteIdent(stage))
	return err
}

// rowColumns are the COPY columns of a table in the order rowValues fills
// them; vectors adds content_vector, create_time and update_time.
func rowColumns(t table, vectors bool) []string {
	cols := []string{"id", "workspace"}
	if t.nsCol {
		cols = append(cols, "namespace")
	}
	for _, c := range t.cols {
		cols = append(cols, c.name)
	}
	if !t.side() {
		cols = append(cols, t.extra)
	}
	if vectors {
		cols = append(cols, "content_vector", "create_time", "update_time")
	}
	return cols
}

// rowEncoder encodes the records of one scope into rows of
// rowColumns(t, vectors); the workspace (and namespace) values are boxed
// once.
type rowEncoder struct {
	t    table
	head []any
}

func newRowEncoder(sc scope) rowEncoder {
	head := []any{nil, sc.ws}
	if sc.t.nsCol {
		head = append(head, sc.ns)
	}
	return rowEncoder{t: sc.t, head: head}
}

// encode encodes rec into a row, more being the vector columns' values.
// For a LightRAG table the extra ([]byte, or nil) follows the COPY columns,
// for the side table (sideExtras).
func (r rowEncoder) encode(e *encoder, id string, rec []byte, more ...any) ([]any, error) {
	row := e.row(len(r.head) + len(r.t.cols) + 1 + len(more))
	copy(row, r.head)
	row[0] = id
	k := len(r.head)
	extra, err := r.t.encodeTo(e, id, rec, row[k:k+len(r.t.cols)])
	if err != nil {
		return nil, err
	}
	k += len(r.t.cols)
	if r.t.side() {
		copy(row[k:], more)
		if extra != nil {
			row[len(row)-1] = extra
		}
		return row, nil
	}
	if extra != nil { // else NULL
		row[k] = extra
	}
	copy(row[k+1:], more)
	return row, nil
}

// sideExtras stores the extras of a LightRAG table's rows (the values after
// the COPY columns) in the side table.
func sideExtras(sc scope, rows *rowCache, ids []string) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		extras := make([][]byte, len(ids))
		for i := range ids {
			if x, ok := rows.rows[i][len(rows.rows[i])-1].([]byte); ok {
				extras[i] = x
			}
		}
		return syncExtras(ctx, tx, sc.t, sc.ws, ids, extras)
	}
}

func keyColumns(t table) []string {
	if t.nsCol {
		return []string{"workspace", "namespace", "id"}
	}
	return []string{"workspace", "id"}
}

// idSpec fills the parts of a spec common to the id-keyed tables.
func idSpec(sc scope, cols []string, rows *rowCache, ids []string) copySpec {
	where, args := sc.where()
	idArgs := append(append([]any{}, args...), ids)
	var extras func(ctx context.Context, tx pgx.Tx) error
	if sc.t.side() {
		rows.width = len(cols)
		extras = sideExtras(sc, rows, ids)
	}
	return copySpec{
		table: sc.t.name, cols: cols, keys: keyColumns(sc.t), rows: rows, extras: extras,
		scope: where, args: args, fresh: freshKey(sc.t.name, sc.ws, sc.ns),
		anyStored: func(ctx context.Context, tx pgx.Tx) (bool, error) {
			var has bool
			err := tx.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s AND id = ANY($%d))",
				quoteIdent(sc.t.name), where, len(idArgs)), idArgs...).Scan(&has)
			return has, err
		},
	}
}

func emptyID(ns adapters.Namespace, what string) error {
	return adapters.Errorf(adapters.ErrInvalid, "invalid_id", "give every record a non-empty id", "a %s in %s has an empty id", what, ns)
}

// kvSpecs encodes KV or doc-status records as stored (no stamping).
func (b *Backend) kvSpecs(batch adapters.Batch, ws string) ([]copySpec, error) {
	t := kvTableFor(batch.NS.Name)
	if batch.Kind == adapters.KindDocStatus {
		t = docStatusTableFor(batch.NS.Name)
	}
	sc := scope{t: t, ws: ws, ns: batch.NS.Name, name: batch.NS.String()}
	records := dedupe(batch.KV)
	cols := rowColumns(t, false)
	ids := make([]string, len(records))
	for i, r := range records {
		if r.ID == "" {
			return nil, emptyID(batch.NS, "record")
		}
		ids[i] = r.ID
	}
	re := newRowEncoder(sc)
	rows := newRowCache(len(records), func(e *encoder, i int) ([]any, error) {
		return re.encode(e, records[i].ID, records[i].Data)
	})
	return []copySpec{idSpec(sc, cols, rows, ids)}, nil
}

// vectorSpecs finds (or creates, index deferred) the namespace's table and
// encodes the records with their vector and created_at.
func (b *Backend) vectorSpecs(ctx context.Context, batch adapters.Batch, ws string) ([]copySpec, error) {
	records := dedupeVectors(batch.Vectors)
	if len(records) == 0 {
		return nil, nil
	}
	for _, r := range records {
		if r.ID == "" {
			return nil, emptyID(batch.NS, "vector")
		}
		if len(r.Vector) == 0 {
			return nil, adapters.Errorf(adapters.ErrInvalid, "missing_vector", "send the record's embedding",
				"vector record %q in %s has no vector", r.ID, batch.NS)
		}
	}
	t, err := b.loadVectorTable(ctx, batch.NS, ws, len(records[0].Vector))
	if err != nil {
		return nil, err
	}
	sc := scope{t: t, ws: ws, ns: batch.NS.Name, name: batch.NS.String()}
	cols := rowColumns(t, true)
	ids := make([]string, len(records))
	for i, r := range records {
		if len(r.Vector) != t.dim {
			return nil, adapters.DimensionError(batch.NS, t.dim, len(r.Vector))
		}
		ids[i] = r.ID
	}
	re := newRowEncoder(sc)
	rows := newRowCache(len(records), func(e *encoder, i int) ([]any, error) {
		r := records[i]
		fields := r.Fields
		if len(fields) == 0 {
			fields = adapters.Record("{}")
		}
		fields = withCreatedAtRaw(fields, r.CreatedAtRaw)
		created := time.Unix(r.CreatedAt, 0).UTC()
		return re.encode(e, r.ID, fields, pgvector.NewVector(r.Vector), created, created)
	})
	return []copySpec{idSpec(sc, cols, rows, ids)}, nil
}

// loadVectorTable returns the table of a vector namespace for a load of
// dim-dimensional vectors: the one holding its rows (the dimension must
// match), else the table for dim, created without its ANN index.
func (b *Backend) loadVectorTable(ctx context.Context, ns adapters.Namespace, ws string, dim int) (table, error) {
	key := freshKey("", ws, ns.Name)
	b.load.mu.Lock()
	t, ok := b.load.vns[key]
	b.load.mu.Unlock()
	if ok {
		if t.dim != dim {
			return table{}, adapters.DimensionError(ns, t.dim, dim)
		}
		return t, nil
	}
	v := &vectorStore{b: b, base: vectorBaseFor(ns.Name), ws: ws, ns: ns.Name, nsID: ns}
	t, err := v.find(ctx)
	if err != nil {
		return table{}, err
	}
	if t.name != "" && t.dim != dim {
		return table{}, adapters.DimensionError(ns, t.dim, dim)
	}
	if t.name == "" {
		name, err := vectorTableName(v.base, b.cfg.VectorTableNaming, b.cfg.EmbeddingModel, dim)
		if err != nil {
			return table{}, err
		}
		t = v.base.table(name, dim)
	}
	got, err := b.prepareVectorTable(ctx, t)
	if err != nil {
		return table{}, err
	}
	if got != dim {
		// A legacy (unsuffixed) table fixes one dimension for everyone.
		return table{}, adapters.DimensionError(ns, got, dim)
	}
	b.load.mu.Lock()
	if b.load.vns == nil {
		b.load.vns = map[string]table{}
	}
	b.load.vns[key] = t
	b.load.mu.Unlock()
	return t, nil
}

// prepareVectorTable runs a vector table's DDL for a bulk load (the table
// without its ANN index when it is new), once per process and table, under
// the schema lock, and records the table's indexes for prepareTable. It
// returns the column's dimension.
func (b *Backend) prepareVectorTable(ctx context.Context, t table) (int, error) {
	b.load.mu.Lock()
	_, done := b.load.vindexes[t.name]
	b.load.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.vtables[t.name]; ok && done {
		return d, nil
	}
	var dim int32
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLockSQL); err != nil {
			return err
		}
		if err := execDDL(ctx, tx, tableDDL(t)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'content_vector'`,
			quoteIdent(t.name)).Scan(&dim)
	})
	if err != nil {
		return 0, err
	}
	b.vtables[t.name] = int(dim)
	ddl, _ := vectorDDL(t)
	b.load.mu.Lock()
	if b.load.vindexes == nil {
		b.load.vindexes = map[string][]string{}
	}
	b.load.vindexes[t.name] = indexDDL(t.name, ddl)
	b.load.mu.Unlock()
	return int(dim), nil
}

// indexDDL returns the CREATE INDEX statements of table name among ddl.
func indexDDL(name string, ddl []string) []string {
	var out []string
	for _, q := range ddl {
		if strings.HasPrefix(q, "CREATE INDEX") && (strings.Contains(q, " ON "+quoteIdent(name)+" ") || strings.Contains(q, " ON "+name+" ")) {
			out = append(out, q)
		}
	}
	return out
}

// indexNameOf is the (quoted) index name of "CREATE INDEX IF NOT EXISTS
// <name> ON ...".
func indexNameOf(q string) string {
	if f := strings.Fields(q); len(f) > 5 {
		return f[5]
	}
	return ""
}

func isANNIndex(q string) bool {
	return strings.Contains(q, "USING hnsw") || strings.Contains(q, "USING ivfflat")
}

// tableIndexes are the secondary indexes the schema gives a table: currentDDL's
// for the KV, doc-status and graph tables, vectorDDL's for a vector table
// (recorded by prepareVectorTable).
func (b *Backend) tableIndexes(name string) []string {
	b.load.mu.Lock()
	q, ok := b.load.vindexes[name]
	b.load.mu.Unlock()
	if ok {
		return q
	}
	return indexDDL(name, currentDDL())
}

// prepareTable runs once per process and table before the first load into
// it: when the table holds no row at all (of any workspace), its secondary
// indexes are dropped, under the schema lock, so the load does not maintain
// them row by row; FinishLoad builds them again. The primary key stays.
func (b *Backend) prepareTable(ctx context.Context, name string, online bool, ws string) error {
	b.load.mu.Lock()
	done := b.load.prepared[name]
	if online {
		if b.load.online == nil {
			b.load.online = map[string]bool{}
		}
		b.load.online[name] = true
	}
	b.load.mu.Unlock()
	if done {
		return nil
	}
	var names []string
	for _, q := range b.tableIndexes(name) {
		if n := indexNameOf(q); n != "" {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, schemaLockSQL); err != nil {
				return err
			}
			// An online load (a live migration) drops them too when the
			// table holds only its own workspace's rows (written by the
			// migration's dual writes): its builds are concurrent.
			q, args := fmt.Sprintf("SELECT NOT EXISTS (SELECT 1 FROM %s)", quoteIdent(name)), []any{}
			if online {
				q, args = fmt.Sprintf("SELECT NOT EXISTS (SELECT 1 FROM %s WHERE workspace <> $1)", quoteIdent(name)), []any{ws}
			}
			var empty bool
			if err := tx.QueryRow(ctx, q, args...).Scan(&empty); err != nil || !empty {
				return err
			}
			_, err := tx.Exec(ctx, "DROP INDEX IF EXISTS "+strings.Join(names, ", "))
			return err
		})
		if err != nil {
			return err
		}
	}
	b.load.mu.Lock()
	if b.load.prepared == nil {
		b.load.prepared = map[string]bool{}
	}
	b.load.prepared[name] = true
	b.load.mu.Unlock()
	return nil
}

// buildIndexes creates the indexes among ddl that do not exist, the ANN
// index only when the table has no ANN index at all (LightRAG's counts).
func (b *Backend) buildIndexes(ctx context.Context, name string, ddl []string) error {
	for _, q := range ddl {
		if isANNIndex(q) {
			var has bool
			if err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = to_regclass($1) AND a.amname IN ('hnsw', 'ivfflat') AND i.indisvalid)`,
				quoteIdent(name)).Scan(&has); err != nil {
				return err
			}
			if has {
				continue
			}
		} else {
			var valid bool
			if err := b.pool.QueryRow(ctx, indexValidSQL, indexNameOf(q)).Scan(&valid); err != nil {
				return err
			}
			if valid {
				continue
			}
		}
		start := time.Now()
		b.load.mu.Lock()
		online := b.load.online[name]
		b.load.mu.Unlock()
		var err error
		if online {
			err = b.buildConcurrently(ctx, q)
		} else {
			err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
				// A live write may be creating this index right now
				// (execDDL): wait for it, then IF NOT EXISTS skips.
				if _, err := tx.Exec(ctx, indexLockXactSQL, indexNameOf(q)); err != nil {
					return err
				}
				if isANNIndex(q) {
					// pgvector builds an HNSW graph far faster while it fits in
					// maintenance_work_mem; raise it (never lower) for this
					// transaction.
					if _, err := tx.Exec(ctx, `SELECT set_config('maintenance_work_mem', $1, true)
WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes($1)`, annBuildMemory); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, q)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
		b.log.Info("built an index a bulk load deferred", logKeyTable, name, "index", indexNameOf(q),
			"seconds", time.Since(start).Seconds())
	}
	return nil
}

// graphSpecs encodes nodes and edges (properties replaced whole); pre
// creates the edges' endpoints that are not stored, with no properties.
func (b *Backend) graphSpecs(batch adapters.Batch, ws string) ([]copySpec, func(context.Context, pgx.Tx) error, error) {
	ns, name := batch.NS.Name, batch.NS.String()
	now := time.Now().UTC()
	where, args := "workspace = $1 AND namespace = $2", []any{ws, ns}
	last := make(map[string]int, len(batch.Nodes))
	for i, n := range batch.Nodes {
		if n.ID == "" {
			return nil, nil, emptyID(batch.NS, "node")
		}
		last[n.ID] = i
	}
	// The properties are encoded by the row caches' workers.
	var nodeAt []int
	var nodeIDs []string
	for i, n := range batch.Nodes {
		if last[n.ID] != i {
			continue
		}
		nodeAt = append(nodeAt, i)
		nodeIDs = append(nodeIDs, n.ID)
	}
	nodeRows := newRowCache(len(nodeAt), func(_ *encoder, k int) ([]any, error) {
		n := batch.Nodes[nodeAt[k]]
		p, x, err := encodeProps(name, fmt.Sprintf("node %q", n.ID), n.Props)
		if err != nil {
			return nil, err
		}
		return []any{ws, ns, n.ID, p, now, x}, nil
	})
	nodeArgs := []any{ws, ns, nodeIDs}
	nodes := copySpec{
		table: graphNodes, cols: []string{"workspace", "namespace", "id", "properties", "updated_at", "hybridrag_extra"},
		keys: []string{"workspace", "namespace", "id"}, rows: nodeRows,
		scope: where, args: args, fresh: freshKey(graphNodes, ws, ns),
		anyStored: func(ctx context.Context, tx pgx.Tx) (bool, error) {
			var has bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lightrag_graph_nodes WHERE workspace = $1 AND namespace = $2 AND id = ANY($3))`,
				nodeArgs...).Scan(&has)
			return has, err
		},
	}

	lastEdge := make(map[pairKey]int, len(batch.Edges))
	for i, e := range batch.Edges {
		if e.Src == "" || e.Tgt == "" {
			return nil, nil, emptyID(batch.NS, "edge endpoint")
		}
		a, c := canonical(e.Src, e.Tgt)
		lastEdge[pairKey{a, c}] = i
	}
	var edgeAt []int
	var srcs, tgts []string
	inBatch := toSet(nodeIDs)
	ends := map[string]bool{}
	for i, e := range batch.Edges {
		a, c := canonical(e.Src, e.Tgt)
		if lastEdge[pairKey{a, c}] != i {
			continue
		}
		edgeAt = append(edgeAt, i)
		srcs, tgts = append(srcs, a), append(tgts, c)
		for _, id := range []string{a, c} {
			if !inBatch[id] {
				ends[id] = true
			}
		}
	}
	edgeRows := newRowCache(len(edgeAt), func(_ *encoder, k int) ([]any, error) {
		e := batch.Edges[edgeAt[k]]
		p, x, err := encodeProps(name, fmt.Sprintf("edge %q-%q", e.Src, e.Tgt), e.Props)
		if err != nil {
			return nil, err
		}
		return []any{ws, ns, srcs[k], tgts[k], p, now, x}, nil
	})
	endIDs := make([]string, 0, len(ends))
	for id := range ends {
		endIDs = append(endIDs, id)
	}
	sort.Strings(endIDs) // a stable lock order between concurrent writers
	edges := copySpec{
		table: graphEdges, cols: []string{"workspace", "namespace", "src_id", "tgt_id", "properties", "updated_at", "hybridrag_extra"},
		keys: []string{"workspace", "namespace", "src_id", "tgt_id"}, rows: edgeRows,
		scope: where, args: args, fresh: freshKey(graphEdges, ws, ns),
		anyStored: func(ctx context.Context, tx pgx.Tx) (bool, error) {
			var has bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lightrag_graph_edges e JOIN unnest($3::text[], $4::text[]) AS u(s, t)
ON e.src_id = u.s AND e.tgt_id = u.t WHERE e.workspace = $1 AND e.namespace = $2)`, ws, ns, srcs, tgts).Scan(&has)
			return has, err
		},
	}
	pre := func(ctx context.Context, tx pgx.Tx) error {
		if len(endIDs) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO lightrag_graph_nodes (workspace, namespace, id)
SELECT $1, $2, u.id FROM unnest($3::text[]) AS u(id) ON CONFLICT DO NOTHING`, ws, ns, endIDs)
		return err
	}
	return []copySpec{nodes, edges}, pre, nil
}

// ensureCheckpointTable creates the checkpoint table once per process.
func (b *Backend) ensureCheckpointTable(ctx context.Context) error {
	b.load.mu.Lock()
	done := b.load.cpTable
	b.load.mu.Unlock()
	if done {
		return nil
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLockSQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, checkpointDDL)
		return err
	})
	if err != nil {
		return err
	}
	b.load.mu.Lock()
	b.load.cpTable = true
	b.load.mu.Unlock()
	return nil
}

func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// LoadedCheckpoint returns the state saved under key (nil, nil if none).
func (b *Backend) LoadedCheckpoint(ctx context.Context, key string) ([]byte, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validateCheckpointKey(key); err != nil {
		return nil, err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	var state []byte
	err := b.pool.QueryRow(ctx, `SELECT state FROM hybridrag_migration_checkpoints WHERE key = $1`, key).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) || isUndefinedTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, b.mapError("read checkpoint "+key, err)
	}
	if state == nil {
		state = []byte{}
	}
	return state, nil
}

// DeleteCheckpoint forgets key.
func (b *Backend) DeleteCheckpoint(ctx context.Context, key string) error {
	if err := b.ready(); err != nil {
		return err
	}
	if err := validateCheckpointKey(key); err != nil {
		return err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	_, err := b.pool.Exec(ctx, `DELETE FROM hybridrag_migration_checkpoints WHERE key = $1`, key)
	if isUndefinedTable(err) {
		return nil
	}
	return b.mapError("delete checkpoint "+key, err)
}

// FinishLoad builds the indexes a load deferred (every index the schema
// gives the namespace's tables that is missing, so a load resumed by a later
// process is covered too; the ANN index only when the table has no hnsw or
// ivfflat index) and ANALYZEs the tables.
// indexValidSQL reports whether the index named $1 exists and is valid (a
// concurrent build cut short leaves an invalid one).
const indexValidSQL = `SELECT COALESCE((SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)), false)`

// buildConcurrently builds one index with CREATE INDEX CONCURRENTLY, which
// lets writes go on (it cannot run in a transaction), on one connection
// whose maintenance_work_mem it raises for the build.
func (b *Backend) buildConcurrently(ctx context.Context, q string) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if isANNIndex(q) {
		if _, err := conn.Exec(ctx, `SELECT set_config('maintenance_work_mem', $1, false)
WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes($1)`, annBuildMemory); err != nil {
			return err
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "RESET maintenance_work_mem") }()
	}
	// A proxy killed during this build leaves its session building on in
	// PostgreSQL: wait for it (it holds this lock), then take over what
	// it left: nothing to do when its index is valid, a rebuild when the
	// build was cut short (an invalid index of that name).
	name := indexNameOf(q)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, name); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, name) }()
	var exists, valid bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, `+strings.TrimPrefix(indexValidSQL, "SELECT "), name).Scan(&exists, &valid); err != nil {
		return err
	}
	switch {
	case valid:
		return nil
	case exists:
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, strings.Replace(q, "CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))
	if err != nil {
		// A failed concurrent build leaves an invalid index behind, which
		// the next FinishLoad would take for a built one.
		if name != "" {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP INDEX IF EXISTS "+name)
		}
	}
	return err
}

func (b *Backend) FinishLoad(ctx context.Context, ns adapters.Namespace, kind adapters.Kind) error {
	if err := b.ready(); err != nil {
		return err
	}
	if err := validateNS(ns); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, finishLoadTimeout)
	defer cancel()
	op := fmt.Sprintf("finish loading %s %s", kind, ns)
	var tables []string
	indexes := map[string][]string{}
	switch kind {
	case adapters.KindKV:
		tables = []string{kvTableFor(ns.Name).name}
	case adapters.KindDocStatus:
		tables = []string{docStatusTableFor(ns.Name).name}
	case adapters.KindGraph:
		tables = []string{graphNodes, graphEdges}
	case adapters.KindVector:
		v := &vectorStore{b: b, base: vectorBaseFor(ns.Name), ws: b.workspace(ns), ns: ns.Name, nsID: ns}
		t, err := v.find(ctx)
		if err != nil {
			return b.mapError(op, err)
		}
		if t.name == "" {
			return nil // nothing loaded
		}
		ddl, _ := vectorDDL(t)
		tables, indexes[t.name] = []string{t.name}, indexDDL(t.name, ddl)
	default:
		return adapters.Errorf(adapters.ErrInvalid, "invalid_kind", "use kv, doc_status, vector or graph",
			"finish loading %s: unknown kind %q", ns, kind)
	}
	for _, name := range tables {
		ddl, ok := indexes[name]
		if !ok {
			ddl = indexDDL(name, currentDDL())
		}
		if err := b.buildIndexes(ctx, name, ddl); err != nil {
			return b.mapError(op, err)
		}
		if _, err := b.pool.Exec(ctx, "ANALYZE "+quoteIdent(name)); err != nil {
			return b.mapError(op, err)
		}
	}
	return nil
}

// GetStoredKV returns the stored records of the ids that exist, in id order.
func (b *Backend) GetStoredKV(ctx context.Context, ns adapters.Namespace, kind adapters.Kind, ids []string) ([]adapters.KVRecord, error) {
	k, err := b.storedKV(ns, kind)
	if err != nil {
		return nil, err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	m, err := k.stored(ctx, ids)
	if err != nil {
		return nil, b.mapError(k.op("read stored records of"), err)
	}
	out := make([]adapters.KVRecord, 0, len(m))
	for id, rec := range m {
		out = append(out, adapters.KVRecord{ID: id, Data: rec})
	}
	slices.SortFunc(out, func(a, b adapters.KVRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (b *Backend) storedKV(ns adapters.Namespace, kind adapters.Kind) (*kvStore, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	var t table
	switch kind {
	case adapters.KindKV:
		t = kvTableFor(ns.Name)
	case adapters.KindDocStatus:
		t = docStatusTableFor(ns.Name)
	default:
		return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_kind", "read kv or doc_status namespaces",
			"read stored records of %s: kind %q has no KV records", ns, kind)
	}
	return &kvStore{b: b, s: scope{t: t, ws: b.workspace(ns), ns: ns.Name, name: ns.String()}, doc: kind == adapters.KindDocStatus}, nil
}

// ScanStoredKV pages through KV or doc-status records in stored form.
func (b *Backend) ScanStoredKV(ctx context.Context, ns adapters.Namespace, kind adapters.Kind, after string, limit int) ([]adapters.KVRecord, error) {
	k, err := b.storedKV(ns, kind)
	if err != nil {
		return nil, err
	}
	t := k.s.t
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	where, args := k.s.where()
	args = append(args, after, limitArg(limit))
	recs, err := k.queryRecords(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND id COLLATE "C" > $%d ORDER BY id COLLATE "C" LIMIT $%d`,
		selectList(t), quoteIdent(t.name), where, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, b.mapError(k.op("scan stored records of"), err)
	}
	if recs == nil {
		recs = []adapters.KVRecord{}
	}
	return recs, nil
}

// Package postgres is the adapter that keeps a database in PostgreSQL with
// pgvector, in LightRAG's own table layout (postgres_impl.py's LIGHTRAG_*
// tables and PGTableGraphStorage's lightrag_graph_nodes/edges), so LightRAG's
// PG storages read what the proxy writes. What LightRAG's fixed columns do
// not hold lives in an extra document (codec.go), which makes a JSON ->
// PostgreSQL -> JSON round trip lossless: beside the rows of LightRAG's KV,
// doc-status and vector tables (extras.go), in a column of our own tables
// and of the graph tables.
package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Config configures one database's PostgreSQL backend.
type Config struct {
	DSN string
	// Workspace is LightRAG's workspace column for the namespaces' default
	// workspace ("" -> "default", as LightRAG does).
	Workspace string
	// VectorTableNaming is NamingSuffixed (LightRAG >= 1.4.9.10,
	// <BASE>_<model>_<dim>d, the default) or NamingLegacy (1.4.9.8, no suffix).
	VectorTableNaming string
	// EmbeddingModel names the model for the suffix; without it the bare
	// table name is used, as LightRAG does.
	EmbeddingModel string
	// QueryTimeout bounds every query (default 10s); a write of many rows
	// gets RowTimeout more per row (writeCtx).
	QueryTimeout time.Duration
	// RowTimeout is the time a write may take per row on top of
	// QueryTimeout (default 100ms: an HNSW-indexed 1536-d row takes about
	// 14ms on a busy machine), so a large but progressing write finishes
	// instead of answering 503 and being retried whole forever.
	RowTimeout time.Duration
	Logger     *slog.Logger
	// ReconnectInitial and ReconnectMax bound the jittered exponential
	// backoff of the reconnect loop (health.go); defaults 250ms and 5s.
	ReconnectInitial time.Duration
	ReconnectMax     time.Duration
}

// DefaultQueryTimeout is Config.QueryTimeout's default.
const DefaultQueryTimeout = 10 * time.Second

// DefaultRowTimeout is Config.RowTimeout's default.
const DefaultRowTimeout = 100 * time.Millisecond

func (c Config) withDefaults() Config {
	if c.Workspace == "" {
		c.Workspace = "default"
	}
	if c.VectorTableNaming == "" {
		c.VectorTableNaming = NamingSuffixed
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.RowTimeout <= 0 {
		c.RowTimeout = DefaultRowTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReconnectInitial <= 0 {
		c.ReconnectInitial = DefaultReconnectInitial
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	return c
}

// Validate checks the settings that need no connection.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.DSN == "" {
		return adapters.Errorf(adapters.ErrInvalid, "invalid_dsn", "set a connection string such as postgres://user:pass@host:5432/db",
			"the PostgreSQL connection string is empty")
	}
	if c.VectorTableNaming != NamingSuffixed && c.VectorTableNaming != NamingLegacy {
		return adapters.Errorf(adapters.ErrInvalid, "invalid_config", "use suffixed or legacy",
			"vector table naming %q is not known", c.VectorTableNaming)
	}
	if err := adapters.ValidateName("workspace", c.Workspace); err != nil {
		return err
	}
	return nil
}

// Backend is one database in PostgreSQL. Safe for concurrent use.
type Backend struct {
	cfg     Config
	pcfg    *pgxpool.Config
	log     *slog.Logger
	secrets []string

	// pool is set once, when the first connection and the schema succeed
	// (at Open, or later by the reconnect loop after OpenLazy); stores only
	// exist after ready() saw it, so their reads of it need no lock.
	pool   *pgxpool.Pool
	health health
	stop   context.CancelFunc
	loop   chan struct{} // closed when the reconnect loop ends

	mu sync.Mutex
	// vtables caches the vector tables known to exist (name -> dim) so their
	// DDL runs once per process.
	vtables map[string]int

	// load is the bookkeeping of bulk loads (load.go).
	load loadState

	// coord caches the shared maintenance flag (coord.go).
	coord coordState

	// ann caches what the server's pgvector offers vector queries.
	ann annCaps
}

var _ adapters.Backend = (*Backend)(nil)

// Log keys.
const (
	logKeyTable = "table"
	logKeyDim   = "dim"
)

// Open connects, creates or migrates the schema (idempotent, under an
// advisory lock) and returns the backend. It fails when PostgreSQL cannot be
// reached; OpenLazy does not.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := newBackend(cfg)
	if err != nil {
		return nil, err
	}
	if err := b.connect(ctx); err != nil {
		return nil, err
	}
	b.startLoop()
	return b, nil
}

// OpenLazy is Open for a server: when PostgreSQL is unreachable (down,
// refusing, rejecting the login) it still returns the backend, which answers
// ErrUnavailable while its reconnect loop retries in the background. Only a
// configuration that can never work (a bad DSN) is an error.
func OpenLazy(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := newBackend(cfg)
	if err != nil {
		return nil, err
	}
	cerr := b.connect(ctx)
	if cerr != nil && !errors.Is(cerr, adapters.ErrUnavailable) {
		return nil, cerr
	}
	b.startLoop()
	if cerr != nil {
		b.markDown(cerr)
		b.kick()
	}
	return b, nil
}

// newBackend checks the settings and parses the DSN; it does not connect.
func newBackend(cfg Config) (*Backend, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, &adapters.Error{Kind: adapters.ErrInvalid, Code: "invalid_dsn",
			Hint: "use a connection string such as postgres://user:pass@host:5432/db", Message: "parse the PostgreSQL connection string",
			Err: errors.New(redactParseError(err))}
	}
	b := &Backend{cfg: cfg, pcfg: pcfg, log: cfg.Logger, vtables: map[string]int{}}
	b.health.kicks = make(chan struct{}, 1)
	if pcfg.ConnConfig.Password != "" {
		b.secrets = append(b.secrets, pcfg.ConnConfig.Password)
	}
	// Naive-UTC timestamps: the session time zone is UTC so server-side
	// defaults (CURRENT_TIMESTAMP) are UTC too, as LightRAG assumes.
	pcfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > cfg.QueryTimeout {
		pcfg.ConnConfig.ConnectTimeout = cfg.QueryTimeout
	}
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		return pgxvec.RegisterTypes(ctx, c)
	}
	return b, nil
}

// connect creates or migrates the schema on one connection, then opens the
// pool. It does nothing once the pool exists.
func (b *Backend) connect(ctx context.Context) error {
	b.mu.Lock()
	done := b.pool != nil
	b.mu.Unlock()
	if done {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 3*b.cfg.QueryTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(sctx, b.pcfg.ConnConfig.Copy())
	if err != nil {
		return b.mapError("connect to PostgreSQL", err)
	}
	err = ensureSchema(sctx, conn)
	_ = conn.Close(context.WithoutCancel(sctx))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "0A000" || pgErr.Code == "58P01") {
			return &adapters.Error{Kind: adapters.ErrUnsupported, Code: "pgvector_missing",
				Hint:    "install the pgvector extension on the PostgreSQL server (package postgresql-<version>-pgvector)",
				Message: "create extension vector", Err: redactErr{err: err, secrets: b.secrets}}
		}
		return b.mapError("create the schema", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, b.pcfg)
	if err != nil {
		return b.mapError("open the connection pool", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pool != nil { // a concurrent connect won
		pool.Close()
		return nil
	}
	b.pool = pool
	return nil
}

// redactParseError keeps pgconn's parse error (which already hides the
// password) but never echoes more than its first line.
func redactParseError(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// ctx bounds one query by the configured timeout.
func (b *Backend) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.QueryTimeout)
}

// writeCtx bounds a write of rows rows: the query timeout plus RowTimeout
// per row, so the deadline follows the work. parent must not carry the
// shorter per-query deadline.
func (b *Backend) writeCtx(parent context.Context, rows int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, b.cfg.QueryTimeout+time.Duration(rows)*b.cfg.RowTimeout)
}

// workspace maps a namespace's workspace to LightRAG's workspace column.
func (b *Backend) workspace(ns adapters.Namespace) string {
	if ns.Workspace == "" {
		return b.cfg.Workspace
	}
	return ns.Workspace
}

func validateNS(ns adapters.Namespace) error {
	if err := adapters.ValidateName("workspace", ns.Workspace); err != nil {
		return err
	}
	return adapters.ValidateName("namespace", ns.Name)
}

// scope is the WHERE prefix and arguments that address one namespace in one
// workspace of a table.
type scope struct {
	t    table
	ws   string
	ns   string
	name string // the namespace, for messages
}

// where returns "workspace=$1 [AND namespace=$2]" and its args; the next
// free placeholder is len(args)+1.
func (s scope) where() (string, []any) {
	if s.t.nsCol {
		return "workspace = $1 AND namespace = $2", []any{s.ws, s.ns}
	}
	return "workspace = $1", []any{s.ws}
}

// KV opens a KV namespace.
func (b *Backend) KV(ctx context.Context, ns adapters.Namespace) (adapters.KV, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	return &kvStore{b: b, s: scope{t: kvTableFor(ns.Name), ws: b.workspace(ns), ns: ns.Name, name: ns.String()}}, nil
}

// DocStatus opens a doc-status namespace.
func (b *Backend) DocStatus(ctx context.Context, ns adapters.Namespace) (adapters.DocStatus, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	return &docStore{kvStore{b: b, doc: true,
		s: scope{t: docStatusTableFor(ns.Name), ws: b.workspace(ns), ns: ns.Name, name: ns.String()}}}, nil
}

// Graph opens a graph namespace.
func (b *Backend) Graph(ctx context.Context, ns adapters.Namespace) (adapters.Graph, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	return &graphStore{b: b, ws: b.workspace(ns), ns: ns.Name, name: ns.String()}, nil
}

// Flush is a no-op: every acknowledged write is already committed.
func (b *Backend) Flush(ctx context.Context) error { return nil }

// Ping checks that PostgreSQL answers; while the reconnect loop runs it
// answers ErrUnavailable at once.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.ready(); err != nil {
		return err
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.mapError("ping PostgreSQL", b.pool.Ping(ctx))
}

// Capabilities: writes are committed transactions, there is nothing to flush.
func (b *Backend) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Durable: true, NeedsFlush: false}
}

// Close stops the reconnect loop and releases the pool.
func (b *Backend) Close(ctx context.Context) error {
	if b.stop != nil {
		b.stop()
		<-b.loop
	}
	b.mu.Lock()
	pool := b.pool
	b.mu.Unlock()
	if pool != nil {
		pool.Close()
	}
	return nil
}

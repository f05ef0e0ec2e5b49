package backends

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/registry"
)

// PostgresSettings are the process-wide settings of PostgreSQL backends; the
// DSN, workspace and table naming come from the registry.
type PostgresSettings struct {
	Logger *slog.Logger
	// Base carries the other adapter settings (query timeout, reconnect
	// backoff); its DSN, Workspace, EmbeddingModel and VectorTableNaming
	// are ignored.
	Base postgres.Config
	// StatsTimeout bounds a one-off Stats (default 3s).
	StatsTimeout time.Duration
}

// Postgres describes PostgreSQL with pgvector in LightRAG's table layout
// (adapters/postgres).
func Postgres(ps PostgresSettings) Descriptor {
	if ps.Logger != nil {
		ps.Base.Logger = ps.Logger
	}
	if ps.StatsTimeout <= 0 {
		ps.StatsTimeout = 3 * time.Second
	}
	return Descriptor{
		Type:   registry.BackendPostgres,
		Named:  true,
		Shared: true,
		// Writes are committed transactions: nothing to flush.
		Capabilities: adapters.Capabilities{Durable: true},
		Define: func(s Settings) (registry.BackendDef, error) {
			d := registry.BackendDef{Type: registry.BackendPostgres, DSN: s.DSN, Workspace: s.Workspace,
				EmbeddingModel: s.EmbeddingModel, VectorTableNaming: s.VectorTableNaming}
			if err := d.Validate(); err != nil {
				return d, adapters.Errorf(adapters.ErrInvalid, "invalid_argument", "fix the backend definition", "%v", err)
			}
			return d, nil
		},
		Check: func(ctx context.Context, db registry.Database, _ string, o CheckOptions) (any, error) {
			dsn, err := expandDSN(db.Resolved)
			if err != nil {
				return nil, err
			}
			return postgres.Validate(ctx, dsn, postgres.ValidateOptions{Timeout: o.Timeout})
		},
		Open: PostgresOpener(ps.Base),
		Location: func(db registry.Database, _ string) (string, error) {
			dsn, err := expandDSN(db.Resolved)
			if err != nil {
				return "", err
			}
			return "postgres:" + serverKey(dsn) + "#" + db.PostgresWorkspace(), nil
		},
		WorkspaceRows: func(ctx context.Context, db registry.Database, _ string) ([]TableRows, error) {
			dsn, err := expandDSN(db.Resolved)
			if err != nil {
				return nil, err
			}
			return workspaceRows(ctx, ps.Base, dsn, db)
		},
		Stats: func(ctx context.Context, db registry.Database) (adapters.DBStats, error) {
			dsn, err := expandDSN(db.Resolved)
			if err != nil {
				return adapters.DBStats{}, err
			}
			if dsn == "" {
				return adapters.DBStats{}, fmt.Errorf("no PostgreSQL connection string in the registry")
			}
			return postgres.InspectDSN(ctx, dsn, ps.StatsTimeout)
		},
		Describe: func(db registry.Database, info *Info) {
			info.Path = ""
			info.DSN = db.Resolved.RedactedDSN()
			info.Workspace = db.PostgresWorkspace()
			info.EmbeddingModel = db.Resolved.EmbeddingModel
			info.VectorTableNaming = db.Resolved.VectorTableNaming
			if info.VectorTableNaming == "" {
				info.VectorTableNaming = registry.NamingSuffixed
			}
		},
		LightRAGEnv: func(db registry.Database) []string {
			return []string{"POSTGRES_WORKSPACE=" + db.PostgresWorkspace()}
		},
	}
}

// PostgresOpener opens databases whose backend is a postgres definition of
// the registry. The DSN's ${VAR} references are expanded here, at connect
// time. The backend opens lazily: a PostgreSQL that is down when the proxy
// starts (or when the database is switched) gives a backend that answers 503
// while its reconnect loop retries, so the proxy itself always starts.
func PostgresOpener(base postgres.Config) Opener {
	return func(ctx context.Context, name string, db registry.Database, _ string) (adapters.Backend, error) {
		dsn, err := db.Resolved.ExpandDSN()
		if err != nil {
			return nil, adapters.Errorf(adapters.ErrUnavailable, "backend_misconfigured",
				"set the variable in the proxy's environment and restart it, or change the backend's dsn",
				"database %s: backend %s: %v", name, db.Backend, err)
		}
		cfg := base
		cfg.DSN = dsn
		cfg.Workspace = db.PostgresWorkspace()
		cfg.EmbeddingModel = db.Resolved.EmbeddingModel
		cfg.VectorTableNaming = db.Resolved.VectorTableNaming
		if cfg.Logger == nil {
			cfg.Logger = slog.New(slog.DiscardHandler)
		}
		cfg.Logger = cfg.Logger.With(slog.String("db", name), slog.String("backend", db.Backend),
			slog.String("dsn", db.Resolved.RedactedDSN()))
		b, err := postgres.OpenLazy(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// expandDSN expands ${VAR} references; an unset variable is invalid_argument.
func expandDSN(def registry.BackendDef) (string, error) {
	dsn, err := def.ExpandDSN()
	if err != nil {
		return "", adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
			"set the variable in the proxy's environment, or write the value", "%v", err)
	}
	return dsn, nil
}

// serverKey names the server and database a DSN reaches (host:port/db), so
// two spellings of one server compare equal; an unparsable DSN is its own
// key.
func serverKey(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return dsn
	}
	host := cfg.Host
	if strings.HasPrefix(host, "/") { // a Unix socket folder
		return host + "/" + cfg.Database
	}
	if host == "localhost" || host == "::1" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
}

// workspaceRowsTimeout bounds the read-only count of a target workspace.
const workspaceRowsTimeout = 30 * time.Second

// workspaceRows counts, read-only, the rows of the entry's workspace in
// every LightRAG or proxy table: the backend is only prepared (no schema
// step), so a check never creates or changes anything in the target.
func workspaceRows(ctx context.Context, base postgres.Config, dsn string, db registry.Database) ([]TableRows, error) {
	cfg := base
	cfg.DSN, cfg.Workspace = dsn, db.PostgresWorkspace()
	cfg.EmbeddingModel, cfg.VectorTableNaming = db.Resolved.EmbeddingModel, db.Resolved.VectorTableNaming
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = workspaceRowsTimeout
	}
	b, err := postgres.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer b.Close(context.WithoutCancel(ctx))
	rows, err := b.WorkspaceRows(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]TableRows, 0, len(rows))
	for _, r := range rows {
		out = append(out, TableRows{Table: r.Table, Namespace: r.Namespace, Workspace: cfg.Workspace, Rows: r.Rows,
			Bookkeeping: postgres.BookkeepingTable(r.Table)})
	}
	return out, nil
}

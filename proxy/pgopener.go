package proxy

import (
	"context"
	"log/slog"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/registry"
)

// PostgresOpener opens databases whose backend is a postgres definition of
// the registry (cmd/proxy serve registers it as Openers["postgres"]). base
// carries the process-wide settings (logger, query timeout, reconnect
// backoff); the DSN, workspace and table naming come from the registry.
//
// The DSN's ${VAR} references are expanded here, at connect time. The
// backend opens lazily: a PostgreSQL that is down when the proxy starts (or
// when the database is switched) gives a backend that answers 503 while
// its reconnect loop retries, so the proxy itself always starts.
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
		cfg.Logger = cfg.Logger.With(slog.String(logKeyDB, name), slog.String("backend", db.Backend),
			slog.String("dsn", db.Resolved.RedactedDSN()))
		b, err := postgres.OpenLazy(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

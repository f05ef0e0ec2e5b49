package proxy

import (
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/backends"
)

// PostgresOpener opens databases whose backend is a postgres definition of
// the registry: backends.PostgresOpener, kept for callers that build
// Config.Openers. base carries the process-wide settings (logger, query
// timeout, reconnect backoff); the DSN, workspace and table naming come from
// the registry.
func PostgresOpener(base postgres.Config) Opener { return backends.PostgresOpener(base) }

package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// Request is what a user asks for, through `proxy migrate` or
// POST /v1/databases/{db}/migration.
type Request struct {
	// To is the target backend type: "postgres" or "json".
	To string `json:"to"`
	// DSN (a new definition named after the database) or Backend (a named
	// definition of the registry) give a PostgreSQL target.
	DSN               string `json:"dsn,omitempty"`
	Backend           string `json:"backend,omitempty"`
	Workspace         string `json:"workspace,omitempty"`
	EmbeddingModel    string `json:"embedding_model,omitempty"`
	VectorTableNaming string `json:"vector_table_naming,omitempty"`
	// Path is the folder of a JSON target (default: the database's path).
	Path      string `json:"path,omitempty"`
	Force     bool   `json:"force,omitempty"`
	Restart   bool   `json:"restart,omitempty"`
	BatchSize int    `json:"batch_size,omitempty"`

	// Mode is "offline" (the default: writes pause while it copies) or
	// "live" (live.go: the database keeps taking writes). The fields after
	// it are the live mode's.
	Mode              string   `json:"mode,omitempty"`
	ShadowShare       *float64 `json:"shadow_share,omitempty"`
	CleanRequests     *int64   `json:"clean_requests,omitempty"`
	CleanMinutes      *float64 `json:"clean_minutes,omitempty"`
	Cutover           string   `json:"cutover,omitempty"`
	AbortAfterSeconds *float64 `json:"abort_after_seconds,omitempty"`
}

// Live reports whether the request asks for a live migration.
func (r Request) Live() bool { return r.Mode == ModeLive }

// Migration modes.
const (
	ModeOffline = "offline"
	ModeLive    = "live"
)

func invalid(hint, format string, args ...any) error {
	return adapters.Errorf(adapters.ErrInvalid, "invalid_argument", hint, format, args...)
}

// Validate checks the request's shape (nothing is connected to).
func (r Request) Validate() error {
	switch r.To {
	case registry.BackendPostgres:
		if (r.DSN == "") == (r.Backend == "") {
			return invalid("give the PostgreSQL server as dsn (--dsn) or as a named backend of the registry (--backend)",
				"a migration to postgres needs exactly one of dsn and backend")
		}
		if r.Path != "" {
			return invalid("drop path: it is for --to json", "path is only for a migration to json")
		}
		if r.Backend != "" && (r.Workspace != "" || r.EmbeddingModel != "" || r.VectorTableNaming != "") {
			return invalid("set them in the named backend's definition", "workspace, embedding_model and vector_table_naming go with dsn, not with backend")
		}
	case registry.BackendJSON:
		if r.DSN != "" || r.Backend != "" {
			return invalid("drop dsn/backend for a migration to json", "a migration to json takes a path, not a server")
		}
	case "":
		return invalid(`say where to move the database: "to": "postgres" (--to postgres) or "json"`, "to is missing")
	default:
		return invalid("use postgres or json", "cannot migrate to %q", r.To)
	}
	switch r.Mode {
	case "", ModeOffline:
		if r.ShadowShare != nil || r.CleanRequests != nil || r.CleanMinutes != nil || r.Cutover != "" || r.AbortAfterSeconds != nil {
			return invalid(`add "mode": "live" (--live), or drop the live settings`,
				"shadow_share, clean_requests, clean_minutes, cutover and abort_after_seconds are for a live migration")
		}
	case ModeLive:
		if r.Restart {
			return invalid("abort the live migration instead (POST .../migration/abort, proxy migrate abort DB)", "restart is not for a live migration")
		}
	default:
		return invalid(`use "offline" or "live"`, "mode %q is not known", r.Mode)
	}
	if r.BatchSize < 0 || r.BatchSize > 100000 {
		return invalid("use a batch size between 1 and 100000", "batch_size %d is out of range", r.BatchSize)
	}
	return nil
}

// Settings is the request's target as the switching service takes it.
func (r Request) Settings() backends.Settings {
	return backends.Settings{Type: r.To, Backend: r.Backend, DSN: r.DSN, Workspace: r.Workspace,
		EmbeddingModel: r.EmbeddingModel, VectorTableNaming: r.VectorTableNaming, Path: r.Path}
}

// Lock is held by whoever runs a database's migration, so two never run at
// once (a CLI and a proxy, or two CLIs).
type Lock struct{ fl *flock.Flock }

// TryLock takes the migration lock of database name next to the registry.
func TryLock(regPath, name string) (*Lock, error) {
	dir := filepath.Join(filepath.Dir(regPath), ".migrations")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	fl := flock.New(filepath.Join(dir, name+".lock"))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock the migration of %s: %w", name, err)
	}
	if !ok {
		return nil, adapters.Errorf(adapters.ErrConflict, "migration_running",
			"wait for it to finish (proxy migrate status, or GET /v1/databases/"+name+"/migration), or cancel it",
			"a migration of database %s is already running", name)
	}
	return &Lock{fl: fl}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.fl.Unlock() }

// sourceFor returns the source of a database whose entry is cur: a JSON
// database is read from its files (streamed; flush it first), any other
// backend through its adapter (closed by the returned func).
func sourceFor(ctx context.Context, name string, cur registry.Database, dataDir string, cat *backends.Catalog) (Source, func(), error) {
	if cur.BackendType() == registry.BackendJSON {
		dir, err := cur.ResolvePath(dataDir)
		if err != nil {
			return nil, nil, err
		}
		return NewFolderSource(dir), func() {}, nil
	}
	desc, err := cat.For(cur)
	if err != nil {
		return nil, nil, err
	}
	b, err := cat.Open(ctx, name, cur, dataDir)
	if err != nil {
		return nil, nil, err
	}
	src := &BackendSource{B: b, Name: fmt.Sprintf("%s backend %s", cur.BackendType(), cur.Backend), DefaultOnly: desc.Shared}
	return src, func() { _ = b.Close(context.WithoutCancel(ctx)) }, nil
}

// closeQuietly closes b, logging a failure.
func closeQuietly(ctx context.Context, b adapters.Backend, log *slog.Logger) {
	if b == nil {
		return
	}
	if err := b.Close(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("close backend", slog.Any("error", err))
	}
}

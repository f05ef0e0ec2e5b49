// Package backends describes each backend type once (a Descriptor: its name,
// how a registry entry for it is decoded and validated, its connection check,
// how it opens, what it can report) and switches databases between backends
// (Switcher). Everything above the adapters (the proxy's router and admin
// handlers, the CLI, provisioning, the monitor) goes through a Catalog of
// descriptors, so nothing there branches on a backend's name: adding a
// backend means one descriptor, one adapter and one conformance suite (see
// docs/ADAPTERS.md).
package backends

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/registry"
)

// Opener opens a database's backend from its registry entry. dataDir
// resolves relative paths.
type Opener func(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error)

// Settings are what a caller asks a database to be switched to: the body of
// PUT /v1/databases/{db}/backend, the flags of `proxy backend set`, or what
// provisioning recorded. Either Backend names an existing definition of the
// registry, or Type names a backend type with its settings.
type Settings struct {
	Type string `json:"type,omitempty"`
	// Backend names an existing definition in the registry's backends.
	Backend string `json:"backend,omitempty"`
	// Name is the name under which a new definition is written (named
	// types only); default the database's name.
	Name              string `json:"name,omitempty"`
	DSN               string `json:"dsn,omitempty"`
	Workspace         string `json:"workspace,omitempty"`
	EmbeddingModel    string `json:"embedding_model,omitempty"`
	VectorTableNaming string `json:"vector_table_naming,omitempty"`
	Path              string `json:"path,omitempty"`
}

// CheckOptions bound a connection check.
type CheckOptions struct {
	Timeout time.Duration // 0: the descriptor's default
}

// TableRows is what a store holds in one workspace: one table (or file) and
// namespace, with its row count.
type TableRows struct {
	Table     string `json:"table"`
	Namespace string `json:"namespace,omitempty"`
	Workspace string `json:"workspace"`
	Rows      int64  `json:"rows"`
	// Bookkeeping marks the proxy's own state (migration checkpoints,
	// coordination), which is no database's records.
	Bookkeeping bool `json:"-"`
}

// Descriptor describes one backend type. Func fields marked optional may be
// nil; the others are required.
type Descriptor struct {
	// Type is the name registry.yaml uses ("json", "postgres").
	Type string
	// Named types live in the registry's backends section as named
	// definitions that databases refer to (PostgreSQL); the others are
	// inline in the database entry with a path (JSON).
	Named bool
	// Capabilities are what an opened backend of this type reports, known
	// without opening it (GET /v1/databases/{db} of a store not created yet).
	Capabilities adapters.Capabilities
	// Shared types keep other databases' workspaces in the same store (a
	// PostgreSQL server): a database's own records are only its default
	// workspace. A non-shared store (a JSON folder) is the database's whole.
	Shared bool

	// Define decodes and validates a new named definition from settings,
	// without connecting (named types only).
	Define func(s Settings) (registry.BackendDef, error)
	// Inline builds the entry of an inline type from settings and the
	// current entry (unnamed types only).
	Inline func(name string, cur registry.Database, s Settings) (registry.Database, error)
	// Check is the connection check: can the proxy use this entry? The
	// report is JSON-encodable; a failure is an *adapters.Error with its
	// code and hint.
	Check func(ctx context.Context, db registry.Database, dataDir string, o CheckOptions) (any, error)
	// Open opens the adapter.
	Open Opener
	// Location identifies where the entry's rows live (server and workspace,
	// or folder): two entries with the same location share rows. Optional.
	Location func(db registry.Database, dataDir string) (string, error)
	// Probe reports, without opening or creating anything, what would stop
	// the store from opening now that Check does not see (a JSON folder's
	// lock held by another process). With Check it lets status reads check
	// a database that is not open instead of opening it. Optional.
	Probe func(db registry.Database, dataDir string) error
	// Empty reports, without opening or creating anything, that the store
	// certainly holds nothing (a folder not created yet). Optional.
	Empty func(db registry.Database, dataDir string) (bool, error)
	// WorkspaceRows counts, read-only, what the entry's default workspace
	// holds, without changing the store (no schema creation). Optional:
	// without it the store is opened and its Namespaces counted.
	WorkspaceRows func(ctx context.Context, db registry.Database, dataDir string) ([]TableRows, error)
	// Stats reports server statistics with a one-off connection (`proxy
	// status` without a running proxy). Optional.
	Stats func(ctx context.Context, db registry.Database) (adapters.DBStats, error)
	// Describe fills the type-specific fields of Info (redacted). Optional.
	Describe func(db registry.Database, info *Info)
	// LightRAGEnv is what LightRAG needs in its environment to open the same
	// rows directly, as KEY=value lines (POSTGRES_WORKSPACE=...). Optional.
	LightRAGEnv func(db registry.Database) []string
}

// Catalog is the set of backend types a build supports.
type Catalog struct {
	byType map[string]*Descriptor
}

// NewCatalog builds a catalog; a later descriptor of the same type replaces
// an earlier one.
func NewCatalog(ds ...Descriptor) *Catalog {
	c := &Catalog{byType: map[string]*Descriptor{}}
	for _, d := range ds {
		c.byType[d.Type] = &d
	}
	return c
}

// Default is the catalog of this build: JSON files and PostgreSQL.
func Default(log *slog.Logger) *Catalog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return NewCatalog(JSON(log), Postgres(PostgresSettings{Logger: log}))
}

// Types returns the supported type names, sorted.
func (c *Catalog) Types() []string {
	out := make([]string, 0, len(c.byType))
	for t := range c.byType {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Get returns the descriptor of a type.
func (c *Catalog) Get(typ string) (*Descriptor, bool) {
	d, ok := c.byType[typ]
	return d, ok
}

// For returns the descriptor of a registry entry's backend type, or an
// ErrInvalid "unsupported_backend" error naming the supported ones.
func (c *Catalog) For(db registry.Database) (*Descriptor, error) {
	if d, ok := c.byType[db.BackendType()]; ok {
		return d, nil
	}
	return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
		"use a backend this proxy supports ("+strings.Join(c.Types(), ", ")+")",
		"backend type %q is not supported by this proxy", db.BackendType())
}

// Open opens a database's backend through its descriptor.
func (c *Catalog) Open(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error) {
	d, err := c.For(db)
	if err != nil {
		return nil, err
	}
	if d.Open == nil {
		return nil, fmt.Errorf("backend type %q cannot be opened by this build", d.Type)
	}
	return d.Open(ctx, name, db, dataDir)
}

// WithOpeners returns a catalog holding only the given types, each with its
// Open replaced by the given opener (a type this catalog does not describe
// gets a descriptor with only Open). Tests and embedders use it to wrap or
// fake adapters.
func (c *Catalog) WithOpeners(openers map[string]Opener) *Catalog {
	out := &Catalog{byType: map[string]*Descriptor{}}
	for typ, open := range openers {
		d := Descriptor{Type: typ}
		if base, ok := c.byType[typ]; ok {
			d = *base
		}
		d.Open = open
		out.byType[typ] = &d
	}
	return out
}

// HasStats reports whether the type reports server statistics (the status's
// server part instead of files).
func (c *Catalog) HasStats(typ string) bool {
	d, ok := c.byType[typ]
	return ok && d.Stats != nil
}

// Info is a database's backend as the API (GET/PUT
// /v1/databases/{db}/backend) and `proxy backend show` report it: never with
// a literal password.
type Info struct {
	Database          string `json:"database"`
	Type              string `json:"type"`
	Backend           string `json:"backend"` // "json" or the definition's name
	DSN               string `json:"dsn,omitempty"`
	Workspace         string `json:"workspace,omitempty"`
	EmbeddingModel    string `json:"embedding_model,omitempty"`
	VectorTableNaming string `json:"vector_table_naming,omitempty"`
	Path              string `json:"path,omitempty"`
	Maintenance       bool   `json:"maintenance"`
	// LightRAGEnv is what LightRAG needs in its environment to open the
	// same rows directly (POSTGRES_WORKSPACE=...).
	LightRAGEnv []string `json:"lightrag_env,omitempty"`
	// LiveMigration names the backend a live migration is moving the
	// database to (every write goes to both until the cutover).
	LiveMigration *LiveInfo `json:"live_migration,omitempty"`
	// Archive is the backend the database left at a live migration's
	// cutover: kept read-only, as it was then; `proxy migrate rollback`
	// moves the database back into it.
	Archive *ArchiveInfo `json:"archive,omitempty"`
}

// LiveInfo is a live migration in progress, as `backend show` tells it.
type LiveInfo struct {
	ID       string `json:"id"`
	Phase    string `json:"phase"`
	Target   string `json:"target"`
	Rollback bool   `json:"rollback"`
}

// ArchiveInfo is a database's archive.
type ArchiveInfo struct {
	Backend   string    `json:"backend"`
	Path      string    `json:"path,omitempty"`
	Workspace string    `json:"workspace,omitempty"`
	Since     time.Time `json:"since"`
	ReadOnly  bool      `json:"read_only"`
	Note      string    `json:"note"`
}

// Describe builds the redacted description of a registry entry.
func (c *Catalog) Describe(name string, db registry.Database) Info {
	out := Info{Database: name, Type: db.BackendType(), Backend: db.Backend, Maintenance: db.Maintenance,
		Path: db.Path, Workspace: db.Workspace}
	if out.Backend == "" {
		out.Backend = db.BackendType()
	}
	if d, ok := c.byType[out.Type]; ok {
		if d.Describe != nil {
			d.Describe(db, &out)
		}
		if d.LightRAGEnv != nil {
			out.LightRAGEnv = d.LightRAGEnv(db)
		}
	}
	if l := db.Live; l != nil {
		t := l.Target()
		target := "json folder " + t.Path
		if t.BackendType() != registry.BackendJSON {
			target = t.BackendType() + " backend " + t.Backend
		}
		out.LiveMigration = &LiveInfo{ID: l.ID, Phase: l.Phase, Target: target, Rollback: l.Rollback}
	}
	if a := db.Archive; a != nil {
		b := a.Backend
		if b == "" {
			b = registry.BackendJSON
		}
		out.Archive = &ArchiveInfo{Backend: b, Path: a.Path, Workspace: a.Workspace, Since: a.Since, ReadOnly: true,
			Note: "left at the live migration's cutover and no longer written by the proxy; `proxy migrate rollback " + name +
				"` moves the database back into it"}
	}
	return out
}

// DeriveWorkspace is the workspace a new definition gets when none is
// given: the database's name made a valid LightRAG workspace (lower case,
// characters other than letters, digits and '_' replaced by '_'), so two
// databases of one registry never share rows by accident.
func DeriveWorkspace(db string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(db) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	ws := b.String()
	if ws == "" {
		ws = "default"
	}
	if len(ws) > adapters.MaxWorkspaceName {
		ws = ws[:adapters.MaxWorkspaceName]
	}
	return ws
}

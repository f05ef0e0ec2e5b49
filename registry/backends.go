package registry

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// BackendPostgres is the type of a named PostgreSQL backend.
const BackendPostgres = "postgres"

// Vector table naming of a PostgreSQL backend (see adapters/postgres).
const (
	NamingSuffixed = "suffixed"
	NamingLegacy   = "legacy"
)

// BackendDef is one named backend definition of registry.yaml's "backends"
// section. A database uses it by name:
//
//	backends:
//	  pg-main:
//	    type: postgres
//	    dsn: postgres://rag:${PGPASSWORD}@db.internal:5432/rag
//	    workspace: default
//	    embedding_model: text-embedding-3-small
//	    vector_table_naming: suffixed
//	databases:
//	  default: {backend: json, path: default}
//	  mydb: {backend: pg-main}
//
// The design is "JSON or a reference": a database's backend is "json" (the
// default, with its path) or the name of a definition here; there are no
// inline blocks, so one server's settings live in one place. `proxy backend
// set DB --postgres DSN` and PUT /v1/databases/{db}/backend with a DSN write
// a definition named after the database.
//
// The DSN is kept as written: ${VAR} references are expanded only when the
// proxy connects (ExpandDSN), never written back expanded, so a password can
// stay in the environment.
type BackendDef struct {
	Type string `yaml:"type"`
	DSN  string `yaml:"dsn"`
	// Workspace is LightRAG's workspace column for requests that name none;
	// a database's own workspace overrides it. Default "default".
	Workspace string `yaml:"workspace,omitempty"`
	// EmbeddingModel names the model in suffixed vector table names.
	EmbeddingModel string `yaml:"embedding_model,omitempty"`
	// VectorTableNaming is "suffixed" (LightRAG >= 1.4.9.10, the default) or
	// "legacy" (1.4.9.8).
	VectorTableNaming string `yaml:"vector_table_naming,omitempty"`
}

// Validate checks a definition without connecting.
func (b BackendDef) Validate() error {
	if b.Type != BackendPostgres {
		return fmt.Errorf("type: unknown backend type %q (known: %s)", b.Type, BackendPostgres)
	}
	dsn := strings.TrimSpace(b.DSN)
	switch {
	case dsn == "":
		return errors.New("dsn: a postgres backend needs a connection string such as postgres://user:pass@host:5432/db")
	case strings.ContainsRune(dsn, 0):
		return errors.New("dsn: contains a NUL byte")
	}
	switch b.VectorTableNaming {
	case "", NamingSuffixed, NamingLegacy:
	default:
		return fmt.Errorf("vector_table_naming: %q is not known (use %s or %s)", b.VectorTableNaming, NamingSuffixed, NamingLegacy)
	}
	if err := adapters.ValidateName("workspace", b.Workspace); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	return nil
}

// ExpandDSN returns the DSN with ${VAR} references replaced from the
// environment; an unset variable is an error naming it.
func (b BackendDef) ExpandDSN() (string, error) {
	dsn, err := expand(b.DSN)
	if err != nil {
		return "", fmt.Errorf("dsn: %w", err)
	}
	return dsn, nil
}

// validateBackends checks the definitions and every database's reference.
func (r *Registry) validateBackends() error {
	names := make([]string, 0, len(r.Backends))
	for n := range r.Backends {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := adapters.ValidateName("backend", n); err != nil {
			return fmt.Errorf("backends.%s: %w", n, err)
		}
		if n == BackendJSON {
			return fmt.Errorf("backends.%s: the name %q is reserved for JSON databases; pick another", n, n)
		}
		if err := r.Backends[n].Validate(); err != nil {
			return fmt.Errorf("backends.%s: %w", n, err)
		}
	}
	for _, name := range r.Names() {
		db := r.Databases[name]
		if db.Backend == "" || db.Backend == BackendJSON {
			continue
		}
		if _, ok := r.Backends[db.Backend]; !ok {
			known := "none"
			if len(names) > 0 {
				known = strings.Join(names, ", ")
			}
			return fmt.Errorf("databases.%s.backend: no backend named %q in backends (known: %s); add it or use json",
				name, db.Backend, known)
		}
	}
	return nil
}

// resolveBackends copies each referenced definition into its database
// (Database.Resolved), so an entry compares unequal when its definition
// changes and the router reopens it.
func (r *Registry) resolveBackends() error {
	for name, def := range r.Backends {
		var err error
		if def.Workspace, err = expand(def.Workspace); err != nil {
			return fmt.Errorf("backends.%s.workspace: %w", name, err)
		}
		if def.EmbeddingModel, err = expand(def.EmbeddingModel); err != nil {
			return fmt.Errorf("backends.%s.embedding_model: %w", name, err)
		}
		r.Backends[name] = def
	}
	for name, db := range r.Databases {
		db.Resolved = BackendDef{}
		if def, ok := r.Backends[db.Backend]; ok && db.Backend != BackendJSON {
			db.Resolved = def
		}
		if db.Live != nil {
			live := *db.Live
			live.resolved = r.Backends[live.Backend]
			db.Live = &live
		}
		r.Databases[name] = db
	}
	return nil
}

// SameBackend reports whether two entries open the same backend: the
// maintenance flag (and anything else not about the backend) may differ
// without reopening it.
func (d Database) SameBackend(o Database) bool {
	return d.BackendType() == o.BackendType() && d.Backend == o.Backend && d.Path == o.Path &&
		d.Workspace == o.Workspace && d.Resolved == o.Resolved
}

// PostgresWorkspace is the workspace a PostgreSQL database uses for requests
// that name none: the database's own, else the definition's, else LightRAG's
// "default".
func (d Database) PostgresWorkspace() string {
	switch {
	case d.Workspace != "":
		return d.Workspace
	case d.Resolved.Workspace != "":
		return d.Resolved.Workspace
	}
	return "default"
}

// envRef is a password that is only a ${VAR} (or $VAR) reference: not a
// secret, shown as written.
var envRef = regexp.MustCompile(`^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$`)

var (
	urlPassword = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/]*:)([^@/]*)(@)`)
	kvPassword  = regexp.MustCompile(`((?:^|[\s?&])password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)`)
)

// RedactedDSN is the DSN as written with any literal password replaced by
// "xxxxx"; ${VAR} references stay, as they hold no secret. It is the only
// form of a DSN the API, the CLI and logs show.
func (b BackendDef) RedactedDSN() string { return RedactDSN(b.DSN) }

// RedactDSN hides the password of a URL or key=value connection string.
func RedactDSN(dsn string) string {
	hide := func(prefix, pw string) string {
		if pw == "" || envRef.MatchString(strings.Trim(pw, "'")) {
			return prefix + pw
		}
		return prefix + "xxxxx"
	}
	if m := urlPassword.FindStringSubmatchIndex(dsn); m != nil {
		dsn = hide(dsn[:m[3]], dsn[m[4]:m[5]]) + dsn[m[6]:]
	}
	return kvPassword.ReplaceAllStringFunc(dsn, func(s string) string {
		sm := kvPassword.FindStringSubmatch(s)
		return hide(sm[1], sm[2])
	})
}

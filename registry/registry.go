// Package registry reads and writes registry.yaml: the databases the proxy
// serves and each one's backend. Every writer (CLI and server) goes through
// Update, a read-modify-write under an exclusive file lock with an atomic
// replace, so concurrent writers never revert each other's changes.
package registry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gofrs/flock"
	"go.yaml.in/yaml/v3"

	"github.com/hybridrag/storage-proxy/adapters"
)

// CurrentVersion is the registry format version this build writes.
const CurrentVersion = 1

// DefaultDatabase is the database a fresh registry has.
const DefaultDatabase = "default"

// Backend types.
const (
	BackendJSON = "json"
)

// Registry is the content of registry.yaml.
type Registry struct {
	Version   int                 `yaml:"version"`
	Databases map[string]Database `yaml:"databases"`
	// Backends holds named backend definitions (backends.go).
	Backends map[string]BackendDef `yaml:"backends,omitempty"`
	// Monitoring holds the monitor's thresholds (thresholds.go).
	Monitoring *Monitoring `yaml:"monitoring,omitempty"`
}

// Database is one database's entry.
type Database struct {
	// Backend is "json" (default) or the name of a definition in the
	// registry's backends section (backends.go).
	Backend string `yaml:"backend,omitempty"`
	// Path is the LightRAG working directory of a JSON database; relative
	// paths are relative to the data folder.
	Path string `yaml:"path,omitempty"`
	// Workspace is the LightRAG workspace used when a request names none.
	Workspace string `yaml:"workspace,omitempty"`
	// Maintenance makes writes answer 503 while reads go on.
	Maintenance bool `yaml:"maintenance,omitempty"`
	// Live is a live migration in progress (live.go).
	Live *LiveMigration `yaml:"live_migration,omitempty"`
	// Archive is the backend the database left at its last live
	// migration's cutover, kept read-only (live.go).
	Archive *Archive `yaml:"archive,omitempty"`
	// Resolved is the named backend definition Backend refers to, filled
	// by Parse (never written).
	Resolved BackendDef `yaml:"-"`
}

// Default returns the registry a proxy starts with when none exists: one
// JSON database, "default", in <data>/default.
func Default() *Registry {
	return &Registry{Version: CurrentVersion, Databases: map[string]Database{
		DefaultDatabase: {Backend: BackendJSON, Path: DefaultDatabase},
	}}
}

// Names returns the database names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.Databases))
	for n := range r.Databases {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Validate checks every entry; the error names the database and field.
func (r *Registry) Validate() error {
	if r.Version != CurrentVersion {
		return fmt.Errorf("registry version %d is not supported (this proxy reads version %d)", r.Version, CurrentVersion)
	}
	if err := r.Monitoring.Validate(); err != nil {
		return err
	}
	if err := r.validateBackends(); err != nil {
		return err
	}
	for _, name := range r.Names() {
		if err := adapters.ValidateName("database", name); err != nil {
			return fmt.Errorf("databases.%s: %w", name, err)
		}
		db := r.Databases[name]
		if err := db.Validate(); err != nil {
			return fmt.Errorf("databases.%s: %w", name, err)
		}
		if db.Live != nil {
			if err := db.Live.validate(r.Backends); err != nil {
				return fmt.Errorf("databases.%s.live_migration: %w", name, err)
			}
		}
	}
	return nil
}

// Validate checks one database entry.
func (d Database) Validate() error {
	switch d.Backend {
	case "", BackendJSON:
		if d.Path == "" {
			return errors.New("path: a JSON database needs a path (the LightRAG working directory)")
		}
		if strings.ContainsRune(d.Path, 0) {
			return errors.New("path: contains a NUL byte")
		}
	default:
		// A reference to a named backend; Registry.Validate checks it exists.
		if err := adapters.ValidateName("backend", d.Backend); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
	}
	if err := adapters.ValidateName("workspace", d.Workspace); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	return nil
}

// BackendType returns the backend type ("json" by default, or the resolved
// definition's type); an unresolved reference returns the reference.
func (d Database) BackendType() string {
	switch {
	case d.Backend == "":
		return BackendJSON
	case d.Resolved.Type != "":
		return d.Resolved.Type
	}
	return d.Backend
}

// ResolvePath returns the database's folder as an absolute, cleaned path;
// relative paths are taken relative to dataDir.
func (d Database) ResolvePath(dataDir string) (string, error) {
	p := d.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(dataDir, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve path %q: %w", d.Path, err)
	}
	return abs, nil
}

// Parse decodes registry YAML strictly (an unknown key is an error naming the
// key) and expands ${VAR} references in string values from the environment.
// An unset variable is an error.
func Parse(data []byte) (*Registry, error) {
	r := &Registry{}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("registry is empty: delete the file to start from the default registry")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("parse registry: %w", err)
	}
	if r.Databases == nil {
		r.Databases = map[string]Database{}
	}
	for name, db := range r.Databases {
		var err error
		if db.Path, err = expand(db.Path); err != nil {
			return nil, fmt.Errorf("databases.%s.path: %w", name, err)
		}
		if db.Workspace, err = expand(db.Workspace); err != nil {
			return nil, fmt.Errorf("databases.%s.workspace: %w", name, err)
		}
		r.Databases[name] = db
	}
	if err := r.resolveBackends(); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// Expand replaces ${VAR} (and $VAR) with the environment's value, as the
// registry does when it is read; an unset variable is an error.
func Expand(s string) (string, error) { return expand(s) }

// expand replaces ${VAR} (and $VAR) with the environment's value.
func expand(s string) (string, error) {
	var missing []string
	out := os.Expand(s, func(name string) string {
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// Load reads the registry at path. A missing file yields (nil, os.ErrNotExist
// wrapped).
func Load(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// LoadOrDefault reads the registry, or returns the default one when the file
// does not exist (without writing it).
func LoadOrDefault(path string) (*Registry, error) {
	r, err := Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return Default(), nil
	}
	return r, err
}

// Update runs fn on the current registry (the default one if the file does
// not exist yet) under an exclusive lock on path+".lock", validates the
// result and replaces the file atomically with mode 0600. ${VAR} references
// are expanded in what fn sees, so Update keeps the raw text of entries fn
// did not change.
func Update(path string, fn func(*Registry) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create registry folder: %w", err)
	}
	lock := flock.New(path + ".lock")
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock registry: %w", err)
	}
	defer lock.Unlock()
	if err := sweepTemp(path); err != nil {
		return err
	}

	raw := &Registry{Version: CurrentVersion, Databases: map[string]Database{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		raw = Default()
	case err != nil:
		return fmt.Errorf("read registry: %w", err)
	default:
		// Check the whole file (with expansion) first, then work on the
		// unexpanded text so ${VAR} references are written back as they were.
		if _, err := Parse(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(raw); err != nil {
			return fmt.Errorf("%s: parse registry: %w", path, err)
		}
		if raw.Databases == nil {
			raw.Databases = map[string]Database{}
		}
	}
	if err := fn(raw); err != nil {
		return err
	}
	out, err := yaml.Marshal(raw)
	if err != nil {
		return fmt.Errorf("encode registry: %w", err)
	}
	if _, err := Parse(out); err != nil {
		// The file parsed before fn, so the change is what is wrong (an
		// unset ${VAR}, an invalid entry): the caller's mistake.
		return &adapters.Error{Kind: adapters.ErrInvalid, Code: "invalid_argument", Message: "the change leaves the registry invalid",
			Hint: "fix the value; a ${VAR} reference needs the variable set in the proxy's environment", Err: err}
	}
	return writeAtomic(path, out, 0o600)
}

// Sweep removes temp files of registry writes a crash (kill -9) left
// behind, as the next Update does: the proxy calls it on start, so they do
// not wait for a registry change. It does not wait for a writer holding the
// lock (that writer sweeps); swept reports whether it ran.
func Sweep(path string) (swept bool, err error) {
	lock := flock.New(path + ".lock")
	ok, err := lock.TryLock()
	if err != nil {
		return false, fmt.Errorf("lock registry: %w", err)
	}
	if !ok {
		return false, nil
	}
	defer lock.Unlock()
	if err := sweepTemp(path); err != nil {
		return false, err
	}
	return true, nil
}

// sweepTemp removes temp files of registry writes a crash (kill -9) left
// behind. Callers hold the registry lock, and every writer takes it, so no
// write is in progress and each temp file is a leftover.
func sweepTemp(path string) error {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("sweep registry temp files: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sweep registry temp file: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces path with data: temp file in the same folder, fsync,
// rename, fsync the folder.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write registry: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write registry: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write registry: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write registry: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write registry: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write registry: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write registry: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write registry: sync folder: %w", err)
	}
	return nil
}

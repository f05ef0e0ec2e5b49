package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/registry"
)

// DataCheckTimeout bounds counting the current and target backends of a
// switch.
const DataCheckTimeout = 30 * time.Second

// CodeSwitchRefused is the code of a switch refused because it would hide
// or share data.
const CodeSwitchRefused = "switch_refused"

// Switcher is the one way a database changes backend: PUT
// /v1/databases/{db}/backend, `proxy backend set` and provisioning's --db
// all call Switch; the migration calls Cutover once it verified its copy.
type Switcher struct {
	RegistryPath string
	DataDir      string
	Catalog      *Catalog
	// Current, when set, runs fn on the database's current backend as its
	// server opened it (the proxy's router), so a folder the server locks is
	// counted with its unflushed writes. Nil: the switcher opens the backend
	// itself through its descriptor and closes it after counting.
	Current func(ctx context.Context, name string, fn func(adapters.Backend) error) error
	// Changed is called after the registry was written (the proxy reloads
	// it at once). Optional.
	Changed func()
	Logger  *slog.Logger
}

// Request is one switch.
type Request struct {
	Database string
	Settings
	// Force switches even when the switch would hide or share data.
	Force bool
	// CheckTimeout bounds the connection check (0: the descriptor's default).
	CheckTimeout time.Duration
	// NoConnectionCheck skips the connection check (the caller just ran
	// it, as provisioning does).
	NoConnectionCheck bool
}

// Target is a resolved switch: the database's entry as the registry will
// hold it and, for a named type, the definition written with it.
type Target struct {
	Database string
	Entry    registry.Database // Resolved filled
	// DefName, when not empty, is the definition written as
	// backends.<DefName> (Entry.Resolved).
	DefName string
	// DerivedWorkspace is set when the new definition's workspace was
	// derived from the database's name.
	DerivedWorkspace bool

	desc   *Descriptor
	cur    registry.Database
	exists bool
	// own: the target is the database's own store (its own existing
	// definition, or its own folder), whose rows are its own.
	own bool
}

// Result is what Switch did.
type Result struct {
	Info Info
	// Unchanged is true when the database already used this backend.
	Unchanged bool
	Target    Target
}

// UnknownDatabaseError is returned for a database not in the registry.
type UnknownDatabaseError struct {
	Name  string
	Known []string
}

func (e *UnknownDatabaseError) Error() string {
	return fmt.Sprintf("database %q is not in the registry (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

func (e *UnknownDatabaseError) Is(target error) bool { return target == adapters.ErrNotFound }

func (s *Switcher) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func invalid(code, hint, format string, args ...any) error {
	return adapters.Errorf(adapters.ErrInvalid, code, hint, format, args...)
}

// Resolve decodes and validates a switch against the current registry,
// without connecting.
func (s *Switcher) Resolve(reg *registry.Registry, name string, st Settings) (Target, error) {
	if err := adapters.ValidateName("database", name); err != nil {
		return Target{}, err
	}
	cur, exists := reg.Databases[name]
	t := Target{Database: name, cur: cur, exists: exists}
	next := cur
	switch {
	case st.Backend != "" && (st.Type != "" || st.DSN != ""):
		return Target{}, invalid("invalid_argument", `send either {"backend": NAME} or {"type": ..., ...}`,
			"backend and type/dsn are mutually exclusive")
	case st.Backend != "":
		if d, ok := s.Catalog.Get(st.Backend); ok && !d.Named {
			return Target{}, invalid("invalid_argument", fmt.Sprintf(`use {"type": %q}`, st.Backend),
				"%s is a backend type, not a definition name", st.Backend)
		}
		def, ok := reg.Backends[st.Backend]
		if !ok {
			return Target{}, invalid("unknown_backend", "define it in registry.yaml's backends section, or send type and dsn",
				"no backend named %q", st.Backend)
		}
		next.Backend, next.Resolved = st.Backend, def
		t.own = st.Backend == name
	case st.Type == "":
		return Target{}, invalid("invalid_argument", "give the backend type ("+strings.Join(s.Catalog.Types(), ", ")+")",
			"no backend type given")
	default:
		d, ok := s.Catalog.Get(st.Type)
		if !ok {
			return Target{}, invalid("invalid_argument", "use "+strings.Join(s.Catalog.Types(), " or "),
				"backend type %q is not known", st.Type)
		}
		if d.Named {
			def, err := d.Define(st)
			if err != nil {
				return Target{}, err
			}
			defName := st.Name
			if defName == "" {
				defName = name
			}
			old, had := reg.Backends[defName]
			switch {
			case def.Workspace != "":
			case had:
				// Keep the definition's workspace: nothing moves.
				def.Workspace = old.Workspace
			case cur.Workspace == "":
				def.Workspace, t.DerivedWorkspace = DeriveWorkspace(name), true
			}
			next.Backend, next.Resolved, t.DefName = defName, def, defName
			t.own = defName == name && had && old == def
		} else {
			if d.Inline == nil {
				return Target{}, invalid("invalid_argument", "use another backend type", "backend type %q cannot be set here", st.Type)
			}
			var err error
			if next, err = d.Inline(name, cur, st); err != nil {
				return Target{}, err
			}
			t.own = exists && next.Path == cur.Path
		}
	}
	if err := next.Validate(); err != nil {
		return Target{}, invalid("invalid_argument", "fix the database entry", "%v", err)
	}
	d, err := s.Catalog.For(next)
	if err != nil {
		return Target{}, err
	}
	t.Entry, t.desc = next, d
	return t, nil
}

// Switch checks the target (connection, then data unless forced), writes the
// registry and tells the server. Errors are *adapters.Error: invalid_argument,
// unknown_backend and the connection check's codes (ErrInvalid), or
// switch_refused (ErrConflict).
func (s *Switcher) Switch(ctx context.Context, req Request) (Result, error) {
	reg, err := registry.LoadOrDefault(s.RegistryPath)
	if err != nil {
		return Result{}, err
	}
	t, err := s.Resolve(reg, req.Database, req.Settings)
	if err != nil {
		return Result{}, err
	}
	if !req.NoConnectionCheck && t.desc.Check != nil {
		if _, err := t.desc.Check(ctx, t.Entry, s.DataDir, CheckOptions{Timeout: req.CheckTimeout}); err != nil {
			return Result{}, err
		}
	}
	unchanged := t.exists && (t.Entry.SameBackend(t.cur) || s.sameFolder(t.Entry, t.cur))
	if !req.Force && !unchanged {
		if err := s.Check(ctx, reg, t); err != nil {
			return Result{}, err
		}
	}
	info, err := s.write(t)
	if err != nil {
		return Result{}, err
	}
	s.log().Info("database backend changed", slog.String("db", t.Database), slog.String("backend", t.Entry.Backend),
		slog.String("type", t.Entry.BackendType()), slog.Bool("forced", req.Force))
	return Result{Info: info, Unchanged: unchanged, Target: t}, nil
}

// sameFolder reports whether two JSON entries name one folder (and
// workspace) however the path is written ("db", "./db", its absolute path):
// checking such a no-op switch would open the folder the proxy itself holds
// locked and refuse it as locked by another process.
func (s *Switcher) sameFolder(a, b registry.Database) bool {
	if a.BackendType() != registry.BackendJSON || b.BackendType() != registry.BackendJSON || a.Workspace != b.Workspace {
		return false
	}
	pa, errA := a.ResolvePath(s.DataDir)
	pb, errB := b.ResolvePath(s.DataDir)
	return errA == nil && errB == nil && pa == pb
}

// Cutover switches the database to the backend now, without any data check:
// the migration calls it once it verified its copy. The settings are
// resolved as Switch resolves them; nothing connects.
func (s *Switcher) Cutover(ctx context.Context, name string, st Settings) (Info, error) {
	reg, err := registry.LoadOrDefault(s.RegistryPath)
	if err != nil {
		return Info{}, err
	}
	t, err := s.Resolve(reg, name, st)
	if err != nil {
		return Info{}, err
	}
	old := reg.Databases[name]
	info, err := s.write(t)
	if err != nil {
		return Info{}, err
	}
	s.log().Info("database cut over", slog.String("db", name), slog.String("backend", t.Entry.Backend),
		slog.String("type", t.Entry.BackendType()))
	if old.Maintenance && !old.SameBackend(t.Entry) {
		// The maintenance the migration recorded in the old backend for
		// other proxies ends with the cutover; the database's own ends
		// when the migration leaves maintenance (on the new backend).
		if err := s.shareMaintenanceIn(ctx, name, old, false); err != nil {
			s.log().Warn("clear the old backend's shared maintenance", slog.String("db", name), slog.Any("error", err))
		}
	}
	return info, nil
}

// SetMaintenance turns a database's maintenance mode on or off (writes
// answer 503, reads go on). It does not reopen the backend. A backend other
// proxies may serve too (adapters.SharedMaintenance: PostgreSQL) records the
// mode in itself as well, so they refuse writes too: turning it on records
// the shared state first, turning it off clears it last.
func (s *Switcher) SetMaintenance(ctx context.Context, name string, on bool) error {
	var cur registry.Database
	err := registry.Update(s.RegistryPath, func(r *registry.Registry) error {
		db, ok := r.Databases[name]
		if !ok {
			return &UnknownDatabaseError{Name: name, Known: r.Names()}
		}
		cur = db
		if on {
			db.Maintenance = on
			r.Databases[name] = db
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The entry as loaded, with its backend definition resolved.
	if reg, err := registry.Load(s.RegistryPath); err == nil {
		cur = reg.Databases[name]
	}
	if err := s.shareMaintenance(ctx, name, cur, on); err != nil {
		return fmt.Errorf("database %s: record maintenance for the other proxies: %w", name, err)
	}
	if !on {
		err = registry.Update(s.RegistryPath, func(r *registry.Registry) error {
			db, ok := r.Databases[name]
			if !ok {
				return &UnknownDatabaseError{Name: name, Known: r.Names()}
			}
			db.Maintenance = false
			r.Databases[name] = db
			return nil
		})
		if err != nil {
			return err
		}
	}
	if s.Changed != nil {
		s.Changed()
	}
	return nil
}

// shareMaintenance records maintenance in a backend that implements
// adapters.SharedMaintenance: through the server's open backend when there
// is one, else by opening it. Other backends have nothing to share.
func (s *Switcher) shareMaintenance(ctx context.Context, name string, db registry.Database, on bool) error {
	d, err := s.Catalog.For(db)
	if err != nil || !d.Shared {
		return nil //nolint:nilerr // an unknown type has no shared state
	}
	if s.Current != nil {
		return s.Current(ctx, name, func(b adapters.Backend) error { return setShared(ctx, b, on) })
	}
	return s.shareMaintenanceIn(ctx, name, db, on)
}

func setShared(ctx context.Context, b adapters.Backend, on bool) error {
	if sm, ok := b.(adapters.SharedMaintenance); ok {
		return sm.SetMaintenance(ctx, on)
	}
	return nil
}

// shareMaintenanceIn records maintenance in the store of entry db, opened
// for the purpose (not the server's current backend of the database).
func (s *Switcher) shareMaintenanceIn(ctx context.Context, name string, db registry.Database, on bool) error {
	d, err := s.Catalog.For(db)
	if err != nil || !d.Shared {
		return nil //nolint:nilerr // an unknown type has no shared state
	}
	b, err := d.Open(ctx, name, db, s.DataDir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.Close(context.WithoutCancel(ctx)); cerr != nil {
			s.log().Warn("close backend after setting maintenance", slog.String("db", name), slog.Any("error", cerr))
		}
	}()
	return setShared(ctx, b, on)
}

// Describe returns the database's backend as the registry now has it.
func (s *Switcher) Describe(name string) (Info, error) {
	reg, err := registry.LoadOrDefault(s.RegistryPath)
	if err != nil {
		return Info{}, err
	}
	db, ok := reg.Databases[name]
	if !ok {
		return Info{}, &UnknownDatabaseError{Name: name, Known: reg.Names()}
	}
	return s.Catalog.Describe(name, db), nil
}

// write records the target in the registry: the definition, if new, and the
// database's backend and path (its maintenance flag and workspace stay).
func (s *Switcher) write(t Target) (Info, error) {
	err := registry.Update(s.RegistryPath, func(r *registry.Registry) error {
		if t.DefName != "" {
			if r.Backends == nil {
				r.Backends = map[string]registry.BackendDef{}
			}
			r.Backends[t.DefName] = t.Entry.Resolved
		}
		db := r.Databases[t.Database]
		db.Backend, db.Path, db.Workspace = t.Entry.Backend, t.Entry.Path, t.Entry.Workspace
		r.Databases[t.Database] = db
		return nil
	})
	if err != nil {
		var ae *adapters.Error
		if errors.As(err, &ae) {
			return Info{}, err
		}
		return Info{}, invalid("invalid_argument", "fix the backend definition", "%v", err)
	}
	if s.Changed != nil {
		s.Changed()
	}
	return s.Describe(t.Database)
}

// Check refuses a switch that would hide or share data:
//   - the database holds records (counted through its adapter, so writes
//     not yet flushed count) and the target is empty: LightRAG would see an
//     empty database;
//   - the target's rows are another database's of this registry (same
//     server and workspace, or same folder);
//   - the target already holds rows the database would serve instead of its
//     own (unless the target is the database's own store and the database
//     is empty).
func (s *Switcher) Check(ctx context.Context, reg *registry.Registry, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, DataCheckTimeout)
	defer cancel()
	name := t.Database
	var have int64
	if t.exists {
		n, err := s.countCurrent(ctx, name, t.cur)
		if err != nil {
			return refused("", "cannot tell whether the current backend of %s holds data (%v); pass force to switch anyway", name, err)
		}
		have = n
	}
	sharers, err := s.sharers(reg, t)
	if err != nil {
		return refused("", "cannot tell where the new backend of %s keeps its rows (%v); pass force to switch anyway", name, err)
	}
	rows, err := s.countTarget(ctx, t)
	if err != nil {
		return refused("", "cannot read the new backend of %s to check it (%v); pass force to switch anyway", name, err)
	}
	var there int64
	for _, r := range rows {
		if !r.Bookkeeping {
			there += r.Rows
		}
	}
	var reasons []string
	hint := ""
	if have > 0 && there == 0 {
		reasons = append(reasons, fmt.Sprintf("database %s holds %d records and the new backend is empty: LightRAG would see an empty database. "+
			"Migrate the data first (copy it into the new backend), then switch", name, have))
	}
	if len(sharers) > 0 {
		what := "the new backend's workspace"
		if !t.desc.Shared {
			what = "the new backend's folder"
		}
		msg := fmt.Sprintf("%s is already used by database %s of this registry: the two databases would share rows", what, strings.Join(sharers, ", "))
		if there > 0 {
			msg += fmt.Sprintf(" (it holds %s)", describeRows(rows))
		}
		reasons = append(reasons, msg)
		hint = fmt.Sprintf("give database %s its own workspace (--workspace W, or workspace in the request) or folder, or repeat with force (--force) to share anyway", name)
	} else if there > 0 && (have > 0 || !t.own) {
		reasons = append(reasons, fmt.Sprintf("the new backend already holds %s that are not database %s's: %s would serve them instead of its own",
			describeRows(rows), name, name))
		hint = "switch to an empty workspace (--workspace W, or workspace in the request) and migrate into it, or repeat with force (--force) to switch anyway"
	}
	if len(reasons) == 0 {
		return nil
	}
	return refused(hint, "%s; pass force to switch anyway", strings.Join(reasons, "; "))
}

func refused(hint, format string, args ...any) error {
	if hint == "" {
		hint = "migrate the data to the new backend first, or repeat with force (--force) to switch anyway"
	}
	return adapters.Errorf(adapters.ErrConflict, CodeSwitchRefused, hint, format, args...)
}

// describeRows lists what a store holds: "12 rows (lightrag_doc_full 3,
// lightrag_graph_nodes/chunk_entity_relation 9)".
func describeRows(rows []TableRows) string {
	var total int64
	parts := make([]string, 0, len(rows))
	for _, r := range rows {
		if r.Bookkeeping { // the proxy's own state, not rows LightRAG reads
			continue
		}
		total += r.Rows
		if r.Rows == 0 {
			continue
		}
		what := r.Table
		if r.Namespace != "" && r.Namespace != r.Table {
			what += "/" + r.Namespace
		}
		if len(parts) < 8 {
			parts = append(parts, fmt.Sprintf("%s %d", what, r.Rows))
		} else if len(parts) == 8 {
			parts = append(parts, "...")
		}
	}
	ws := ""
	if len(rows) > 0 && rows[0].Workspace != "" {
		ws = " in workspace " + rows[0].Workspace
	}
	return fmt.Sprintf("%d rows%s (%s)", total, ws, strings.Join(parts, ", "))
}

// sharers are the other databases of the registry whose rows live where the
// target's do.
func (s *Switcher) sharers(reg *registry.Registry, t Target) ([]string, error) {
	if t.desc.Location == nil {
		return nil, nil
	}
	loc, err := t.desc.Location(t.Entry, s.DataDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, other := range reg.Names() {
		if other == t.Database {
			continue
		}
		db := reg.Databases[other]
		d, err := s.Catalog.For(db)
		if err != nil || d.Location == nil {
			continue
		}
		if l, err := d.Location(db, s.DataDir); err == nil && l == loc {
			out = append(out, other)
		}
	}
	return out, nil
}

// countCurrent counts the records of the database's current backend through
// its adapter: only its default workspace in a shared store.
func (s *Switcher) countCurrent(ctx context.Context, name string, cur registry.Database) (int64, error) {
	d, err := s.Catalog.For(cur)
	if err != nil {
		return 0, err
	}
	var n int64
	count := func(b adapters.Backend) error {
		var err error
		n, err = countRecords(ctx, b, d.Shared)
		return err
	}
	if s.Current != nil {
		return n, s.Current(ctx, name, count)
	}
	if d.Empty != nil {
		if empty, err := d.Empty(cur, s.DataDir); err != nil {
			return 0, err
		} else if empty {
			return 0, nil
		}
	}
	if d.WorkspaceRows != nil {
		// Read-only: opening the backend would create its schema, and a
		// check must not change the database.
		rows, err := d.WorkspaceRows(ctx, cur, s.DataDir)
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			if !r.Bookkeeping {
				n += r.Rows
			}
		}
		return n, nil
	}
	b, err := d.Open(ctx, name, cur, s.DataDir)
	if err != nil {
		return 0, err
	}
	err = count(b)
	if cerr := b.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		s.log().Warn("close backend after counting it", slog.String("db", name), slog.Any("error", cerr))
	}
	return n, err
}

// countRecords sums the records a backend holds (only its default workspace
// when shared: a shared store holds other databases' workspaces too).
func countRecords(ctx context.Context, b adapters.Backend, sharedStore bool) (int64, error) {
	infos, err := b.Namespaces(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, in := range infos {
		if sharedStore && in.Workspace != "" {
			continue
		}
		n += in.Records
	}
	return n, nil
}

// countTarget lists what the target's default workspace holds, read-only
// when the descriptor can (WorkspaceRows), else through its adapter.
func (s *Switcher) countTarget(ctx context.Context, t Target) ([]TableRows, error) {
	d := t.desc
	if d.Empty != nil {
		if empty, err := d.Empty(t.Entry, s.DataDir); err != nil {
			return nil, err
		} else if empty {
			return nil, nil
		}
	}
	if d.WorkspaceRows != nil {
		return d.WorkspaceRows(ctx, t.Entry, s.DataDir)
	}
	b, err := d.Open(ctx, t.Database, t.Entry, s.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := b.Close(context.WithoutCancel(ctx)); err != nil {
			s.log().Warn("close backend after the switch check", slog.String("db", t.Database), slog.Any("error", err))
		}
	}()
	infos, err := b.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	var out []TableRows
	for _, in := range infos {
		if d.Shared && in.Workspace != "" {
			continue
		}
		if in.Records > 0 {
			out = append(out, TableRows{Table: string(in.Kind), Namespace: in.Name, Workspace: in.Workspace, Rows: in.Records})
		}
	}
	return out, nil
}

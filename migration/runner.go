package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// Runner runs the migrations of one registry's databases. The proxy (its
// admin API) and the CLI (when no proxy serves the registry) each build one
// around the switching service, which resolves, checks, opens and cuts
// over backends the same way `backend set` does.
type Runner struct {
	Switcher *backends.Switcher
	// Flush writes a JSON database's acknowledged writes into its files.
	// The proxy flushes the backend it has open; nil opens the database's
	// backend (which replays its write-ahead log), flushes and closes it.
	Flush func(ctx context.Context, name string) error
	Log   *slog.Logger
}

func (rn *Runner) log() *slog.Logger {
	if rn.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return rn.Log
}

func (rn *Runner) flush(ctx context.Context, name string) error {
	if rn.Flush != nil {
		return rn.Flush(ctx, name)
	}
	_, cur, err := rn.database(name)
	if err != nil {
		return err
	}
	b, err := rn.open(ctx, name, cur)
	if err != nil {
		return err
	}
	return errors.Join(b.Flush(ctx), b.Close(ctx))
}

func (rn *Runner) open(ctx context.Context, name string, db registry.Database) (adapters.Backend, error) {
	return rn.Switcher.Catalog.Open(ctx, name, db, rn.Switcher.DataDir)
}

func (rn *Runner) database(name string) (*registry.Registry, registry.Database, error) {
	reg, err := registry.LoadOrDefault(rn.Switcher.RegistryPath)
	if err != nil {
		return nil, registry.Database{}, err
	}
	cur, ok := reg.Databases[name]
	if !ok {
		return nil, cur, adapters.Errorf(adapters.ErrNotFound, "unknown_database",
			"list the databases with `proxy db list`", "no database named %q (known: %s)", name, strings.Join(reg.Names(), ", "))
	}
	return reg, cur, nil
}

// Check runs the checks of a request that need no connection: its shape,
// the database, and the target as the switching service resolves it.
func (rn *Runner) Check(name string, req Request) error {
	if err := req.Validate(); err != nil {
		return err
	}
	reg, cur, err := rn.database(name)
	if err != nil {
		return err
	}
	t, err := rn.Switcher.Resolve(reg, name, req.Settings())
	if err != nil {
		return err
	}
	if t.Entry.SameBackend(cur) && !cur.Maintenance {
		return invalid("give another server, workspace or folder", "database %s is already served by that backend", name)
	}
	return nil
}

// Migrate moves database name as req asks, blocking until done.
func (rn *Runner) Migrate(ctx context.Context, name string, req Request, onProgress func(Progress)) (*Summary, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	sw := rn.Switcher
	reg, cur, err := rn.database(name)
	if err != nil {
		return nil, err
	}
	t, err := sw.Resolve(reg, name, req.Settings())
	if err != nil {
		return nil, err
	}
	if t.Entry.SameBackend(cur) {
		if cur.Maintenance {
			// Killed between the cutover and the end: finish the job.
			return rn.finishCutover(ctx, name, t.Entry)
		}
		return nil, invalid("give another server, workspace or folder", "database %s is already served by that backend", name)
	}
	lock, err := TryLock(sw.RegistryPath, name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lock.Unlock() }()
	// The target is checked exactly as `backend set` checks it.
	desc, err := sw.Catalog.For(t.Entry)
	if err != nil {
		return nil, err
	}
	if desc.Check != nil {
		if _, err := desc.Check(ctx, t.Entry, sw.DataDir, backends.CheckOptions{}); err != nil {
			return nil, err
		}
	}
	src, closeSrc, err := sourceFor(ctx, name, cur, sw.DataDir, sw.Catalog)
	if err != nil {
		return nil, fmt.Errorf("open the current backend of %s: %w", name, err)
	}
	defer closeSrc()
	if desc.Shared {
		if err := oneWorkspace(ctx, src, name); err != nil {
			return nil, err
		}
	}
	tgt, err := rn.open(ctx, name, t.Entry)
	if err != nil {
		return nil, fmt.Errorf("open the target backend of %s: %w", name, err)
	}
	defer closeQuietly(ctx, tgt, rn.log())

	env := Env{Source: src, Target: tgt, Log: rn.log(), OnProgress: onProgress,
		Maintenance: func(ctx context.Context, on bool) error {
			if err := sw.SetMaintenance(ctx, name, on); err != nil {
				return err
			}
			if bs, ok := src.(*BackendSource); ok && on {
				if _, shared := bs.B.(adapters.SharedMaintenance); shared {
					// Other proxies on the source see maintenance within
					// this long; their last writes land before the copy.
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(adapters.SharedMaintenanceStaleness + 200*time.Millisecond):
					}
				}
			}
			return nil
		},
		Cutover: func(ctx context.Context) error {
			_, err := sw.Cutover(ctx, name, req.Settings())
			return err
		}}
	if desc.WorkspaceRows != nil {
		env.TargetRows = func(ctx context.Context) ([]string, error) {
			rows, err := desc.WorkspaceRows(ctx, t.Entry, sw.DataDir)
			out := make([]string, 0, len(rows))
			for _, r := range rows {
				if r.Rows > 0 && !r.Bookkeeping { // not the proxy's own checkpoints or coordination
					out = append(out, fmt.Sprintf("table %s namespace %s workspace %s (%d rows)", r.Table, r.Namespace, r.Workspace, r.Rows))
				}
			}
			return out, err
		}
	}
	if cur.BackendType() == registry.BackendJSON {
		env.Flush = func(ctx context.Context) error { return rn.flush(ctx, name) }
	}
	key, err := jobKey("migrate", name, desc, t.Entry, sw.DataDir)
	if err != nil {
		return nil, err
	}
	return Run(ctx, env, Options{Database: name, Key: key, Force: req.Force, Restart: req.Restart, BatchSize: req.BatchSize})
}

// oneWorkspace refuses a source with LightRAG workspaces in sub-folders
// for a shared target: there a database is one workspace, and rows of other
// workspaces could not be told apart from other databases' rows.
func oneWorkspace(ctx context.Context, src Source, name string) error {
	units, err := src.Units(ctx)
	if err != nil {
		return err
	}
	var others []string
	for _, u := range units {
		if u.NS.Workspace != "" && !slices.Contains(others, u.NS.Workspace) {
			others = append(others, u.NS.Workspace)
		}
	}
	if len(others) == 0 {
		return nil
	}
	return adapters.Errorf(adapters.ErrInvalid, "workspaces_unsupported",
		"register each workspace sub-folder as a database of its own (proxy db add NAME --path DIR/WORKSPACE) and migrate them one by one",
		"database %s holds LightRAG workspaces in sub-folders (%s); a PostgreSQL database holds one workspace", name, strings.Join(others, ", "))
}

// jobKey names a job's checkpoint: the database and where the target keeps
// its rows, so two registries (or two workspaces) sharing one PostgreSQL
// never resume each other's jobs.
func jobKey(kind, name string, desc *backends.Descriptor, target registry.Database, dataDir string) (string, error) {
	loc := target.Backend + "/" + target.Path
	if desc.Location != nil {
		l, err := desc.Location(target, dataDir)
		if err != nil {
			return "", err
		}
		loc = l
	}
	h := sha256.Sum256([]byte(name + "\x00" + loc))
	return kind + "_" + hex.EncodeToString(h[:8]), nil
}

// finishCutover completes a migration that was stopped after its cutover:
// the database already uses the target; it leaves maintenance and the
// checkpoint goes.
func (rn *Runner) finishCutover(ctx context.Context, name string, entry registry.Database) (*Summary, error) {
	sw := rn.Switcher
	lock, err := TryLock(sw.RegistryPath, name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lock.Unlock() }()
	desc, err := sw.Catalog.For(entry)
	if err != nil {
		return nil, err
	}
	tgt, err := rn.open(ctx, name, entry)
	if err != nil {
		return nil, err
	}
	defer closeQuietly(ctx, tgt, rn.log())
	key, err := jobKey("migrate", name, desc, entry, sw.DataDir)
	if err != nil {
		return nil, err
	}
	if l, ok := tgt.(adapters.Loader); ok {
		if err := l.DeleteCheckpoint(ctx, key); err != nil {
			return nil, err
		}
	}
	if err := sw.SetMaintenance(ctx, name, false); err != nil {
		return nil, err
	}
	rn.log().Info("finished an interrupted cutover", slog.String("db", name))
	return &Summary{Database: name, Source: "an interrupted migration", Resumed: true, Verified: true, CutOver: true,
		Units: []UnitProgress{}, Checks: []Check{}, Phases: []PhaseDuration{}}, nil
}

// Export copies database name into dir as a LightRAG working directory,
// without maintenance or cutover: use it on a database that takes no
// writes, or accept a copy that may miss the last ones.
func (rn *Runner) Export(ctx context.Context, name, dir string, force bool, onProgress func(Progress)) (*Summary, error) {
	_, cur, err := rn.database(name)
	if err != nil {
		return nil, err
	}
	src, closeSrc, err := sourceFor(ctx, name, cur, rn.Switcher.DataDir, rn.Switcher.Catalog)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	out := registry.Database{Backend: registry.BackendJSON, Path: dir}
	if dir, err = out.ResolvePath(rn.Switcher.DataDir); err != nil {
		return nil, err
	}
	tgt, err := rn.open(ctx, name, out)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer func() { closeQuietly(ctx, tgt, rn.log()) }()
	env := Env{Source: src, Target: tgt, Log: rn.log(), OnProgress: onProgress}
	if cur.BackendType() == registry.BackendJSON {
		env.Flush = func(ctx context.Context) error { return rn.flush(ctx, name) }
	}
	sum, err := Run(ctx, env, Options{Database: name, Key: "export_" + name, Force: force, NoCutover: true})
	if err != nil {
		return sum, err
	}
	// Hand LightRAG a plain working directory: no proxy log or lock.
	if err := tgt.Close(ctx); err != nil {
		return sum, err
	}
	tgt = nil
	return sum, jsonadapter.Detach(dir)
}

// VerifyNow compares database name's JSON folder (after a migration to
// PostgreSQL, the folder it came from, kept as an archive) with its
// PostgreSQL backend; a database still on JSON is compared with other.
func (rn *Runner) VerifyNow(ctx context.Context, name string, other *backends.Settings) ([]Check, error) {
	reg, cur, err := rn.database(name)
	if err != nil {
		return nil, err
	}
	folder, server := cur, cur
	switch {
	case cur.BackendType() != registry.BackendJSON:
		folder = registry.Database{Backend: registry.BackendJSON, Path: cur.Path}
	case other != nil:
		t, err := rn.Switcher.Resolve(reg, name, *other)
		if err != nil {
			return nil, err
		}
		server = t.Entry
	default:
		return nil, invalid("give the PostgreSQL side with --dsn or --backend",
			"database %s is served from JSON files; say which PostgreSQL backend to compare them with", name)
	}
	if folder.Path == "" {
		return nil, invalid("give the folder to compare with", "database %s has no JSON folder to compare with", name)
	}
	dir, err := folder.ResolvePath(rn.Switcher.DataDir)
	if err != nil {
		return nil, err
	}
	if cur.BackendType() == registry.BackendJSON {
		if err := rn.flush(ctx, name); err != nil {
			return nil, err
		}
	}
	src := NewFolderSource(dir)
	units, err := src.Units(ctx)
	if err != nil {
		return nil, err
	}
	b, err := rn.open(ctx, name, server)
	if err != nil {
		return nil, err
	}
	defer closeQuietly(ctx, b, rn.log())
	return Verify(ctx, src, b, units, nil)
}

// Manager runs at most one migration per database in the background, for
// the proxy's admin API: start, progress, cancel.
type Manager struct {
	Runner *Runner

	mu   sync.Mutex
	jobs map[string]*Job
}

// Job is one background migration.
type Job struct {
	Request Request
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	prog    Progress
	summary *Summary
	err     error
}

// JobStatus is GET /v1/databases/{db}/migration.
type JobStatus struct {
	Running  bool      `json:"running"`
	Progress Progress  `json:"progress"`
	Summary  *Summary  `json:"summary,omitempty"`
	Error    *JobError `json:"error,omitempty"`
}

// JobError is a failed job's error in the API's error shape.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func jobError(err error) *JobError {
	if err == nil {
		return nil
	}
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return &JobError{Code: ae.Code, Message: err.Error(), Hint: ae.Hint}
	}
	return &JobError{Code: "migration_failed", Message: err.Error(),
		Hint: "fix the cause, then run the same migration again: it resumes from its last loaded batch"}
}

// Status snapshots the job.
func (j *Job) Status() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := JobStatus{Progress: j.prog, Summary: j.summary, Error: jobError(j.err)}
	select {
	case <-j.done:
	default:
		st.Running = true
	}
	return st
}

// Wait blocks until the job ends.
func (j *Job) Wait() { <-j.done }

// Start begins migrating name in the background. A job already running
// for name is a migration_running conflict.
func (m *Manager) Start(ctx context.Context, name string, req Request) (*Job, error) {
	if err := m.Runner.Check(name, req); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs == nil {
		m.jobs = map[string]*Job{}
	}
	if j, ok := m.jobs[name]; ok && j.Status().Running {
		return nil, adapters.Errorf(adapters.ErrConflict, "migration_running",
			"follow it with GET /v1/databases/"+name+"/migration, or cancel it with DELETE", "a migration of database %s is already running", name)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j := &Job{Request: req, cancel: cancel, done: make(chan struct{}),
		prog: Progress{Database: name, Phase: PhasePending, Started: time.Now(), ETASeconds: -1}}
	m.jobs[name] = j
	go func() {
		defer close(j.done)
		defer cancel()
		sum, err := m.Runner.Migrate(ctx, name, req, func(p Progress) {
			j.mu.Lock()
			j.prog = p
			j.mu.Unlock()
		})
		j.mu.Lock()
		j.summary, j.err = sum, err
		if err != nil {
			j.prog.Phase, j.prog.Error = PhaseFailed, err.Error()
		}
		j.mu.Unlock()
	}()
	return j, nil
}

// Get returns the last job of name.
func (m *Manager) Get(name string) (*Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[name]
	return j, ok
}

// Cancel stops the running job of name; it leaves maintenance and can be
// resumed. It reports whether a job was running.
func (m *Manager) Cancel(name string) bool {
	j, ok := m.Get(name)
	if !ok || !j.Status().Running {
		return false
	}
	j.cancel()
	j.Wait()
	return true
}

// Shutdown cancels every running job and waits for them.
func (m *Manager) Shutdown() {
	m.mu.Lock()
	jobs := make([]*Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		jobs = append(jobs, j)
	}
	m.mu.Unlock()
	for _, j := range jobs {
		j.cancel()
		j.Wait()
	}
}

package migration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// Live migration (`proxy migrate --live`, POST .../migration with "mode":
// "live"): the database keeps taking reads and writes while it moves.
//
//  1. dual-write: the registry records the migration; the proxy reopens the
//     database as a dualBackend, which writes every change to both backends.
//  2. backfill: the source is copied page by page in id order, each page with
//     its namespace's writes held, so a page never overwrites a newer write
//     nor brings back a deleted record; checkpointed in the target with
//     each page, resumed after a crash.
//  3. verify: every record of both sides is compared (bucketed checksums,
//     then the differing records, confirmed with their writes held);
//     confirmed differences (a write the target missed in a crash) are
//     repaired from the source and the round repeated until one is clean.
//  4. shadow: reads are also run on the target and compared; the cutover
//     waits for a clean window (reads and minutes without a mismatch).
//  5. cutover: with every write held, the registry switches the database to
//     the target; the source is kept as an archive (Database.Archive).
//  6. abort drops the copy; rollback after a cutover moves back the same way.

// Live runs the live migrations of one registry inside the proxy that
// serves it. Its Switcher must have Current (the server's open backends)
// and Changed (the server reloads the registry at once).
type Live struct {
	Switcher *backends.Switcher
	Log      *slog.Logger

	mu   sync.Mutex
	runs map[string]*liveRun // by migration id
	jobs map[string]*LiveJob // by database
}

// LiveDefaults are the settings a live migration uses unless told.
var LiveDefaults = registry.LiveOptions{ShadowShare: 1, CleanRequests: 1000, CleanMinutes: 5, AutoCutover: true,
	AbortAfterSeconds: 120}

func (l *Live) log() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}

// run returns the shared state of migration id, creating it.
func (l *Live) run(id, db string, opt registry.LiveOptions) *liveRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs == nil {
		l.runs = map[string]*liveRun{}
	}
	r, ok := l.runs[id]
	if !ok {
		r = newLiveRun(id, db)
		r.log = l.log()
		r.setShare(opt.ShadowShare)
		l.runs[id] = r
	}
	return r
}

// Open wraps the database's opened backend src for its live migration: the
// router calls it when the entry has one. The target is opened here.
func (l *Live) Open(ctx context.Context, name string, entry registry.Database, src adapters.Backend) (adapters.Backend, error) {
	lm := entry.Live
	run := l.run(lm.ID, name, lm.Options)
	target := lm.Target()
	tgt, err := l.Switcher.Catalog.Open(ctx, name, target, l.Switcher.DataDir)
	if err != nil {
		return nil, adapters.Errorf(adapters.ErrUnavailable, "migration_target_unavailable",
			"retry; the proxy aborts the live migration if the target stays unavailable",
			"database %s is being migrated live and its target cannot be opened: %v", name, err)
	}
	d, err := newDualBackend(run, src, tgt, describeEntry(target))
	if err != nil {
		_ = tgt.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if lm.Phase != registry.PhaseBackfill {
		run.shadowing.Store(true)
	}
	return d, nil
}

func describeEntry(db registry.Database) string {
	if db.BackendType() == registry.BackendJSON {
		return "JSON folder " + db.Path
	}
	return fmt.Sprintf("%s backend %s (workspace %s)", db.BackendType(), db.Backend, db.PostgresWorkspace())
}

// LiveJob is one live migration run by this proxy.
type LiveJob struct {
	live   *Live
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	// cutoverNow asks a migration waiting in the shadow phase to cut over;
	// force skips the clean window.
	cutoverNow chan bool

	mu sync.Mutex
	st LiveStatus
}

// LiveStatus is a live migration's progress (GET .../migration, status).
type LiveStatus struct {
	Mode     string    `json:"mode"` // "live"
	Database string    `json:"database"`
	ID       string    `json:"id"`
	Rollback bool      `json:"rollback"`
	Source   string    `json:"source"`
	Target   string    `json:"target"`
	Phase    string    `json:"phase"`
	State    string    `json:"state"` // running | waiting_for_cutover | done | aborted | failed
	Started  time.Time `json:"started"`
	// Units is the backfill's progress per namespace.
	Units        []UnitProgress `json:"units"`
	Records      int64          `json:"records"`
	TotalRecords int64          `json:"total_records"`
	ETASeconds   float64        `json:"eta_seconds"`
	// VerifyRounds and Repaired: verification rounds run and records found
	// different (and repaired from the source).
	VerifyRounds int          `json:"verify_rounds"`
	Repaired     int64        `json:"repaired"`
	Checks       []LiveCheck  `json:"checks,omitempty"`
	Shadow       ShadowStatus `json:"shadow"`
	// CleanWindow is what the cutover waits for.
	CleanWindow CleanWindow `json:"clean_window"`
	// DirtyUnits are namespaces a failed target write left to reconcile.
	DirtyUnits int `json:"dirty_units"`
	// TargetUnavailableSince is set while the target refuses writes.
	TargetUnavailableSince *time.Time `json:"target_unavailable_since,omitempty"`
	TargetError            string     `json:"target_error,omitempty"`
	Error                  *JobError  `json:"error,omitempty"`
}

// CleanWindow is the shadow reads and time without a mismatch the cutover
// waits for.
type CleanWindow struct {
	Requests int64   `json:"requests"`
	Minutes  float64 `json:"minutes"`
	Met      bool    `json:"met"`
	Auto     bool    `json:"auto_cutover"`
}

// LiveCheck is one namespace's last verification.
type LiveCheck struct {
	Unit     string   `json:"unit"`
	Records  int64    `json:"records"`
	Target   int64    `json:"target_records"`
	Checksum string   `json:"checksum"`
	Repaired int64    `json:"repaired"`
	IDs      []string `json:"differing_ids,omitempty"`
}

// Live job states.
const (
	LiveRunning  = "running"
	LiveWaiting  = "waiting_for_cutover"
	LiveDone     = "done"
	LiveAborted  = "aborted"
	LiveFailed   = "failed"
	liveKeyStart = "live_"
)

// Status snapshots the job with the shared run's live figures.
func (j *LiveJob) Status() LiveStatus {
	j.mu.Lock()
	st := j.st
	st.Units = append([]UnitProgress(nil), j.st.Units...)
	st.Checks = append([]LiveCheck(nil), j.st.Checks...)
	j.mu.Unlock()
	if r := j.live.existingRun(st.ID); r != nil {
		st.Shadow = r.shadow.status(r.shareValue())
		st.DirtyUnits = r.dirtyCount()
		if since, msg := r.down(); !since.IsZero() {
			st.TargetUnavailableSince, st.TargetError = &since, msg
		}
		st.CleanWindow.Met = st.Phase == registry.PhaseShadow && r.windowMet(st.CleanWindow)
	}
	return st
}

// Running reports whether the job goes on.
func (j *LiveJob) Running() bool {
	select {
	case <-j.done:
		return false
	default:
		return true
	}
}

// Wait blocks until the job ends.
func (j *LiveJob) Wait() { <-j.done }

func (j *LiveJob) update(fn func(*LiveStatus)) {
	j.mu.Lock()
	fn(&j.st)
	j.mu.Unlock()
}

func (l *Live) existingRun(id string) *liveRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

func (r *liveRun) windowMet(w CleanWindow) bool {
	s := r.shadow.status(r.shareValue())
	return s.WindowReads >= w.Requests && s.WindowSeconds >= w.Minutes*60 && r.dirtyCount() == 0
}

// Get returns the database's live job (running or last).
func (l *Live) Get(name string) (*LiveJob, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.jobs[name]
	return j, ok
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func liveOptions(req Request) (registry.LiveOptions, error) {
	o := LiveDefaults
	if req.ShadowShare != nil {
		o.ShadowShare = *req.ShadowShare
	}
	if req.CleanRequests != nil {
		o.CleanRequests = *req.CleanRequests
	}
	if req.CleanMinutes != nil {
		o.CleanMinutes = *req.CleanMinutes
	}
	if req.AbortAfterSeconds != nil {
		o.AbortAfterSeconds = *req.AbortAfterSeconds
	}
	switch req.Cutover {
	case "", "auto":
	case "manual":
		o.AutoCutover = false
	default:
		return o, invalid(`use "auto" or "manual"`, "cutover %q is not known", req.Cutover)
	}
	switch {
	case o.ShadowShare < 0 || o.ShadowShare > 1:
		return o, invalid("give a share between 0 and 1", "shadow_share %v is out of range", o.ShadowShare)
	case o.CleanRequests < 0 || o.CleanMinutes < 0:
		return o, invalid("give a clean window of 0 or more requests and minutes", "clean window is negative")
	case o.AbortAfterSeconds <= 0:
		return o, invalid("give abort_after_seconds above 0", "abort_after_seconds %v is out of range", o.AbortAfterSeconds)
	}
	return o, nil
}

// Start begins a live migration of database name to req's target.
func (l *Live) Start(ctx context.Context, name string, req Request) (*LiveJob, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	opt, err := liveOptions(req)
	if err != nil {
		return nil, err
	}
	reg, cur, err := l.idle(name)
	if err != nil {
		return nil, err
	}
	t, err := l.Switcher.Resolve(reg, name, req.Settings())
	if err != nil {
		return nil, err
	}
	if t.Entry.SameBackend(cur) {
		return nil, invalid("give another server, workspace or folder", "database %s is already served by that backend", name)
	}
	return l.begin(ctx, name, cur, t.Entry, t.DefName, opt, req.Force, false)
}

// idle returns the registry and database name's entry, which must have no
// live migration recorded.
func (l *Live) idle(name string) (*registry.Registry, registry.Database, error) {
	reg, err := registry.LoadOrDefault(l.Switcher.RegistryPath)
	if err != nil {
		return nil, registry.Database{}, err
	}
	cur, ok := reg.Databases[name]
	if !ok {
		return nil, cur, &backends.UnknownDatabaseError{Name: name, Known: reg.Names()}
	}
	if cur.Live != nil {
		return nil, cur, l.resumeOrConflict(name)
	}
	return reg, cur, nil
}

func (l *Live) resumeOrConflict(name string) error {
	if j, ok := l.Get(name); ok && j.Running() {
		return adapters.Errorf(adapters.ErrConflict, "migration_running",
			"follow it with GET /v1/databases/"+name+"/migration; abort it with POST .../migration/abort",
			"a live migration of database %s is already running", name)
	}
	return adapters.Errorf(adapters.ErrConflict, "migration_running",
		"it resumes when the proxy starts; abort it with POST /v1/databases/"+name+"/migration/abort",
		"database %s has a live migration recorded in the registry", name)
}

// Rollback moves a database back to the backend its last live migration
// cut over from (its archive), live.
func (l *Live) Rollback(ctx context.Context, name string, req Request) (*LiveJob, error) {
	opt, err := liveOptions(req)
	if err != nil {
		return nil, err
	}
	reg, cur, err := l.idle(name)
	if err != nil {
		return nil, err
	}
	if cur.Archive == nil {
		return nil, adapters.Errorf(adapters.ErrConflict, "nothing_to_roll_back",
			"a rollback moves a database back after a live migration's cutover; use proxy migrate "+name+" --to json --path DIR --live to move it elsewhere",
			"database %s has no archive of a backend it left", name)
	}
	back := cur.Archive.Entry()
	if back.Backend != "" && back.Backend != registry.BackendJSON {
		back.Resolved = reg.Backends[back.Backend]
	}
	return l.begin(ctx, name, cur, back, "", opt, true, true)
}

// begin checks the target, records the migration in the registry (the
// proxy starts dual-writing) and runs it in the background.
func (l *Live) begin(ctx context.Context, name string, cur, target registry.Database, defName string,
	opt registry.LiveOptions, force, rollback bool) (*LiveJob, error) {
	sw := l.Switcher
	desc, err := sw.Catalog.For(target)
	if err != nil {
		return nil, err
	}
	if desc.Check != nil {
		if _, err := desc.Check(ctx, target, sw.DataDir, backends.CheckOptions{}); err != nil {
			return nil, err
		}
	}
	if !force && desc.WorkspaceRows != nil {
		rows, err := desc.WorkspaceRows(ctx, target, sw.DataDir)
		if err != nil {
			return nil, err
		}
		var held []string
		for _, r := range rows {
			if r.Rows > 0 && !r.Bookkeeping {
				held = append(held, fmt.Sprintf("%s/%s (%d rows)", r.Table, r.Namespace, r.Rows))
			}
		}
		if len(held) > 0 {
			return nil, adapters.Errorf(adapters.ErrConflict, "target_not_empty",
				"migrate into an empty workspace (--workspace W), or pass force (--force) to merge into these rows",
				"the target of %s already holds rows: %v", name, held)
		}
	}
	if err := l.dimensionsFit(ctx, name, target); err != nil {
		return nil, err
	}
	lm := &registry.LiveMigration{ID: newID(), Backend: target.Backend, Path: target.Path, Workspace: target.Workspace,
		Phase: registry.PhaseBackfill, Rollback: rollback, Started: time.Now().UTC().Truncate(time.Second), Options: opt}
	if target.BackendType() != registry.BackendJSON {
		lm.Path = ""
	}
	err = registry.Update(sw.RegistryPath, func(r *registry.Registry) error {
		db, ok := r.Databases[name]
		if !ok {
			return &backends.UnknownDatabaseError{Name: name, Known: r.Names()}
		}
		if db.Live != nil {
			return l.resumeOrConflict(name)
		}
		if defName != "" {
			if r.Backends == nil {
				r.Backends = map[string]registry.BackendDef{}
			}
			r.Backends[defName] = target.Resolved
		}
		db.Live = lm
		r.Databases[name] = db
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The job needs the migration as the registry resolves it (its target's
	// backend definition): abort opens the target from it to drop the copy.
	if reg, err := registry.Load(sw.RegistryPath); err == nil {
		if db := reg.Databases[name]; db.Live != nil && db.Live.ID == lm.ID {
			lm = db.Live
		}
	}
	if sw.Changed != nil {
		sw.Changed()
	}
	l.log().Info("live migration started", slog.String("db", name), slog.String("id", lm.ID),
		slog.String("target", describeEntry(target)), slog.Bool("rollback", rollback))
	return l.spawn(name, cur, lm), nil
}

// dimensionsFit refuses a target that keeps one of the database's vector
// namespaces in another dimension: every write of those vectors would fail.
func (l *Live) dimensionsFit(ctx context.Context, name string, target registry.Database) error {
	var units []Unit
	err := l.Switcher.Current(ctx, name, func(b adapters.Backend) error {
		var err error
		units, err = (&BackendSource{B: b, Name: name, DefaultOnly: true}).Units(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("list the namespaces of %s: %w", name, err)
	}
	tgt, err := l.Switcher.Catalog.Open(ctx, name, target, l.Switcher.DataDir)
	if err != nil {
		return fmt.Errorf("open the target of %s: %w", name, err)
	}
	defer closeQuietly(ctx, tgt, l.log())
	return dimensionsFit(ctx, tgt, units, name)
}

// Resume restarts the live migrations the registry records (a restarted
// proxy).
func (l *Live) Resume() {
	reg, err := registry.LoadOrDefault(l.Switcher.RegistryPath)
	if err != nil {
		l.log().Error("resume live migrations: read the registry", slog.Any("error", err))
		return
	}
	for _, name := range reg.Names() {
		db := reg.Databases[name]
		if db.Live == nil {
			continue
		}
		if j, ok := l.Get(name); ok && j.Running() {
			continue
		}
		l.log().Info("resuming a live migration", slog.String("db", name), slog.String("id", db.Live.ID),
			slog.String("phase", db.Live.Phase))
		l.spawn(name, db, db.Live)
	}
}

func (l *Live) spawn(name string, cur registry.Database, lm *registry.LiveMigration) *LiveJob {
	ctx, cancel := context.WithCancel(context.Background())
	run := l.run(lm.ID, name, lm.Options)
	src := cur
	src.Live, src.Archive = nil, nil
	j := &LiveJob{live: l, name: name, cancel: cancel, done: make(chan struct{}), cutoverNow: make(chan bool, 1),
		st: LiveStatus{Mode: "live", Database: name, ID: lm.ID, Rollback: lm.Rollback, Source: describeEntry(src),
			Target: describeEntry(lm.Target()), Phase: lm.Phase, State: LiveRunning, Started: lm.Started, ETASeconds: -1,
			Units: []UnitProgress{},
			CleanWindow: CleanWindow{Requests: lm.Options.CleanRequests, Minutes: lm.Options.CleanMinutes,
				Auto: lm.Options.AutoCutover}}}
	l.mu.Lock()
	if l.jobs == nil {
		l.jobs = map[string]*LiveJob{}
	}
	l.jobs[name] = j
	l.mu.Unlock()
	go func() {
		defer close(j.done)
		defer cancel()
		err := (&liveJob{LiveJob: j, run: run, lm: lm, src: src}).execute(ctx)
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			// The proxy is stopping; the registry keeps the migration and
			// the next start resumes it.
		default:
			// A failed migration must not go on dual-writing: it is
			// aborted, and the error kept for GET .../migration.
			l.log().Error("live migration failed; aborting it", slog.String("db", name), slog.Any("error", err))
			if aerr := l.abort(context.WithoutCancel(ctx), name, lm, "failed: "+err.Error()); aerr != nil {
				l.log().Error("abort the failed live migration", slog.String("db", name), slog.Any("error", aerr))
			}
			j.update(func(s *LiveStatus) { s.State, s.Error = LiveFailed, jobError(err) })
		}
	}()
	return j
}

// Cutover asks a waiting migration to cut over (force: without its clean
// window).
func (l *Live) Cutover(name string, force bool) (*LiveJob, error) {
	j, ok := l.Get(name)
	if !ok || !j.Running() {
		return nil, noLiveMigration(name)
	}
	st := j.Status()
	if !force && (st.Phase != registry.PhaseShadow || !st.CleanWindow.Met) {
		return nil, adapters.Errorf(adapters.ErrConflict, "cutover_not_ready",
			"wait for the clean window (GET .../migration shows it), or pass force to cut over now",
			"database %s is in phase %s; its clean window (%d shadow reads and %.1f minutes without a mismatch) has not passed",
			name, st.Phase, st.CleanWindow.Requests, st.CleanWindow.Minutes)
	}
	if !force && st.Phase != registry.PhaseShadow {
		return nil, adapters.Errorf(adapters.ErrConflict, "cutover_not_ready", "wait for the verification to finish",
			"database %s is still in phase %s", name, st.Phase)
	}
	select {
	case j.cutoverNow <- force:
	default:
	}
	return j, nil
}

func noLiveMigration(name string) error {
	return adapters.Errorf(adapters.ErrNotFound, "no_migration",
		"start one with POST /v1/databases/"+name+"/migration and \"mode\": \"live\" (proxy migrate "+name+" --live ...)",
		"no live migration of database %s is running", name)
}

// Abort stops a live migration before its cutover: the database serves
// from its backend alone again and the target's copy is dropped.
func (l *Live) Abort(ctx context.Context, name string) (*LiveJob, error) {
	reg, err := registry.LoadOrDefault(l.Switcher.RegistryPath)
	if err != nil {
		return nil, err
	}
	db, ok := reg.Databases[name]
	if !ok {
		return nil, &backends.UnknownDatabaseError{Name: name, Known: reg.Names()}
	}
	if db.Live == nil {
		return nil, noLiveMigration(name)
	}
	j, ok := l.Get(name)
	if ok && j.Running() {
		j.cancel()
		j.Wait()
	}
	if err := l.abort(ctx, name, db.Live, "aborted on request"); err != nil {
		return nil, err
	}
	if j, ok := l.Get(name); ok {
		return j, nil
	}
	return nil, nil
}

// abort clears the migration from the registry (the proxy reopens the
// database on its backend alone) and drops the target's copy; a rollback's
// target, the archive, is kept.
func (l *Live) abort(ctx context.Context, name string, lm *registry.LiveMigration, why string) error {
	sw := l.Switcher
	err := registry.Update(sw.RegistryPath, func(r *registry.Registry) error {
		db, ok := r.Databases[name]
		if !ok || db.Live == nil || db.Live.ID != lm.ID {
			return nil
		}
		db.Live = nil
		r.Databases[name] = db
		return nil
	})
	if err != nil {
		return err
	}
	if sw.Changed != nil {
		sw.Changed()
	}
	if j, ok := l.Get(name); ok {
		j.update(func(s *LiveStatus) {
			s.State = LiveAborted
			s.Error = &JobError{Code: "migration_aborted", Message: why,
				Hint: "the database serves from its own backend alone; start the migration again when ready"}
		})
	}
	l.log().Warn("live migration aborted", slog.String("db", name), slog.String("id", lm.ID), slog.String("why", why))
	if lm.Rollback {
		return nil
	}
	tgt, err := sw.Catalog.Open(ctx, name, lm.Target(), sw.DataDir)
	if err != nil {
		l.log().Warn("drop the aborted migration's copy later: the target cannot be opened", slog.String("db", name), slog.Any("error", err))
		return nil
	}
	defer closeQuietly(ctx, tgt, l.log())
	if err := Discard(ctx, tgt); err != nil {
		l.log().Warn("drop the aborted migration's copy", slog.String("db", name), slog.Any("error", err))
	}
	if ld, ok := tgt.(adapters.Loader); ok {
		_ = ld.DeleteCheckpoint(ctx, liveKeyStart+lm.ID)
	}
	return nil
}

// Shutdown stops the running jobs (they resume at the next start).
func (l *Live) Shutdown() {
	l.mu.Lock()
	jobs := make([]*LiveJob, 0, len(l.jobs))
	for _, j := range l.jobs {
		jobs = append(jobs, j)
	}
	l.mu.Unlock()
	for _, j := range jobs {
		j.cancel()
		j.Wait()
	}
}

// ShadowTallies lists the shadow reads of every live migration of this
// proxy by database (metrics).
func (l *Live) ShadowTallies() map[string]ShadowStatus {
	l.mu.Lock()
	jobs := make(map[string]*LiveJob, len(l.jobs))
	for n, j := range l.jobs {
		jobs[n] = j
	}
	l.mu.Unlock()
	out := map[string]ShadowStatus{}
	for n, j := range jobs {
		out[n] = j.Status().Shadow
	}
	return out
}

// liveState is the backfill's checkpoint, saved with every page.
type liveState struct {
	Done      []string      `json:"done"`
	Unit      string        `json:"unit,omitempty"`
	After     string        `json:"after,omitempty"`
	AfterEdge adapters.Edge `json:"after_edge"`
	NodesDone bool          `json:"nodes_done,omitempty"`
	Copied    int64         `json:"copied"`
}

func (s liveState) marshal() []byte {
	b, _ := json.Marshal(s)
	return b
}

// Package migration moves a database between backends: JSON files to
// PostgreSQL and back, and exports to a LightRAG working directory.
//
// A migration runs in phases: guard the target (refuse one that already
// holds rows), put the database in maintenance (writes answer 503, reads go
// on from the source), flush, copy unit by unit in batches, finish the
// target (index builds), verify (counts, checksums, sampled queries), cut
// over, leave maintenance. Every batch is loaded together with the job's
// checkpoint (adapters.Loader), so a migration killed at any moment resumes
// from its last loaded batch when run again, and ends with the same rows.
// On any failure the database stays on its source and leaves maintenance.
package migration

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Phases of a migration, in order.
const (
	PhasePending     = "pending"
	PhaseGuard       = "checking target"
	PhaseMaintenance = "entering maintenance"
	PhaseFlush       = "flushing"
	PhaseCopy        = "copying"
	PhaseFinish      = "building indexes"
	PhaseVerify      = "verifying"
	PhaseCutover     = "cutting over"
	PhaseDone        = "done"
	PhaseFailed      = "failed"
)

// DefaultBatchSize is the records loaded per batch (one transaction).
const DefaultBatchSize = 2000

// maxProblemsKept bounds the skipped records a report lists (all are counted).
const maxProblemsKept = 100

// Options of one run.
type Options struct {
	Database string
	// Key names the job's checkpoint in the target (default
	// "migrate_<database>").
	Key       string
	BatchSize int
	// Force loads into a target that already holds rows in the same
	// workspaces (records with the same id are replaced).
	Force bool
	// Restart discards a half-done job (its checkpoint and what it loaded).
	Restart bool
	// NoCutover copies and verifies but leaves the database where it is
	// (export).
	NoCutover bool
}

// Env is what a run needs from whoever runs it (the proxy's admin API or
// the CLI); each hook may be nil when it does not apply.
type Env struct {
	Source Source
	// Target must implement adapters.Loader.
	Target adapters.Backend
	// Flush makes the source hold every acknowledged write.
	Flush func(ctx context.Context) error
	// Maintenance turns the database's maintenance mode on or off.
	Maintenance func(ctx context.Context, on bool) error
	// Cutover points the database at the target.
	Cutover func(ctx context.Context) error
	// TargetRows lists, read-only, what the target already holds where the
	// copy goes (tables and counts). Nil: the target's namespaces are
	// counted.
	TargetRows func(ctx context.Context) ([]string, error)
	Log        *slog.Logger
	// OnProgress receives a snapshot after each batch and phase change.
	OnProgress func(Progress)
}

// Summary is the end of a run.
type Summary struct {
	Database string          `json:"database"`
	Source   string          `json:"source"`
	Resumed  bool            `json:"resumed"`
	Units    []UnitProgress  `json:"units"`
	Checks   []Check         `json:"checks"`
	Verified bool            `json:"verified"`
	CutOver  bool            `json:"cut_over"`
	Skipped  int64           `json:"skipped"`
	Problems []Problem       `json:"problems,omitempty"`
	Seconds  float64         `json:"seconds"`
	Phases   []PhaseDuration `json:"phases"`
}

// PhaseDuration is how long one phase took.
type PhaseDuration struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
}

// state is the checkpoint saved with every batch.
type state struct {
	Version     int                   `json:"version"`
	Database    string                `json:"database"`
	Source      string                `json:"source"`
	Fingerprint string                `json:"fingerprint"`
	Started     time.Time             `json:"started"`
	Units       map[string]*unitState `json:"units"`
	Skipped     int64                 `json:"skipped"`
}

type unitState struct {
	NS       adapters.Namespace `json:"ns"`
	Kind     adapters.Kind      `json:"kind"`
	Done     int64              `json:"done"`
	Finished bool               `json:"finished"`
	// Unreadable: the whole file is not in LightRAG's format; it is left
	// behind, reported, and not verified.
	Unreadable bool `json:"unreadable,omitempty"`
}

// Run migrates one database. It returns the summary so far with any error.
func Run(ctx context.Context, env Env, opt Options) (*Summary, error) {
	r, err := newRun(env, opt)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

type run struct {
	env    Env
	opt    Options
	loader adapters.Loader
	log    *slog.Logger

	mu      sync.Mutex
	prog    Progress
	sum     Summary
	st      *state
	phaseAt time.Time
	eta     etaModel
}

func newRun(env Env, opt Options) (*run, error) {
	l, ok := env.Target.(adapters.Loader)
	if !ok {
		return nil, adapters.Errorf(adapters.ErrUnsupported, "target_unsupported",
			"migrate to a backend that can load records (json or postgres)", "the target backend cannot load records")
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.Key == "" {
		opt.Key = "migrate_" + opt.Database
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{env: env, opt: opt, loader: l, log: log.With(slog.String("db", opt.Database))}
	r.prog = Progress{Database: opt.Database, Phase: PhasePending, Started: time.Now()}
	r.sum = Summary{Database: opt.Database, Source: env.Source.Describe()}
	return r, nil
}

func (r *run) run(ctx context.Context) (sum *Summary, err error) {
	start := time.Now()
	inMaintenance := false
	defer func() {
		// On failure the database stays where it was and takes writes again;
		// the checkpoint stays, so the same command resumes.
		if inMaintenance && r.env.Maintenance != nil {
			if merr := r.env.Maintenance(context.WithoutCancel(ctx), false); merr != nil {
				err = errors.Join(err, fmt.Errorf("leave maintenance: %w", merr))
			}
		}
		r.mu.Lock()
		r.sum.Seconds = time.Since(start).Seconds()
		r.endPhaseLocked()
		if err != nil {
			r.prog.Phase, r.prog.Error = PhaseFailed, err.Error()
		} else {
			r.prog.Phase = PhaseDone
		}
		s := r.sum
		r.mu.Unlock()
		r.report()
		sum = &s
	}()

	r.phase(PhaseGuard)
	resumed, err := r.loadCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if !resumed {
		if err := r.guard(ctx); err != nil {
			return nil, err
		}
	}
	if r.env.Maintenance != nil {
		r.phase(PhaseMaintenance)
		if err := r.env.Maintenance(ctx, true); err != nil {
			return nil, fmt.Errorf("enter maintenance: %w", err)
		}
		inMaintenance = true
	}
	if r.env.Flush != nil {
		r.phase(PhaseFlush)
		if err := r.env.Flush(ctx); err != nil {
			return nil, fmt.Errorf("flush %s before copying: %w", r.env.Source.Describe(), err)
		}
	}
	fp, err := r.env.Source.Fingerprint(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.env.Source.Describe(), err)
	}
	if resumed && fp != r.st.Fingerprint {
		return nil, adapters.Errorf(adapters.ErrConflict, "source_changed",
			fmt.Sprintf("run the migration again with --restart (restart: true) to copy %s from the beginning", r.opt.Database),
			"%s changed since the interrupted migration of %s was started, so it cannot be resumed", r.env.Source.Describe(), r.opt.Database)
	}
	r.st.Fingerprint = fp
	units, err := r.env.Source.Units(ctx)
	if err != nil {
		return nil, err
	}
	r.initProgress(units)

	r.phase(PhaseCopy)
	// The largest files first: the rate measured early then comes from
	// most of the work, which keeps the ETA honest.
	order := slices.Clone(units)
	slices.SortStableFunc(order, func(a, b Unit) int { return cmp.Compare(b.Bytes, a.Bytes) })
	for _, u := range order {
		if err := r.copyUnit(ctx, u); err != nil {
			return nil, err
		}
	}
	r.phase(PhaseFinish)
	for _, u := range units {
		if err := r.loader.FinishLoad(ctx, u.NS, u.Kind); err != nil {
			return nil, fmt.Errorf("finish loading %s: %w", u.Key(), err)
		}
	}
	r.phase(PhaseVerify)
	readable := units[:0:0]
	for _, u := range units {
		if us := r.st.Units[u.Key()]; us == nil || !us.Unreadable {
			readable = append(readable, u)
		}
	}
	checks, err := Verify(ctx, r.env.Source, r.env.Target, readable, nil)
	r.mu.Lock()
	r.sum.Checks = checks
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if bad := failedChecks(checks); len(bad) > 0 {
		return nil, adapters.Errorf(adapters.ErrConflict, "verification_failed",
			"the database stays on its current backend; look at the differences, then run the migration again with --restart to copy afresh",
			"verification of %s failed: %s", r.opt.Database, strings.Join(bad, "; "))
	}
	r.mu.Lock()
	r.sum.Verified = true
	r.mu.Unlock()
	if !r.opt.NoCutover && r.env.Cutover != nil {
		r.phase(PhaseCutover)
		if err := r.env.Cutover(ctx); err != nil {
			return nil, fmt.Errorf("cut over: %w", err)
		}
		r.mu.Lock()
		r.sum.CutOver = true
		r.mu.Unlock()
	}
	if err := r.loader.DeleteCheckpoint(ctx, r.opt.Key); err != nil {
		r.log.Warn("migration done but its checkpoint could not be removed", slog.Any("error", err))
	}
	return nil, nil
}

func failedChecks(checks []Check) []string {
	var bad []string
	for _, c := range checks {
		if !c.OK() {
			bad = append(bad, c.Unit+": "+strings.Join(c.Differences, "; "))
		}
	}
	return bad
}

// loadCheckpoint resumes a half-done job, or discards it with Restart.
func (r *run) loadCheckpoint(ctx context.Context) (bool, error) {
	raw, err := r.loader.LoadedCheckpoint(ctx, r.opt.Key)
	if err != nil {
		return false, fmt.Errorf("read the migration checkpoint from the target: %w", err)
	}
	fresh := &state{Version: 1, Database: r.opt.Database, Source: r.env.Source.Describe(), Started: time.Now(),
		Units: map[string]*unitState{}}
	if raw == nil {
		r.st = fresh
		return false, nil
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil || st.Version != 1 {
		return false, adapters.Errorf(adapters.ErrCorrupt, "corrupt_checkpoint",
			"run the migration again with --restart to start afresh", "the migration checkpoint %q in the target cannot be read", r.opt.Key)
	}
	if r.opt.Restart {
		// Discard what the half-done job loaded, then start afresh.
		for _, us := range st.Units {
			if err := dropUnit(ctx, r.env.Target, Unit{NS: us.NS, Kind: us.Kind}); err != nil {
				return false, fmt.Errorf("discard the half-done migration: %w", err)
			}
		}
		if err := r.loader.DeleteCheckpoint(ctx, r.opt.Key); err != nil {
			return false, err
		}
		r.log.Info("discarded a half-done migration", slog.Int("units", len(st.Units)))
		r.st = fresh
		return false, nil
	}
	if st.Units == nil {
		st.Units = map[string]*unitState{}
	}
	r.st = &st
	r.mu.Lock()
	r.sum.Resumed = true
	r.sum.Skipped = st.Skipped
	r.mu.Unlock()
	r.log.Info("resuming a migration", slog.Time("started", st.Started))
	return true, nil
}

// Discard drops every namespace of b's default workspace: what a migration
// into b loaded (tests and benchmarks clean up with it).
func Discard(ctx context.Context, b adapters.Backend) error {
	units, err := (&BackendSource{B: b, Name: "target", DefaultOnly: true}).Units(ctx)
	if err != nil {
		return err
	}
	for _, u := range units {
		if err := dropUnit(ctx, b, u); err != nil {
			return fmt.Errorf("drop %s: %w", u.Key(), err)
		}
	}
	return nil
}

func dropUnit(ctx context.Context, b adapters.Backend, u Unit) error {
	switch u.Kind {
	case adapters.KindKV:
		s, err := b.KV(ctx, u.NS)
		if err != nil {
			return err
		}
		return s.Drop(ctx)
	case adapters.KindDocStatus:
		s, err := b.DocStatus(ctx, u.NS)
		if err != nil {
			return err
		}
		return s.Drop(ctx)
	case adapters.KindVector:
		s, err := b.Vector(ctx, u.NS, 0)
		if err != nil {
			return err
		}
		return s.Drop(ctx)
	case adapters.KindGraph:
		s, err := b.Graph(ctx, u.NS)
		if err != nil {
			return err
		}
		return s.Drop(ctx)
	}
	return fmt.Errorf("unknown kind %q", u.Kind)
}

// guard refuses a target that already holds rows where the copy would go.
func (r *run) guard(ctx context.Context) error {
	units, err := r.env.Source.Units(ctx)
	if err != nil {
		return err
	}
	spaces := map[string]bool{}
	for _, u := range units {
		spaces[u.NS.Workspace] = true
	}
	var held []string
	if r.env.TargetRows != nil {
		if held, err = r.env.TargetRows(ctx); err != nil {
			return fmt.Errorf("look at the target: %w", err)
		}
	}
	infos, err := r.env.Target.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("look at the target: %w", err)
	}
	for _, in := range infos {
		// The default workspace is counted by TargetRows when given.
		if spaces[in.Workspace] && in.Records+in.Edges > 0 && (r.env.TargetRows == nil || in.Workspace != "") {
			held = append(held, fmt.Sprintf("%s %s (%d records)", in.Kind, in.Namespace, in.Records+in.Edges))
		}
	}
	if err := r.dimensionsFit(ctx, units); err != nil {
		return err
	}
	if len(held) == 0 || r.opt.Force {
		if len(held) > 0 {
			r.log.Warn("loading into a target that holds rows (force)", slog.String("held", strings.Join(held, ", ")))
		}
		return nil
	}
	slices.Sort(held)
	return adapters.Errorf(adapters.ErrConflict, "target_not_empty",
		"migrate into another workspace (--workspace), empty it, or repeat with --force to load into it (records with the same id are replaced)",
		"the target already holds rows where %s would be copied: %s", r.opt.Database, strings.Join(held, ", "))
}

// dimensionsFit refuses, before anything changes, vectors the target keeps
// in another dimension: LightRAG's unsuffixed vector tables hold one
// dimension for every workspace of a server.
func (r *run) dimensionsFit(ctx context.Context, units []Unit) error {
	return dimensionsFit(ctx, r.env.Target, units, r.opt.Database)
}

// dimensionsFit refuses a target that keeps one of the units' vector
// namespaces in another dimension.
func dimensionsFit(ctx context.Context, target adapters.Backend, units []Unit, db string) error {
	for _, u := range units {
		if u.Kind != adapters.KindVector || u.Dim == 0 {
			continue
		}
		if _, err := target.Vector(ctx, u.NS, u.Dim); err != nil {
			var ae *adapters.Error
			if errors.As(err, &ae) && ae.Code == "dimension_mismatch" {
				return adapters.Errorf(adapters.ErrInvalid, "dimension_mismatch",
					"give the embedding model LightRAG uses (--embedding-model NAME, \"embedding_model\"): its vectors then get tables of their own (LIGHTRAG_VDB_<NAMESPACE>_<model>_<dim>d), as LightRAG names them",
					"the target keeps %s vectors in another dimension than %s's %d: %s", u.NS.Name, db, u.Dim, ae.Message)
			}
			return fmt.Errorf("look at the target's %s vectors: %w", u.NS.Name, err)
		}
	}
	return nil
}

// copyUnit loads one unit batch by batch, each with the checkpoint.
func (r *run) copyUnit(ctx context.Context, u Unit) error {
	us := r.st.Units[u.Key()]
	if us == nil {
		us = &unitState{NS: u.NS, Kind: u.Kind}
		r.st.Units[u.Key()] = us
	}
	if us.Finished {
		r.advance(u, us.Done, true)
		return nil
	}
	r.beginUnit(u)
	var problems int64
	onProblem := func(p Problem) {
		problems++
		r.mu.Lock()
		r.sum.Skipped++
		if len(r.sum.Problems) < maxProblemsKept {
			r.sum.Problems = append(r.sum.Problems, p)
		}
		r.mu.Unlock()
		r.log.Warn("skipped a record that cannot be read", slog.String("file", p.File), slog.Int64("offset", p.Offset),
			slog.String("record", p.Record), slog.String("reason", p.Reason))
	}
	err := r.env.Source.Stream(ctx, u, us.Done, r.opt.BatchSize, onProblem, func(b adapters.Batch) error {
		next := *r.st
		next.Units = maps.Clone(r.st.Units)
		nu := *us
		nu.Done += int64(b.Len())
		next.Units[u.Key()] = &nu
		next.Skipped = r.sumSkipped()
		cp, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		if err := r.load(ctx, b, adapters.Checkpoint{Key: r.opt.Key, State: cp}); err != nil {
			return fmt.Errorf("load %d records of %s: %w", b.Len(), u.Key(), err)
		}
		us.Done = nu.Done
		r.advance(u, us.Done, false)
		return nil
	})
	if err != nil && us.Done == 0 && errors.Is(err, adapters.ErrCorrupt) {
		// The whole file is unreadable (the JSON backend refuses to serve
		// it too): leave it behind and say so, copy the rest.
		us.Unreadable = true
		onProblem(Problem{File: u.Key(), Reason: err.Error()})
		err = nil
	}
	if err != nil {
		return err
	}
	us.Finished = true
	r.advance(u, us.Done, true)
	return nil
}

// RetryFor bounds how long a load waits for a target that became
// unavailable (a PostgreSQL restart) before the run fails; the run resumes
// where it stopped either way.
const RetryFor = 2 * time.Minute

// load loads one batch, retrying with exponential backoff while the target
// is unavailable: a batch and its checkpoint commit together, so a retried
// batch is never loaded twice.
func (r *run) load(ctx context.Context, b adapters.Batch, cp adapters.Checkpoint) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 250*time.Millisecond, 5*time.Second, RetryFor
	return backoff.RetryNotify(func() error {
		err := r.loader.Load(ctx, b, cp)
		if err != nil && !errors.Is(err, adapters.ErrUnavailable) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(bo, ctx), func(err error, wait time.Duration) {
		r.log.Warn("target unavailable; retrying the batch", slog.Any("error", err), slog.Duration("in", wait))
	})
}

func (r *run) sumSkipped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum.Skipped
}

// Verify compares every unit of source and target (see verifyUnit).
func Verify(ctx context.Context, src Source, tgt adapters.Backend, units []Unit, problem func(Problem)) ([]Check, error) {
	out := make([]Check, 0, len(units))
	for _, u := range units {
		c, err := verifyUnit(ctx, src, tgt, u, problem)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/registry"
)

// liveJob is the controller of one live migration.
type liveJob struct {
	*LiveJob
	run *liveRun
	lm  *registry.LiveMigration
	src registry.Database // the database's own backend
}

// errAborted: the target stayed unavailable too long; the migration was
// aborted (not a failure of the job).
var errAborted = errors.New("live migration aborted")

// maxVerifyRounds bounds the verification rounds before the job gives up:
// a round repairs what differs, so a second round is normally clean.
const maxVerifyRounds = 10

func (j *liveJob) execute(ctx context.Context) error {
	err := j.phases(ctx)
	if errors.Is(err, errAborted) {
		return nil
	}
	return err
}

func (j *liveJob) phases(ctx context.Context) error {
	phase := j.lm.Phase
	if phase == registry.PhaseBackfill {
		j.setPhase(registry.PhaseBackfill)
		if err := j.withDual(ctx, j.backfill); err != nil {
			return err
		}
		if err := j.savePhase(registry.PhaseVerify); err != nil {
			return err
		}
	}
	// A restarted proxy verifies again whatever phase it reached: a write
	// the kill cut between the two backends is found and repaired.
	j.setPhase(registry.PhaseVerify)
	if err := j.withDual(ctx, j.verify); err != nil {
		return err
	}
	if err := j.savePhase(registry.PhaseShadow); err != nil {
		return err
	}
	j.setPhase(registry.PhaseShadow)
	return j.withDual(ctx, j.shadowThenCutover)
}

func (j *liveJob) setPhase(p string) {
	j.update(func(s *LiveStatus) {
		s.Phase = p
		if p == registry.PhaseShadow {
			s.ETASeconds = 0
		}
	})
}

// savePhase records the phase reached in the registry.
func (j *liveJob) savePhase(p string) error {
	return registry.Update(j.live.Switcher.RegistryPath, func(r *registry.Registry) error {
		db, ok := r.Databases[j.name]
		if !ok || db.Live == nil || db.Live.ID != j.lm.ID {
			return fmt.Errorf("database %s: the live migration %s is no longer in the registry", j.name, j.lm.ID)
		}
		live := *db.Live
		live.Phase = p
		db.Live = &live
		r.Databases[j.name] = db
		return nil
	})
}

// withDual runs fn on the database's dual backend as the proxy has it
// open, waiting for the proxy to reopen the database after the registry
// recorded the migration.
func (j *liveJob) withDual(ctx context.Context, fn func(context.Context, *dualBackend) error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 50*time.Millisecond, 2*time.Second, 0
	for {
		var notYet bool
		err := j.live.Switcher.Current(ctx, j.name, func(b adapters.Backend) error {
			d, ok := b.(*dualBackend)
			if !ok || d.run != j.run {
				notYet = true
				return nil
			}
			return fn(ctx, d)
		})
		if !notYet && !errors.Is(err, adapters.ErrUnavailable) {
			return err
		}
		if err != nil {
			j.run.targetDown(err)
		}
		if aerr := j.abortIfDown(ctx); aerr != nil {
			return aerr
		}
		if j.live.Switcher.Changed != nil && notYet {
			j.live.Switcher.Changed()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// abortIfDown aborts the migration when the target has been unavailable
// longer than the run allows.
func (j *liveJob) abortIfDown(ctx context.Context) error {
	since, msg := j.run.down()
	limit := time.Duration(j.lm.Options.AbortAfterSeconds * float64(time.Second))
	if since.IsZero() || time.Since(since) < limit {
		return nil
	}
	why := fmt.Sprintf("the target was unavailable for %s (%s)", time.Since(since).Round(time.Second), msg)
	if err := j.live.abort(context.WithoutCancel(ctx), j.name, j.lm, why); err != nil {
		return err
	}
	return errAborted
}

// retry runs op, retrying while the target is unavailable, until the run's
// outage limit aborts the migration.
func (j *liveJob) retry(ctx context.Context, op func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 2*time.Second, 0
	for {
		err := op()
		if err == nil {
			j.run.targetOK()
			return nil
		}
		if !errors.Is(err, adapters.ErrUnavailable) {
			return err
		}
		j.run.targetDown(err)
		if aerr := j.abortIfDown(ctx); aerr != nil {
			return aerr
		}
		j.live.log().Warn("live migration: target unavailable; retrying", slog.String("db", j.name), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

func (j *liveJob) key() string { return liveKeyStart + j.lm.ID }

// sources are the two sides as sources of records.
func (j *liveJob) sources(d *dualBackend) (src, tgt *BackendSource) {
	srcShared := j.src.BackendType() != registry.BackendJSON
	tgtShared := j.lm.Target().BackendType() != registry.BackendJSON
	return &BackendSource{B: d.src, Name: j.st.Source, DefaultOnly: srcShared},
		&BackendSource{B: d.tgt, Name: j.st.Target, DefaultOnly: tgtShared}
}

// pageSize grows a page while it stays small in bytes (records differ a
// thousandfold in size).
type pageSize struct{ limit int }

func (p *pageSize) next(bytes int) {
	switch {
	case p.limit == 0:
		p.limit = firstScanPage
	case bytes > maxBatchBytes:
		p.limit = max(1, p.limit/2)
	case bytes < maxBatchBytes/4:
		p.limit = min(2*p.limit, scanPage)
	}
}

// backfill copies every unit of the source, page by page, each page read
// and loaded with its namespace's writes held.
func (j *liveJob) backfill(ctx context.Context, d *dualBackend) error {
	var st liveState
	raw, err := d.loader.LoadedCheckpoint(ctx, j.key())
	if err != nil {
		return fmt.Errorf("read the live migration's checkpoint: %w", err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("read the live migration's checkpoint: %w", err)
		}
	}
	srcSource, _ := j.sources(d)
	units, err := srcSource.Units(ctx)
	if err != nil {
		return err
	}
	started := time.Now()
	startCopied := st.Copied
	prog := make([]UnitProgress, len(units))
	var total int64
	for i, u := range units {
		prog[i] = UnitProgress{Unit: u.Key(), Total: u.Records, Finished: slices.Contains(st.Done, u.Key())}
		if prog[i].Finished {
			prog[i].Records = u.Records
		}
		total += u.Records
	}
	report := func() {
		j.update(func(s *LiveStatus) {
			s.Units = slices.Clone(prog)
			// Writes since the source was counted add records.
			s.Records, s.TotalRecords = st.Copied, max(total, st.Copied)
			s.ETASeconds = -1
			if done := st.Copied - startCopied; done > 0 && total > st.Copied {
				rate := float64(done) / time.Since(started).Seconds()
				s.ETASeconds = float64(total-st.Copied) / rate
			}
		})
	}
	report()
	for i, u := range units {
		if prog[i].Finished {
			continue
		}
		if st.Unit != u.Key() {
			st.Unit, st.After, st.AfterEdge, st.NodesDone = u.Key(), "", adapters.Edge{}, false
		}
		err := j.copyUnit(ctx, d, u, &st, func(n int) {
			prog[i].Records += int64(n)
			report()
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", u.Key(), err)
		}
		if err := j.retry(ctx, func() error { return d.loader.FinishLoad(ctx, u.NS, u.Kind) }); err != nil {
			return fmt.Errorf("finish %s: %w", u.Key(), err)
		}
		st.Done = append(st.Done, u.Key())
		st.Unit = ""
		prog[i].Finished = true
		report()
	}
	return nil
}

// pageReader reads the next page of a unit: the batch, its size in bytes,
// and how the checkpoint moves past it.
type pageReader func() (adapters.Batch, int, func(*liveState), error)

// copyUnit copies one unit from the checkpoint's position.
func (j *liveJob) copyUnit(ctx context.Context, d *dualBackend, u Unit, st *liveState, copied func(int)) error {
	var ps pageSize
	// page reads and loads one page with the unit's writes held; it
	// returns the number of records read (0: the unit is done). The
	// checkpoint moves with the page's load, in the same transaction.
	page := func(read pageReader) (int, error) {
		unlock := j.run.locks.lockSpace(u.Key())
		defer unlock()
		b, bytes, advance, err := read()
		if err != nil || b.Len() == 0 {
			return 0, err
		}
		b.NS, b.Kind, b.Online = u.NS, u.Kind, true
		next := *st
		advance(&next)
		next.Copied += int64(b.Len())
		if err := d.loader.Load(ctx, b, adapters.Checkpoint{Key: j.key(), State: next.marshal()}); err != nil {
			return 0, err
		}
		*st = next
		ps.next(bytes)
		return b.Len(), nil
	}
	loop := func(read pageReader) error {
		ps.next(0)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			// A target that went away is waited for with the unit's
			// writes free: the page is read again when it is back.
			var n int
			err := j.retry(ctx, func() error {
				var err error
				n, err = page(read)
				return err
			})
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			copied(n)
		}
	}
	switch u.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		return loop(func() (adapters.Batch, int, func(*liveState), error) {
			recs, err := d.srcStored.ScanStoredKV(ctx, u.NS, u.Kind, st.After, ps.limit)
			if err != nil || len(recs) == 0 {
				return adapters.Batch{}, 0, nil, err
			}
			bytes := 0
			for _, r := range recs {
				bytes += len(r.ID) + len(r.Data)
			}
			return adapters.Batch{KV: recs}, bytes, func(s *liveState) { s.After = recs[len(recs)-1].ID }, nil
		})
	case adapters.KindVector:
		v, err := d.src.Vector(ctx, u.NS, 0)
		if err != nil {
			return err
		}
		return loop(func() (adapters.Batch, int, func(*liveState), error) {
			recs, err := v.Scan(ctx, st.After, ps.limit)
			if err != nil || len(recs) == 0 {
				return adapters.Batch{}, 0, nil, err
			}
			bytes := 0
			for _, r := range recs {
				bytes += len(r.ID) + len(r.Fields) + 4*len(r.Vector)
			}
			return adapters.Batch{Vectors: recs}, bytes, func(s *liveState) { s.After = recs[len(recs)-1].ID }, nil
		})
	case adapters.KindGraph:
		g, err := d.src.Graph(ctx, u.NS)
		if err != nil {
			return err
		}
		if !st.NodesDone {
			err := loop(func() (adapters.Batch, int, func(*liveState), error) {
				nodes, err := g.ScanNodes(ctx, st.After, ps.limit)
				if err != nil || len(nodes) == 0 {
					return adapters.Batch{}, 0, nil, err
				}
				bytes := 0
				for _, n := range nodes {
					bytes += len(n.ID) + propsSize(n.Props)
				}
				return adapters.Batch{Nodes: nodes}, bytes, func(s *liveState) { s.After = nodes[len(nodes)-1].ID }, nil
			})
			if err != nil {
				return err
			}
			st.NodesDone = true
		}
		return loop(func() (adapters.Batch, int, func(*liveState), error) {
			edges, err := g.ScanEdges(ctx, st.AfterEdge, ps.limit)
			if err != nil || len(edges) == 0 {
				return adapters.Batch{}, 0, nil, err
			}
			bytes := 0
			for _, e := range edges {
				bytes += len(e.Src) + len(e.Tgt) + propsSize(e.Props)
			}
			last := edges[len(edges)-1]
			return adapters.Batch{Edges: edges}, bytes, func(s *liveState) { s.AfterEdge = adapters.Edge{Src: last.Src, Tgt: last.Tgt} }, nil
		})
	}
	return fmt.Errorf("%s: unknown kind %q", u.Key(), u.Kind)
}

// verify runs rounds over every unit until one finds nothing to repair.
func (j *liveJob) verify(ctx context.Context, d *dualBackend) error {
	srcSource, _ := j.sources(d)
	for round := 1; ; round++ {
		units, err := srcSource.Units(ctx)
		if err != nil {
			return err
		}
		// Units only the target holds (a namespace dropped on the source
		// in a crash window) are compared too.
		_, tgtSource := j.sources(d)
		if tu, err := tgtSource.Units(ctx); err == nil {
			for _, u := range tu {
				if !slices.ContainsFunc(units, func(x Unit) bool { return x.Key() == u.Key() }) {
					units = append(units, u)
				}
			}
		}
		j.run.takeDirty() // this round covers them
		checks, repaired, err := j.reconcileUnits(ctx, d, units)
		if err != nil {
			return err
		}
		j.update(func(s *LiveStatus) {
			s.VerifyRounds++
			s.Repaired += repaired
			s.Checks = checks
		})
		j.live.log().Info("live migration verified", slog.String("db", j.name), slog.Int("round", round),
			slog.Int64("repaired", repaired))
		if repaired == 0 && j.run.dirtyCount() == 0 {
			return nil
		}
		if round >= maxVerifyRounds {
			return adapters.Errorf(adapters.ErrConflict, "verification_failed",
				"something writes to the target behind the proxy's back; stop it, then resume (restart the proxy) or abort",
				"database %s: %d verification rounds still found records that differ (last: %d)", j.name, round, repaired)
		}
	}
}

func (j *liveJob) reconcileUnits(ctx context.Context, d *dualBackend, units []Unit) ([]LiveCheck, int64, error) {
	var checks []LiveCheck
	var repaired int64
	for _, u := range units {
		var c LiveCheck
		err := j.retry(ctx, func() error {
			var err error
			c, err = j.reconcile(ctx, d, u)
			return err
		})
		if err != nil {
			return nil, 0, fmt.Errorf("verify %s: %w", u.Key(), err)
		}
		checks = append(checks, c)
		repaired += c.Repaired
	}
	return checks, repaired, nil
}

// shadowThenCutover waits in the shadow phase for the clean window (and
// the request, for a manual cutover), reconciling units a failed write
// left dirty, then cuts over.
func (j *liveJob) shadowThenCutover(ctx context.Context, d *dualBackend) error {
	j.run.shadowing.Store(true)
	j.run.shadow.resetWindow()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	requested, forced := false, false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case f := <-j.cutoverNow:
			requested, forced = true, forced || f
		case <-tick.C:
		}
		// Requests that found the target down mark the run down; nothing
		// else writes to the target here to say it is back, so ask it.
		if since, _ := j.run.down(); !since.IsZero() && j.run.dirtyCount() == 0 && d.tgt.Ping(ctx) == nil {
			j.run.targetOK()
		}
		if err := j.abortIfDown(ctx); err != nil {
			return err
		}
		if dirty := j.run.takeDirty(); len(dirty) > 0 {
			_, repaired, err := j.reconcileUnits(ctx, d, dirty)
			if err != nil {
				j.run.markDirty(dirty)
				if errors.Is(err, errAborted) || errors.Is(err, context.Canceled) {
					return err
				}
				j.live.log().Warn("live migration: reconcile after a failed write", slog.String("db", j.name), slog.Any("error", err))
				continue
			}
			j.update(func(s *LiveStatus) { s.Repaired += repaired })
			if repaired > 0 {
				j.run.shadow.resetWindow()
			}
		}
		w := CleanWindow{Requests: j.lm.Options.CleanRequests, Minutes: j.lm.Options.CleanMinutes}
		met := j.run.windowMet(w)
		state := LiveRunning
		if met && !j.lm.Options.AutoCutover {
			state = LiveWaiting
		}
		j.update(func(s *LiveStatus) { s.State = state })
		if (met && (j.lm.Options.AutoCutover || requested)) || (forced && j.run.dirtyCount() == 0) {
			return j.cutover(ctx, d)
		}
	}
}

// cutover switches the registry to the target with every write held: a
// write either finished on both backends before, or runs after on the
// dual backend the proxy retires (both backends again), never on one.
func (j *liveJob) cutover(ctx context.Context, d *dualBackend) error {
	j.setPhase(registry.PhaseCutover)
	unlock := j.run.locks.lockAll()
	err := registry.Update(j.live.Switcher.RegistryPath, func(r *registry.Registry) error {
		db, ok := r.Databases[j.name]
		if !ok || db.Live == nil || db.Live.ID != j.lm.ID {
			return fmt.Errorf("database %s: the live migration %s is no longer in the registry", j.name, j.lm.ID)
		}
		t := j.lm.Target()
		arch := &registry.Archive{Backend: j.src.Backend, Workspace: j.src.Workspace, Since: time.Now().UTC().Truncate(time.Second)}
		if j.src.BackendType() == registry.BackendJSON {
			arch.Backend, arch.Path = "", j.src.Path
		}
		db.Backend, db.Workspace = t.Backend, t.Workspace
		if t.BackendType() == registry.BackendJSON {
			db.Backend, db.Path = "", t.Path
		}
		db.Live, db.Archive = nil, arch
		r.Databases[j.name] = db
		return nil
	})
	if err == nil && j.live.Switcher.Changed != nil {
		j.live.Switcher.Changed()
	}
	j.run.shadowing.Store(false)
	unlock()
	if err != nil {
		return err
	}
	if err := d.loader.DeleteCheckpoint(ctx, j.key()); err != nil {
		j.live.log().Warn("live migration: delete the checkpoint", slog.String("db", j.name), slog.Any("error", err))
	}
	j.update(func(s *LiveStatus) { s.State = LiveDone })
	j.live.log().Info("live migration cut over", slog.String("db", j.name), slog.String("id", j.lm.ID),
		slog.String("backend", j.st.Target), slog.String("archive", j.st.Source))
	return nil
}

package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// dualBackend is a database during a live migration: every write goes to
// the database's backend (the source, which stays the truth until the
// cutover) and then, in the stored form the source kept, to the target;
// reads are answered by the source and, once the copy is complete, also run
// on the target and compared (shadow reads). Writes to the same records are
// ordered by keyLocks, so both backends apply them in the same order.
//
// A write the target does not take fails the request (the client retries):
// the source already holds it, so the unit is marked dirty and reconciled
// before the cutover.
type dualBackend struct {
	run    *liveRun
	src    adapters.Backend
	tgt    adapters.Backend
	loader adapters.Loader
	stored adapters.StoredKVScanner
	// srcStored reads back what the source stored.
	srcStored adapters.StoredKVScanner
	target    string // described, for errors
}

func newDualBackend(run *liveRun, src, tgt adapters.Backend, target string) (*dualBackend, error) {
	loader, ok := tgt.(adapters.Loader)
	if !ok {
		return nil, fmt.Errorf("the target %s cannot be loaded into: %w", target, adapters.ErrUnsupported)
	}
	srcStored, ok := src.(adapters.StoredKVScanner)
	if !ok {
		return nil, fmt.Errorf("the source cannot list stored records: %w", adapters.ErrUnsupported)
	}
	tgtStored, ok := tgt.(adapters.StoredKVScanner)
	if !ok {
		return nil, fmt.Errorf("the target %s cannot list stored records: %w", target, adapters.ErrUnsupported)
	}
	return &dualBackend{run: run, src: src, tgt: tgt, loader: loader, stored: tgtStored, srcStored: srcStored, target: target}, nil
}

func (d *dualBackend) KV(ctx context.Context, ns adapters.Namespace) (adapters.KV, error) {
	w, err := both(ctx, d, Unit{NS: ns, Kind: adapters.KindKV}, func(b adapters.Backend) (adapters.KV, error) { return b.KV(ctx, ns) })
	if err != nil {
		return nil, err
	}
	return &dualKV{w}, nil
}

func (d *dualBackend) Vector(ctx context.Context, ns adapters.Namespace, dim int) (adapters.Vector, error) {
	w, err := both(ctx, d, Unit{NS: ns, Kind: adapters.KindVector}, func(b adapters.Backend) (adapters.Vector, error) { return b.Vector(ctx, ns, dim) })
	if err != nil {
		return nil, err
	}
	return &dualVector{w}, nil
}

func (d *dualBackend) Graph(ctx context.Context, ns adapters.Namespace) (adapters.Graph, error) {
	w, err := both(ctx, d, Unit{NS: ns, Kind: adapters.KindGraph}, func(b adapters.Backend) (adapters.Graph, error) { return b.Graph(ctx, ns) })
	if err != nil {
		return nil, err
	}
	return &dualGraph{w}, nil
}

func (d *dualBackend) DocStatus(ctx context.Context, ns adapters.Namespace) (adapters.DocStatus, error) {
	w, err := both(ctx, d, Unit{NS: ns, Kind: adapters.KindDocStatus}, func(b adapters.Backend) (adapters.DocStatus, error) { return b.DocStatus(ctx, ns) })
	if err != nil {
		return nil, err
	}
	return &dualDocStatus{w}, nil
}

// both opens a namespace on the source and the target. A target that is
// unavailable leaves the side without it (down): its reads are answered by
// the source alone, its writes fail before touching either backend, and the
// run learns the target is down (the outage limit aborts the migration).
func both[S any](ctx context.Context, d *dualBackend, u Unit, open func(adapters.Backend) (S, error)) (side[S], error) {
	p, err := open(d.src)
	if err != nil {
		return side[S]{}, err
	}
	w := side[S]{d: d, u: u, p: p}
	s, err := open(d.tgt)
	switch {
	case err == nil:
		w.s = s
	case errors.Is(err, adapters.ErrUnavailable):
		d.run.targetDown(err)
		w.down = d.targetError(err)
	case errors.Is(err, adapters.ErrInvalid):
		return side[S]{}, d.targetError(err)
	default:
		return side[S]{}, err
	}
	return w, nil
}

func (d *dualBackend) Namespaces(ctx context.Context) ([]adapters.NamespaceInfo, error) {
	return d.src.Namespaces(ctx)
}

// Flush flushes both: the target's files too when it is a JSON folder (a
// rollback).
func (d *dualBackend) Flush(ctx context.Context) error {
	if err := d.src.Flush(ctx); err != nil {
		return err
	}
	if err := d.tgt.Flush(ctx); err != nil {
		return d.targetError(err)
	}
	return nil
}

func (d *dualBackend) Ping(ctx context.Context) error { return d.src.Ping(ctx) }

func (d *dualBackend) Capabilities() adapters.Capabilities { return d.src.Capabilities() }

func (d *dualBackend) Close(ctx context.Context) error {
	return errors.Join(d.src.Close(ctx), d.tgt.Close(ctx))
}

// Unwrap is the database's own backend (status, sizes).
func (d *dualBackend) Unwrap() adapters.Backend { return d.src }

// targetError is the error of a request whose write reached the source but
// not the target: retryable (503 + Retry-After), naming the migration.
func (d *dualBackend) targetError(err error) error {
	return adapters.Errorf(adapters.ErrUnavailable, "migration_target_unavailable",
		"retry the request; a live migration of "+d.run.db+" writes every change to both backends, and the proxy aborts it if "+
			d.target+" stays unavailable",
		"database %s is being migrated live and its target (%s) did not take the write: %v", d.run.db, d.target, err)
}

// side is one namespace opened on both backends.
type side[S any] struct {
	d    *dualBackend
	u    Unit
	p, s S
	// down is set when the target could not be opened: s is unset.
	down error
}

// write runs one write: under the locks of its keys (the whole namespace
// when keys is nil: a write whose records cannot be named in advance), on
// the source, then on the target.
func (w *side[S]) write(ctx context.Context, keys []string, src func() error, tgt func() error) error {
	var unlock func()
	if keys == nil {
		unlock = w.d.run.locks.lockSpace(w.u.Key())
	} else {
		unlock = w.d.run.locks.lockKeys(w.u.Key(), keys)
	}
	defer unlock()
	if w.down != nil {
		return w.down
	}
	if err := src(); err != nil {
		return err
	}
	if err := tgt(); err != nil {
		w.d.run.targetFailed(w.u, err)
		return w.d.targetError(err)
	}
	w.d.run.targetOK()
	return nil
}

// load writes a batch of the source's stored records to the target.
func (w *side[S]) load(ctx context.Context, b adapters.Batch) error {
	b.NS, b.Kind, b.KeepIndexes = w.u.NS, w.u.Kind, true
	if b.Len() == 0 {
		return nil
	}
	return w.d.loader.Load(ctx, b, adapters.Checkpoint{})
}

// read answers from the source and, when shadowing, compares with the
// target in the background. keys are the records read (nil: the read
// depends on the whole namespace).
func read[S, T any](ctx context.Context, w *side[S], op string, keys []string, fn func(context.Context, S) (T, error), same func(a, b T) bool) (T, error) {
	ans, err := fn(ctx, w.p)
	if err != nil || w.down != nil || !w.d.run.shouldShadow() {
		return ans, err
	}
	select {
	case w.d.run.shadowSlots <- struct{}{}:
	default:
		w.d.run.shadow.skip()
		return ans, nil
	}
	keys = slices.Clone(keys)
	go func() {
		defer func() { <-w.d.run.shadowSlots }()
		compare(w.d.run, w, op, keys, ans, fn, same)
	}()
	return ans, nil
}

// shadowTimeout bounds one shadow comparison.
const shadowTimeout = 30 * time.Second

func (r *liveRun) shouldShadow() bool {
	if !r.shadowing.Load() {
		return false
	}
	share := r.shareValue()
	return share >= 1 || (share > 0 && rand.Float64() < share)
}

// compare runs the read on the target and, on a difference, confirms it
// with the records locked.
func compare[S, T any](r *liveRun, w *side[S], op string, keys []string, ans T, fn func(context.Context, S) (T, error), same func(a, b T) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), shadowTimeout)
	defer cancel()
	got, err := fn(ctx, w.s)
	if err != nil {
		r.shadow.failed()
		return
	}
	if same(ans, got) {
		r.shadow.record(op, nil)
		return
	}
	var unlock func()
	if keys == nil {
		unlock = r.locks.lockSpace(w.u.Key())
	} else {
		unlock = r.locks.lockKeys(w.u.Key(), keys)
	}
	a, errA := fn(ctx, w.p)
	b, errB := fn(ctx, w.s)
	unlock()
	if errA != nil || errB != nil {
		r.shadow.failed()
		return
	}
	if same(a, b) {
		r.shadow.record(op, nil) // a write landed between the two reads
		return
	}
	ids := keys
	if len(ids) > 10 {
		ids = ids[:10]
	}
	m := &Mismatch{At: time.Now().UTC(), Op: op, NS: w.u.NS.String(), IDs: ids,
		Detail: fmt.Sprintf("the source answered %s; the target answered %s", excerpt(a), excerpt(b))}
	r.shadow.record(op, m)
	r.log.Warn("live migration: a shadow read differs on the target", slog.String("db", r.db), slog.String("op", op),
		slog.String("namespace", m.NS), slog.Any("ids", ids))
	// The target holds something the source does not (changed behind the
	// proxy's back): reconcile the namespace before any cutover, or the
	// next clean window would cut over with the difference in place.
	r.markDirty([]Unit{w.u})
}

// excerpt is the start of an answer as JSON, for a mismatch's report.
func excerpt(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

package migration

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// liveRun is what a live migration's dual backend and its controller share:
// the write locks (the backfill copies a page with its namespace locked, so
// it never overwrites a newer write nor brings back a deleted record), the
// units whose target write failed, and the shadow reads' tally.
type liveRun struct {
	id    string
	db    string
	locks *keyLocks
	log   *slog.Logger

	mu sync.Mutex
	// dirty: units where a write reached the database's backend but not the
	// target; they are reconciled before the cutover.
	dirty map[string]Unit
	// downSince: the target has failed every write since then (zero: up).
	downSince time.Time
	lastErr   string
	// closing: the cutover holds every lock; no write may start after it.
	cutover bool

	shadow shadowTally
	// share is the share of reads shadowed on the target (0..1), as
	// float64 bits.
	share atomic.Uint64
	// shadowing is on once the copy is complete (verify and later).
	shadowing atomic.Bool
	// shadowSlots bounds the shadow reads in flight; a read that finds no
	// free slot is skipped (counted), never waited for.
	shadowSlots chan struct{}
}

func newLiveRun(id, db string) *liveRun {
	return &liveRun{id: id, db: db, locks: newKeyLocks(1024), log: slog.New(slog.DiscardHandler),
		dirty: map[string]Unit{}, shadowSlots: make(chan struct{}, 8)}
}

func (r *liveRun) shareValue() float64 { return math.Float64frombits(r.share.Load()) }

func (r *liveRun) setShare(v float64) { r.share.Store(math.Float64bits(v)) }

// targetFailed records a write the target did not take.
func (r *liveRun) targetFailed(u Unit, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dirty[u.Key()] = u
	if r.downSince.IsZero() {
		r.downSince = time.Now()
	}
	r.lastErr = err.Error()
}

// targetOK records a write the target took.
func (r *liveRun) targetOK() {
	r.mu.Lock()
	r.downSince = time.Time{}
	r.mu.Unlock()
}

// takeDirty returns and forgets the dirty units.
func (r *liveRun) takeDirty() []Unit {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Unit, 0, len(r.dirty))
	for _, u := range r.dirty {
		out = append(out, u)
	}
	r.dirty = map[string]Unit{}
	return out
}

func (r *liveRun) markDirty(units []Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range units {
		r.dirty[u.Key()] = u
	}
}

func (r *liveRun) dirtyCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.dirty)
}

// down reports since when the target has been failing (zero: it is not).
func (r *liveRun) down() (time.Time, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.downSince, r.lastErr
}

// targetDown records that the target refused the migration's own work
// (backfill, verification) without dirtying a unit.
func (r *liveRun) targetDown(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.downSince.IsZero() {
		r.downSince = time.Now()
	}
	r.lastErr = err.Error()
}

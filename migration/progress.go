package migration

import (
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Progress is a snapshot of a run, for the progress bar, the admin API and
// `proxy status` (spec US4-2).
type Progress struct {
	Database string         `json:"database"`
	Phase    string         `json:"phase"`
	Started  time.Time      `json:"started"`
	Units    []UnitProgress `json:"units"`
	// Records and TotalRecords count what was copied (TotalRecords is the
	// source's own count, an estimate for JSON files).
	Records      int64 `json:"records"`
	TotalRecords int64 `json:"total_records"`
	// Bytes and TotalBytes are source bytes (copied records' share of their
	// files); zero when the source has no files.
	Bytes      int64   `json:"bytes"`
	TotalBytes int64   `json:"total_bytes"`
	RateRecs   float64 `json:"records_per_second"`
	// ETASeconds estimates the time left in the copy phase (-1 unknown).
	ETASeconds float64 `json:"eta_seconds"`
	Skipped    int64   `json:"skipped"`
	Error      string  `json:"error,omitempty"`
}

// UnitProgress is one unit's share.
type UnitProgress struct {
	Unit       string `json:"unit"`
	Records    int64  `json:"records"`
	Total      int64  `json:"total"`
	Bytes      int64  `json:"bytes"`
	TotalBytes int64  `json:"total_bytes"`
	Finished   bool   `json:"finished"`
	// Seconds is the time this run spent copying the unit.
	Seconds float64 `json:"seconds,omitempty"`
}

func (r *run) initProgress(units []Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eta.kinds = map[string]adapters.Kind{}
	for _, u := range units {
		r.eta.kinds[u.Key()] = u.Kind
	}
	r.prog.Units = make([]UnitProgress, len(units))
	r.prog.TotalRecords, r.prog.TotalBytes = 0, 0
	for i, u := range units {
		up := UnitProgress{Unit: u.Key(), Total: u.Records, TotalBytes: u.Bytes}
		if us := r.st.Units[u.Key()]; us != nil {
			up.Records, up.Finished = us.Done, us.Finished
			up.Total = max(up.Total, up.Records)
			switch {
			case up.Finished:
				up.Bytes, up.Total = up.TotalBytes, up.Records
			case up.Total > 0:
				up.Bytes = int64(float64(up.TotalBytes) * float64(up.Records) / float64(up.Total))
			}
		}
		r.prog.Units[i] = up
		r.prog.TotalRecords += u.Records
		r.prog.TotalBytes += u.Bytes
		r.prog.Records += up.Records
		r.prog.Bytes += up.Bytes
	}
}

// etaModel predicts the copy's remaining time. A unit's copy costs a part
// per record (parsing, encoding, one COPY row) and a part per byte (reading,
// transfer), in proportions that differ a lot by kind: a GraphML edge costs
// more than a vector's worth of bytes would say, a 3 KB chunk vector less
// than its bytes. costPrior weighs the units with per-kind costs measured
// on this project's machines (docs/BENCHMARKS.md); the time the copy has
// taken so far scales them to the machine at hand.
type etaModel struct {
	began     time.Time // the copy phase
	unitStart time.Time // when the current unit began
	unit      string    // its key
	baseCost  float64   // prior cost of the work done before this run's copy
	kinds     map[string]adapters.Kind
}

// Per-record and per-megabyte costs by kind, in seconds: a least-squares
// reading of one migration of the generated 1 GB folder (bench/migrate.sh).
var costPerRecord = map[adapters.Kind]float64{adapters.KindKV: 16e-6, adapters.KindDocStatus: 16e-6,
	adapters.KindVector: 16e-6, adapters.KindGraph: 40e-6}

var costPerMB = map[adapters.Kind]float64{adapters.KindKV: 0.020, adapters.KindDocStatus: 0.020,
	adapters.KindVector: 0.0102, adapters.KindGraph: 0.010}

// costPrior is the expected cost of copying records records and bytes
// bytes of a unit of kind k (only the ratios between units matter).
func costPrior(k adapters.Kind, records, bytes int64) float64 {
	return costPerRecord[k]*float64(records) + costPerMB[k]*float64(bytes)/1e6
}

// costDoneLocked is the prior cost of the work done, and of all the work.
func (r *run) costDoneLocked() (done, total float64) {
	for _, up := range r.prog.Units {
		k := r.eta.kinds[up.Unit]
		all := costPrior(k, max(up.Total, up.Records), up.TotalBytes)
		total += all
		switch {
		case up.Finished:
			done += all
		case up.Total > 0:
			done += all * float64(up.Records) / float64(up.Total)
		}
	}
	return done, total
}

// beginUnit notes that u's copy starts.
func (r *run) beginUnit(u Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eta.unitStart, r.eta.unit = time.Now(), u.Key()
}

// advance records that unit u has done records loaded.
func (r *run) advance(u Unit, done int64, finished bool) {
	r.mu.Lock()
	now := time.Now()
	var recs, bytes int64
	for i := range r.prog.Units {
		up := &r.prog.Units[i]
		if up.Unit == u.Key() {
			if finished && !up.Finished && r.eta.unit == u.Key() {
				up.Seconds = now.Sub(r.eta.unitStart).Seconds()
			}
			up.Records, up.Finished = done, finished
			if up.Total < done || finished {
				up.Total = done
			}
			switch {
			case finished:
				up.Bytes = up.TotalBytes
			case up.Total > 0:
				up.Bytes = int64(float64(up.TotalBytes) * float64(done) / float64(up.Total))
			}
		}
		recs += up.Records
		bytes += up.Bytes
	}
	r.prog.Records, r.prog.Bytes, r.prog.Skipped = recs, bytes, r.sum.Skipped
	r.prog.ETASeconds = r.etaLocked(now)
	if el := now.Sub(r.eta.began).Seconds(); el > 0 && !r.eta.began.IsZero() {
		r.prog.RateRecs = float64(recs) / el
	}
	r.mu.Unlock()
	r.report()
}

// etaLocked is the copy's remaining time in seconds, -1 while unknown.
func (r *run) etaLocked(now time.Time) float64 {
	if r.eta.began.IsZero() {
		return -1
	}
	done, total := r.costDoneLocked()
	done -= r.eta.baseCost
	el := now.Sub(r.eta.began).Seconds()
	if done <= 0 || el <= 0 {
		return -1
	}
	return (total - r.eta.baseCost - done) * el / done
}

func (r *run) phase(p string) {
	r.mu.Lock()
	r.endPhaseLocked()
	r.prog.Phase = p
	r.phaseAt = time.Now()
	if p == PhaseCopy {
		// Work a resumed run had done before does not count in its speed.
		r.eta.began = r.phaseAt
		r.eta.baseCost, _ = r.costDoneLocked()
	}
	r.mu.Unlock()
	r.log.Info("migration phase", "phase", p)
	r.report()
}

func (r *run) endPhaseLocked() {
	if !r.phaseAt.IsZero() {
		r.sum.Phases = append(r.sum.Phases, PhaseDuration{Phase: r.prog.Phase, Seconds: time.Since(r.phaseAt).Seconds()})
		r.phaseAt = time.Time{}
	}
	r.sum.Units = append(r.sum.Units[:0], r.prog.Units...)
}

// snapshot returns the current progress.
func (r *run) snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.prog
	p.Units = append([]UnitProgress(nil), r.prog.Units...)
	return p
}

func (r *run) report() {
	if r.env.OnProgress != nil {
		r.env.OnProgress(r.snapshot())
	}
}

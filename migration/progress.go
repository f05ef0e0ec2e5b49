package migration

import (
	"time"
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
}

func (r *run) initProgress(units []Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
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

// etaModel predicts the copy's remaining time from two speeds measured as
// it goes: the file readers first skim a whole file for its ids before the
// first record comes (fast, but a pause at every unit's start), then
// records flow at the loading speed. Mixing the two into one rate would
// make the ETA swing at every unit.
type etaModel struct {
	began      time.Time     // the copy phase
	unitStart  time.Time     // the current unit, until its first batch
	unit       string        // its key
	unitBytes  int64         // its file size
	skimming   bool          // no batch of the current unit yet
	skim       time.Duration // time before first batches, units so far
	skimBytes  int64         // their files' sizes
	startBytes int64         // bytes of units started in this run (pending ones excluded)
	baseBytes  int64         // credited bytes when this run's copy began
}

// beginUnit notes that u's copy starts (its readers skim the file first).
func (r *run) beginUnit(u Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eta.unitStart, r.eta.unit, r.eta.unitBytes, r.eta.skimming = time.Now(), u.Key(), u.Bytes, true
	r.eta.startBytes += u.Bytes
}

// advance records that unit u has done records loaded.
func (r *run) advance(u Unit, done int64, finished bool) {
	r.mu.Lock()
	now := time.Now()
	if r.eta.skimming && u.Key() == r.eta.unit {
		r.eta.skimming = false
		r.eta.skim += now.Sub(r.eta.unitStart)
		r.eta.skimBytes += u.Bytes
	}
	var recs, bytes int64
	for i := range r.prog.Units {
		up := &r.prog.Units[i]
		if up.Unit == u.Key() {
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
	e := &r.eta
	if e.began.IsZero() || e.skim <= 0 {
		return -1
	}
	loading := now.Sub(e.began) - e.skim
	if e.skimming {
		loading -= now.Sub(e.unitStart)
	}
	loaded := r.prog.Bytes - e.baseBytes
	if loading <= 0 || loaded <= 0 {
		return -1
	}
	loadSpeed := float64(loaded) / loading.Seconds()     // bytes of records a second
	skimSpeed := float64(e.skimBytes) / e.skim.Seconds() // bytes skimmed a second
	left := float64(r.prog.TotalBytes-r.prog.Bytes) / loadSpeed
	pending := r.prog.TotalBytes - e.baseBytes - e.startBytes // units not begun
	left += float64(max(pending, 0)) / skimSpeed
	if e.skimming {
		left += max(float64(e.unitBytes)/skimSpeed-now.Sub(e.unitStart).Seconds(), 0)
	}
	return left
}

// workLocked is the fraction of the copy done: by bytes where the source
// has files (records differ a lot in size), else by records.
func (r *run) workLocked() float64 {
	if r.prog.TotalBytes > 0 {
		return float64(r.prog.Bytes) / float64(r.prog.TotalBytes)
	}
	if r.prog.TotalRecords > 0 {
		return float64(r.prog.Records) / float64(r.prog.TotalRecords)
	}
	return 0
}

func (r *run) phase(p string) {
	r.mu.Lock()
	r.endPhaseLocked()
	r.prog.Phase = p
	r.phaseAt = time.Now()
	if p == PhaseCopy {
		// Work a resumed run had done before does not count in its speeds.
		r.eta = etaModel{began: r.phaseAt, baseBytes: r.prog.Bytes}
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

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
		r.prog.Units[i] = UnitProgress{Unit: u.Key(), Total: u.Records, TotalBytes: u.Bytes}
		r.prog.TotalRecords += u.Records
		r.prog.TotalBytes += u.Bytes
	}
}

// advance records that unit u has done records loaded.
func (r *run) advance(u Unit, done int64, finished bool) {
	r.mu.Lock()
	now := time.Now()
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
	r.prog.ETASeconds = -1
	if r.copyFrom.IsZero() {
		r.copyFrom, r.copyBase = now, r.workLocked()
	} else if el := now.Sub(r.copyFrom).Seconds(); el > 0 {
		done := r.workLocked() - r.copyBase
		total := 1.0
		if done > 0 {
			r.prog.RateRecs = float64(recs) / now.Sub(r.prog.Started).Seconds()
			r.prog.ETASeconds = (total - r.workLocked()) / (done / el)
		}
	}
	r.mu.Unlock()
	r.report()
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

// Snapshot returns the current progress.
func (r *run) Snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.prog
	p.Units = append([]UnitProgress(nil), r.prog.Units...)
	return p
}

func (r *run) report() {
	if r.env.OnProgress != nil {
		r.env.OnProgress(r.Snapshot())
	}
}

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

// readPasses is about how many times the file readers read a file of each
// kind (ids first, then the records; GraphML nodes, then edges), to turn
// bytes read into a share of a unit's work.
var readPasses = map[adapters.Kind]float64{adapters.KindKV: 2, adapters.KindDocStatus: 2, adapters.KindVector: 2,
	adapters.KindGraph: 2.5}

// advance records that unit u has done records loaded, after its source
// read read bytes (0 if unknown).
func (r *run) advance(u Unit, done int64, finished bool, read int64) {
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
			case read > 0:
				// Reading is most of a unit's work, and comes in passes.
				up.Bytes = min(int64(float64(read)/readPasses[u.Kind]), up.TotalBytes*99/100)
			case up.Total > 0:
				up.Bytes = int64(float64(up.TotalBytes) * float64(done) / float64(up.Total))
			}
		}
		recs += up.Records
		bytes += up.Bytes
	}
	r.prog.Records, r.prog.Bytes, r.prog.Skipped = recs, bytes, r.sum.Skipped
	// ETA: the copy's remaining share at the rate since the copy began.
	r.prog.ETASeconds = -1
	if el := now.Sub(r.copyFrom).Seconds(); !r.copyFrom.IsZero() && el > 0 {
		done := r.workLocked() - r.copyBase
		if done > 0 {
			r.prog.ETASeconds = (1 - r.workLocked()) / (done / el)
			r.prog.RateRecs = float64(recs-r.copyRecs) / el
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
	if p == PhaseCopy {
		// Work a resumed run had done before does not count in its rate.
		r.copyFrom, r.copyBase, r.copyRecs = r.phaseAt, r.workLocked(), r.prog.Records
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

package monitor

import (
	"fmt"
	"time"
)

// Rate-degradation defaults.
const (
	DefaultBaselineSamples = 5
	DefaultRecentSamples   = 3
	DefaultRateCooldown    = 30 * time.Minute
	flushBaselineSamples   = 3
)

// rateState counts one database's writes per minute. Minutes without writes
// are idle, not slow: they are neither samples nor degradation.
type rateState struct {
	minute   int64 // the minute being counted (Unix minutes)
	count    int64
	samples  []float64 // completed active minutes, records per minute
	lastWarn time.Time

	flushes    []time.Duration // first flushBaselineSamples flush durations
	lastFlush  time.Duration
	flushBytes int64 // total size at the last check, for the message
}

// add counts n records written at now.
func (r *rateState) add(now time.Time, n int64) {
	m := now.Unix() / 60
	if m != r.minute {
		r.close()
		r.minute = m
	}
	r.count += n
}

// roll closes the counted minute once now is past it.
func (r *rateState) roll(now time.Time) {
	if now.Unix()/60 > r.minute {
		r.close()
		r.minute = now.Unix() / 60
	}
}

func (r *rateState) close() {
	if r.count > 0 {
		r.samples = append(r.samples, float64(r.count))
		// Keep the baseline samples and a short recent window.
		if keep := DefaultBaselineSamples + 60; len(r.samples) > keep {
			r.samples = append(r.samples[:DefaultBaselineSamples], r.samples[len(r.samples)-60:]...)
		}
	}
	r.count = 0
}

func (r *rateState) flush(d time.Duration) {
	if len(r.flushes) < flushBaselineSamples {
		r.flushes = append(r.flushes, d)
	}
	r.lastFlush = d
}

// degraded returns the baseline and recent rates when the recent rate is
// more than dropPercent below the baseline.
func (r *rateState) degraded(baselineN, recentN, dropPercent int) (baseline, recent float64, bad bool) {
	if dropPercent <= 0 || len(r.samples) < baselineN+recentN {
		return 0, 0, false
	}
	baseline = mean(r.samples[:baselineN])
	recent = mean(r.samples[len(r.samples)-recentN:])
	return baseline, recent, baseline > 0 && recent < baseline*(1-float64(dropPercent)/100)
}

func (r *rateState) flushBaseline() time.Duration {
	if len(r.flushes) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range r.flushes {
		sum += d
	}
	return sum / time.Duration(len(r.flushes))
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// rateWarning explains a degradation, naming the likely cause.
func rateWarning(db, backend string, baseline, recent float64, dropPercent int, r *rateState, proxyURL string) Warning {
	msg := fmt.Sprintf("database %s: ingestion slowed to %.0f records/min, %.0f%% below its baseline of %.0f records/min (threshold %d%%).",
		db, recent, 100*(1-recent/baseline), baseline, dropPercent)
	first := r.flushBaseline()
	switch {
	case backend == BackendPostgres:
		msg += " Likely cause: PostgreSQL is slower to answer; check its load and the latency in `proxy status " + db + "`."
		return Warning{Code: CodeRateDegraded, Message: msg, Command: "proxy status " + db}
	case first > 0 && r.lastFlush > 2*first:
		msg += fmt.Sprintf(" Likely cause: flushing the JSON files now takes %s (it took %s at first) as they grew to %s; JSON storage rewrites whole files, so writes slow down as the files grow. %s",
			r.lastFlush.Round(time.Millisecond), first.Round(time.Millisecond), Human(r.flushBytes), howToMigrate(db, proxyURL))
	default:
		msg += fmt.Sprintf(" Likely cause: the JSON files' flush time and size (%s now); if they keep growing, move to PostgreSQL. %s",
			Human(r.flushBytes), howToMigrate(db, proxyURL))
	}
	return Warning{Code: CodeRateDegraded, Message: msg, Command: MigrateCommand(db)}
}

package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/hybridrag/storage-proxy/migration"
)

// progressView shows a migration's progress: on a terminal one bar per
// namespace (records, MB, rate, ETA) under a line with the phase, drawn by
// mpb; elsewhere (logs, CI, pipes) a plain line per phase and every few
// seconds while copying.
type progressView struct {
	w     io.Writer
	plain bool
	quiet bool

	mu        sync.Mutex
	p         *mpb.Progress
	phaseBar  *mpb.Bar
	bars      map[string]*unitBar
	last      migration.Progress
	lastPhase string
	lastLine  time.Time
	closed    bool
}

type unitBar struct {
	bar        *mpb.Bar
	up         migration.UnitProgress
	first, end time.Time // the unit's copy (end: zero while it runs)
	firstRec   int64
}

// newProgressView writes to w; quiet shows nothing (--json, --no-progress
// still prints phases).
func newProgressView(w io.Writer, noBars bool) *progressView {
	v := &progressView{w: w, plain: noBars || !isTerminal(w), bars: map[string]*unitBar{}}
	if !v.plain {
		v.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))
		v.phaseBar = v.p.AddBar(0, mpb.BarFillerClearOnComplete(),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return v.phaseLine() })))
	}
	return v
}

func (v *progressView) phaseLine() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	p := v.last
	s := fmt.Sprintf("migrating %s: %s", p.Database, p.Phase)
	if p.TotalRecords > 0 || p.Records > 0 {
		s += fmt.Sprintf("  %d/%d records", p.Records, p.TotalRecords)
	}
	if p.ETASeconds >= 0 && p.Phase == migration.PhaseCopy {
		s += fmt.Sprintf("  ETA %s", (time.Duration(p.ETASeconds) * time.Second).String())
	}
	if p.Skipped > 0 {
		s += fmt.Sprintf("  %d skipped", p.Skipped)
	}
	return s
}

// Update takes a snapshot from the migration.
func (v *progressView) Update(p migration.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.last = p
	if v.plain {
		v.plainLine(p)
		return
	}
	now := time.Now()
	for _, up := range p.Units {
		ub, ok := v.bars[up.Unit]
		if !ok {
			ub = &unitBar{firstRec: up.Records}
			u := ub
			ub.bar = v.p.AddBar(max(up.Total, 1),
				mpb.PrependDecorators(decor.Name(up.Unit, decor.WC{W: 34, C: decor.DindentRight})),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return v.unitLine(u) })))
			v.bars[up.Unit] = ub
		}
		if ub.first.IsZero() && up.Records > ub.firstRec {
			ub.first, ub.firstRec = now, up.Records // the unit's copy began: its rate counts from here
		}
		if up.Finished && ub.end.IsZero() {
			ub.end = now
		}
		ub.up = up
		ub.bar.SetTotal(max(up.Total, up.Records, 1), false)
		ub.bar.SetCurrent(up.Records)
		if up.Finished {
			ub.bar.SetTotal(max(up.Records, 1), true)
		}
	}
}

func (v *progressView) unitLine(u *unitBar) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	up := u.up
	s := fmt.Sprintf("%d/%d rec", up.Records, up.Total)
	if up.TotalBytes > 0 {
		s += fmt.Sprintf("  %.1f/%.1f MB", float64(up.Bytes)/1e6, float64(up.TotalBytes)/1e6)
	}
	end := u.end
	if end.IsZero() {
		end = time.Now()
	}
	if el := end.Sub(u.first).Seconds(); !u.first.IsZero() && el > 0.5 && up.Records > u.firstRec {
		rate := float64(up.Records-u.firstRec) / el
		s += fmt.Sprintf("  %.0f rec/s", rate)
		if !up.Finished && up.Total > up.Records {
			s += fmt.Sprintf("  ETA %s", (time.Duration(float64(up.Total-up.Records)/rate) * time.Second).Round(time.Second))
		}
	}
	return s
}

func (v *progressView) plainLine(p migration.Progress) {
	if p.Phase != v.lastPhase {
		v.lastPhase = p.Phase
		fmt.Fprintf(v.w, "migrate %s: %s\n", p.Database, p.Phase)
		v.lastLine = time.Now()
		return
	}
	if p.Phase != migration.PhaseCopy || time.Since(v.lastLine) < 2*time.Second {
		return
	}
	v.lastLine = time.Now()
	pct := 0.0
	if p.TotalRecords > 0 {
		pct = 100 * float64(p.Records) / float64(p.TotalRecords)
	}
	line := fmt.Sprintf("migrate %s: %d/%d records (%.0f%%)", p.Database, p.Records, p.TotalRecords, pct)
	if p.TotalBytes > 0 {
		line += fmt.Sprintf(", %.1f/%.1f MB", float64(p.Bytes)/1e6, float64(p.TotalBytes)/1e6)
	}
	if p.RateRecs > 0 {
		line += fmt.Sprintf(", %.0f records/s", p.RateRecs)
	}
	if p.ETASeconds >= 0 {
		line += fmt.Sprintf(", ETA %s", (time.Duration(p.ETASeconds) * time.Second).Round(time.Second))
	}
	fmt.Fprintln(v.w, line)
}

// Close stops the bars (idempotent).
func (v *progressView) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	p := v.p
	if p != nil {
		v.phaseBar.SetTotal(1, true)
		for _, ub := range v.bars {
			if !ub.bar.Completed() {
				ub.bar.Abort(false)
			}
		}
	}
	v.mu.Unlock()
	if p != nil {
		p.Wait()
	}
}

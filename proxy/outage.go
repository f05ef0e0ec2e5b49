package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultOutageSummaryInterval is how often a backend outage is summed up
// in the log while it lasts.
const DefaultOutageSummaryInterval = 30 * time.Second

// outageLog reports backend outages by their state changes and a periodic
// summary instead of an ERROR line per refused request: one 40 s outage
// under load otherwise writes tens of thousands of lines.
type outageLog struct {
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	down map[string]*outage // by database
}

type outage struct {
	since   time.Time
	refused int64 // requests answered 503 backend_unavailable
	pending int64 // ... since the last summary
	reason  string
}

func newOutageLog(log *slog.Logger, now func() time.Time) *outageLog {
	if now == nil {
		now = time.Now
	}
	return &outageLog{log: log, now: now, down: map[string]*outage{}}
}

// refused notes a request to db answered 503 backend_unavailable; the first
// one of an outage is logged at ERROR.
func (o *outageLog) refused(ctx context.Context, db, reason string) {
	o.mu.Lock()
	out, known := o.down[db]
	if !known {
		out = &outage{since: o.now(), reason: reason}
		o.down[db] = out
	}
	out.refused++
	out.pending++
	o.mu.Unlock()
	if !known {
		o.log.LogAttrs(ctx, slog.LevelError, "backend became unavailable; refused requests are summed up until it recovers",
			slog.String(logKeyDB, db), slog.String("error", reason))
	}
}

// served notes a request to db that the backend answered; it ends an
// outage.
func (o *outageLog) served(ctx context.Context, db string) {
	o.mu.Lock()
	out, known := o.down[db]
	if known {
		delete(o.down, db)
	}
	o.mu.Unlock()
	if known {
		o.log.LogAttrs(ctx, slog.LevelInfo, "backend recovered", slog.String(logKeyDB, db),
			slog.Int64("refused", out.refused), slog.Duration("outage", o.now().Sub(out.since)))
	}
}

// summarize logs, for each outage that refused requests since the last
// summary, how many.
func (o *outageLog) summarize(ctx context.Context) {
	type line struct {
		db               string
		pending, refused int64
		since            time.Time
		reason           string
	}
	var lines []line
	o.mu.Lock()
	for db, out := range o.down {
		if out.pending > 0 {
			lines = append(lines, line{db, out.pending, out.refused, out.since, out.reason})
			out.pending = 0
		}
	}
	o.mu.Unlock()
	for _, l := range lines {
		o.log.LogAttrs(ctx, slog.LevelWarn, "backend still unavailable", slog.String(logKeyDB, l.db),
			slog.Int64("refused_since_last_summary", l.pending), slog.Int64("refused", l.refused),
			slog.Duration("outage", o.now().Sub(l.since)), slog.String("error", l.reason))
	}
}

// run summarizes every interval until ctx is done.
func (o *outageLog) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			o.summarize(ctx)
		}
	}
}

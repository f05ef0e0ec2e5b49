package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Reconnect backoff defaults: jittered exponential from 250ms, capped at 5s,
// never giving up (an outage of any length ends without a manual step).
const (
	DefaultReconnectInitial = 250 * time.Millisecond
	DefaultReconnectMax     = 5 * time.Second
	reconnectJitter         = 0.5
	// probeTimeout bounds one reconnect attempt's ping.
	probeTimeout = 3 * time.Second
)

// health is the backend's view of PostgreSQL. A query that fails on the
// connection kicks the loop; the loop pings and, if PostgreSQL is really
// gone, marks the backend down and retries with backoff until it answers.
// While down every request fails at once with ErrUnavailable (503 +
// Retry-After) instead of waiting on a dead server.
type health struct {
	mu      sync.Mutex
	down    bool
	since   time.Time
	attempt int
	cause   error // redacted

	kicks chan struct{} // buffered (1): "a query just lost the connection"
}

// ready returns nil when the backend can serve, else the ErrUnavailable
// that says since when and why.
func (b *Backend) ready() error {
	b.health.mu.Lock()
	down, since, attempt, cause := b.health.down, b.health.since, b.health.attempt, b.health.cause
	b.health.mu.Unlock()
	if !down {
		b.mu.Lock()
		connected := b.pool != nil
		b.mu.Unlock()
		if connected {
			return nil
		}
		cause = errors.New("not connected yet")
	}
	return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "backend_unavailable", Hint: hintUnavailable,
		Message: fmt.Sprintf("PostgreSQL is unreachable since %s (reconnecting, attempt %d)",
			since.UTC().Format(time.RFC3339), attempt), Err: cause}
}

// Down reports whether the reconnect loop is waiting for PostgreSQL.
func (b *Backend) Down() bool {
	b.health.mu.Lock()
	defer b.health.mu.Unlock()
	return b.health.down
}

func (b *Backend) markDown(cause error) {
	b.health.mu.Lock()
	defer b.health.mu.Unlock()
	if !b.health.down {
		b.health.down, b.health.since, b.health.attempt = true, time.Now(), 0
	}
	b.health.cause = cause
}

// kick asks the loop to check the connection; it never blocks (a zero
// Backend, as InspectDSN builds, has no loop and ignores it).
func (b *Backend) kick() {
	select {
	case b.health.kicks <- struct{}{}:
	default:
	}
}

func (b *Backend) startLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	b.stop, b.loop = cancel, make(chan struct{})
	go func() {
		defer close(b.loop)
		b.watch(ctx)
	}()
}

// watch waits for kicks and runs a reconnect round for each real outage.
func (b *Backend) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.health.kicks:
		}
		if !b.Down() {
			err := b.probe(ctx)
			if err == nil {
				continue // one failed query, PostgreSQL is fine
			}
			b.markDown(err)
		}
		b.reconnect(ctx)
	}
}

// reconnect retries with jittered, capped exponential backoff until a probe
// succeeds or ctx ends; each failure is a warning with the attempt number
// and the next delay.
func (b *Backend) reconnect(ctx context.Context) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = b.cfg.ReconnectInitial
	bo.MaxInterval = b.cfg.ReconnectMax
	bo.RandomizationFactor = reconnectJitter
	bo.MaxElapsedTime = 0 // never give up
	bo.Reset()
	attempt := 0
	op := func() error {
		attempt++
		b.health.mu.Lock()
		b.health.attempt = attempt
		b.health.mu.Unlock()
		err := b.probe(ctx)
		if err != nil {
			b.markDown(err)
		}
		return err
	}
	notify := func(err error, next time.Duration) {
		b.log.Warn("PostgreSQL unavailable; reconnecting", slog.Int("attempt", attempt),
			slog.Duration("next_delay", next), slog.String("error", err.Error()))
	}
	if err := backoff.RetryNotify(op, backoff.WithContext(bo, ctx), notify); err != nil {
		return // ctx ended: the backend is closing
	}
	b.health.mu.Lock()
	since := b.health.since
	b.health.down, b.health.cause, b.health.attempt = false, nil, 0
	b.health.mu.Unlock()
	b.log.Warn("PostgreSQL reachable again", slog.Int("attempts", attempt),
		slog.Duration("downtime", time.Since(since).Round(time.Millisecond)))
}

// probe connects (when the first connection never succeeded) or pings.
func (b *Backend) probe(ctx context.Context) error {
	b.mu.Lock()
	pool := b.pool
	b.mu.Unlock()
	if pool == nil {
		return b.connect(ctx)
	}
	pctx, cancel := context.WithTimeout(ctx, min(probeTimeout, b.cfg.QueryTimeout))
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		return redactErr{err: err, secrets: b.secrets}
	}
	return nil
}

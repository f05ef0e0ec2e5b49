package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Concurrent writers (other requests, other proxies on the same database)
// stay deadlock-free by taking row locks in one canonical order: every
// multi-row write sorts its rows by id in byte order (Go's string order,
// which is PostgreSQL's COLLATE "C"). What ordering cannot rule out (a
// delete's cascade meeting an upsert, a serialization failure) is retried
// here, a bounded number of times, so a client never sees backend_busy for
// a conflict between two well-formed writes.

// maxWriteAttempts bounds the retries of one write transaction.
const maxWriteAttempts = 6

// retryable reports whether PostgreSQL aborted the transaction only because
// of a concurrent one: a serialization failure or a deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// retryWrite runs fn (one whole transaction) again after a serialization
// failure or deadlock, with jittered backoff, while ctx allows.
func retryWrite(ctx context.Context, fn func() error) error {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt >= maxWriteAttempts || !retryable(err) {
			return err
		}
		d := backoff/2 + rand.N(backoff)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// writeTx runs fn in a transaction on the pool, retried by retryWrite.
func (b *Backend) writeTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return retryWrite(ctx, func() error { return pgx.BeginFunc(ctx, b.pool, fn) })
}

// byteOrder returns the permutation that sorts ids in byte order (stable,
// so equal ids keep their order).
func byteOrder(ids []string) []int {
	ord := make([]int, len(ids))
	for i := range ord {
		ord[i] = i
	}
	sort.SliceStable(ord, func(a, b int) bool { return ids[ord[a]] < ids[ord[b]] })
	return ord
}

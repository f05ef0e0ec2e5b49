package postgres

import (
	"errors"
	"runtime"
	"sync/atomic"
)

// rowCache encodes a batch's rows for COPY: workers (one per CPU, each with
// its own encoder) encode chunks ahead, in order, while pgx streams the rows
// already encoded, so the records' JSON is split while PostgreSQL writes.
// Encoded rows are kept, so a second COPY (the merge path) does not encode
// again.
type rowCache struct {
	n     int
	width int // values COPYed of each row (0: all; more follow, see rowEncoder)
	row   func(e *encoder, i int) ([]any, error)
	rows  [][]any
	ready []chan struct{} // closed when chunk k is encoded (or given up)
	errs  []error         // chunk k's error
	next  atomic.Int64    // next chunk to claim
	stop  atomic.Bool
	once  atomic.Bool
}

const encodeChunk = 256

var errLoadStopped = errors.New("load stopped")

func newRowCache(n int, row func(e *encoder, i int) ([]any, error)) *rowCache {
	chunks := (n + encodeChunk - 1) / encodeChunk
	c := &rowCache{n: n, row: row, rows: make([][]any, n), ready: make([]chan struct{}, chunks), errs: make([]error, chunks)}
	for k := range c.ready {
		c.ready[k] = make(chan struct{})
	}
	return c
}

// start starts the workers (once): Load starts them as soon as the batch's
// specs are made, so the encoding overlaps the transaction's first round
// trips.
func (c *rowCache) start() {
	if c == nil || c.once.Swap(true) {
		return
	}
	chunks := len(c.ready)
	for range min(runtime.GOMAXPROCS(0), chunks) {
		go func() {
			e := new(encoder)
			for {
				k := int(c.next.Add(1) - 1)
				if k >= chunks {
					return
				}
				for i := k * encodeChunk; i < min((k+1)*encodeChunk, c.n); i++ {
					if c.stop.Load() {
						c.errs[k] = errLoadStopped
						break
					}
					r, err := c.row(e, i)
					if err != nil {
						c.errs[k] = err
						break
					}
					c.rows[i] = r
				}
				close(c.ready[k])
			}
		}()
	}
}

// close makes the workers give up the chunks not encoded yet.
func (c *rowCache) close() {
	if c != nil {
		c.stop.Store(true)
	}
}

// reader is a pgx.CopyFromSource over the rows, starting the encoding.
func (c *rowCache) reader() *rowReader {
	c.start()
	return &rowReader{c: c}
}

type rowReader struct {
	c   *rowCache
	i   int
	err error
}

func (r *rowReader) Next() bool {
	if r.err != nil || r.i >= r.c.n {
		return false
	}
	k := r.i / encodeChunk
	<-r.c.ready[k]
	if err := r.c.errs[k]; err != nil && r.c.rows[r.i] == nil {
		r.err = err
		return false
	}
	r.i++
	return true
}

func (r *rowReader) Values() ([]any, error) {
	row := r.c.rows[r.i-1]
	if r.c.width > 0 {
		row = row[:r.c.width]
	}
	return row, nil
}

func (r *rowReader) Err() error { return r.err }

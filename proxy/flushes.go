package proxy

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// DefaultBackgroundFlushGap is the least time between the starts of two
// background flushes of one database: how far LightRAG's files may lag
// behind the acknowledged writes during an ingest (plus a flush's time).
const DefaultBackgroundFlushGap = time.Second

// backgroundFlushes runs the flushes that POST /flush?wait=false asks for
// (LightRAG's index_done_callback, through the Python client): at most one
// per database at a time, and requests that arrive while one runs get
// exactly one more run after it (their writes may have come too late for
// the running one), started gap after the previous one. LightRAG asks after
// every document and a flush rewrites whole files; spaced out, a busy
// ingest rewrites them about once per gap, not after every document.
type backgroundFlushes struct {
	gap     time.Duration
	mu      sync.Mutex
	again   map[string]bool // running databases -> another run wanted
	closed  chan struct{}   // closed by close
	running sync.WaitGroup
}

func newBackgroundFlushes(gap time.Duration) *backgroundFlushes {
	return &backgroundFlushes{gap: gap, again: map[string]bool{}, closed: make(chan struct{})}
}

// request runs flush for the database now, or once more after the run in
// progress. After close it does nothing: closing the backends flushes them.
func (f *backgroundFlushes) request(db string, flush func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
		return
	default:
	}
	if _, ok := f.again[db]; ok {
		f.again[db] = true
		return
	}
	f.again[db] = false
	f.running.Add(1)
	go f.run(db, flush)
}

func (f *backgroundFlushes) run(db string, flush func()) {
	defer f.running.Done()
	for {
		start := time.Now()
		flush()
		f.mu.Lock()
		if !f.again[db] {
			delete(f.again, db)
			f.mu.Unlock()
			return
		}
		f.again[db] = false
		f.mu.Unlock()
		select {
		case <-time.After(time.Until(start.Add(f.gap))):
		case <-f.closed: // closing the backends flushes them
			f.mu.Lock()
			delete(f.again, db)
			f.mu.Unlock()
			return
		}
	}
}

// close refuses further requests and waits for the runs in progress.
func (f *backgroundFlushes) close() {
	f.mu.Lock()
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	f.mu.Unlock()
	f.running.Wait()
}

// flush is index_done_callback for the whole database. Every acknowledged
// write is durable already (the JSON backend's log, PostgreSQL's commit);
// a flush also rewrites LightRAG's own files. With wait=false it answers
// 202 at once and the files are rewritten in the background, so LightRAG
// does not wait for whole files to be rewritten after every document.
func (s *Server) flush(c echo.Context) error {
	wait := true
	switch v := c.QueryParam("wait"); v {
	case "", "true", "1":
	case "false", "0":
		wait = false
	default:
		return malformed("pass wait=true or wait=false", "query parameter wait=%q is not a boolean", v)
	}
	h, err := s.database(c)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	if !wait {
		name := h.name
		s.flushes.request(name, func() { s.flushInBackground(name) })
		return writeJSON(c, http.StatusAccepted, okBody{OK: true})
	}
	start := time.Now()
	if err := h.backend.Flush(ctxOf(c)); err != nil {
		return err
	}
	s.recordFlush(h.name, time.Since(start))
	return ok(c)
}

// flushInBackground flushes one database for backgroundFlushes. A failure
// loses nothing (the writes stay in the backend's log, and the database
// stays dirty for the next flush), so it is logged, not returned.
func (s *Server) flushInBackground(db string) {
	ctx := s.bgCtx
	h, err := s.router.acquire(ctx, db)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("background flush: database not available", slog.String("db", db), slog.Any("error", err))
		}
		return
	}
	defer s.router.release(h)
	start := time.Now()
	if err := h.backend.Flush(ctx); err != nil {
		if ctx.Err() == nil {
			s.log.Error("background flush failed; the writes stay in the log and the next flush retries",
				slog.String("db", db), slog.Any("error", err))
		}
		return
	}
	s.recordFlush(db, time.Since(start))
}

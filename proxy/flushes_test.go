package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Requests while a flush runs add exactly one more run, however many come;
// a request after the runs end starts again; after close nothing runs.
func TestBackgroundFlushesCoalesce(t *testing.T) {
	f := newBackgroundFlushes(0)
	var runs atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	flush := func() {
		runs.Add(1)
		started <- struct{}{}
		<-release
	}
	f.request("db", flush)
	<-started // the first run is in progress
	for range 5 {
		f.request("db", flush)
	}
	release <- struct{}{}
	<-started // the one more run
	release <- struct{}{}

	f.request("other", flush) // another database runs on its own
	<-started
	release <- struct{}{}

	f.close()
	require.EqualValues(t, 3, runs.Load())
	f.request("db", flush) // after close: nothing
	require.EqualValues(t, 3, runs.Load())
}

// The run a request adds starts gap after the previous one started; a
// close during that wait ends it without the run (closing the backends
// flushes them).
func TestBackgroundFlushesGap(t *testing.T) {
	f := newBackgroundFlushes(100 * time.Millisecond)
	var starts []time.Time
	release := make(chan struct{})
	flush := func() {
		starts = append(starts, time.Now())
		<-release
	}
	f.request("db", flush)
	f.request("db", flush) // during the first run
	release <- struct{}{}
	release <- struct{}{}
	for { // the second run has started and ended once the first is forgotten
		f.mu.Lock()
		_, running := f.again["db"]
		f.mu.Unlock()
		if !running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.Len(t, starts, 2)
	require.GreaterOrEqual(t, starts[1].Sub(starts[0]), f.gap)

	g := newBackgroundFlushes(time.Hour)
	runs := 0
	g.request("db", func() { runs++; <-release })
	g.request("db", func() { runs++ })
	release <- struct{}{}
	g.close() // returns though the next run is an hour away
	require.Equal(t, 1, runs)
}

// POST /flush?wait=false answers 202 at once and the files appear; a bad
// value of wait is a 400 naming it.
func TestFlushWaitFalse(t *testing.T) {
	ts := startServer(t, testOptions{})
	resp := ts.call(t, "POST", "/v1/databases/default/kv/full_docs/upsert", `{"records":{"k":{"content":"v"}}}`, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var eb ErrorBody
	resp = ts.call(t, "POST", "/v1/databases/default/flush?wait=soon", nil, &eb)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, eb.Message, "wait")

	var body okBody
	resp = ts.call(t, "POST", "/v1/databases/default/flush?wait=false", nil, &body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.True(t, body.OK)
	path := filepath.Join(ts.DataDir, "default", "kv_store_full_docs.json")
	// Polling, not a deadline: the guard only turns a lost flush into a failure.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			break
		}
		require.Less(t, time.Since(start), time.Minute, "the background flush never wrote %s", path)
	}

	resp = ts.call(t, "POST", "/v1/databases/nope/flush?wait=false", nil, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "an unknown database is refused, not queued")
}

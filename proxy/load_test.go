package proxy

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadLog is a RequestLoad that counts what it hears.
type loadLog struct {
	mu              sync.Mutex
	enters, exits   int
	wideIn, wideOut int
	inFlight        int
}

func (l *loadLog) Enter(wide bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.enters++
	l.inFlight++
	if wide {
		l.wideIn++
	}
}

func (l *loadLog) Exit(wide bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exits++
	l.inFlight--
	if wide {
		l.wideOut++
	}
}

// Every request, failed ones included, is entered and exited once; only
// the vector query is wide (it scans on every core).
func TestRequestLoadHearsEveryRequest(t *testing.T) {
	load := &loadLog{}
	ts := startServerWith(t, false, func(c *Config) { c.Procs = load })
	ts.call(t, http.MethodPost, "/v1/databases/default/kv/text_chunks/upsert",
		map[string]any{"records": map[string]any{"a": map[string]any{"content": "x"}}}, nil)
	ts.call(t, http.MethodPost, "/v1/databases/default/kv/text_chunks/get", map[string]any{"ids": []string{"a"}}, nil)
	ts.call(t, http.MethodPost, "/v1/databases/default/vectors/chunks/query?dim=2",
		map[string]any{"vector": []float32{1, 0}, "top_k": 1}, nil)
	resp := ts.call(t, http.MethodPost, "/v1/databases/nope/kv/text_chunks/get", map[string]any{"ids": []string{"a"}}, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	ts.call(t, http.MethodGet, "/v1/no-such-route", nil, nil)

	load.mu.Lock()
	defer load.mu.Unlock()
	require.Equal(t, 5, load.enters)
	require.Equal(t, load.enters, load.exits)
	require.Equal(t, 1, load.wideIn, "only the vector query is wide")
	require.Equal(t, load.wideIn, load.wideOut)
	require.Equal(t, 0, load.inFlight)
}

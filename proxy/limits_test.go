package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/registry"
)

// serveTCP runs a server through Serve (the real http.Server, as `proxy
// serve` does) on a 127.0.0.1 listener and returns its address.
func serveTCP(t *testing.T, mod func(*Config)) (string, *Server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{RegistryPath: filepath.Join(dir, "registry.yaml"), DataDir: filepath.Join(dir, "data"),
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(context.Background(), cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return ln.Addr().String(), s, dir
}

// rawRequest writes raw bytes on a new connection and reads one response.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, ErrorBody) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var eb ErrorBody
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&eb), "body: %s", data)
	return resp, eb
}

// Requests net/http refuses before any handler runs (an invalid escape in
// the path, a broken header) get the documented error body, not Go's
// plain-text 400 (issue 14 #7).
func TestUnparsableRequestsGetErrorBody(t *testing.T) {
	addr, _, dir := serveTCP(t, nil)
	for _, tc := range []struct{ name, raw, msgHas string }{
		{"invalid escape in database", "GET /v1/databases/%ZZ/kv/full_docs HTTP/1.1\r\nHost: x\r\n\r\n", "not valid HTTP"},
		{"invalid escape in namespace", "POST /v1/databases/default/kv/%G0/upsert HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"records\":{\"a\":{}}}", "not valid HTTP"},
		{"truncated escape", "GET /v1/databases/default% HTTP/1.1\r\nHost: x\r\n\r\n", "not valid HTTP"},
		{"no host", "GET /healthz HTTP/1.1\r\n\r\n", "Host"},
		{"bad header line", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", "not valid HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, eb := rawRequest(t, addr, tc.raw)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, "malformed_request", eb.Code)
			require.Equal(t, "malformed", eb.Kind)
			require.Contains(t, eb.Message, tc.msgHas)
			require.NotEmpty(t, eb.Hint)
			require.Equal(t, resp.Header.Get("X-Request-Id"), eb.RequestID)
		})
	}
	require.NoDirExists(t, filepath.Join(dir, "data", "default"), "nothing was written")
	// Well-formed requests on the same server are untouched.
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// A body trickling in (a byte at a time) is cut off once the body read
// timeout passes, with 408 and the error body; a body sent at once is not
// affected, nor is the next request on the same connection (issue 14 #9).
func TestSlowBodyCutOff(t *testing.T) {
	addr, _, _ := serveTCP(t, func(c *Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	body := `{"records":{"slow":{"content":"x"}}}`
	_, err = fmt.Fprintf(conn, "POST /v1/databases/default/kv/full_docs/upsert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	require.NoError(t, err)
	var sent atomic.Int32
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < len(body); i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			sent.Add(1)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", data)
	var eb ErrorBody
	require.NoError(t, json.Unmarshal(data, &eb))
	require.Equal(t, "request_timeout", eb.Code)
	require.Equal(t, "timeout", eb.Kind)
	require.Less(t, int(sent.Load()), len(body), "cut off before the body was complete")

	// A body sent at once passes; the deadline is lifted once it is read,
	// so the connection serves a second request after an idle pause.
	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	rd := bufio.NewReader(c2)
	for i := range 2 {
		b := fmt.Sprintf(`{"records":{"k%d":{"content":"x"}}}`, i)
		_, err = fmt.Fprintf(c2, "POST /v1/databases/default/kv/full_docs/upsert HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		require.NoError(t, err)
		resp, err := http.ReadResponse(rd, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		time.Sleep(500 * time.Millisecond) // longer than the body timeout
	}
}

// flakyBackend's opener fails as unavailable while down is set.
func flakyOpener(down *atomic.Bool) Opener {
	return func(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error) {
		if down.Load() {
			return nil, adapters.Errorf(adapters.ErrUnavailable, "backend_unavailable", "retry later", "connect: connection refused")
		}
		return jsonOpener(ctx, name, db, dataDir)
	}
}

// An outage logs its start once at ERROR, sums up the refused requests
// while it lasts and logs the recovery; it does not write an ERROR line per
// 503 (issue 14 #12).
func TestOutageLoggedByStateChange(t *testing.T) {
	var logs syncBuffer
	var down atomic.Bool
	down.Store(true)
	ts := startServerWith(t, true, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.Openers = map[string]Opener{registry.BackendJSON: flakyOpener(&down)}
		c.OutageSummaryInterval = 20 * time.Millisecond
	})
	const refused = 200
	for range refused {
		var eb ErrorBody
		resp := ts.call(t, "POST", "/v1/databases/default/kv/full_docs/get", `{"ids":["a"]}`, &eb)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.Equal(t, "backend_unavailable", eb.Code)
		require.Equal(t, "unavailable", eb.Kind)
	}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "backend still unavailable") },
		time.Minute, 10*time.Millisecond)
	down.Store(false)
	resp := ts.call(t, "POST", "/v1/databases/default/kv/full_docs/get", `{"ids":["a"]}`, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var errorLines, summaries int
	var recovered map[string]any
	var summed float64
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["level"] == "ERROR" {
			errorLines++
			require.Equal(t, "default", rec["db"])
			require.Contains(t, rec["error"], "connection refused")
		}
		switch rec["msg"] {
		case "backend still unavailable":
			summaries++
			summed += rec["refused_since_last_summary"].(float64)
		case "backend recovered":
			recovered = rec
		}
	}
	require.Equal(t, 1, errorLines, "one ERROR line for the outage, not one per 503")
	require.GreaterOrEqual(t, summaries, 1)
	require.Positive(t, summed)
	require.LessOrEqual(t, summed, float64(refused), "the summaries count refused requests once")
	require.NotNil(t, recovered)
	require.EqualValues(t, refused, recovered["refused"])
}

func TestArrayLen(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"ids":[]}`, 0},
		{`{"ids":[ ]}`, 0},
		{`{"ids":["a"]}`, 1},
		{`{"ids":["a","b,c","d\"],"]}`, 3},
		{`{"x":["a","b"],"ids":["c"]}`, 1},
		{`{"x":{"ids":["a","b"]},"ids":["c","d"]}`, 2},
		{`{"pairs":[{"src":"a","tgt":"b"},{"src":"c","tgt":"d"}]}`, -1}, // key not asked
		{`{"ids":"a,b"}`, -1},
		{`{"ids":[["a","b"],["c"]]}`, 2},
		{`{"ids":null}`, -1},
		{`{"i\"ds":["a","b"]}`, -1},
		{`{"ids":["a",`, -1},
	} {
		require.Equal(t, tc.want, arrayLen([]byte(tc.body), "ids"), tc.body)
	}
	require.Equal(t, 2, arrayLen([]byte(`{"pairs":[{"src":"a","tgt":"b"},{"src":"c","tgt":"d"}]}`), "pairs"))
}

// One request may not ask for unbounded work: lists, top_k and max_nodes
// over their limits are refused with 413 limit_exceeded naming the limit and
// the fix, before any work is done, and nothing is written (issue 14 #10).
func TestRequestLimits(t *testing.T) {
	ts := startServer(t, testOptions{})
	ids := func(n int) string {
		var b strings.Builder
		b.WriteString(`[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d"`, i)
		}
		b.WriteString(`]`)
		return b.String()
	}
	over := ids(MaxBatchItems + 1)
	kv := "/v1/databases/default/kv/full_docs"
	g := "/v1/databases/default/graphs/g"
	vec := "/v1/databases/default/vectors/v"
	for _, tc := range []struct{ name, path, body, field string }{
		{"kv get ids", kv + "/get", `{"ids":` + over + `}`, `"ids"`},
		{"kv delete ids", kv + "/delete", `{"ids":` + over + `}`, `"ids"`},
		{"kv filter keys", kv + "/filter-keys", `{"keys":` + over + `}`, `"keys"`},
		{"graph nodes has", g + "/nodes/has", `{"ids":` + over + `}`, `"ids"`},
		{"graph by chunk ids", g + "/nodes/by-chunk-ids", `{"chunk_ids":` + over + `}`, `"chunk_ids"`},
		{"vectors get", vec + "/vectors", `{"ids":` + over + `}`, `"ids"`},
		{"top_k", vec + "/query", fmt.Sprintf(`{"vector":[1,0],"top_k":%d}`, MaxTopK+1), `"top_k"`},
		{"huge top_k", vec + "/query", `{"vector":[1,0],"top_k":9223372036854775807}`, `"top_k"`},
		{"max_nodes", g + "/knowledge-graph", fmt.Sprintf(`{"label":"*","max_nodes":%d}`, MaxGraphNodes+1), `"max_nodes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var eb ErrorBody
			resp := ts.call(t, "POST", tc.path, tc.body, &eb)
			require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%+v", eb)
			require.Equal(t, "limit_exceeded", eb.Code)
			require.Equal(t, "too_large", eb.Kind)
			require.Contains(t, eb.Message, tc.field)
			require.Contains(t, eb.Message, "limit of")
			require.NotEmpty(t, eb.Hint)
		})
	}
	// Records over the limit: refused, nothing written.
	var recs strings.Builder
	recs.WriteString(`{"records":{`)
	for i := range MaxBatchItems + 1 {
		if i > 0 {
			recs.WriteByte(',')
		}
		fmt.Fprintf(&recs, `"r%d":{}`, i)
	}
	recs.WriteString(`}}`)
	var eb ErrorBody
	resp := ts.call(t, "POST", kv+"/upsert", recs.String(), &eb)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%+v", eb)
	require.Contains(t, eb.Message, `"records" has 100001 items`)
	var info map[string]any
	resp = ts.call(t, "GET", kv, nil, &info)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 0, info["count"], "%v", info)

	// At the limit: served.
	resp = ts.call(t, "POST", kv+"/get", `{"ids":`+ids(MaxBatchItems)+`}`, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// After a large request, once the proxy idles, freed memory is returned to
// the system; not while requests run (issue 14 #10).
func TestMemoryReleasedWhenIdle(t *testing.T) {
	ts := startServerWith(t, false, func(c *Config) { c.MemoryReleaseIdle = 50 * time.Millisecond })
	resp := ts.call(t, "POST", "/v1/databases/default/kv/full_docs/get", `{"ids":["a"]}`, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	time.Sleep(200 * time.Millisecond)
	require.Zero(t, ts.mem.released.Load(), "small requests release nothing")
	big := `{"ids":["` + strings.Repeat("x", largeRequestBytes) + `"]}`
	resp = ts.call(t, "POST", "/v1/databases/default/kv/full_docs/get", big, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool { return ts.mem.released.Load() == 1 }, time.Minute, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.EqualValues(t, 1, ts.mem.released.Load(), "once per burst")
}

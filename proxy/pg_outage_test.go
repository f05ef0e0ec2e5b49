package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
)

// outageEnv overrides how long each outage lasts (seconds). The issue asks
// for 30 s, the default; shorten it only while iterating locally.
const outageEnv = "HYBRIDRAG_TEST_OUTAGE_SECONDS"

func outageDuration(t *testing.T) time.Duration {
	if v := os.Getenv(outageEnv); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, outageEnv)
		return time.Duration(n) * time.Second
	}
	return 30 * time.Second
}

// traffic writes unique KV records one at a time per writer and tallies the
// answers: an acknowledged (200) write must survive; a failure must be a 503
// with Retry-After and a stable code, answered in bounded time.
type traffic struct {
	url    string
	client *http.Client

	mu        sync.Mutex
	acked     []string
	ok        int
	down      int            // 503 + Retry-After
	downCodes map[string]int // codes of those 503s
	bad       []string       // anything else: 500s, hangs, 503 without Retry-After
	lastOK    time.Time
}

func (tr *traffic) upsert(id string) {
	body := fmt.Sprintf(`{"records":{%q:{"content":"doc %s"}}}`, id, id)
	start := time.Now()
	resp, err := tr.client.Post(tr.url+"/v1/databases/pgdb/kv/full_docs/upsert", "application/json", bytes.NewReader([]byte(body)))
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil {
		tr.bad = append(tr.bad, fmt.Sprintf("%s: %v after %s", id, err, time.Since(start)))
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusOK:
		tr.ok++
		tr.acked = append(tr.acked, id)
		tr.lastOK = time.Now()
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		tr.down++
		var eb ErrorBody
		_ = json.Unmarshal(data, &eb)
		tr.downCodes[eb.Code]++
	default:
		tr.bad = append(tr.bad, fmt.Sprintf("%s: %d %s", id, resp.StatusCode, data))
	}
}

func (tr *traffic) run(stop <-chan struct{}, writers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tr.upsert(fmt.Sprintf("w%d-%06d", w, i))
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return &wg
}

func readyStatus(t *testing.T, ts *testServer) int {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(ts.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady polls /readyz until 200; the proxy must recover by itself.
func waitReady(t *testing.T, ts *testServer, within time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < within {
		if readyStatus(t, ts) == http.StatusOK {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the proxy did not recover within %s after PostgreSQL came back", within)
	return 0
}

// TestPostgresOutage: the proxy starts while its PostgreSQL is down, then
// survives a fast and an immediate shutdown of 30 s each under write
// traffic: 503 + Retry-After during the outages (never a 500 or a hang),
// /readyz 503, recovery with no manual step, every acknowledged write kept.
func TestPostgresOutage(t *testing.T) {
	c := pgtest.Start(t)
	outage := outageDuration(t)
	c.Stop("fast") // down when the proxy starts
	ts := startPGServer(t, pgRegistry(c.DSN("postgres", "", "postgres"), [3]string{"pgdb", "pg", "default"}),
		pgServerOptions{pg: postgres.Config{QueryTimeout: 2 * time.Second, ReconnectMax: time.Second}})

	tr := &traffic{url: ts.URL, client: &http.Client{Timeout: 15 * time.Second}, downCodes: map[string]int{}}
	tr.upsert("before-start")
	require.Equal(t, 1, tr.down, "a request while PostgreSQL is down at start: %v", tr.bad)
	require.Equal(t, http.StatusServiceUnavailable, readyStatus(t, ts))
	c.StartServer()
	t.Logf("recovered %s after PostgreSQL started", waitReady(t, ts, 30*time.Second))

	stop := make(chan struct{})
	wg := tr.run(stop, 3)
	for _, mode := range []string{"fast", "immediate"} {
		time.Sleep(time.Second)
		c.Stop(mode)
		stoppedAt := time.Now()
		for time.Since(stoppedAt) < outage {
			time.Sleep(min(2*time.Second, outage/3))
			require.Equal(t, http.StatusServiceUnavailable, readyStatus(t, ts), "readyz during the %s outage", mode)
		}
		tr.mu.Lock()
		okDuring := tr.lastOK.After(stoppedAt.Add(time.Second))
		tr.mu.Unlock()
		require.False(t, okDuring, "a write was acknowledged while PostgreSQL was down")
		c.StartServer()
		took := waitReady(t, ts, 30*time.Second)
		restarted := time.Now()
		for {
			tr.mu.Lock()
			recovered := tr.lastOK.After(restarted)
			tr.mu.Unlock()
			if recovered {
				break
			}
			require.Less(t, time.Since(restarted), 30*time.Second, "writes did not resume after the %s outage", mode)
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s outage of %s: ready again %s after restart", mode, outage, took)
	}
	close(stop)
	wg.Wait()

	tr.mu.Lock()
	defer tr.mu.Unlock()
	require.Empty(t, tr.bad, "only 200s and 503s with Retry-After are allowed")
	require.Positive(t, tr.down, "no 503 was seen during the outages")
	for code := range tr.downCodes {
		require.Contains(t, []string{"backend_unavailable", "backend_timeout"}, code)
	}
	t.Logf("writes: %d acknowledged, %d answered 503 %v", tr.ok, tr.down, tr.downCodes)

	// Every acknowledged write is in PostgreSQL.
	ids, _ := json.Marshal(map[string]any{"ids": tr.acked})
	resp, err := http.Post(ts.URL+"/v1/databases/pgdb/kv/full_docs/get", "application/json", bytes.NewReader(ids))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got struct {
		Records []json.RawMessage `json:"records"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.Records, len(tr.acked))
	for i, r := range got.Records {
		require.NotEqual(t, "null", string(r), "acknowledged write %s is missing", tr.acked[i])
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/internal/testbin"
)

// The end-to-end tests build the real binary once (TestMain) and drive it
// over loopback HTTP: SIGKILL mid-traffic and mid-flush, SIGTERM, zero-config
// start and registry changes while running.

// proxyBin is the binary TestMain built ("" under -short).
var proxyBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if !testingShort() {
		// One binary for the whole run (shared through
		// HYBRIDRAG_TEST_PROXY_BIN when make test built it).
		bin, cleanup, err := testbin.Proxy()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer cleanup()
		proxyBin = bin
	}
	return m.Run()
}

// testingShort reads -short before m.Run parses flags.
func testingShort() bool {
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" || a == "--test.short" {
			return true
		}
	}
	return false
}

func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() || proxyBin == "" {
		t.Skip("end-to-end test: skipped under -short")
	}
}

// syncBuffer collects a process's stderr for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is one running `proxy serve`.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

// cleanEnv is the environment without HYBRIDRAG_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HYBRIDRAG_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProxy runs the binary in dir with args and env, and waits until it
// logs its address and answers /healthz.
func startProxy(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(proxyBin, append([]string{"serve", "--log-format", "json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	require.NoError(t, cmd.Start())
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(append([]byte{}, line...), '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving" && rec.Addr != "" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case addr := <-addrc:
		p.url = "http://" + addr
	case err := <-p.done:
		t.Fatalf("proxy exited before serving: %v\n%s", err, p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("proxy did not log its address\n%s", p.stderr)
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "healthz")
	return p
}

// stop sends sig and waits for the exit; it returns the exit error.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatalf("proxy did not exit after %v\n%s", sig, p.stderr)
		return nil
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// post sends a JSON body and decodes a 200 answer into out (if not nil).
func post(ctx context.Context, url string, body, out any, header ...string) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

const vecDim = 8

// acked records the writes the proxy acknowledged, per kind.
type acked struct {
	mu                 sync.Mutex
	kv, vectors, nodes []string
	kvContent          map[string]string
}

func (a *acked) add(kind *[]string, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	*kind = append(*kind, id)
}

// writeLoop upserts KV records, vectors and graph nodes in turn until ctx
// ends or the proxy stops answering, recording each acknowledged write.
func writeLoop(ctx context.Context, base string, w int, a *acked) {
	db := base + "/v1/databases/default"
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("w%d-%d", w, i)
		var err error
		switch i % 3 {
		case 0:
			content := fmt.Sprintf("content of %s with a quote \" and <SEP> and 東京", id)
			_, err = post(ctx, db+"/kv/full_docs/upsert", map[string]any{
				"records": map[string]any{id: map[string]any{"content": content, "file_path": "e2e.txt"}}}, nil)
			if err == nil {
				a.mu.Lock()
				a.kv = append(a.kv, id)
				a.kvContent[id] = content
				a.mu.Unlock()
			}
		case 1:
			vec := make([]float32, vecDim)
			for j := range vec {
				vec[j] = float32((i+j)%7) + 0.5
			}
			_, err = post(ctx, db+"/vectors/chunks/upsert", map[string]any{
				"records": []any{map[string]any{"id": id, "vector": vec, "fields": map[string]any{"content": id}}}}, nil)
			if err == nil {
				a.add(&a.vectors, id)
			}
		case 2:
			_, err = post(ctx, db+"/graphs/chunk_entity_relation/nodes/upsert", map[string]any{
				"nodes": []any{map[string]any{"id": id, "properties": map[string]any{
					"entity_id": id, "entity_type": "test", "description": "node " + id}}}}, nil)
			if err == nil {
				a.add(&a.nodes, id)
			}
		}
		if err != nil && ctx.Err() == nil {
			// The proxy was killed: stop this writer.
			return
		}
	}
}

// runTraffic runs writers (and, with flushLoop, a flusher) until the proxy
// is killed after d, then returns what was acknowledged.
func runTraffic(t *testing.T, p *proc, d time.Duration, flushLoop bool) *acked {
	t.Helper()
	a := &acked{kvContent: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() { writeLoop(ctx, p.url, w, a) })
	}
	var flushes int
	if flushLoop {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := post(ctx, p.url+"/v1/databases/default/flush", map[string]any{}, nil); err != nil {
					return
				}
				flushes++
			}
		})
	}
	time.Sleep(d)
	err := p.stop(t, syscall.SIGKILL)
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "killed: %v", err)
	// Writers see the connection fail and stop; cancel covers the rest.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cancel()
		<-done
	}
	cancel()
	if flushLoop {
		t.Logf("flushes completed before the kill: %d", flushes)
	}
	return a
}

// verifyAcked reads every acknowledged write back from a restarted proxy.
func verifyAcked(t *testing.T, base string, a *acked) {
	t.Helper()
	ctx := context.Background()
	db := base + "/v1/databases/default"
	require.NotEmpty(t, a.kv, "some KV writes were acknowledged")
	require.NotEmpty(t, a.vectors)
	require.NotEmpty(t, a.nodes)
	for start := 0; start < len(a.kv); start += 500 {
		ids := a.kv[start:min(start+500, len(a.kv))]
		var got struct{ Records []map[string]any }
		_, err := post(ctx, db+"/kv/full_docs/get", map[string]any{"ids": ids}, &got)
		require.NoError(t, err)
		require.Len(t, got.Records, len(ids))
		for i, id := range ids {
			require.NotNil(t, got.Records[i], "acknowledged KV write %s lost", id)
			require.Equal(t, a.kvContent[id], got.Records[i]["content"], id)
		}
	}
	for start := 0; start < len(a.vectors); start += 500 {
		ids := a.vectors[start:min(start+500, len(a.vectors))]
		var got struct{ Records []map[string]any }
		_, err := post(ctx, db+"/vectors/chunks/get", map[string]any{"ids": ids}, &got)
		require.NoError(t, err)
		require.Len(t, got.Records, len(ids))
		for i, id := range ids {
			require.NotNil(t, got.Records[i], "acknowledged vector write %s lost", id)
		}
	}
	for start := 0; start < len(a.nodes); start += 500 {
		ids := a.nodes[start:min(start+500, len(a.nodes))]
		var got struct{ Nodes []map[string]any }
		_, err := post(ctx, db+"/graphs/chunk_entity_relation/nodes/get", map[string]any{"ids": ids}, &got)
		require.NoError(t, err)
		require.Len(t, got.Nodes, len(ids))
		for i, id := range ids {
			require.NotNil(t, got.Nodes[i], "acknowledged graph write %s lost", id)
			require.Equal(t, "node "+id, got.Nodes[i]["description"], id)
		}
	}
}

// requireFilesParse checks that every LightRAG file in dir is whole: JSON
// files decode, GraphML decodes as XML.
func requireFilesParse(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, "kv_store_") && strings.HasSuffix(name, ".json"),
			strings.HasPrefix(name, "vdb_") && strings.HasSuffix(name, ".json"):
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			var v map[string]any
			require.NoError(t, json.Unmarshal(data, &v), "%s is torn", name)
		case strings.HasPrefix(name, "graph_") && strings.HasSuffix(name, ".graphml"):
			f, err := os.Open(path)
			require.NoError(t, err)
			dec := xml.NewDecoder(f)
			for {
				_, err := dec.Token()
				if err == io.EOF {
					break
				}
				require.NoError(t, err, "%s is torn", name)
			}
			f.Close()
		}
	}
}

func requireNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), "tmp", "temp file left behind")
	}
}

func TestE2EKillMidTrafficKeepsAcknowledgedWrites(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	env := cleanEnv()
	p := startProxy(t, data, env, "--listen", "127.0.0.1:0", "--data", data)
	a := runTraffic(t, p, 1500*time.Millisecond, false)
	t.Logf("acknowledged: %d kv, %d vectors, %d nodes", len(a.kv), len(a.vectors), len(a.nodes))
	requireFilesParse(t, filepath.Join(data, "default"))

	p2 := startProxy(t, data, env, "--listen", "127.0.0.1:0", "--data", data)
	verifyAcked(t, p2.url, a)
	requireNoTempFiles(t, filepath.Join(data, "default"))
	require.NoError(t, p2.stop(t, syscall.SIGTERM))
}

func TestE2EKillDuringFlushNeverTearsFiles(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	env := cleanEnv()
	// Several rounds: the kill lands at different points of a flush.
	var all []*acked
	for round := range 3 {
		p := startProxy(t, data, env, "--listen", "127.0.0.1:0", "--data", data)
		if round > 0 {
			verifyAcked(t, p.url, all[round-1])
		}
		all = append(all, runTraffic(t, p, time.Duration(700+300*round)*time.Millisecond, true))
		require.FileExists(t, filepath.Join(data, "default", "kv_store_full_docs.json"), "flushes wrote LightRAG files")
		requireFilesParse(t, filepath.Join(data, "default"))
	}
	p := startProxy(t, data, env, "--listen", "127.0.0.1:0", "--data", data)
	for _, a := range all {
		verifyAcked(t, p.url, a)
	}
	requireNoTempFiles(t, filepath.Join(data, "default"))
	require.NoError(t, p.stop(t, syscall.SIGTERM), "graceful exit")
	requireFilesParse(t, filepath.Join(data, "default"))
	requireNoTempFiles(t, filepath.Join(data, "default"))
}

func TestE2EZeroConfigServeAndGracefulShutdown(t *testing.T) {
	needBinary(t)
	cwd := t.TempDir()
	// No flags and no registry: only the listen address (a free port) from
	// the environment.
	p := startProxy(t, cwd, cleanEnv("HYBRIDRAG_LISTEN=127.0.0.1:0"))
	reg, err := os.ReadFile(filepath.Join(cwd, "data", "registry.yaml"))
	require.NoError(t, err, "zero-config start writes the default registry")
	require.Contains(t, string(reg), "default")

	ctx := context.Background()
	db := p.url + "/v1/databases/default"
	_, err = post(ctx, db+"/kv/full_docs/upsert", map[string]any{
		"records": map[string]any{"doc-1": map[string]any{"content": "hello"}}}, nil)
	require.NoError(t, err)

	// A database added with the CLI while the proxy runs is served without
	// a restart.
	other := filepath.Join(cwd, "other")
	out, err := exec.Command(proxyBin, "db", "add", "other", "--path", other, "--data", filepath.Join(cwd, "data")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Eventually(t, func() bool {
		_, err := post(ctx, p.url+"/v1/databases/other/kv/full_docs/upsert", map[string]any{
			"records": map[string]any{"x": map[string]any{"content": "in other"}}}, nil)
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "new database served")

	require.NoError(t, p.stop(t, syscall.SIGTERM), "SIGTERM exits 0\n%s", p.stderr)
	require.Contains(t, p.stderr.String(), `"msg":"stopped"`)

	// Shutdown flushed LightRAG's files.
	for _, f := range []struct{ dir, id, content string }{
		{filepath.Join(cwd, "data", "default"), "doc-1", "hello"},
		{other, "x", "in other"},
	} {
		raw, err := os.ReadFile(filepath.Join(f.dir, "kv_store_full_docs.json"))
		require.NoError(t, err, "flushed on shutdown")
		var docs map[string]map[string]any
		require.NoError(t, json.Unmarshal(raw, &docs))
		require.Equal(t, f.content, docs[f.id]["content"])
		requireNoTempFiles(t, f.dir)
	}
}

func TestE2ETokenGuardsRoutesAndIsNeverLogged(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	const token = "s3cret-token-value"
	p := startProxy(t, data, cleanEnv("HYBRIDRAG_TOKEN="+token), "--listen", "127.0.0.1:0", "--data", data, "--log-level", "debug")
	ctx := context.Background()
	status, err := post(ctx, p.url+"/v1/databases/default/kv/full_docs/get", map[string]any{"ids": []string{"a"}}, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, status)
	_, err = post(ctx, p.url+"/v1/databases/default/kv/full_docs/get", map[string]any{"ids": []string{"a"}}, nil,
		"Authorization", "Bearer "+token)
	require.NoError(t, err)
	require.NoError(t, p.stop(t, syscall.SIGTERM))
	require.NotContains(t, p.stderr.String(), token)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/registry"
)

// The multi-proxy test runs several real proxies (the binary TestMain
// built) against one PostgreSQL database and workspace, with concurrent
// raw-HTTP clients that never retry: every answer must be a 200 (a 422 for
// the loser of a first-write dimension race), and the final rows must equal
// a model that holds whatever the interleaving.

const mpWorkspace = "mp"

// startPGProxies starts n proxies at once, each with its own data folder
// and registry serving database "db" from dsn, workspace mpWorkspace.
func startPGProxies(t *testing.T, dsn string, n int) []*proc {
	t.Helper()
	out := make([]*proc, n)
	var wg sync.WaitGroup
	for i := range out {
		dir := t.TempDir()
		reg := filepath.Join(dir, "registry.yaml")
		require.NoError(t, registry.Update(reg, func(r *registry.Registry) error {
			r.Backends = map[string]registry.BackendDef{"pg": {Type: registry.BackendPostgres, DSN: dsn,
				Workspace: mpWorkspace, EmbeddingModel: "e2e"}}
			r.Databases["db"] = registry.Database{Backend: "pg"}
			return nil
		}))
		env := cleanEnv("HYBRIDRAG_DATA="+dir, "HYBRIDRAG_REGISTRY="+reg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = startProxy(t, dir, env, "--listen", "127.0.0.1:0", "--data", dir)
		}()
	}
	wg.Wait()
	for _, p := range out {
		require.NotNil(t, p, "every proxy started")
	}
	return out
}

// send posts a raw JSON body once (no retry) and returns the status and body.
func send(ctx context.Context, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// kvBody is a KV upsert body with the ids in the given order (a Go map
// would sort them).
func kvBody(ids []string, rec func(id string) map[string]any) []byte {
	var b strings.Builder
	b.WriteString(`{"records":{`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(id))
		b.WriteByte(':')
		b.Write(mustJSON(rec(id)))
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// mpVector is the model's vector of an id.
func mpVector(id string, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(len(id)+i) + float32(id[len(id)-1]%7)/8
	}
	return v
}

// errorsOf collects unexpected answers of the clients.
type errorsOf struct {
	mu   sync.Mutex
	errs []string
}

func (e *errorsOf) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 20 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

func (e *errorsOf) require200(what string, status int, body []byte, err error) bool {
	if err != nil || status != http.StatusOK {
		e.add("%s: status %d err %v: %.300s", what, status, err, body)
		return false
	}
	return true
}

func TestMultiProxyConcurrentWriters(t *testing.T) {
	needBinary(t)
	dsn := pgtest.FreshDatabase(t)
	start := time.Now()
	procs := startPGProxies(t, dsn, 3)
	dbURL := func(i int) string { return procs[i%len(procs)].url + "/v1/databases/db" }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var bad errorsOf

	// Schema creation race: the first writes of an empty database, from
	// every proxy at once.
	var wg sync.WaitGroup
	for c := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("first-%d", c)
			st, raw, err := send(ctx, dbURL(c)+"/kv/full_docs/upsert", kvBody([]string{id}, func(string) map[string]any {
				return map[string]any{"content": "first"}
			}))
			bad.require200("first write "+id, st, raw, err)
		}()
	}
	wg.Wait()
	require.Empty(t, bad.errs)

	// Opposite-order batches and same-id races, every storage kind: the
	// written values depend on the id only (and node/edge properties merge
	// per client), so the final state is known whatever the interleaving.
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("ent-%02d", i)
	}
	const clients, rounds = 4, 12
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := slices.Clone(ids)
			if c%2 == 1 {
				slices.Reverse(order)
			}
			base := dbURL(c)
			ckey := fmt.Sprintf("c%d", c)
			for r := range rounds {
				writes := []struct {
					path string
					body []byte
				}{
					{"/kv/text_chunks/upsert", kvBody(order, func(id string) map[string]any {
						return map[string]any{"content": "chunk " + id, "full_doc_id": "doc"}
					})},
					{"/doc-status/doc_status/upsert", kvBody(order, func(id string) map[string]any {
						return map[string]any{"status": "processed", "content_summary": id, "file_path": "f.txt"}
					})},
					{"/vectors/entities/upsert", mustJSON(map[string]any{"records": func() []any {
						out := make([]any, len(order))
						for i, id := range order {
							out[i] = map[string]any{"id": id, "vector": mpVector(id, vecDim), "fields": map[string]any{"entity_name": id}}
						}
						return out
					}()})},
					{"/graphs/chunk_entity_relation/nodes/upsert", mustJSON(map[string]any{"nodes": func() []any {
						out := make([]any, len(order))
						for i, id := range order {
							out[i] = map[string]any{"id": id, "properties": map[string]any{"entity_id": id, ckey: "seen"}}
						}
						return out
					}()})},
					{"/graphs/chunk_entity_relation/edges/upsert", mustJSON(map[string]any{"edges": func() []any {
						out := make([]any, len(order))
						for i := range order {
							out[i] = map[string]any{"src": order[i], "tgt": order[(i+1)%len(order)], "properties": map[string]any{ckey: "seen"}}
						}
						return out
					}()})},
				}
				for _, w := range writes {
					st, raw, err := send(ctx, base+w.path, w.body)
					bad.require200(fmt.Sprintf("client %d round %d %s", c, r, w.path), st, raw, err)
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, bad.errs, "opposite-order batches")
	t.Logf("opposite-order batches: %d clients x %d rounds x 5 kinds in %v", clients, rounds, time.Since(start))

	// Edge upserts racing deletes of their endpoints.
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := dbURL(c)
			for r := range 40 {
				var path string
				var body []byte
				switch c % 2 {
				case 0:
					path = "/graphs/chunk_entity_relation/edges/upsert"
					body = mustJSON(map[string]any{"edges": []any{map[string]any{"src": "hub", "tgt": fmt.Sprintf("leaf-%d", r%5), "properties": map[string]any{"weight": 1}}}})
				default:
					path = "/graphs/chunk_entity_relation/nodes/delete"
					body = mustJSON(map[string]any{"ids": []string{fmt.Sprintf("leaf-%d", r%5), "hub"}})
				}
				st, raw, err := send(ctx, base+path, body)
				bad.require200(fmt.Sprintf("edge/node race client %d round %d", c, r), st, raw, err)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, bad.errs, "edge/node races")
	// The model's last word on the hub: every leaf edge, written once more.
	for i := range 5 {
		st, raw, err := send(ctx, dbURL(i)+"/graphs/chunk_entity_relation/edges/upsert", mustJSON(map[string]any{"edges": []any{
			map[string]any{"src": fmt.Sprintf("leaf-%d", i), "tgt": "hub", "properties": map[string]any{"weight": 2}}}}))
		require.True(t, bad.require200("final hub edge", st, raw, err), bad.errs)
	}

	// First-write dimension races: two proxies, two dimensions, one empty
	// namespace (a fresh workspace per round): one 200, one 422.
	winners := map[string]int{}
	for r := range 6 {
		ws := fmt.Sprintf("dimrace%d", r)
		statuses := make([]int, 2)
		bodies := make([][]byte, 2)
		for i, dim := range []int{vecDim, 2 * vecDim} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := mustJSON(map[string]any{"records": []any{map[string]any{"id": "x", "vector": mpVector("x", dim), "fields": map[string]any{}}}})
				statuses[i], bodies[i], _ = send(ctx, dbURL(i)+"/vectors/chunks/upsert?workspace="+ws, body)
			}()
		}
		wg.Wait()
		slices.Sort(statuses)
		require.Equal(t, []int{http.StatusOK, http.StatusUnprocessableEntity}, statuses, "round %d: %s | %s", r, bodies[0], bodies[1])
		for i := range bodies {
			if strings.Contains(string(bodies[i]), "dimension_mismatch") {
				winners[ws] = []int{vecDim, 2 * vecDim}[1-i]
			}
		}
		require.Contains(t, winners, ws, "round %d: the loser answers dimension_mismatch: %s | %s", r, bodies[0], bodies[1])
	}

	// kill -9 of one proxy under traffic: the others keep answering 200 and
	// no acknowledged write is lost.
	var ackMu sync.Mutex
	acked := map[string]bool{}
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			victim := c%3 == 2
			for i := 0; trafficCtx.Err() == nil && i < 400; i++ {
				id := fmt.Sprintf("k%d-%d", c, i)
				st, raw, err := send(trafficCtx, dbURL(c)+"/kv/full_docs/upsert", kvBody([]string{id}, func(string) map[string]any {
					return map[string]any{"content": "kill " + id}
				}))
				if st == http.StatusOK && err == nil {
					ackMu.Lock()
					acked[id] = true
					ackMu.Unlock()
				} else if !victim && trafficCtx.Err() == nil {
					bad.require200("kill traffic "+id, st, raw, err)
				}
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	require.NoError(t, procs[2].cmd.Process.Signal(syscall.SIGKILL))
	<-procs[2].done
	time.Sleep(400 * time.Millisecond)
	stopTraffic()
	wg.Wait()
	require.Empty(t, bad.errs, "survivors answer 200 through a kill -9")

	// The final state, read back through the adapter, equals the model.
	b, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: mpWorkspace, EmbeddingModel: "e2e"})
	require.NoError(t, err)
	defer b.Close(ctx)
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	recs, err := kv.GetByIDs(ctx, ids)
	require.NoError(t, err)
	for i, id := range ids {
		var m map[string]any
		require.NoError(t, json.Unmarshal(recs[i], &m), id)
		require.Equal(t, "chunk "+id, m["content"])
	}
	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	recs, err = ds.GetByIDs(ctx, ids)
	require.NoError(t, err)
	for i, id := range ids {
		require.Contains(t, string(recs[i]), `"content_summary":"`+id+`"`)
	}
	vec, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 0)
	require.NoError(t, err)
	vecs, err := vec.GetVectorsByIDs(ctx, ids)
	require.NoError(t, err)
	for _, id := range ids {
		require.Equal(t, mpVector(id, vecDim), vecs[id], id)
	}
	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	props, err := g.GetNodes(ctx, ids)
	require.NoError(t, err)
	pairs := make([]adapters.Edge, len(ids))
	for i, id := range ids {
		want := adapters.Props{"entity_id": adapters.MarshalString(id)}
		for c := range clients {
			want[fmt.Sprintf("c%d", c)] = adapters.MarshalString("seen")
		}
		require.Equal(t, want, props[i], "node %s merges every client's properties", id)
		pairs[i] = adapters.Edge{Src: id, Tgt: ids[(i+1)%len(ids)]}
	}
	eprops, err := g.GetEdges(ctx, pairs)
	require.NoError(t, err)
	for i := range pairs {
		require.Len(t, eprops[i], clients, "edge %v merges every client's properties", pairs[i])
	}
	hub := make([]adapters.Edge, 5)
	for i := range hub {
		hub[i] = adapters.Edge{Src: "hub", Tgt: fmt.Sprintf("leaf-%d", i)}
	}
	has, err := g.HasEdges(ctx, hub)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, true, true}, has)
	for ws, dim := range winners {
		v, err := b.Vector(ctx, adapters.Namespace{Workspace: ws, Name: "chunks"}, 0)
		require.NoError(t, err)
		require.Equal(t, dim, v.Dim(), ws)
		got, err := v.GetVectorsByIDs(ctx, []string{"x"})
		require.NoError(t, err)
		require.Equal(t, mpVector("x", dim), got["x"], "the acknowledged first write of %s is readable", ws)
	}
	full, err := b.KV(ctx, adapters.Namespace{Name: "full_docs"})
	require.NoError(t, err)
	want := []string{}
	for c := range 12 {
		want = append(want, fmt.Sprintf("first-%d", c))
	}
	for id := range acked {
		want = append(want, id)
	}
	missing, err := full.FilterKeys(ctx, want)
	require.NoError(t, err)
	require.Empty(t, missing, "acknowledged writes lost")
	t.Logf("kill -9 phase: %d acknowledged writes, all present", len(acked))

	// The killed proxy left no transaction open.
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.Eventually(t, func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&n)
		return err == nil && n == 0
	}, 15*time.Second, 100*time.Millisecond, "no open transaction after kill -9")
	for _, p := range procs[:2] {
		require.NoError(t, p.stop(t, syscall.SIGTERM))
	}
	require.Less(t, time.Since(start), 2*time.Minute)
}

// TestMultiProxySharedMaintenance: maintenance turned on through one proxy
// makes every proxy on the same PostgreSQL database refuse writes (issue
// 13, item 5), reads go on, and turning it off lets writes through again.
func TestMultiProxySharedMaintenance(t *testing.T) {
	needBinary(t)
	dsn := pgtest.FreshDatabase(t)
	procs := startPGProxies(t, dsn, 2)
	ctx := context.Background()
	write := func(p *proc) (int, []byte) {
		st, raw, err := send(ctx, p.url+"/v1/databases/db/kv/full_docs/upsert", kvBody([]string{"m1"}, func(string) map[string]any {
			return map[string]any{"content": "x"}
		}))
		require.NoError(t, err)
		return st, raw
	}
	setMaintenance := func(p *proc, on bool) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.url+"/v1/databases/db/maintenance",
			bytes.NewReader(mustJSON(map[string]any{"enabled": on})))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
	}
	for _, p := range procs {
		st, raw := write(p)
		require.Equal(t, http.StatusOK, st, "%s", raw)
	}
	setMaintenance(procs[0], true)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM hybridrag_coordination WHERE workspace = $1 AND maintenance`, mpWorkspace).Scan(&n))
	require.Equal(t, 1, n, "the shared state is in PostgreSQL")
	for i, p := range procs {
		require.Eventually(t, func() bool {
			st, raw := write(p)
			return st == http.StatusServiceUnavailable && strings.Contains(string(raw), `"maintenance"`)
		}, 5*time.Second, 100*time.Millisecond, "proxy %d refuses writes", i)
		st, raw, err := send(ctx, p.url+"/v1/databases/db/kv/full_docs/get", mustJSON(map[string]any{"ids": []string{"m1"}}))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, "reads go on: %s", raw)
	}
	setMaintenance(procs[0], false)
	for i, p := range procs {
		require.Eventually(t, func() bool {
			st, _ := write(p)
			return st == http.StatusOK
		}, 5*time.Second, 100*time.Millisecond, "proxy %d accepts writes again", i)
	}
}

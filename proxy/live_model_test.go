package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
	"github.com/hybridrag/storage-proxy/registry"
)

// A model-based test of live migration: several clients edit KV records,
// document statuses, vectors and the graph through every phase (before,
// backfill, verify, shadow, cutover, after), each in its own key range, and
// keep a model of what their acknowledged writes left. Every read a client
// makes equals its model; at the end the database, served by PostgreSQL,
// equals the model exactly.

// modelClient is one client and its model: key -> value ("" = absent).
type modelClient struct {
	id    int
	rng   *rand.Rand
	kv    adapters.KV
	docs  adapters.DocStatus
	vec   adapters.Vector
	graph adapters.Graph
	model map[string]string // "kv:k", "doc:k", "vec:k", "node:n", "edge:a|b"
}

func field(t *testing.T, raw []byte, name string) string {
	t.Helper()
	if raw == nil {
		return ""
	}
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	var s string
	require.NoError(t, json.Unmarshal(m[name], &s), string(raw))
	return s
}

func propString(t *testing.T, p adapters.Props, name string) string {
	t.Helper()
	if p == nil {
		return ""
	}
	var s string
	require.NoError(t, json.Unmarshal(p[name], &s))
	return s
}

func (c *modelClient) key(kind string, n int) string {
	return fmt.Sprintf("%s:c%d-%02d", kind, c.id, n)
}

// step makes one random write and one random read of the client's keys,
// checking the read against the model.
func (c *modelClient) step(t *testing.T, ctx context.Context, i int) {
	n := c.rng.IntN(20)
	val := fmt.Sprintf("v%d-%d", c.id, i)
	del := c.rng.IntN(5) == 0
	switch c.rng.IntN(5) {
	case 0:
		k := c.key("kv", n)
		id := k[3:]
		if del {
			require.NoError(t, c.kv.Delete(ctx, []string{id}))
			c.model[k] = ""
		} else {
			require.NoError(t, c.kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: adapters.Record(`{"content":"` + val + `"}`)}}))
			c.model[k] = val
		}
		got, err := c.kv.GetByIDs(ctx, []string{id})
		require.NoError(t, err)
		require.Equal(t, c.model[k], field(t, got[0], "content"), k)
	case 1:
		k := c.key("doc", n)
		id := k[4:]
		if del {
			require.NoError(t, c.docs.Delete(ctx, []string{id}))
			c.model[k] = ""
		} else {
			require.NoError(t, c.docs.Upsert(ctx, []adapters.KVRecord{{ID: id,
				Data: adapters.Record(`{"status":"processed","content_summary":"` + val + `","file_path":"f.txt"}`)}}))
			c.model[k] = val
		}
		got, err := c.docs.GetByIDs(ctx, []string{id})
		require.NoError(t, err)
		require.Equal(t, c.model[k], field(t, got[0], "content_summary"), k)
	case 2:
		k := c.key("vec", n)
		id := k[4:]
		if del {
			require.NoError(t, c.vec.Delete(ctx, []string{id}))
			c.model[k] = ""
		} else {
			v := []float32{c.rng.Float32(), c.rng.Float32(), c.rng.Float32(), 1}
			require.NoError(t, c.vec.Upsert(ctx, []adapters.VectorRecord{{ID: id, Vector: v, Fields: adapters.Record(`{"content":"` + val + `"}`)}}))
			c.model[k] = val
		}
		got, err := c.vec.GetByIDs(ctx, []string{id})
		require.NoError(t, err)
		var fields []byte
		if got[0] != nil {
			fields = got[0].Fields
		}
		require.Equal(t, c.model[k], field(t, fields, "content"), k)
	case 3:
		node := fmt.Sprintf("c%d-N%02d", c.id, n%8)
		k := "node:" + node
		if del {
			require.NoError(t, c.graph.DeleteNodes(ctx, []string{node}))
			c.model[k] = ""
			for m := range 8 { // its edges go with it
				other := fmt.Sprintf("c%d-N%02d", c.id, m)
				delete(c.model, "edge:"+edgeName(node, other))
				c.model["edge:"+edgeName(node, other)] = ""
			}
		} else {
			require.NoError(t, c.graph.UpsertNodes(ctx, []adapters.Node{{ID: node, Props: adapters.Props{"description": adapters.MarshalString(val)}}}))
			c.model[k] = val
		}
		got, err := c.graph.GetNodes(ctx, []string{node})
		require.NoError(t, err)
		require.Equal(t, c.model[k], propString(t, got[0], "description"), k)
	case 4:
		a, b := fmt.Sprintf("c%d-N%02d", c.id, n%8), fmt.Sprintf("c%d-N%02d", c.id, c.rng.IntN(8))
		if a == b {
			return
		}
		k := "edge:" + edgeName(a, b)
		if del {
			require.NoError(t, c.graph.DeleteEdges(ctx, []adapters.Edge{{Src: a, Tgt: b}}))
			c.model[k] = ""
		} else {
			require.NoError(t, c.graph.UpsertEdges(ctx, []adapters.EdgeData{{Src: a, Tgt: b, Props: adapters.Props{"keywords": adapters.MarshalString(val)}}}))
			c.model[k] = val
			for _, end := range []string{a, b} { // an edge creates its endpoints
				if c.model["node:"+end] == "" {
					c.model["node:"+end] = "\x00" // present, without a description
				}
			}
		}
		got, err := c.graph.GetEdges(ctx, []adapters.Edge{{Src: b, Tgt: a}})
		require.NoError(t, err)
		require.Equal(t, c.model[k], propString(t, got[0], "keywords"), k)
	}
}

func edgeName(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "|" + b
}

// check reads every key of the model.
func (c *modelClient) check(t *testing.T, ctx context.Context) {
	for k, want := range c.model {
		switch {
		case k[:3] == "kv:":
			got, err := c.kv.GetByIDs(ctx, []string{k[3:]})
			require.NoError(t, err)
			require.Equal(t, want, field(t, got[0], "content"), k)
		case k[:4] == "doc:":
			got, err := c.docs.GetByIDs(ctx, []string{k[4:]})
			require.NoError(t, err)
			require.Equal(t, want, field(t, got[0], "content_summary"), k)
		case k[:4] == "vec:":
			got, err := c.vec.GetByIDs(ctx, []string{k[4:]})
			require.NoError(t, err)
			var fields []byte
			if got[0] != nil {
				fields = got[0].Fields
			}
			require.Equal(t, want, field(t, fields, "content"), k)
		case k[:5] == "node:":
			got, err := c.graph.GetNodes(ctx, []string{k[5:]})
			require.NoError(t, err)
			switch want {
			case "":
				require.Nil(t, got[0], k)
			case "\x00":
				require.NotNil(t, got[0], k)
			default:
				require.Equal(t, want, propString(t, got[0], "description"), k)
			}
		case k[:5] == "edge:":
			var a, b string
			for i := range k {
				if k[i] == '|' {
					a, b = k[5:i], k[i+1:]
				}
			}
			got, err := c.graph.GetEdges(ctx, []adapters.Edge{{Src: a, Tgt: b}})
			require.NoError(t, err)
			require.Equal(t, want, propString(t, got[0], "keywords"), k)
		}
	}
}

func TestLiveMigrationModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { liveModelRun(t, seed) })
	}
}

func liveModelRun(t *testing.T, seed uint64) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn), pgServerOptions{})
	ctx := context.Background()
	const clients = 4
	cs := make([]*modelClient, clients)
	for i := range cs {
		pc := proxyclient.New(ts.URL, "default", "", nil)
		c := &modelClient{id: i, rng: rand.New(rand.NewPCG(seed, uint64(i))), model: map[string]string{}}
		var err error
		c.kv, err = pc.KV(ctx, adapters.Namespace{Name: "full_docs"})
		require.NoError(t, err)
		c.docs, err = pc.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
		require.NoError(t, err)
		c.vec, err = pc.Vector(ctx, adapters.Namespace{Name: "entities"}, 4)
		require.NoError(t, err)
		c.graph, err = pc.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
		require.NoError(t, err)
		cs[i] = c
	}
	// Data before the migration.
	for i := range 150 {
		for _, c := range cs {
			c.step(t, ctx, -i-1)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var steps atomic.Int64
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && !t.Failed(); i++ {
				c.step(t, ctx, i)
				steps.Add(1)
			}
		}()
	}
	var st migration.LiveStatus
	resp := ts.call(t, http.MethodPost, "/v1/databases/default/migration",
		map[string]any{"to": "postgres", "dsn": dsn, "mode": "live", "clean_requests": 200, "clean_minutes": 0, "cutover": "manual"}, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%+v", st)
	phases := map[string]int64{}
	st = waitLive(t, ts, "default", func(s migration.LiveStatus) bool {
		if _, ok := phases[s.Phase]; !ok {
			phases[s.Phase] = steps.Load()
		}
		return s.State == migration.LiveWaiting || t.Failed()
	})
	require.Zero(t, st.Shadow.Mismatches, "%+v", st.Shadow.Recent)
	require.GreaterOrEqual(t, st.Shadow.Compared, int64(200))
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration/cutover", map[string]any{}, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	waitLive(t, ts, "default", func(s migration.LiveStatus) bool { return s.State == migration.LiveDone || t.Failed() })
	before := steps.Load()
	for steps.Load() < before+200 && !t.Failed() {
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	var info BackendInfo
	ts.call(t, http.MethodGet, "/v1/databases/default/backend", nil, &info)
	require.Equal(t, registry.BackendPostgres, info.Type)
	for _, c := range cs {
		c.check(t, ctx)
	}
	t.Logf("seed %d: %d steps; steps at phase start %v; %d shadow reads compared, %d verify rounds, %d repaired",
		seed, steps.Load(), phases, st.Shadow.Compared, st.VerifyRounds, st.Repaired)
}

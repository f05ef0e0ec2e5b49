package json

import (
	"context"
	stdjson "encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func sjs(v string) stdjson.RawMessage { return adapters.MarshalString(v) }

type jsonLoadCase struct {
	name  string
	batch adapters.Batch
	check func(t *testing.T, b *Backend, batch adapters.Batch)
}

func checkLoadedKV(t *testing.T, b *Backend, batch adapters.Batch) {
	ctx := context.Background()
	got, err := b.ScanStoredKV(ctx, batch.NS, batch.Kind, "", 0)
	require.NoError(t, err)
	require.Len(t, got, len(batch.KV))
	want := map[string]adapters.Record{}
	var ids []string
	for _, r := range batch.KV {
		want[r.ID] = r.Data
		ids = append(ids, r.ID)
	}
	for _, r := range got {
		require.Equal(t, string(want[r.ID]), string(r.Data), "stored form of %s, byte for byte", r.ID)
	}
	var view []adapters.Record
	if batch.Kind == adapters.KindDocStatus {
		d, err := b.DocStatus(ctx, batch.NS)
		require.NoError(t, err)
		view, err = d.GetByIDs(ctx, ids)
		require.NoError(t, err)
	} else {
		view, err = mustKV(t, b, batch.NS).GetByIDs(ctx, ids)
		require.NoError(t, err)
	}
	for i, id := range ids {
		w := want[id]
		if batch.Kind == adapters.KindKV {
			w = adapters.KVView(id, w)
		}
		require.JSONEq(t, string(w), string(view[i]), "read view of %s", id)
	}
}

func jsonLoadCases() []jsonLoadCase {
	return []jsonLoadCase{
		{"kv without times", adapters.Batch{NS: ns("text_chunks"), Kind: adapters.KindKV, KV: []adapters.KVRecord{
			{ID: "c1", Data: rec(`{"content":"α","tokens":3,"extra":{"z":1,"a":[1.0,2]}}`)},
			{ID: "c2", Data: rec(`{"content":"b","create_time":1600000000,"update_time":1600000001,"score":1.0}`)},
		}}, checkLoadedKV},
		{"doc status", adapters.Batch{NS: ns("doc_status"), Kind: adapters.KindDocStatus, KV: []adapters.KVRecord{
			{ID: "doc-1", Data: rec(`{"status":"processed","chunks_list":["c1"],"created_at":"2025-01-02T03:04:05+00:00"}`)},
		}}, checkLoadedKV},
		{"vectors", adapters.Batch{NS: ns("entities"), Kind: adapters.KindVector, Vectors: []adapters.VectorRecord{
			// Values float16 holds exactly: the per-item copy is float16.
			{ID: "ent-a", Fields: rec(`{"entity_name":"A","content":"A desc","n":1.0}`), Vector: []float32{0.5, -0.25, 2, 0}, CreatedAt: 1600000000},
			{ID: "ent-b", Fields: rec(`{}`), Vector: []float32{1, 2, 3, 4}, CreatedAt: 0},
			// Older files: a fractional created_at, and none at all.
			{ID: "ent-c", Fields: rec(`{}`), Vector: []float32{1, 0, 0, 0}, CreatedAt: 1737427985, CreatedAtRaw: stdjson.RawMessage(`1737427985.0156887`)},
			{ID: "ent-d", Fields: rec(`{}`), Vector: []float32{0, 1, 0, 0}, CreatedAtRaw: stdjson.RawMessage(`null`)},
		}}, func(t *testing.T, b *Backend, batch adapters.Batch) {
			ctx := context.Background()
			v, err := b.Vector(ctx, batch.NS, 0)
			require.NoError(t, err)
			require.Equal(t, 4, v.Dim())
			got, err := v.Scan(ctx, "", 0)
			require.NoError(t, err)
			require.Len(t, got, len(batch.Vectors))
			for i, w := range batch.Vectors {
				require.Equal(t, w.ID, got[i].ID)
				require.Equal(t, string(w.Fields), string(got[i].Fields))
				require.Equal(t, w.CreatedAt, got[i].CreatedAt, "created_at kept")
				require.Equal(t, string(w.CreatedAtRaw), string(got[i].CreatedAtRaw), "exact created_at kept")
				for j := range w.Vector {
					require.Equal(t, math.Float32bits(w.Vector[j]), math.Float32bits(got[i].Vector[j]))
				}
			}
		}},
		{"graph", adapters.Batch{NS: ns("chunk_entity_relation"), Kind: adapters.KindGraph,
			Nodes: []adapters.Node{
				{ID: "A", Props: adapters.Props{"entity_id": sjs("A"), "weight": stdjson.RawMessage(`1.0`)}},
				{ID: "B", Props: adapters.Props{"entity_id": sjs("B")}},
			},
			Edges: []adapters.EdgeData{
				{Src: "B", Tgt: "A", Props: adapters.Props{"weight": stdjson.RawMessage(`2.0`)}},
				{Src: "A", Tgt: "Z", Props: adapters.Props{"keywords": sjs("k")}},
				{Src: "X", Tgt: "Y", Props: adapters.Props{}},
			}}, func(t *testing.T, b *Backend, batch adapters.Batch) {
			ctx := context.Background()
			g, err := b.Graph(ctx, batch.NS)
			require.NoError(t, err)
			nodes, err := g.ScanNodes(ctx, "", 0)
			require.NoError(t, err)
			require.Equal(t, []adapters.Node{
				{ID: "A", Props: batch.Nodes[0].Props}, {ID: "B", Props: batch.Nodes[1].Props},
				{ID: "X", Props: adapters.Props{}}, {ID: "Y", Props: adapters.Props{}}, {ID: "Z", Props: adapters.Props{}},
			}, nodes)
			eps, err := g.GetEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}, {Src: "Z", Tgt: "A"}, {Src: "Y", Tgt: "X"}})
			require.NoError(t, err)
			for i, e := range batch.Edges {
				require.Equal(t, e.Props, eps[i])
			}
		}},
	}
}

func TestLoadStoredForm(t *testing.T) {
	ctx := context.Background()
	for _, tc := range jsonLoadCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := mustOpen(t, dir)
			cp := adapters.Checkpoint{Key: "job-1", State: []byte(`{"after":"x"}`)}
			require.NoError(t, b.Load(ctx, tc.batch, cp))
			tc.check(t, b, tc.batch)
			state, err := b.LoadedCheckpoint(ctx, "job-1")
			require.NoError(t, err)
			require.Equal(t, cp.State, state)

			require.NoError(t, b.Load(ctx, tc.batch, cp), "loading a batch twice is harmless")
			tc.check(t, b, tc.batch)

			// Durable when Load returns: replay after kill -9 gives the
			// same stored records, unstamped.
			crash(t, b)
			b = mustOpen(t, dir)
			tc.check(t, b, tc.batch)
			state, err = b.LoadedCheckpoint(ctx, "job-1")
			require.NoError(t, err)
			require.Equal(t, cp.State, state)

			// FinishLoad writes LightRAG's files; they read back the same.
			require.NoError(t, b.FinishLoad(ctx, tc.batch.NS, tc.batch.Kind))
			files, err := listFolder(dir)
			require.NoError(t, err)
			require.Len(t, files, 1)
			crash(t, b)
			require.NoError(t, os.Remove(walPath(dir)))
			b = mustOpen(t, dir)
			tc.check(t, b, tc.batch)

			require.NoError(t, b.DeleteCheckpoint(ctx, "job-1"))
			state, err = b.LoadedCheckpoint(ctx, "job-1")
			require.NoError(t, err)
			require.Nil(t, state)
			require.NoError(t, b.DeleteCheckpoint(ctx, "job-1"), "deleting a missing checkpoint is fine")
			require.NoError(t, b.Close(ctx))
		})
	}
}

func TestLoadReplacesGraphProps(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	g, err := b.Graph(ctx, ns("g"))
	require.NoError(t, err)
	require.NoError(t, g.UpsertNodes(ctx, []adapters.Node{{ID: "A", Props: adapters.Props{"x": sjs("1"), "y": sjs("2")}}}))
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "A", Tgt: "B", Props: adapters.Props{"x": sjs("1"), "y": sjs("2")}}}))
	require.NoError(t, b.Load(ctx, adapters.Batch{NS: ns("g"), Kind: adapters.KindGraph,
		Nodes: []adapters.Node{{ID: "A", Props: adapters.Props{"x": sjs("3")}}},
		Edges: []adapters.EdgeData{{Src: "B", Tgt: "A", Props: adapters.Props{"y": sjs("4")}}}}, adapters.Checkpoint{}))
	props, err := g.GetNodes(ctx, []string{"A"})
	require.NoError(t, err)
	require.Equal(t, adapters.Props{"x": sjs("3")}, props[0])
	eps, err := g.GetEdges(ctx, []adapters.Edge{{Src: "A", Tgt: "B"}})
	require.NoError(t, err)
	require.Equal(t, adapters.Props{"y": sjs("4")}, eps[0])
}

func TestLoadFailureSavesNoCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	defer b.Close(ctx)
	vns := ns("chunks")
	require.NoError(t, b.Load(ctx, adapters.Batch{NS: vns, Kind: adapters.KindVector,
		Vectors: []adapters.VectorRecord{{ID: "v1", Vector: []float32{1, 2, 3}}}}, adapters.Checkpoint{Key: "job", State: []byte("s1")}))
	for _, batch := range []adapters.Batch{
		{NS: vns, Kind: adapters.KindVector, Vectors: []adapters.VectorRecord{{ID: "v2", Vector: []float32{1, 2, 3}}, {ID: "v3", Vector: []float32{1, 2}}}},
		{NS: ns("kv"), Kind: adapters.KindKV, KV: []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}, {ID: "b", Data: rec(`[1]`)}}},
		{NS: ns("kv"), Kind: adapters.KindKV, KV: []adapters.KVRecord{{ID: "", Data: rec(`{}`)}}},
		{NS: ns("g"), Kind: adapters.KindGraph, Nodes: []adapters.Node{{ID: "A", Props: adapters.Props{"x": stdjson.RawMessage(`{}`)}}}},
		{NS: vns, Kind: "nope"},
	} {
		err := b.Load(ctx, batch, adapters.Checkpoint{Key: "job", State: []byte("s2")})
		require.ErrorIs(t, err, adapters.ErrInvalid)
		state, err := b.LoadedCheckpoint(ctx, "job")
		require.NoError(t, err)
		require.Equal(t, []byte("s1"), state)
	}
	v, err := b.Vector(ctx, vns, 0)
	require.NoError(t, err)
	n, err := v.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	n, err = mustKV(t, b, ns("kv")).Count(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	for _, key := range []string{"", "../x", "a/b", ".."} {
		err := b.Load(ctx, adapters.Batch{NS: ns("kv"), Kind: adapters.KindKV}, adapters.Checkpoint{Key: key + "", State: []byte("x")})
		if key == "" {
			require.NoError(t, err, "no key: no checkpoint")
			continue
		}
		require.ErrorIs(t, err, adapters.ErrInvalid, key)
		_, err = b.LoadedCheckpoint(ctx, key)
		require.ErrorIs(t, err, adapters.ErrInvalid, key)
		require.ErrorIs(t, b.DeleteCheckpoint(ctx, key), adapters.ErrInvalid, key)
	}
	entries, err := os.ReadDir(filepath.Dir(dir))
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), "hybridrag-checkpoint", "nothing written outside the folder")
	}
}

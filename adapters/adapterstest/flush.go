package adapterstest

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// snapshot is everything one namespace of each kind answers, for comparing
// before and after Flush.
type snapshot struct {
	kv    []adapters.KVRecord
	vec   []adapters.VectorRecord
	nodes []adapters.Node
	edges []adapters.EdgeData
	docs  []adapters.KVRecord
}

func takeSnapshot(t *testing.T, kv adapters.KV, v adapters.Vector, g adapters.Graph, d adapters.DocStatus) snapshot {
	t.Helper()
	var s snapshot
	var err error
	s.kv, err = kv.Scan(ctx(t), "", 1000)
	require.NoError(t, err)
	s.vec, err = v.Scan(ctx(t), "", 1000)
	require.NoError(t, err)
	s.nodes, err = g.ScanNodes(ctx(t), "", 1000)
	require.NoError(t, err)
	s.edges, err = g.ScanEdges(ctx(t), adapters.Edge{}, 1000)
	require.NoError(t, err)
	s.docs, err = d.Scan(ctx(t), "", 1000)
	require.NoError(t, err)
	return s
}

func requireSameSnapshot(t *testing.T, want, got snapshot) {
	t.Helper()
	requireSameRecords(t, want.kv, got.kv, "kv")
	requireSameRecords(t, want.docs, got.docs, "doc status")
	require.Len(t, got.vec, len(want.vec))
	for i := range want.vec {
		w, g := want.vec[i], got.vec[i]
		require.Equal(t, w.ID, g.ID)
		require.Equal(t, w.CreatedAt, g.CreatedAt, "vector %s created_at", w.ID)
		requireJSONEq(t, w.Fields, g.Fields, "vector %s fields", w.ID)
		requireVectorNear(t, w.Vector, g.Vector, "vector "+w.ID)
	}
	require.Len(t, got.nodes, len(want.nodes))
	for i := range want.nodes {
		require.Equal(t, want.nodes[i].ID, got.nodes[i].ID)
		requireSameProps(t, want.nodes[i].Props, got.nodes[i].Props, "node "+want.nodes[i].ID)
	}
	require.Len(t, got.edges, len(want.edges))
	for i := range want.edges {
		w, g := want.edges[i], got.edges[i]
		require.Equal(t, [2]string{w.Src, w.Tgt}, [2]string{g.Src, g.Tgt})
		requireSameProps(t, w.Props, g.Props, "edge "+w.Src+"-"+w.Tgt)
	}
}

func requireSameRecords(t *testing.T, want, got []adapters.KVRecord, what string) {
	t.Helper()
	require.Equal(t, ids(want, kvID), ids(got, kvID), what)
	for i := range want {
		requireJSONEq(t, want[i].Data, got[i].Data, "%s %s", what, want[i].ID)
	}
}

// requireSameProps compares properties value by value and keeps int/float
// kinds apart (a flushed "1.0" must not come back as "1").
func requireSameProps(t *testing.T, want, got adapters.Props, what string) {
	t.Helper()
	require.Len(t, got, len(want), "%s: %v", what, got)
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "%s: property %s lost", what, k)
		requireJSONEq(t, w, g, "%s: property %s", what, k)
		require.Equal(t, isFloatText(w), isFloatText(g), "%s: property %s was %s, now %s", what, k, w, g)
	}
}

func isFloatText(r []byte) bool {
	if len(r) == 0 || r[0] == '"' {
		return false
	}
	return slices.ContainsFunc(r, func(c byte) bool { return c == '.' || c == 'e' || c == 'E' })
}

// testFlush writes every kind, flushes (index_done_callback) and checks
// everything reads back the same, that Namespaces lists what was written and
// that writes keep working afterwards.
func testFlush(t *testing.T, s *suite) {
	ws := randName("ws")
	kvNS := adapters.Namespace{Workspace: ws, Name: randName("kv")}
	vNS := adapters.Namespace{Workspace: ws, Name: randName("vdb")}
	gNS := adapters.Namespace{Workspace: ws, Name: randName("graph")}
	dNS := adapters.Namespace{Workspace: ws, Name: randName("doc_status")}
	kv, v, g, d := s.kv(t, kvNS), s.vector(t, vNS, dim), s.graph(t, gNS), s.docs(t, dNS)

	require.NoError(t, s.b.Ping(ctx(t)))
	var recs []any
	for _, id := range specialIDs {
		recs = append(recs, id, obj{"content": id, "n": 1, "f": 1.5, "list": []string{id}})
	}
	require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, recs...)))
	require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "gone", obj{})))
	require.NoError(t, kv.Delete(ctx(t), []string{"gone"}))
	var vrecs []adapters.VectorRecord
	for i, id := range specialIDs {
		vrecs = append(vrecs, vrec(t, id, obj{"content": id}, float32(i)-3.25, 0.5, -1, 2))
	}
	require.NoError(t, v.Upsert(ctx(t), vrecs))
	seedKG(t, g)
	require.NoError(t, g.UpsertNodes(ctx(t), []adapters.Node{node(t, specialIDs[6], obj{
		"i": jsonRaw("7"), "f": jsonRaw("7.0"), "created_at": jsonRaw("1700000000"), "truncate": "",
	})}))
	require.NoError(t, g.UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, specialIDs[6], specialIDs[7], obj{
		"weight": jsonRaw("2.0"), "description": "d" + adapters.GraphFieldSep + "e",
	})}))
	require.NoError(t, g.DeleteNodes(ctx(t), []string{"Z"}))
	newDocFixture(t).seed(t, d)

	before := takeSnapshot(t, kv, v, g, d)
	require.Len(t, before.kv, len(specialIDs))
	require.NoError(t, s.b.Flush(ctx(t)))
	requireSameSnapshot(t, before, takeSnapshot(t, kv, v, g, d))

	// Handles opened after the flush answer the same.
	after := takeSnapshot(t, s.kv(t, kvNS), s.vector(t, vNS, 0), s.graph(t, gNS), s.docs(t, dNS))
	requireSameSnapshot(t, before, after)

	nsInfo, err := s.b.Namespaces(ctx(t))
	require.NoError(t, err)
	want := map[adapters.Namespace]adapters.NamespaceInfo{
		kvNS: {Namespace: kvNS, Kind: adapters.KindKV, Records: int64(len(specialIDs))},
		vNS:  {Namespace: vNS, Kind: adapters.KindVector, Records: int64(len(specialIDs)), Dim: dim},
		gNS:  {Namespace: gNS, Kind: adapters.KindGraph, Records: int64(len(before.nodes)), Edges: int64(len(before.edges))},
		dNS:  {Namespace: dNS, Kind: adapters.KindDocStatus, Records: 25},
	}
	for _, info := range nsInfo {
		if w, ok := want[info.Namespace]; ok {
			require.Equal(t, w, info, "namespace %s", info.Namespace)
			delete(want, info.Namespace)
		}
	}
	require.Empty(t, want, "Namespaces lists every namespace written")

	// A second flush with nothing new, then writes keep working.
	require.NoError(t, s.b.Flush(ctx(t)))
	require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "later", obj{})))
	require.NoError(t, s.b.Flush(ctx(t)))
	n, err := kv.Count(ctx(t))
	require.NoError(t, err)
	require.EqualValues(t, len(specialIDs)+1, n)
}

func jsonRaw(s string) json.RawMessage { return json.RawMessage(s) }

package adapterstest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// testDropIsolation drops one namespace in one workspace and checks that
// another namespace of the same kind, the same namespace in another
// workspace (and in the default workspace) keep their data, for every kind.
func testDropIsolation(t *testing.T, s *suite) {
	// trio is the dropped namespace, a sibling namespace in the same
	// workspace, and the same namespace name in two other workspaces.
	trio := func(prefix string) (dropped adapters.Namespace, others []adapters.Namespace) {
		dropped = ns(prefix)
		others = []adapters.Namespace{
			{Workspace: dropped.Workspace, Name: randName(prefix)},
			{Workspace: randName("ws"), Name: dropped.Name},
			{Workspace: "", Name: dropped.Name},
		}
		return dropped, others
	}

	t.Run("KV", func(t *testing.T) {
		dropped, others := trio("kv")
		for _, n := range append(others, dropped) {
			require.NoError(t, s.kv(t, n).Upsert(ctx(t), kvRecords(t, "k", obj{"ns": n.String()})))
		}
		require.NoError(t, s.kv(t, dropped).Drop(ctx(t)))
		c, err := s.kv(t, dropped).Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, c)
		for _, n := range others {
			got, err := s.kv(t, n).GetByIDs(ctx(t), []string{"k"})
			require.NoError(t, err)
			require.Equal(t, n.String(), object(t, got[0])["ns"], "namespace %s kept its data", n)
		}
	})

	t.Run("Vector", func(t *testing.T) {
		dropped, others := trio("vdb")
		for _, n := range append(others, dropped) {
			require.NoError(t, s.vector(t, n, dim).Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "v", obj{"ns": n.String()}, 1, 0, 0, 0)}))
		}
		require.NoError(t, s.vector(t, dropped, dim).Drop(ctx(t)))
		c, err := s.vector(t, dropped, dim).Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, c)
		for _, n := range others {
			got, err := s.vector(t, n, dim).Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 0, 0, 0}, TopK: 5, Threshold: 0.5})
			require.NoError(t, err)
			require.Len(t, got, 1, "namespace %s kept its data", n)
			require.Equal(t, n.String(), object(t, got[0].Fields)["ns"])
		}
	})

	t.Run("Graph", func(t *testing.T) {
		dropped, others := trio("graph")
		for _, n := range append(others, dropped) {
			require.NoError(t, s.graph(t, n).UpsertEdges(ctx(t), []adapters.EdgeData{edge(t, "a", "b", obj{"ns": n.String()})}))
		}
		require.NoError(t, s.graph(t, dropped).Drop(ctx(t)))
		nodes, edges, err := s.graph(t, dropped).Counts(ctx(t))
		require.NoError(t, err)
		require.Zero(t, nodes)
		require.Zero(t, edges)
		for _, n := range others {
			got, err := s.graph(t, n).GetEdges(ctx(t), []adapters.Edge{{Src: "b", Tgt: "a"}})
			require.NoError(t, err)
			requireProps(t, obj{"ns": n.String()}, got[0], "namespace "+n.String()+" kept its data")
		}
	})

	t.Run("DocStatus", func(t *testing.T) {
		dropped, others := trio("doc_status")
		for _, n := range append(others, dropped) {
			require.NoError(t, s.docs(t, n).Upsert(ctx(t), kvRecords(t, "d", obj{"status": "pending", "track_id": n.String()})))
		}
		require.NoError(t, s.docs(t, dropped).Drop(ctx(t)))
		counts, err := s.docs(t, dropped).StatusCounts(ctx(t))
		require.NoError(t, err)
		require.Zero(t, counts["pending"])
		for _, n := range others {
			got, err := s.docs(t, n).GetByIDs(ctx(t), []string{"d"})
			require.NoError(t, err)
			require.Equal(t, n.String(), object(t, got[0])["track_id"], "namespace %s kept its data", n)
		}
	})
}

package adapterstest

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// specialIDs are ids LightRAG produces or users type that break naive
// quoting: entity names are free text.
var specialIDs = []string{
	`say "hi"`,
	`back\slash\\`,
	`dollar $1 $$ ${x}`,
	"a" + adapters.GraphFieldSep + "b",
	"中文实体",
	"emoji 🎉🚀",
	`all "\$<SEP>中🎉'`,
	"<tag>&amp;",
	"new\nline\ttab",
	"'single' `back`",
	"% _ like wildcards",
	"/slash/..",
	"   spaced   ",
}

func testSpecialIDs(t *testing.T, s *suite) {
	sortedIDs := slices.Clone(specialIDs)
	slices.Sort(sortedIDs)

	t.Run("KV", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		var recs []any
		for _, id := range specialIDs {
			recs = append(recs, id, obj{"name": id})
		}
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, recs...)))
		got, err := kv.GetByIDs(ctx(t), specialIDs)
		require.NoError(t, err)
		for i, id := range specialIDs {
			m := object(t, got[i])
			require.Equal(t, id, m["_id"], "id %q", id)
			require.Equal(t, id, m["name"], "id %q", id)
		}
		missing, err := kv.FilterKeys(ctx(t), append(slices.Clone(specialIDs), `say "hi" `))
		require.NoError(t, err)
		require.Equal(t, []string{`say "hi" `}, missing)
		page, err := kv.Scan(ctx(t), "", 100)
		require.NoError(t, err)
		require.Equal(t, sortedIDs, ids(page, kvID))
		require.NoError(t, kv.Delete(ctx(t), specialIDs[:3]))
		n, err := kv.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, len(specialIDs)-3, n)
	})

	t.Run("Vector", func(t *testing.T) {
		v := s.vector(t, ns("entities"), dim)
		var recs []adapters.VectorRecord
		for i, id := range specialIDs {
			recs = append(recs, vrec(t, id, obj{"entity_name": id}, float32(i+1), 1, 0.5, 0))
		}
		require.NoError(t, v.Upsert(ctx(t), recs))
		got, err := v.GetByIDs(ctx(t), specialIDs)
		require.NoError(t, err)
		for i, id := range specialIDs {
			require.NotNil(t, got[i], "id %q", id)
			require.Equal(t, id, got[i].ID)
			require.Equal(t, id, object(t, got[i].Fields)["entity_name"])
		}
		vecs, err := v.GetVectorsByIDs(ctx(t), specialIDs)
		require.NoError(t, err)
		require.Len(t, vecs, len(specialIDs))
		for _, id := range specialIDs {
			require.Contains(t, vecs, id)
		}
		m, err := v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{3, 1, 0.5, 0}, TopK: 1, Threshold: 0.99})
		require.NoError(t, err)
		require.Len(t, m, 1)
		require.Equal(t, specialIDs[2], m[0].ID)

		// delete_entity by entity_name, and by ent-md5 of a CJK name.
		require.NoError(t, v.DeleteEntity(ctx(t), specialIDs[0]))
		cjk := "中文实体"
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, adapters.EntityVectorID(cjk+"2"), obj{}, 1, 0, 0, 0)}))
		require.NoError(t, v.DeleteEntity(ctx(t), cjk+"2"))
		n, err := v.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, len(specialIDs)-1, n)
		page, err := v.Scan(ctx(t), "", 100)
		require.NoError(t, err)
		require.Equal(t, slices.DeleteFunc(slices.Clone(sortedIDs), func(s string) bool { return s == specialIDs[0] }),
			ids(page, func(r adapters.VectorRecord) string { return r.ID }))
	})

	t.Run("Graph", func(t *testing.T) {
		g := s.graph(t, ns("graph"))
		var nodes []adapters.Node
		var edges []adapters.EdgeData
		for i, id := range specialIDs {
			nodes = append(nodes, node(t, id, obj{"entity_id": id}))
			if i > 0 {
				edges = append(edges, edge(t, specialIDs[i-1], id, obj{"keywords": id}))
			}
		}
		require.NoError(t, g.UpsertNodes(ctx(t), nodes))
		require.NoError(t, g.UpsertEdges(ctx(t), edges))
		got, err := g.GetNodes(ctx(t), specialIDs)
		require.NoError(t, err)
		for i, id := range specialIDs {
			requireProps(t, obj{"entity_id": id}, got[i], "node "+id)
		}
		var reversed []adapters.Edge
		for _, e := range edges {
			reversed = append(reversed, adapters.Edge{Src: e.Tgt, Tgt: e.Src})
		}
		eps, err := g.GetEdges(ctx(t), reversed)
		require.NoError(t, err)
		for i, e := range edges {
			requireProps(t, obj{"keywords": e.Tgt}, eps[i], "edge "+e.Src+" / "+e.Tgt)
		}
		all, err := g.AllLabels(ctx(t))
		require.NoError(t, err)
		require.Equal(t, sortedIDs, all)
		kg, err := g.KnowledgeGraph(ctx(t), specialIDs[3], 1, 100)
		require.NoError(t, err)
		var kgNodes []string
		for _, n := range kg.Nodes {
			kgNodes = append(kgNodes, n.ID)
		}
		require.ElementsMatch(t, specialIDs[2:5], kgNodes)
		deg, err := g.NodeDegrees(ctx(t), specialIDs[:2])
		require.NoError(t, err)
		require.Equal(t, []int{1, 2}, deg)
		require.NoError(t, g.DeleteNodes(ctx(t), specialIDs[1:2]))
		has, err := g.HasEdges(ctx(t), []adapters.Edge{{Src: specialIDs[0], Tgt: specialIDs[1]}})
		require.NoError(t, err)
		require.Equal(t, []bool{false}, has)
		byChunk, err := g.NodesByChunkIDs(ctx(t), []string{"x"})
		require.NoError(t, err)
		require.Empty(t, byChunk)
	})

	t.Run("DocStatus", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		var recs []any
		for _, id := range specialIDs {
			recs = append(recs, id, obj{"status": "pending", "track_id": id, "file_path": id})
		}
		require.NoError(t, d.Upsert(ctx(t), kvRecords(t, recs...)))
		got, err := d.GetByIDs(ctx(t), specialIDs)
		require.NoError(t, err)
		for i, id := range specialIDs {
			require.Equal(t, id, object(t, got[i])["track_id"], "id %q", id)
		}
		for _, id := range specialIDs {
			byTrack, err := d.DocsByTrackID(ctx(t), id)
			require.NoError(t, err)
			require.Equal(t, []string{id}, ids(byTrack, kvID))
			byPath, err := d.DocByFilePath(ctx(t), id)
			require.NoError(t, err)
			require.NotNil(t, byPath, "file path %q", id)
			require.Equal(t, id, byPath.ID)
		}
		byStatus, err := d.DocsByStatuses(ctx(t), []string{"pending"})
		require.NoError(t, err)
		want := sortedIDs
		if s.b.Capabilities().InsertionOrder {
			want = specialIDs // the order of the upsert
		}
		require.Equal(t, want, ids(byStatus, kvID))
	})
}

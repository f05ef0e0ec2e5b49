package adapterstest

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

const dim = 4

func vrec(t *testing.T, id string, fields obj, vec ...float32) adapters.VectorRecord {
	t.Helper()
	return adapters.VectorRecord{ID: id, Fields: raw(t, fields), Vector: vec}
}

// requireVectorNear compares vectors with a tolerance of 1e-2 of the norm:
// adapters may keep float16 copies (NanoVectorDB's per-item "vector").
func requireVectorNear(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	var norm float64
	for _, w := range want {
		norm += float64(w) * float64(w)
	}
	tol := 1e-2 * math.Sqrt(norm)
	for i := range want {
		require.InDelta(t, want[i], got[i], tol, "%s: component %d", msg, i)
	}
}

func matchIDs(ms []adapters.VectorMatch) []string {
	return ids(ms, func(m adapters.VectorMatch) string { return m.ID })
}

func testVector(t *testing.T, s *suite) {
	// e1 has similarity 1 with the query, e1e2 0.7071, e2 exactly 0, neg -1.
	seed := func(t *testing.T) adapters.Vector {
		v := s.vector(t, ns("vdb"), dim)
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{
			vrec(t, "e2", obj{"content": "two"}, 0, 3, 0, 0),
			vrec(t, "e1", obj{"content": "one", "entity_name": "One"}, 2, 0, 0, 0),
			vrec(t, "neg", obj{"content": "neg"}, -1, 0, 0, 0),
			vrec(t, "e1e2", obj{"content": "diag"}, 1, 1, 0, 0),
		}))
		return v
	}

	t.Run("QueryThresholdAndOrder", func(t *testing.T) {
		v := seed(t)
		require.Equal(t, dim, v.Dim())
		q := []float32{5, 0, 0, 0}
		tests := []struct {
			name      string
			topK      int
			threshold float32
			want      []string
		}{
			{"threshold 0 is inclusive", 10, 0, []string{"e1", "e1e2", "e2"}},
			{"threshold 1 is inclusive", 10, 1, []string{"e1"}},
			{"threshold between", 10, 0.71, []string{"e1"}},
			{"threshold just below", 10, 0.7, []string{"e1", "e1e2"}},
			{"default threshold", 10, adapters.DefaultCosineThreshold, []string{"e1", "e1e2"}},
			{"negative threshold", 10, -1, []string{"e1", "e1e2", "e2", "neg"}},
			{"top_k", 2, -1, []string{"e1", "e1e2"}},
			{"top_k 1", 1, 0, []string{"e1"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := v.Query(ctx(t), adapters.VectorQuery{Vector: q, TopK: tc.topK, Threshold: tc.threshold})
				require.NoError(t, err)
				require.Equal(t, tc.want, matchIDs(got))
			})
		}
	})

	t.Run("QueryFields", func(t *testing.T) {
		v := seed(t)
		got, err := v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 1.2, 0, 0}, TopK: 10, Threshold: 0.5})
		require.NoError(t, err)
		require.Equal(t, []string{"e1e2", "e2", "e1"}, matchIDs(got))
		qn := math.Sqrt(1 + 1.2*1.2)
		want := []float64{2.2 / (math.Sqrt2 * qn), 1.2 / qn, 1 / qn}
		for i, m := range got {
			require.InDelta(t, want[i], m.Similarity, 1e-5, "similarity of %s", m.ID)
			requireNow(t, numberOf(m.CreatedAt), "created_at")
			require.Nil(t, m.Vector, "query results carry no vector")
		}
		f := object(t, got[2].Fields)
		require.Equal(t, obj{"content": "one", "entity_name": "One"}, f, "meta fields only, no reserved keys")
	})

	t.Run("UpsertReplaces", func(t *testing.T) {
		v := seed(t)
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "e1", obj{"content": "moved"}, 0, 0, 7, 0)}))
		n, err := v.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 4, n)
		got, err := v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{0, 0, 1, 0}, TopK: 1, Threshold: 0.9})
		require.NoError(t, err)
		require.Equal(t, []string{"e1"}, matchIDs(got))
		require.Equal(t, obj{"content": "moved"}, object(t, got[0].Fields), "fields are replaced, not merged")
		got, err = v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 0, 0, 0}, TopK: 10, Threshold: 0.9})
		require.NoError(t, err)
		require.Empty(t, got, "the old vector is gone")
	})

	t.Run("UpsertKeepsGivenCreatedAt", func(t *testing.T) {
		// A copied record keeps its own created_at; without one it is now.
		v := s.vector(t, ns("vdb"), dim)
		old := vrec(t, "old", obj{"content": "copied"}, 1, 0, 0, 0)
		old.CreatedAt = 1700000000
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{old, vrec(t, "new", obj{"content": "fresh"}, 0, 1, 0, 0)}))
		got, err := v.GetByIDs(ctx(t), []string{"old", "new"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.NotNil(t, got[0])
		require.EqualValues(t, 1700000000, got[0].CreatedAt, "the given created_at is kept")
		require.Equal(t, obj{"content": "copied"}, object(t, got[0].Fields), "created_at is not a field")
		require.NotNil(t, got[1])
		requireNow(t, numberOf(got[1].CreatedAt), "created_at without one given")
		ms, err := v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 0, 0, 0}, TopK: 1, Threshold: 0.9})
		require.NoError(t, err)
		require.Equal(t, []string{"old"}, matchIDs(ms))
		require.EqualValues(t, 1700000000, ms[0].CreatedAt)
	})

	t.Run("GetByIDs", func(t *testing.T) {
		v := seed(t)
		got, err := v.GetByIDs(ctx(t), []string{"e1", "missing", "e2"})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.NotNil(t, got[0])
		require.Equal(t, "e1", got[0].ID)
		require.Equal(t, obj{"content": "one", "entity_name": "One"}, object(t, got[0].Fields))
		requireNow(t, numberOf(got[0].CreatedAt), "created_at")
		require.Nil(t, got[0].Vector)
		require.Nil(t, got[1])
		require.NotNil(t, got[2])
		require.Equal(t, "e2", got[2].ID)
	})

	t.Run("GetVectorsByIDs", func(t *testing.T) {
		v := s.vector(t, ns("vdb"), dim)
		a := []float32{0.1, -0.25, 3.5, 1e-3}
		b := []float32{-7, 2, 0.5, 100}
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "a", obj{}, a...), vrec(t, "b", obj{}, b...)}))
		got, err := v.GetVectorsByIDs(ctx(t), []string{"b", "missing", "a"})
		require.NoError(t, err)
		require.Len(t, got, 2, "only the ids that exist")
		requireVectorNear(t, a, got["a"], "vector a (un-normalised)")
		requireVectorNear(t, b, got["b"], "vector b (un-normalised)")
	})

	t.Run("Delete", func(t *testing.T) {
		v := seed(t)
		require.NoError(t, v.Delete(ctx(t), []string{"e1", "never-stored"}))
		n, err := v.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		got, err := v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 0, 0, 0}, TopK: 10, Threshold: 0})
		require.NoError(t, err)
		require.Equal(t, []string{"e1e2", "e2"}, matchIDs(got))
		vecs, err := v.GetVectorsByIDs(ctx(t), []string{"e1"})
		require.NoError(t, err)
		require.Empty(t, vecs)
	})

	t.Run("DeleteEntity", func(t *testing.T) {
		v := s.vector(t, ns("entities"), dim)
		alice := adapters.EntityVectorID("Alice")
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{
			vrec(t, alice, obj{"entity_name": "Alice"}, 1, 0, 0, 0),
			vrec(t, "custom-id", obj{"entity_name": "Bob"}, 0, 1, 0, 0),
			vrec(t, adapters.EntityVectorID("Carol"), obj{"entity_name": "Carol"}, 0, 0, 1, 0),
		}))
		require.NoError(t, v.DeleteEntity(ctx(t), "Alice"))
		require.NoError(t, v.DeleteEntity(ctx(t), "Bob"), "by entity_name when the id is not ent-md5")
		require.NoError(t, v.DeleteEntity(ctx(t), "Nobody"))
		got, err := v.GetByIDs(ctx(t), []string{alice, "custom-id", adapters.EntityVectorID("Carol")})
		require.NoError(t, err)
		require.Nil(t, got[0])
		require.Nil(t, got[1])
		require.NotNil(t, got[2])
	})

	t.Run("DeleteEntityRelation", func(t *testing.T) {
		v := s.vector(t, ns("relationships"), dim)
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{
			vrec(t, "r1", obj{"src_id": "Alice", "tgt_id": "Bob"}, 1, 0, 0, 0),
			vrec(t, "r2", obj{"src_id": "Carol", "tgt_id": "Alice"}, 0, 1, 0, 0),
			vrec(t, "r3", obj{"src_id": "Bob", "tgt_id": "Carol"}, 0, 0, 1, 0),
			vrec(t, "r4", obj{"src_id": "alice", "tgt_id": "Alice Smith"}, 0, 0, 0, 1),
		}))
		require.NoError(t, v.DeleteEntityRelation(ctx(t), "Alice"))
		got, err := v.GetByIDs(ctx(t), []string{"r1", "r2", "r3", "r4"})
		require.NoError(t, err)
		require.Nil(t, got[0], "src_id matches")
		require.Nil(t, got[1], "tgt_id matches")
		require.NotNil(t, got[2])
		require.NotNil(t, got[3], "exact, case-sensitive match only")
	})

	t.Run("Scan", func(t *testing.T) {
		v := s.vector(t, ns("vdb"), dim)
		var recs []adapters.VectorRecord
		for i := 9; i >= 0; i-- {
			recs = append(recs, vrec(t, fmt.Sprintf("v%d", i), obj{"i": i}, float32(i+1), 1, 0, 0))
		}
		require.NoError(t, v.Upsert(ctx(t), recs))
		var got []string
		after := ""
		for {
			page, err := v.Scan(ctx(t), after, 4)
			require.NoError(t, err)
			for _, r := range page {
				got = append(got, r.ID)
				var i int
				_, err := fmt.Sscanf(r.ID, "v%d", &i)
				require.NoError(t, err)
				requireVectorNear(t, []float32{float32(i + 1), 1, 0, 0}, r.Vector, "scanned vector "+r.ID)
				require.Equal(t, obj{"i": jsonInt(i)}, object(t, r.Fields))
			}
			if len(page) < 4 {
				break
			}
			after = page[len(page)-1].ID
		}
		require.Equal(t, []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"}, got)
	})

	t.Run("WrongDimension", func(t *testing.T) {
		n := ns("vdb")
		v := s.vector(t, n, dim)
		err := v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "x", obj{}, 1, 2, 3)})
		requireCode(t, err, adapters.ErrInvalid, "dimension_mismatch")
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "ok", obj{}, 1, 2, 3, 4)}))
		err = v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "y", obj{}, 1, 2, 3, 4, 5)})
		requireCode(t, err, adapters.ErrInvalid, "dimension_mismatch")
		_, err = v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 2}, TopK: 1})
		requireCode(t, err, adapters.ErrInvalid, "dimension_mismatch")
		c, err := v.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 1, c, "a rejected batch stores nothing")

		_, err = s.b.Vector(ctx(t), n, dim*2)
		require.ErrorIs(t, err, adapters.ErrInvalid, "opening a stored namespace with another dimension")
		v0, err := s.b.Vector(ctx(t), n, 0)
		require.NoError(t, err, "dimension 0 takes the stored one")
		require.Equal(t, dim, v0.Dim())
	})

	t.Run("Drop", func(t *testing.T) {
		v := seed(t)
		require.NoError(t, v.Drop(ctx(t)))
		n, err := v.Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, n)
		got, err := v.Query(ctx(t), adapters.VectorQuery{Vector: []float32{1, 0, 0, 0}, TopK: 10, Threshold: -1})
		require.NoError(t, err)
		require.Empty(t, got)
		require.NoError(t, v.Upsert(ctx(t), []adapters.VectorRecord{vrec(t, "again", obj{}, 1, 0, 0, 0)}))
		n, err = v.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}

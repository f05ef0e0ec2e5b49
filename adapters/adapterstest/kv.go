package adapterstest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

type obj = map[string]any

func testKV(t *testing.T, s *suite) {
	t.Run("GetByIDsAligned", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "a", obj{"v": 1}, "c", obj{"v": 3})))
		got, err := kv.GetByIDs(ctx(t), []string{"c", "missing", "a", "a"})
		require.NoError(t, err)
		require.Len(t, got, 4)
		require.Equal(t, json.Number("3"), object(t, got[0])["v"])
		require.Nil(t, got[1], "a missing id answers null")
		require.Equal(t, json.Number("1"), object(t, got[2])["v"])
		require.Equal(t, json.Number("1"), object(t, got[3])["v"])

		got, err = kv.GetByIDs(ctx(t), []string{})
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("Stamping", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "k", obj{"content": "x"})))
		got, err := kv.GetByIDs(ctx(t), []string{"k"})
		require.NoError(t, err)
		m := object(t, got[0])
		require.Equal(t, "k", m["_id"])
		require.Equal(t, "x", m["content"])
		created := requireNow(t, m["create_time"], "create_time")
		requireNow(t, m["update_time"], "update_time")
		require.NotContains(t, m, "llm_cache_list", "only text_chunks gets llm_cache_list")

		// Re-upsert without create_time: the stored one is kept.
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "k", obj{"content": "y"})))
		got, err = kv.GetByIDs(ctx(t), []string{"k"})
		require.NoError(t, err)
		m = object(t, got[0])
		require.Equal(t, "y", m["content"])
		require.Equal(t, json.Number(fmt.Sprint(created)), m["create_time"], "create_time kept on re-upsert")
		requireNow(t, m["update_time"], "update_time")

		// A caller-given create_time wins; _id is always the key.
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "k", obj{"create_time": 42, "_id": "other"})))
		got, err = kv.GetByIDs(ctx(t), []string{"k"})
		require.NoError(t, err)
		m = object(t, got[0])
		require.Equal(t, json.Number("42"), m["create_time"])
		require.Equal(t, "k", m["_id"])
	})

	t.Run("UpsertReplacesRecord", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "k", obj{"a": 1, "b": obj{"x": []any{1, "two"}}})))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "k", obj{"a": 2})))
		got, err := kv.GetByIDs(ctx(t), []string{"k"})
		require.NoError(t, err)
		m := object(t, got[0])
		require.Equal(t, json.Number("2"), m["a"])
		require.NotContains(t, m, "b", "upsert replaces the whole record (no field merge)")

		// Nested values and unknown fields round-trip.
		nested := obj{"list": []any{1, 2.5, "s", nil, true}, "map": obj{"k": obj{"deep": "v"}}, "empty": obj{}}
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "n", nested)))
		got, err = kv.GetByIDs(ctx(t), []string{"n"})
		require.NoError(t, err)
		m = object(t, got[0])
		for k := range nested {
			requireJSONEq(t, raw(t, nested[k]), raw(t, m[k]), "field %s", k)
		}
	})

	t.Run("UpsertLastWinsInBatch", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "k", obj{"v": 1}, "k", obj{"v": 2})))
		got, err := kv.GetByIDs(ctx(t), []string{"k"})
		require.NoError(t, err)
		require.Equal(t, json.Number("2"), object(t, got[0])["v"])
		n, err := kv.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})

	t.Run("UpsertRejectsNonObject", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		for _, bad := range []string{`[1,2]`, `"s"`, `3`, `null`} {
			err := kv.Upsert(ctx(t), []adapters.KVRecord{{ID: "k", Data: json.RawMessage(bad)}})
			require.ErrorIs(t, err, adapters.ErrInvalid, "record %s", bad)
		}
		n, err := kv.Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("TextChunksLLMCacheList", func(t *testing.T) {
		n := adapters.Namespace{Workspace: randName("ws"), Name: adapters.TextChunksNamespace}
		kv := s.kv(t, n)
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t,
			"chunk-a", obj{"content": "a"},
			"chunk-b", obj{"content": "b", "llm_cache_list": []string{"default:extract:1"}})))
		got, err := kv.GetByIDs(ctx(t), []string{"chunk-a", "chunk-b"})
		require.NoError(t, err)
		requireJSONEq(t, []byte(`[]`), raw(t, object(t, got[0])["llm_cache_list"]))
		requireJSONEq(t, []byte(`["default:extract:1"]`), raw(t, object(t, got[1])["llm_cache_list"]))
	})

	t.Run("FilterKeys", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "a", obj{}, "b", obj{})))
		missing, err := kv.FilterKeys(ctx(t), []string{"z", "a", "y", "b", "x"})
		require.NoError(t, err)
		require.Equal(t, []string{"z", "y", "x"}, missing, "the keys NOT stored, in request order")
		missing, err = kv.FilterKeys(ctx(t), []string{"a", "b"})
		require.NoError(t, err)
		require.Empty(t, missing)
	})

	t.Run("DeleteAndCount", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		n, err := kv.Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "a", obj{}, "b", obj{}, "c", obj{})))
		n, err = kv.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		require.NoError(t, kv.Delete(ctx(t), []string{"b", "never-stored"}), "missing ids are ignored")
		require.NoError(t, kv.Delete(ctx(t), nil))
		n, err = kv.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		got, err := kv.GetByIDs(ctx(t), []string{"a", "b", "c"})
		require.NoError(t, err)
		require.NotNil(t, got[0])
		require.Nil(t, got[1])
		require.NotNil(t, got[2])
	})

	t.Run("ScanPaging", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		var want []string
		var recs []any
		for i := 24; i >= 0; i-- { // inserted in reverse: scan must sort
			id := fmt.Sprintf("id-%02d", i)
			recs = append(recs, id, obj{"i": i})
		}
		for i := range 25 {
			want = append(want, fmt.Sprintf("id-%02d", i))
		}
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, recs...)))
		var got []string
		after := ""
		for {
			page, err := kv.Scan(ctx(t), after, 7)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 7)
			for _, r := range page {
				m := object(t, r.Data)
				require.Equal(t, r.ID, m["_id"], "scanned records carry _id")
				got = append(got, r.ID)
			}
			if len(page) < 7 {
				break
			}
			after = page[len(page)-1].ID
		}
		require.Equal(t, want, got)

		page, err := kv.Scan(ctx(t), "id-10", 3)
		require.NoError(t, err)
		require.Equal(t, []string{"id-11", "id-12", "id-13"}, ids(page, kvID))
		page, err = kv.Scan(ctx(t), "zzz", 3)
		require.NoError(t, err)
		require.Empty(t, page)
	})

	t.Run("ScanByteOrder", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		keys := []string{"b", "B", "a", "_", "é", "中", "🎉", "a b", "ab"}
		var recs []any
		for _, k := range keys {
			recs = append(recs, k, obj{})
		}
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, recs...)))
		page, err := kv.Scan(ctx(t), "", 100)
		require.NoError(t, err)
		require.Equal(t, []string{"B", "_", "a", "a b", "ab", "b", "é", "中", "🎉"}, ids(page, kvID))
	})

	t.Run("Drop", func(t *testing.T) {
		kv := s.kv(t, ns("kv"))
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "a", obj{}, "b", obj{})))
		require.NoError(t, kv.Drop(ctx(t)))
		n, err := kv.Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, n)
		got, err := kv.GetByIDs(ctx(t), []string{"a"})
		require.NoError(t, err)
		require.Nil(t, got[0])
		// The namespace stays usable after a drop.
		require.NoError(t, kv.Upsert(ctx(t), kvRecords(t, "c", obj{})))
		n, err = kv.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}

package adapters_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func TestStampKV(t *testing.T) {
	const now = 1700000100
	tests := []struct {
		name      string
		namespace string
		data      string
		existing  string
		want      string
	}{
		{"new key", "full_docs", `{"content":"x"}`, "",
			`{"content":"x","_id":"k","update_time":1700000100,"create_time":1700000100}`},
		{"keeps stored create_time", "full_docs", `{"content":"y"}`, `{"content":"x","create_time":5,"update_time":6}`,
			`{"content":"y","_id":"k","update_time":1700000100,"create_time":5}`},
		{"caller create_time wins", "full_docs", `{"create_time":7}`, `{"create_time":5}`,
			`{"create_time":7,"_id":"k","update_time":1700000100}`},
		{"_id is the key", "full_docs", `{"_id":"other"}`, "",
			`{"_id":"k","update_time":1700000100,"create_time":1700000100}`},
		{"existing without create_time", "full_docs", `{}`, `{"a":1}`,
			`{"_id":"k","update_time":1700000100,"create_time":1700000100}`},
		{"text_chunks gets llm_cache_list", "text_chunks", `{"content":"c"}`, "",
			`{"content":"c","_id":"k","update_time":1700000100,"create_time":1700000100,"llm_cache_list":[]}`},
		{"prefixed text_chunks too", "myprefix_text_chunks", `{}`, "",
			`{"_id":"k","update_time":1700000100,"create_time":1700000100,"llm_cache_list":[]}`},
		{"llm_cache_list kept", "text_chunks", `{"llm_cache_list":["a:b:c"]}`, "",
			`{"llm_cache_list":["a:b:c"],"_id":"k","update_time":1700000100,"create_time":1700000100}`},
		{"other namespaces get none", "text_chunks_v2", `{}`, "",
			`{"_id":"k","update_time":1700000100,"create_time":1700000100}`},
		{"nested and unicode kept", "full_docs", `{"m":{"a":[1,2.0,"中<SEP>🎉"]}}`, "",
			`{"m":{"a":[1,2.0,"中<SEP>🎉"]},"_id":"k","update_time":1700000100,"create_time":1700000100}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var existing adapters.Record
			if tc.existing != "" {
				existing = adapters.Record(tc.existing)
			}
			got, err := adapters.StampKV(tc.namespace, "k", adapters.Record(tc.data), existing, now)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}

	t.Run("own create_time reported", func(t *testing.T) {
		for data, own := range map[string]bool{`{"create_time":7}`: true, `{"content":"x"}`: false} {
			got, gotOwn, err := adapters.StampKVOwnTime("full_docs", "k", adapters.Record(data), now)
			require.NoError(t, err)
			require.Equal(t, own, gotOwn, data)
			want, err := adapters.StampKV("full_docs", "k", adapters.Record(data), nil, now)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "the record StampKV makes without a stored one")
		}
	})

	t.Run("key order kept, no HTML escaping", func(t *testing.T) {
		got, err := adapters.StampKV("full_docs", `a<b>&"c"`, adapters.Record(`{"z":1,"a":"<&>"}`), nil, now)
		require.NoError(t, err)
		require.Equal(t, `{"z":1,"a":"<&>","_id":"a<b>&\"c\"","update_time":1700000100,"create_time":1700000100}`, string(got))
	})

	for _, bad := range []string{`[]`, `"s"`, `1`, `null`, `{`, `{"a":1} {}`, ``} {
		t.Run("rejects "+bad, func(t *testing.T) {
			_, err := adapters.StampKV("full_docs", "k", adapters.Record(bad), nil, now)
			require.ErrorIs(t, err, adapters.ErrInvalid)
			require.Contains(t, err.Error(), `"k"`, "the error names the record")
		})
	}
}

func TestKVView(t *testing.T) {
	tests := []struct {
		name, stored, want string
	}{
		{"complete record unchanged", `{"_id":"k","create_time":1,"update_time":2}`, `{"_id":"k","create_time":1,"update_time":2}`},
		{"legacy record gets defaults", `{"content":"x"}`, `{"content":"x","_id":"k","create_time":0,"update_time":0}`},
		{"only update_time missing", `{"_id":"k","create_time":3}`, `{"_id":"k","create_time":3,"update_time":0}`},
		{"stale _id is replaced by the key", `{"_id":"old","create_time":1,"update_time":2}`, `{"_id":"k","create_time":1,"update_time":2}`},
		{"non-string _id is replaced", `{"_id":7,"create_time":1,"update_time":2}`, `{"_id":"k","create_time":1,"update_time":2}`},
		{"not an object is passed through", `[1]`, `[1]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.JSONEq(t, tc.want, string(adapters.KVView("k", adapters.Record(tc.stored))))
		})
	}
}

func TestStampDoc(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"stored as given", `{"status":"pending","chunks_list":["c"],"x":1}`, `{"status":"pending","chunks_list":["c"],"x":1}`},
		{"chunks_list default", `{"status":"pending"}`, `{"status":"pending","chunks_list":[]}`},
		{"no _id or times added", `{}`, `{"chunks_list":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := adapters.StampDoc("d", adapters.Record(tc.data))
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
	_, err := adapters.StampDoc("d", adapters.Record(`[]`))
	require.ErrorIs(t, err, adapters.ErrInvalid)
}

func TestNormalizeDoc(t *testing.T) {
	const defaults = `"error_msg":null,"file_path":"no-file-path","metadata":{},"chunks_list":[]`
	tests := []struct {
		name, stored, want string
	}{
		{"current record", `{"status":"processed","content_summary":"s","content_length":3,"file_path":"a.txt",
			"created_at":"c","updated_at":"u","track_id":"t","chunks_count":1,"chunks_list":["x"],"error_msg":null,
			"metadata":{"k":1},"multimodal_processed":true}`,
			`{"status":"processed","content_summary":"s","content_length":3,"file_path":"a.txt","created_at":"c",
			"updated_at":"u","track_id":"t","chunks_count":1,"chunks_list":["x"],"error_msg":null,"metadata":{"k":1},
			"multimodal_processed":true}`},
		{"legacy error becomes error_msg", `{"status":"failed","error":"boom"}`,
			`{"status":"failed","error_msg":"boom","file_path":"no-file-path","metadata":{},"chunks_list":[]}`},
		{"error_msg wins over error", `{"error":"old","error_msg":"new"}`,
			`{"error_msg":"new","file_path":"no-file-path","metadata":{},"chunks_list":[]}`},
		{"extra keys dropped", `{"status":"pending","content":"full text","_id":"d","create_time":1,"x":{}}`,
			`{"status":"pending",` + defaults + `}`},
		{"empty file_path", `{"file_path":""}`, `{` + defaults + `}`},
		{"null file_path", `{"file_path":null}`, `{` + defaults + `}`},
		{"null metadata and chunks_list", `{"metadata":null,"chunks_list":null}`, `{` + defaults + `}`},
		{"empty record", `{}`, `{` + defaults + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.JSONEq(t, tc.want, string(adapters.NormalizeDoc(adapters.Record(tc.stored))))
		})
	}
}

func TestDocPageRequestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   adapters.DocPageRequest
		want adapters.DocPageRequest
	}{
		{"defaults", adapters.DocPageRequest{},
			adapters.DocPageRequest{Page: 1, PageSize: 50, SortField: "updated_at", SortDirection: "desc"}},
		{"page below 1", adapters.DocPageRequest{Page: -3, PageSize: 20, SortField: "id", SortDirection: "asc"},
			adapters.DocPageRequest{Page: 1, PageSize: 20, SortField: "id", SortDirection: "asc"}},
		{"page size raised to 10", adapters.DocPageRequest{Page: 2, PageSize: 1},
			adapters.DocPageRequest{Page: 2, PageSize: 10, SortField: "updated_at", SortDirection: "desc"}},
		{"negative page size raised to 10", adapters.DocPageRequest{PageSize: -5},
			adapters.DocPageRequest{Page: 1, PageSize: 10, SortField: "updated_at", SortDirection: "desc"}},
		{"page size capped at 200", adapters.DocPageRequest{PageSize: 201},
			adapters.DocPageRequest{Page: 1, PageSize: 200, SortField: "updated_at", SortDirection: "desc"}},
		{"bounds kept", adapters.DocPageRequest{PageSize: 200, SortField: "file_path", SortDirection: "ASC"},
			adapters.DocPageRequest{Page: 1, PageSize: 200, SortField: "file_path", SortDirection: "asc"}},
		{"status filter", adapters.DocPageRequest{StatusFilter: "failed", PageSize: 10, SortField: "created_at"},
			adapters.DocPageRequest{StatusFilter: "failed", Page: 1, PageSize: 10, SortField: "created_at", SortDirection: "desc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Normalize()
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	for _, bad := range []adapters.DocPageRequest{
		{SortField: "content_length"},
		{SortField: "ID"},
		{SortDirection: "up"},
		{StatusFilter: "done"},
		{StatusFilter: "PENDING"},
	} {
		_, err := bad.Normalize()
		require.ErrorIs(t, err, adapters.ErrInvalid, "%+v", bad)
	}
}

func TestScoreLabel(t *testing.T) {
	tests := []struct {
		label, query string
		score        int
		ok           bool
	}{
		{"Apple", "apple", 1000, true},
		{"APPLE", "  apple  ", 1000, true},
		{"Apple Pie", "apple", 500, true},
		{"Pineapple", "apple", 100 - 9, true},
		{"big_apple", "apple", 100 - 9 + 50, true},
		{"crab apple", "apple", 100 - 10 + 50, true},
		{"x and apple", "and apple", 100 - 11 + 50, true},
		// the bonus looks for " q" or "_q" anywhere, not at the first match
		{"snapple apple", "apple", 100 - 13 + 50, true},
		{"Banana", "apple", 0, false},
		{"anything", "", 0, false},
		{"anything", "   ", 0, false},
		// length is in characters (Python len), not bytes
		{"北京大学", "大学", 100 - 4, true},
		{"emoji 🎉 party", "party", 100 - 13 + 50, true},
	}
	for _, tc := range tests {
		t.Run(tc.label+"/"+tc.query, func(t *testing.T) {
			score, ok := adapters.ScoreLabel(tc.label, tc.query)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.score, score)
			}
		})
	}
}

func TestSearchLabels(t *testing.T) {
	labels := []string{"Pineapple", "apple pie", "Apple", "big_apple", "APPLE", "Banana", "crab apple tree", "Snapple"}
	tests := []struct {
		name, query string
		limit       int
		want        []string
	}{
		{"ranked", "apple", 50, []string{"APPLE", "Apple", "apple pie", "big_apple", "crab apple tree", "Snapple", "Pineapple"}},
		{"limit", "apple", 2, []string{"APPLE", "Apple"}},
		{"no limit when 0", "apple", 0, []string{"APPLE", "Apple", "apple pie", "big_apple", "crab apple tree", "Snapple", "Pineapple"}},
		{"single", "an", 50, []string{"Banana"}},
		{"none", "kiwi", 50, []string{}},
		{"blank", " ", 50, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, adapters.SearchLabels(labels, tc.query, tc.limit))
		})
	}
	// Equal scores order by label ascending.
	require.Equal(t, []string{"Xa_q", "xa_q", "xb_q"}, adapters.SearchLabels([]string{"xb_q", "xa_q", "Xa_q"}, "q", 10))
}

func TestEntityVectorID(t *testing.T) {
	for name, want := range map[string]string{
		"Alice": "ent-64489c85dc2fe0787b85cd87214b3810",
		"中文实体":  "ent-e4b64bc47c7c2fc1db691ea362d536ee",
		"":      "ent-d41d8cd98f00b204e9800998ecf8427e",
	} {
		require.Equal(t, want, adapters.EntityVectorID(name), "name %q", name)
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		what, name string
		ok         bool
	}{
		{"database", "default", true},
		{"database", "rag_1743587721", true},
		{"database", "my-db.v2", true},
		{"database", "_private", true},
		{"database", "9lives", true},
		{"namespace", "text_chunks", true},
		{"workspace", "", true}, // LightRAG's default workspace
		{"database", "", false},
		{"namespace", "", false},
		{"database", "..", false},
		{"database", "a..b", false},
		{"database", "a/b", false},
		{"database", `a\b`, false},
		{"database", "a\x00b", false},
		{"database", ".hidden", false},
		{"database", "-flag", false},
		{"database", "spa ce", false},
		{"database", "中文", false},
		{"database", "a:b", false},
		{"database", strings.Repeat("a", adapters.MaxDatabaseName), true},
		{"database", strings.Repeat("a", adapters.MaxDatabaseName+1), false},
		{"namespace", strings.Repeat("n", adapters.MaxNamespaceName), true},
		{"namespace", strings.Repeat("n", adapters.MaxNamespaceName+1), false},
		{"workspace", strings.Repeat("w", adapters.MaxWorkspaceName+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.what+"/"+tc.name, func(t *testing.T) {
			err := adapters.ValidateName(tc.what, tc.name)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, adapters.ErrInvalid)
			var ae *adapters.Error
			require.True(t, errors.As(err, &ae))
			require.Equal(t, "invalid_name", ae.Code)
			require.Contains(t, ae.Message, tc.what, "the message names what is wrong")
			require.NotEmpty(t, ae.Hint, "the hint says how to fix it")
		})
	}
}

package proxy

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Hostile graph ids and values through HTTP: refused with 422
// invalid_character naming the character, and nothing is stored; the graph
// reads the same after a flush (issue 14 #1).
func TestHostileGraphTextRefused(t *testing.T) {
	ts := startServer(t, testOptions{})
	g := "/v1/databases/default/graphs/chunk_entity_relation"
	cases := []struct {
		name, path, body, msgHas string
	}{
		{"control char id", g + "/nodes/upsert", `{"nodes":[{"id":"a\u0001","properties":{}}]}`, "U+0001"},
		{"lone surrogate id", g + "/nodes/upsert", `{"nodes":[{"id":"\ud800","properties":{}}]}`, `\ud800`},
		{"second lone surrogate id", g + "/nodes/upsert", `{"nodes":[{"id":"\udfff","properties":{}}]}`, `\udfff`},
		{"high surrogate then text", g + "/nodes/upsert", `{"nodes":[{"id":"\ud83dx","properties":{}}]}`, `\ud83d`},
		{"not UTF-8 id", g + "/nodes/upsert", "{\"nodes\":[{\"id\":\"a\xff\",\"properties\":{}}]}", "UTF-8"},
		{"U+FFFF edge endpoint", g + "/edges/upsert", `{"edges":[{"src":"a","tgt":"\uffff","properties":{}}]}`, "U+FFFF"},
		{"NUL in value", g + "/edges/upsert", `{"edges":[{"src":"a","tgt":"b","properties":{"keywords":"\u0000"}}]}`, "U+0000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb ErrorBody
			resp := ts.call(t, "POST", tc.path, tc.body, &eb)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%+v", eb)
			require.Equal(t, "invalid_character", eb.Code)
			require.Contains(t, eb.Message, tc.msgHas)
		})
	}
	var okBody map[string]any
	resp := ts.call(t, "POST", g+"/nodes/upsert", `{"nodes":[{"id":"\ud83d\ude00","properties":{"d":""}}]}`, &okBody)
	require.Equal(t, http.StatusOK, resp.StatusCode, okBody)
	resp = ts.call(t, "POST", "/v1/databases/default/flush", nil, &okBody)
	require.Equal(t, http.StatusOK, resp.StatusCode, okBody)
	var info struct {
		Nodes int `json:"nodes"`
		Edges int `json:"edges"`
	}
	resp = ts.call(t, "GET", g, nil, &info)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, info.Nodes, "only the valid surrogate pair was stored")
	require.Equal(t, 0, info.Edges)
}

// With a token set, /readyz without it answers the status alone: no
// database names, hosts, users or variable names (issue 14 #6).
func TestReadyzDisclosesNothingWithoutToken(t *testing.T) {
	ts := startServer(t, testOptions{token: "s3cret"})
	// a database that cannot open, whose error names a variable
	var eb ErrorBody
	resp := ts.call(t, "PUT", "/v1/databases/secretdb", `{"path":"secretdb"}`, &eb, "Authorization", "Bearer s3cret")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%+v", eb)
	cases := []struct {
		name, auth string
		details    bool
	}{
		{"no token", "", false},
		{"wrong token", "Bearer nope", false},
		{"right token", "Bearer s3cret", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var raw map[string]any
			resp := ts.call(t, "GET", "/readyz", nil, &raw, "Authorization", tc.auth)
			require.Equal(t, http.StatusOK, resp.StatusCode, raw)
			require.Equal(t, true, raw["ready"])
			if !tc.details {
				require.Equal(t, map[string]any{"ready": true}, raw)
				return
			}
			require.Contains(t, raw["databases"], "secretdb")
		})
	}
}

package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Bad input through HTTP: each case asserts the status and the error code
// (the spec validator checks the error shape of every answer).
func TestBadInput(t *testing.T) {
	ts := startServer(t, testOptions{maxBody: 4096})
	kv := "/v1/databases/default/kv/full_docs"
	vec := "/v1/databases/default/vectors/entities"
	// a stored 4-dim vector namespace for the dimension cases
	var okBody map[string]any
	resp := ts.call(t, "POST", vec+"/upsert", `{"records":[{"id":"a","vector":[1,0,0,0],"fields":{"content":"x"}}]}`, &okBody)
	require.Equal(t, http.StatusOK, resp.StatusCode, okBody)

	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
		msgHas                   string
	}{
		{"malformed JSON", "POST", kv + "/get", `{"ids": [`, 400, "malformed_request", "truncated"},
		{"not JSON", "POST", kv + "/get", `ids=a`, 400, "malformed_request", "not valid JSON"},
		{"empty body", "POST", kv + "/get", ``, 400, "malformed_request", "empty"},
		{"array body", "POST", kv + "/get", `[1]`, 400, "malformed_request", "JSON object"},
		{"wrong type", "POST", kv + "/get", `{"ids": 5}`, 400, "malformed_request", `"ids"`},
		{"wrong element type", "POST", kv + "/get", `{"ids": [1]}`, 400, "malformed_request", `"ids`},
		{"unknown field", "POST", kv + "/get", `{"ids": [], "idz": []}`, 400, "malformed_request", `"idz"`},
		{"missing field", "POST", kv + "/get", `{}`, 400, "malformed_request", `"ids" is required`},
		{"record not an object", "POST", kv + "/upsert", `{"records": {"a": 1}}`, 400, "malformed_request", `records.a`},
		{"trailing data", "POST", kv + "/get", `{"ids": []} {}`, 400, "malformed_request", "after the JSON object"},
		{"unknown database", "GET", "/v1/databases/nope/kv/full_docs", "", 404, "unknown_database", `"nope"`},
		{"dot-dot database", "GET", "/v1/databases/../kv/full_docs", "", 400, "invalid_name", "database"},
		{"encoded ../ database", "GET", "/v1/databases/..%2Fetc/kv/full_docs", "", 400, "invalid_name", "database"},
		{"encoded ../ namespace", "GET", "/v1/databases/default/kv/..%2F..%2Fetc", "", 400, "invalid_name", "namespace"},
		{"NUL in namespace", "GET", "/v1/databases/default/kv/full%00docs", "", 400, "invalid_name", "namespace"},
		{"NUL in database", "POST", "/v1/databases/def%00ault/flush", "", 400, "invalid_name", "database"},
		{"dot-dot workspace", "GET", kv + "?workspace=..", "", 400, "invalid_name", "workspace"},
		{"slash workspace", "GET", kv + "?workspace=a%2Fb", "", 400, "invalid_name", "workspace"},
		// issue 14 #7: an invalid escape is refused, not dropped (the write would go to the default workspace)
		{"invalid escape in workspace", "POST", kv + "/upsert?workspace=%ZZ", `{"records":{"a":{}}}`, 400, "malformed_request", "query string"},
		{"invalid escape in other parameter", "GET", kv + "/records?limit=%G1", "", 400, "malformed_request", "query string"},
		{"too large", "POST", kv + "/get", `{"ids":["` + strings.Repeat("x", 5000) + `"]}`, 413, "payload_too_large", "limit"},
		{"wrong dimension upsert", "POST", vec + "/upsert", `{"records":[{"id":"b","vector":[1,0,0]}]}`, 422, "dimension_mismatch", "4"},
		{"wrong dimension query", "POST", vec + "/query", `{"vector":[1,0],"top_k":3}`, 422, "dimension_mismatch", "4"},
		{"empty base64", "POST", vec + "/query", `{"vector":"","top_k":3}`, 422, "invalid_argument", "empty"},
		{"odd base64", "POST", vec + "/query", `{"vector":"AAAAAAA=","top_k":3}`, 422, "invalid_argument", "float32"},
		{"bad base64", "POST", vec + "/query", `{"vector":"!!!","top_k":3}`, 422, "invalid_argument", "base64"},
		{"NaN in base64", "POST", vec + "/query", `{"vector":"AADAfwAAAAAAAAAAAAAAAA==","top_k":3}`, 422, "invalid_argument", "finite"},
		{"edge pair without tgt", "POST", "/v1/databases/default/graphs/g/edges/get", `{"pairs":[{"src":"a"}]}`, 400, "malformed_request", "pairs[0].src and .tgt"},
		{"vector wrong type", "POST", vec + "/query", `{"vector":{"a":1},"top_k":3}`, 400, "malformed_request", "vector"},
		{"bad encoding", "GET", vec + "/records?encoding=hex", "", 400, "malformed_request", "hex"},
		{"bad limit", "GET", kv + "/records?limit=-1", "", 400, "malformed_request", "limit"},
		{"bad sort field", "POST", "/v1/databases/default/doc-status/doc_status/paginated", `{"sort_field":"size"}`, 422, "invalid_argument", "sort_field"},
		// issue 14 #8: user mistakes are 4xx with the documented body, never a panic or a 500
		{"huge page", "POST", "/v1/databases/default/doc-status/doc_status/paginated", `{"page":9223372036854775807,"page_size":200}`, 422, "invalid_argument", "page"},
		{"huge page, default size", "POST", "/v1/databases/default/doc-status/doc_status/paginated", `{"page":4611686018427387904}`, 422, "invalid_argument", "page"},
		{"page past int64", "POST", "/v1/databases/default/doc-status/doc_status/paginated", `{"page":1e30}`, 400, "malformed_request", "page"},
		{"negative max_depth", "POST", "/v1/databases/default/graphs/g/knowledge-graph", `{"label":"*","max_depth":-1}`, 400, "malformed_request", "max_depth"},
		{"negative max_nodes", "POST", "/v1/databases/default/graphs/g/knowledge-graph", `{"label":"*","max_nodes":-5}`, 400, "malformed_request", "max_nodes"},
		{"huge max_depth", "POST", "/v1/databases/default/graphs/g/knowledge-graph", `{"label":"*","max_depth":9223372036854775807}`, 200, "", ""},
		{"unknown route", "GET", "/v1/nothing", "", 404, "unknown_route", "route"},
		{"wrong method", "PATCH", kv + "/get", "", 405, "method_not_allowed", "method"},
		{"bad registry entry", "PUT", "/v1/databases/x", `{"path":"p","backend":"mongo"}`, 422, "invalid_argument", "mongo"},
		{"remove unknown database", "DELETE", "/v1/databases/nope", "", 404, "unknown_database", "nope"},
		// issue 14 #8: an invalid enum value is a 400/422, never a 409 or 500
		{"unknown backend type", "PUT", "/v1/databases/default/backend", `{"type":"mongo"}`, 422, "invalid_argument", "mongo"},
		{"unknown named backend", "PUT", "/v1/databases/default/backend", `{"backend":"nosuch"}`, 422, "unknown_backend", "nosuch"},
		{"unknown migration target", "POST", "/v1/databases/default/migration", `{"to":"mongo"}`, 422, "invalid_argument", "mongo"},
		{"unknown sort direction", "POST", "/v1/databases/default/doc-status/doc_status/paginated", `{"sort_direction":"sideways"}`, 422, "invalid_argument", "sort_direction"},
		{"unknown status filter", "POST", "/v1/databases/default/doc-status/doc_status/paginated", `{"status_filter":"bogus"}`, 422, "invalid_argument", "status_filter"},
		{"unknown encoding in body", "POST", vec + "/vectors", `{"ids":[],"encoding":"hex"}`, 400, "malformed_request", "hex"},
		{"unknown backend to test", "POST", "/v1/backends/test", `{"backend":"nosuch"}`, 422, "unknown_backend", "nosuch"},
		// a huge number must not overflow into range
		{"huge provision timeout", "POST", "/v1/provision/docker", `{"timeout_seconds":9223372036854775807}`, 422, "invalid_argument", "timeout_seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb ErrorBody
			var body any
			if tc.body != "" {
				body = tc.body
			}
			resp := ts.call(t, tc.method, tc.path, body, &eb)
			require.Equal(t, tc.status, resp.StatusCode, "%+v", eb)
			if tc.status == http.StatusOK {
				return
			}
			require.Equal(t, tc.code, eb.Code, "%+v", eb)
			require.Contains(t, eb.Message, tc.msgHas)
			require.NotEmpty(t, eb.RequestID)
			require.Equal(t, resp.Header.Get("X-Request-Id"), eb.RequestID)
		})
	}
}

func TestUnknownDatabaseHint(t *testing.T) {
	ts := startServer(t, testOptions{})
	var eb ErrorBody
	resp := ts.call(t, "POST", "/v1/databases/nope/kv/full_docs/get", `{"ids":["a"]}`, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, eb.Hint, "proxy db add nope")
	require.Contains(t, eb.Hint, "default")
}

func TestAuth(t *testing.T) {
	ts := startServer(t, testOptions{token: "s3cret"})
	cases := []struct {
		name, path, auth string
		status           int
		code             string
	}{
		{"missing token", "/v1/databases", "", 401, "unauthorized"},
		{"wrong token", "/v1/databases", "Bearer nope", 401, "unauthorized"},
		{"wrong scheme", "/v1/databases", "Basic s3cret", 401, "unauthorized"},
		{"right token", "/v1/databases", "Bearer s3cret", 200, ""},
		{"healthz open", "/healthz", "", 200, ""},
		{"readyz open", "/readyz", "", 200, ""},
		{"unknown route guarded", "/v1/nothing", "", 401, "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb ErrorBody
			resp := ts.call(t, "GET", tc.path, nil, &eb, "Authorization", tc.auth)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.code != "" {
				require.Equal(t, tc.code, eb.Code)
				require.NotContains(t, eb.Message, "s3cret")
			}
		})
	}
}

func TestRequestIDEchoed(t *testing.T) {
	ts := startServer(t, testOptions{})
	resp := ts.call(t, "GET", "/healthz", nil, nil, "X-Request-Id", "abc-123")
	require.Equal(t, "abc-123", resp.Header.Get("X-Request-Id"))
	resp = ts.call(t, "GET", "/healthz", nil, nil)
	require.Len(t, resp.Header.Get("X-Request-Id"), 24)
}

package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

// specRoute is one operation of openapi.yaml.
type specRoute struct {
	method, path string
	op           *openapi3.Operation
	params       openapi3.Parameters
}

func specRoutes(t *testing.T) []specRoute {
	doc := loadSpec(t)
	var out []specRoute
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			params := append(slices.Clone(item.Parameters), op.Parameters...)
			out = append(out, specRoute{method: strings.ToUpper(method), path: path, op: op, params: params})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].method+out[i].path < out[j].method+out[j].path })
	return out
}

// fill puts db and namespace into a spec path.
func (r specRoute) fill(db, ns string) string {
	return strings.NewReplacer("{db}", db, "{namespace}", ns).Replace(r.path)
}

// Every route of openapi.yaml against hostile input: invalid escapes in the
// path and the query, hostile database and namespace names, huge, negative
// and non-numeric numbers in every integer query parameter, and bodies that
// are not what the route takes. Each answer is a 4xx in the documented error
// shape (the spec validator checks every request and answer), and the data
// is unchanged afterwards (issue 14, tests).
func TestBadInputEveryRoute(t *testing.T) {
	ts := startServer(t, testOptions{maxBody: 1 << 20})
	seed := map[string]string{
		"/v1/databases/default/kv/full_docs/upsert":                       `{"records":{"a":{"content":"x"}}}`,
		"/v1/databases/default/vectors/entities/upsert":                   `{"records":[{"id":"v","vector":[1,0,0,0]}]}`,
		"/v1/databases/default/graphs/chunk_entity_relation/nodes/upsert": `{"nodes":[{"id":"n","properties":{"entity_id":"n"}}]}`,
		"/v1/databases/default/doc-status/doc_status/upsert":              `{"records":{"d":{"status":"processed","content_summary":"s","content_length":1,"created_at":"2024-01-01T00:00:00","updated_at":"2024-01-01T00:00:00","file_path":"f"}}}`,
	}
	for path, body := range seed {
		var out map[string]any
		resp := ts.call(t, "POST", path, body, &out)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %v", path, out)
	}
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/v1/databases", "/v1/databases/default/namespaces",
			"/v1/databases/default/kv/full_docs/records", "/v1/databases/default/vectors/entities/records",
			"/v1/databases/default/graphs/chunk_entity_relation/nodes", "/v1/databases/default/doc-status/doc_status/records"} {
			resp, err := http.Get(ts.URL + p)
			require.NoError(t, err)
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Fprintf(&b, "%s %d %s\n", p, resp.StatusCode, data)
		}
		return b.String()
	}
	before := snapshot()

	expect4xx := func(t *testing.T, method, path, body string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, ts.URL+path, rd)
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%s %s %.200q: %d %s", method, path, body, resp.StatusCode, data)
		var eb ErrorBody
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&eb), "%s %s: %s", method, path, data)
		require.NotEmpty(t, eb.Code)
		require.NotEmpty(t, eb.Kind)
		require.NotEmpty(t, eb.Message)
		require.Equal(t, kindStatus[errKind(eb.Kind)], resp.StatusCode, "the kind decides the status: %+v", eb)
	}

	hostile := []string{"..", "..%2F..%2Fetc", "a%00b", "%2e%2e", "a%2Fb", strings.Repeat("x", 300), "a%0Ab", "%E2%80%AE"}
	for _, r := range specRoutes(t) {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			body := ""
			if r.op.RequestBody != nil {
				body = "{}"
			}
			// Hostile names in the path.
			for _, h := range hostile {
				if strings.Contains(r.path, "{db}") {
					expect4xx(t, r.method, r.fill(h, "full_docs"), body)
				}
				if strings.Contains(r.path, "{namespace}") {
					expect4xx(t, r.method, r.fill("default", h), body)
				}
			}
			good := r.fill("default", "ns_probe")
			// An invalid escape in the query is refused, never dropped.
			expect4xx(t, r.method, good+"?workspace=%ZZ", body)
			// Numbers: huge, negative, not a number.
			for _, p := range r.params {
				if p.Value.In != "query" || p.Value.Schema == nil || !p.Value.Schema.Value.Type.Is("integer") {
					continue
				}
				for _, v := range []string{"-1", "99999999999999999999999", "1e3", "abc", "0x10"} {
					expect4xx(t, r.method, good+"?"+p.Value.Name+"="+v, body)
				}
			}
			if r.op.RequestBody == nil {
				return
			}
			// Bodies that are not what the route takes.
			for _, b := range []string{"not json", `{"`, `[]`, `"x"`, `{"unknown_field_x":1}`, `{} {}`,
				`{"ids":1e400}`, `{"top_k":-1,"vector":[1]}`, `{"page":-99999999999999999999999}`,
				`{"records":{"a":5}}`, strings.Repeat("[", 100000)} {
				expect4xx(t, r.method, good, b)
			}
			// Over the body limit.
			expect4xx(t, r.method, good, `{"ids":["`+strings.Repeat("x", 2<<20)+`"]}`)
		})
	}

	require.Equal(t, before, snapshot(), "hostile input changed the data")
	// And after a flush and a restart of the database (registry reload).
	resp := ts.call(t, "POST", "/v1/databases/default/flush", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, ts.router.closeAll(t.Context()))
	ts.router.mu.Lock()
	ts.router.closed = false
	ts.router.mu.Unlock()
	require.Equal(t, before, snapshot(), "data after a flush and reopen")
}

// Invalid escapes in the path of every route, through the real http.Server
// (net/http refuses them before any handler): 400 in the error shape.
func TestInvalidPathEscapeEveryRoute(t *testing.T) {
	addr, _, _ := serveTCP(t, nil)
	for _, r := range specRoutes(t) {
		for _, p := range []string{r.fill("%ZZ", "full_docs"), r.fill("default", "%G1"), r.path + "%"} {
			if p == r.path+"%" && strings.Contains(r.path, "{") {
				p = r.fill("default", "full_docs") + "%"
			}
			if !strings.Contains(p, "%") {
				continue
			}
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", r.method, p)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			conn.Close()
			if !strings.Contains(p, "%ZZ") && !strings.Contains(p, "%G1") && !strings.HasSuffix(p, "%") {
				continue
			}
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s %s: %s", r.method, p, data)
			var eb ErrorBody
			require.NoError(t, json.Unmarshal(data, &eb), "%s %s: %s", r.method, p, data)
			require.Equal(t, "malformed_request", eb.Code, "%s %s", r.method, p)
		}
	}
}

package proxy

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/registry"
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

// Folders given through the API stay under the data folder unless the
// operator allowed another root: PUT /v1/databases/{db}, PUT .../backend and
// POST .../migration alike; nothing is created outside (issue 14 #17).
func TestAPIPathsStayUnderDataFolder(t *testing.T) {
	outside := t.TempDir()
	allowed := t.TempDir()
	ts := startServer(t, testOptions{allowRoots: []string{allowed}})
	require.NoError(t, os.MkdirAll(ts.DataDir, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(ts.DataDir, "escape")))
	refused := []string{"/", "/etc", "../../../", "..", ".", "", filepath.Join(outside, "db"), "escape/db", "sub/../../x"}
	for _, p := range refused {
		if p == "" {
			continue // the default: the database's own folder under the data folder
		}
		bodies := []struct{ method, path, body string }{
			{"PUT", "/v1/databases/newdb", `{"path":` + strconv.Quote(p) + `}`},
			{"PUT", "/v1/databases/default/backend", `{"type":"json","path":` + strconv.Quote(p) + `}`},
			{"POST", "/v1/databases/default/migration", `{"to":"json","path":` + strconv.Quote(p) + `}`},
		}
		for _, b := range bodies {
			t.Run(b.method+" "+b.path+" "+p, func(t *testing.T) {
				var eb ErrorBody
				resp := ts.call(t, b.method, b.path, b.body, &eb)
				require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%+v", eb)
				require.Equal(t, "path_not_allowed", eb.Code)
			})
		}
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing is created outside")
	reg, err := os.ReadFile(ts.Registry)
	require.NoError(t, err)
	require.NotContains(t, string(reg), "newdb")

	accepted := []string{"inside", filepath.Join(ts.DataDir, "inside2"), filepath.Join(allowed, "db")}
	for i, p := range accepted {
		var out map[string]any
		resp := ts.call(t, "PUT", "/v1/databases/ok"+strconv.Itoa(i), `{"path":`+strconv.Quote(p)+`}`, &out)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %v", p, out)
	}
}

// User mistakes in the admin API and the registry answer a 4xx with the
// documented body, never a 500 (issue 14 #8).
func TestRegistryMistakesAre4xx(t *testing.T) {
	ts := startServer(t, testOptions{})
	require.NoError(t, os.MkdirAll(ts.DataDir, 0o755))
	file := filepath.Join(ts.DataDir, "afile")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	cases := []struct {
		name, method, path, body string
		status                   int
		code, msgHas             string
	}{
		{"unset variable in path", "PUT", "/v1/databases/x", `{"path":"${HYBRIDRAG_ISSUE14_UNSET}/db"}`, 422, "invalid_argument", "HYBRIDRAG_ISSUE14_UNSET"},
		{"unset variable in workspace", "PUT", "/v1/databases/x", `{"path":"x","workspace":"${HYBRIDRAG_ISSUE14_UNSET}"}`, 422, "invalid_argument", "HYBRIDRAG_ISSUE14_UNSET"},
		{"path is a file", "PUT", "/v1/databases/x", `{"path":"afile"}`, 422, "invalid_argument", "is a file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb ErrorBody
			resp := ts.call(t, tc.method, tc.path, tc.body, &eb)
			require.Equal(t, tc.status, resp.StatusCode, "%+v", eb)
			require.Equal(t, tc.code, eb.Code, "%+v", eb)
			require.Contains(t, eb.Message, tc.msgHas)
		})
	}
	// A registry written by hand (or the CLI) naming a file: each request
	// says so with a 409, not a 500.
	require.NoError(t, registry.Update(ts.Registry, func(r *registry.Registry) error {
		r.Databases["f"] = registry.Database{Path: file}
		return nil
	}))
	ts.router.forceReload()
	var eb ErrorBody
	resp := ts.call(t, "GET", "/v1/databases/f/kv/full_docs", nil, &eb)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "%+v", eb)
	require.Equal(t, "not_a_folder", eb.Code)
}

// Switching a JSON database to the folder it already uses, however the path
// is written, is a no-op that succeeds: not refused as locked by its own
// lock (issue 14 #8).
func TestNoOpSwitchToSameFolder(t *testing.T) {
	ts := startServer(t, testOptions{})
	kv := "/v1/databases/default/kv/full_docs"
	var out map[string]any
	resp := ts.call(t, "POST", kv+"/upsert", `{"records":{"a":{"content":"x"}}}`, &out)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	for _, p := range []string{"default", "./default", filepath.Join(ts.DataDir, "default"), "sub/../default"} {
		t.Run(p, func(t *testing.T) {
			var out map[string]any
			resp := ts.call(t, "PUT", "/v1/databases/default/backend", `{"type":"json","path":`+strconv.Quote(p)+`}`, &out)
			require.Equal(t, http.StatusOK, resp.StatusCode, out)
			var got struct {
				Records []map[string]any `json:"records"`
			}
			resp = ts.call(t, "POST", kv+"/get", `{"ids":["a"]}`, &got)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "x", got.Records[0]["content"])
		})
	}
}

// Reading status creates nothing: /readyz and GET /v1/databases/{db} do
// not create a database's folder nor write a lock or log into it (issue 14
// #13).
func TestReadyzCreatesNothing(t *testing.T) {
	ts := startServer(t, testOptions{})
	var out map[string]any
	resp := ts.call(t, "PUT", "/v1/databases/fresh", `{"path":"fresh"}`, &out)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	for range 2 {
		var ready map[string]any
		resp = ts.call(t, "GET", "/readyz", nil, &ready)
		require.Equal(t, http.StatusOK, resp.StatusCode, ready)
		require.Equal(t, true, ready["ready"])
		// GET /v1/databases/{db} (proxyclient's Ping) and the status routes
		// create nothing either.
		var detail databaseDetailBody
		resp = ts.call(t, "GET", "/v1/databases/fresh", nil, &detail)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "fresh", detail.Name)
		require.True(t, detail.Capabilities.NeedsFlush)
		for _, p := range []string{"/v1/databases/fresh/status", "/v1/status", "/v1/databases/fresh/backend", "/v1/databases"} {
			resp = ts.call(t, "GET", p, nil, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, p)
		}
	}
	require.NoDirExists(t, filepath.Join(ts.DataDir, "fresh"))
	require.NoDirExists(t, filepath.Join(ts.DataDir, "default"))
	// The first write creates it.
	resp = ts.call(t, "POST", "/v1/databases/fresh/kv/full_docs/upsert", `{"records":{"a":{}}}`, &out)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	require.DirExists(t, filepath.Join(ts.DataDir, "fresh"))
}

// A proxy starting after a kill -9 during a registry write sweeps the temp
// file the write left, without waiting for the next registry change (issue
// 14 #13).
func TestStartSweepsRegistryTempFiles(t *testing.T) {
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.yaml")
	require.NoError(t, registry.Update(regPath, func(*registry.Registry) error { return nil }))
	left := filepath.Join(dir, ".registry.yaml.tmp-123456")
	require.NoError(t, os.WriteFile(left, []byte("version: 1\ndata"), 0o600))
	s, err := NewServer(context.Background(), Config{RegistryPath: regPath, DataDir: filepath.Join(dir, "data"),
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	require.NoFileExists(t, left)
}

// An existing LightRAG folder the proxy has not opened yet: status reads
// check it without opening it, so no lock or log file appears in it; a
// folder another process holds is reported as database_locked (issue 14
// #13).
func TestStatusReadsDoNotOpenExistingFolder(t *testing.T) {
	ts := startServer(t, testOptions{})
	lightrag := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(lightrag, "kv_store_full_docs.json"), []byte(`{"a":{"content":"x"}}`), 0o644))
	var out map[string]any
	resp := ts.call(t, "PUT", "/v1/databases/existing", map[string]string{"path": lightrag}, &out)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	list := func() []string {
		entries, err := os.ReadDir(lightrag)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	for _, p := range []string{"/readyz", "/v1/databases/existing", "/v1/databases/existing/status", "/v1/status"} {
		resp = ts.call(t, "GET", p, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	require.Equal(t, []string{"kv_store_full_docs.json"}, list(), "status reads created files")

	// Held by another process (here: an adapter opened in this test).
	holder, err := jsonadapter.Open(context.Background(), jsonadapter.Config{Dir: lightrag})
	require.NoError(t, err)
	var eb ErrorBody
	resp = ts.call(t, "GET", "/v1/databases/existing", nil, &eb)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%+v", eb)
	require.Equal(t, "database_locked", eb.Code)
	require.NoError(t, holder.Close(context.Background()))

	// A request opens it; then status reads ping the open backend.
	var got struct {
		Records []map[string]any `json:"records"`
	}
	resp = ts.call(t, "POST", "/v1/databases/existing/kv/full_docs/get", `{"ids":["a"]}`, &got)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "x", got.Records[0]["content"])
	resp = ts.call(t, "GET", "/v1/databases/existing", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

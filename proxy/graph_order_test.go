package proxy

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGraphScanStorageOrder: order=storage lists the JSON backend's graph in
// NetworkX's order and orientation (what LightRAG's get_all_nodes and
// get_all_edges return on NetworkXStorage), paged by an opaque cursor;
// order=id, the default, keeps the id order copies rely on.
func TestGraphScanStorageOrder(t *testing.T) {
	ts := startServer(t, testOptions{})
	g := "/v1/databases/default/graphs/chunk_entity_relation"
	ts.call(t, "POST", g+"/edges/upsert", map[string]any{"edges": []map[string]any{
		{"src": "z", "tgt": "y", "properties": map[string]any{}},
		{"src": "y", "tgt": "x", "properties": map[string]any{}},
		{"src": "x", "tgt": "z", "properties": map[string]any{"w": 1}},
	}}, nil)

	type page struct {
		Nodes  []struct{ ID string } `json:"nodes"`
		Edges  []struct{ Src, Tgt string }
		Next   any     `json:"next"`
		Cursor *string `json:"cursor"`
	}
	var got []string
	cursor := ""
	for i := 0; i < 5; i++ {
		var pg page
		resp := ts.call(t, "GET", g+"/edges?order=storage&limit=2&cursor="+cursor, nil, &pg)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Nil(t, pg.Next)
		for _, e := range pg.Edges {
			got = append(got, e.Src+"-"+e.Tgt)
		}
		if pg.Cursor == nil {
			break
		}
		cursor = *pg.Cursor
	}
	require.Equal(t, []string{"z-y", "z-x", "y-x"}, got, "G.edges(): node by node, from the node inserted first")

	var nodes page
	ts.call(t, "GET", g+"/nodes?order=storage", nil, &nodes)
	require.Equal(t, []struct{ ID string }{{"z"}, {"y"}, {"x"}}, nodes.Nodes)
	require.Nil(t, nodes.Cursor)

	var byID page
	ts.call(t, "GET", g+"/edges", nil, &byID)
	require.Equal(t, []struct{ Src, Tgt string }{{"x", "y"}, {"x", "z"}, {"y", "z"}}, byID.Edges)

	var ne struct {
		Edges []struct {
			Edges []struct{ Src, Tgt string } `json:"edges"`
		} `json:"edges"`
	}
	ts.call(t, "POST", g+"/nodes/edges", map[string]any{"ids": []string{"x"}}, &ne)
	require.Equal(t, []struct{ Src, Tgt string }{{"x", "y"}, {"x", "z"}}, ne.Edges[0].Edges, "adjacency order: edges as added")

	for _, tc := range []struct{ path, code string }{
		{g + "/edges?order=random", "malformed_request"},
		{g + "/nodes?order=storage&cursor=x", "invalid_cursor"},
		{g + "/edges?order=storage&cursor=1", "invalid_cursor"},
	} {
		var eb ErrorBody
		resp := ts.call(t, "GET", tc.path, nil, &eb)
		require.GreaterOrEqual(t, resp.StatusCode, 400, tc.path)
		require.Less(t, resp.StatusCode, 500, tc.path)
		require.Equal(t, tc.code, eb.Code, tc.path)
	}
}

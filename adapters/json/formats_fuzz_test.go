package json

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// Each fuzz target checks that a reader never panics, fails only with a
// corrupt_file error, and that whatever it reads writes back and re-reads
// equal.

func requireFuzzErr(t *testing.T, err error) {
	t.Helper()
	var ae *adapters.Error
	require.True(t, errors.As(err, &ae), "want *adapters.Error, got %v", err)
	require.Equal(t, "corrupt_file", ae.Code)
}

func FuzzReadKVFile(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, "", `{"a": {"b": [1, 2.5, "\u00e9", null, true]}}`, "\xef\xbb\xbf{\r\n\"\\\"X\\\"\": {}}",
		`{"default": {"h": {"return": "x"}}}`, `{"a": "\ud800"}`, `{"a": 1e400}`, `{"a"`, `{"a": NaN}`} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, cache bool) {
		name := "kv_store_x.json"
		if cache {
			name = "kv_store_llm_response_cache.json"
		}
		d, err := scanKV(context.Background(), lightragfile.NewBytesScanner([]byte(in), name), name)
		if err != nil {
			requireFuzzErr(t, err)
			return
		}
		if cache {
			d, err = migrateLegacyCache(d, name)
			require.NoError(t, err)
		}
		var buf bytes.Buffer
		require.NoError(t, writeKVFile(&buf, d))
		again, err := scanKV(context.Background(), lightragfile.NewBytesScanner(buf.Bytes(), name), name)
		require.NoError(t, err, buf.String())
		require.Equal(t, orderedKV(d), orderedKV(again))
		var buf2 bytes.Buffer
		require.NoError(t, writeKVFile(&buf2, again))
		require.Equal(t, buf.String(), buf2.String())
	})
}

func FuzzReadVectorFile(f *testing.F) {
	m := matrixB64(0.6, 0.8, 1, 0)
	for _, s := range []string{
		`{"embedding_dim": 2, "data": [], "matrix": ""}`, `[]`, "",
		`{"embedding_dim": 2, "data": [{"__id__": "a", "__created_at__": 1.5, "x": [1]}, {"__id__": "b", "vector": "eJxjsGFwYHBicAEAA/YBAw=="}], "matrix": "` + m + `", "additional_data": {}}`,
		`{"embedding_dim": 2, "data": [{"__id__": "a"}], "matrix": "AAAA"}`,
		`{"embedding_dim": 1, "data": [{"__id__": "a"}, {"__id__": "a"}], "matrix": "AACAPwAAgD8="}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := scanVector(context.Background(), lightragfile.NewBytesScanner([]byte(in), "vdb_x.json"), "vdb_x.json")
		if err != nil {
			requireFuzzErr(t, err)
			return
		}
		var buf bytes.Buffer
		require.NoError(t, writeVectorFile(&buf, d))
		again, err := scanVector(context.Background(), lightragfile.NewBytesScanner(buf.Bytes(), "vdb_x.json"), "vdb_x.json")
		require.NoError(t, err, buf.String())
		require.Equal(t, d.ids, again.ids)
		require.Equal(t, len(d.matrix), len(again.matrix))
		var buf2 bytes.Buffer
		require.NoError(t, writeVectorFile(&buf2, again))
		require.Equal(t, buf.String(), buf2.String())
	})
}

func FuzzReadGraphFile(f *testing.F) {
	for _, s := range []string{gmlPretty, "", "<graphml/>", gmlHead + `<graph edgedefault="undirected"></graph></graphml>`,
		gmlHead + `<key id="d0" for="node" attr.name="w" attr.type="double"/><graph edgedefault="undirected"><node id="a"><data key="d0">inf</data></node><edge source="a" target="b" id="e1"/></graph></graphml>`,
		gmlHead + `<key id="d0" for="node" attr.name="label" attr.type="string"/><graph edgedefault="directed"><node id="a"/></graph></graphml>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		g, err := parseGraph(context.Background(), bytes.NewReader([]byte(in)), "graph_x.graphml")
		if err != nil {
			requireFuzzErr(t, err)
			return
		}
		var buf bytes.Buffer
		require.NoError(t, writeGraphFile(&buf, g))
		again, err := parseGraph(context.Background(), bytes.NewReader(buf.Bytes()), "graph_x.graphml")
		require.NoError(t, err, buf.String())
		var buf2 bytes.Buffer
		require.NoError(t, writeGraphFile(&buf2, again))
		require.Equal(t, buf.String(), buf2.String())
	})
}

package json

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// writeTemp writes content to dir/name and returns the path.
func writeTemp(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// kvPairs returns (id, compact data) in write order.
func kvPairs(d *kvData) [][2]string {
	var out [][2]string
	for _, id := range orderedKV(d) {
		out = append(out, [2]string{id, string(d.records[id].data)})
	}
	return out
}

func TestReadKVFileVariants(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                [][2]string
	}{
		{"empty store", "kv_store_full_docs.json", "{}", nil},
		{"empty with spaces", "kv_store_full_docs.json", " \n{ }\n", nil},
		{"pretty", "kv_store_full_docs.json", "{\n  \"doc-1\": {\n    \"content\": \"a b\",\n    \"n\": [1, 2.5e3, true, null]\n  }\n}",
			[][2]string{{"doc-1", `{"content":"a b","n":[1,2.5e3,true,null]}`}}},
		{"BOM and CRLF", "kv_store_text_chunks.json", "\xef\xbb\xbf{\r\n  \"c\": {\r\n    \"x\": \"y\\r\\n\"\r\n  }\r\n}\r\n",
			[][2]string{{"c", `{"x":"y\r\n"}`}}},
		{"quoted upper-case legacy ids kept byte for byte", "kv_store_full_entities.json", `{"\"ALEX\"": {"entity_type": "\"PERSON\""}}`,
			[][2]string{{`"ALEX"`, `{"entity_type":"\"PERSON\""}`}}},
		{"escapes kept raw, keys decoded", "kv_store_x.json", `{"caf\u00e9 \ud83d\ude00": {"v": "\u00e9\/"}}`,
			[][2]string{{"café 😀", `{"v":"\u00e9\/"}`}}},
		{"duplicate key keeps first position and last value", "kv_store_x.json", `{"a": {"v": 1}, "b": {}, "a": {"v": 2}}`,
			[][2]string{{"a", `{"v":2}`}, {"b", `{}`}}},
		{"doc status of the 1.0.8 era", "kv_store_doc_status.json",
			`{"doc-1": {"content_summary": "s", "content_length": 3, "status": "failed", "created_at": "2024-12-30T10:00:00", "updated_at": "2024-12-30T10:00:00Z", "error": "boom"}}`,
			[][2]string{{"doc-1", `{"content_summary":"s","content_length":3,"status":"failed","created_at":"2024-12-30T10:00:00","updated_at":"2024-12-30T10:00:00Z","error":"boom"}`}}},
		{"flat md5 llm cache is kept", "kv_store_llm_response_cache.json", `{"0a1b": {"return": "r", "model": "gpt"}}`,
			[][2]string{{"0a1b", `{"return":"r","model":"gpt"}`}}},
		{"flat mode:type:hash cache is kept", "kv_store_llm_response_cache.json",
			`{"mix:query:h1": {"return": "r", "cache_type": "query"}, "default": {"h2": {"return": "x"}}}`,
			[][2]string{{"mix:query:h1", `{"return":"r","cache_type":"query"}`}, {"default", `{"h2":{"return":"x"}}`}}},
		{"legacy nested cache is flattened", "kv_store_llm_response_cache.json",
			`{"default": {"h1": {"return": "a", "cache_type": "extract", "embedding": null}, "h2": {"return": "b"}},` +
				` "global": {"h3": {"return": "c", "cache_type": "query", "original_prompt": "p"}}, "other": {"k": 1}, "empty": {}}`,
			[][2]string{
				{"default:extract:h1", `{"return":"a","cache_type":"extract","embedding":null}`},
				{"default:extract:h2", `{"return":"b"}`},
				{"global:query:h3", `{"return":"c","cache_type":"query","original_prompt":"p"}`},
				{"other", `{"k":1}`},
			}},
		{"nested layout outside a cache namespace is not migrated", "kv_store_full_docs.json", `{"default": {"h1": {"return": "a"}}}`,
			[][2]string{{"default", `{"h1":{"return":"a"}}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, t.TempDir(), tt.file, tt.content)
			d, err := readKVFile(context.Background(), p)
			require.NoError(t, err)
			require.Equal(t, tt.want, kvPairs(d))
			// Every record is valid JSON that encoding/json accepts.
			for _, e := range d.records {
				require.True(t, stdjson.Valid(e.data))
			}
		})
	}
}

func TestReadKVFileMissing(t *testing.T) {
	d, err := readKVFile(context.Background(), filepath.Join(t.TempDir(), "kv_store_none.json"))
	require.NoError(t, err)
	require.Empty(t, d.records)
}

func TestReadKVFileCorrupt(t *testing.T) {
	tests := []struct{ name, content, msg string }{
		{"JSON array", "[]\n", "kv_store_x.json: top level is a JSON array, want a JSON object of records keyed by id"},
		{"empty file", "", "kv_store_x.json: file is empty"},
		{"BOM only", "\xef\xbb\xbf", "file is empty"},
		{"string", `"x"`, "top level is a JSON string"},
		{"truncated", `{"a": {"b": "c`, "unexpected end of file inside a string"},
		{"truncated object", `{"a": {"b": 1}`, "unexpected end of file inside an object"},
		{"missing value", `{"a": }`, "want a value"},
		{"trailing garbage", `{"a": {}} x`, `unexpected 'x' after the top-level value`},
		{"two documents", `{} {}`, "after the top-level value"},
		{"NaN", `{"a": NaN}`, "NaN and Infinity are not JSON"},
		{"bad escape", `{"a": "\q"}`, `invalid escape`},
		{"raw control char", "{\"a\": \"x\x01\"}", "control character 0x01"},
		{"bad number", `{"a": {"b": 01}}`, "found '1' inside an object"},
		{"trailing comma", `{"a": {},}`, "want an object key"},
		// Records are objects: the contract, and what LightRAG reads (issue 14 #4).
		{"number record", `{"a": {}, "b": 5}`, `record "b" is a JSON number, want a JSON object`},
		{"null record", `{"a": null}`, `record "a" is null, want a JSON object`},
		{"string record", `{"a": "x"}`, `record "a" is a JSON string, want a JSON object`},
		{"array record", `{"a": [{}]}`, `record "a" is a JSON array, want a JSON object`},
		{"single quotes", `{'a': 1}`, "want an object key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, t.TempDir(), "kv_store_x.json", tt.content)
			_, err := readKVFile(context.Background(), p)
			requireCorrupt(t, err, "kv_store_x.json")
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestWriteKVFileLayout(t *testing.T) {
	d := newKVData()
	put := func(id, data string) {
		d.records[id] = &kvEntry{seq: d.nextSeq, data: []byte(data)}
		d.nextSeq++
	}
	put("z", `{"a":{"b":[1,2,{}],"c":[],"d":"\u00e9\"\\\n\u0001\u007f","e":null,"f":1.5}}`)
	put("a", `{}`)
	var buf bytes.Buffer
	require.NoError(t, writeKVFile(&buf, d))
	// What Python's json.dump(indent=2, ensure_ascii=False) writes.
	want := "{\n  \"z\": {\n    \"a\": {\n      \"b\": [\n        1,\n        2,\n        {}\n      ],\n      \"c\": [],\n" +
		"      \"d\": \"é\\\"\\\\\\n\\u0001\x7f\",\n      \"e\": null,\n      \"f\": 1.5\n    }\n  },\n  \"a\": {}\n}"
	require.Equal(t, want, buf.String())

	buf.Reset()
	require.NoError(t, writeKVFile(&buf, newKVData()))
	require.Equal(t, "{}", buf.String())
}

func TestKVRoundTrip(t *testing.T) {
	content := "\xef\xbb\xbf{\r\n \"\\\"ALEX\\\"\": {\"x\": \"\\u00e9\\ud83d\\ude00<SEP>\", \"n\": -0.5e-3},\n \"b\": {\"l\": [[], {}, [1]]}}"
	p := writeTemp(t, t.TempDir(), "kv_store_x.json", content)
	d, err := readKVFile(context.Background(), p)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, writeKVFile(&buf, d))
	// encoding/json sees the same records.
	var got, want map[string]any
	require.NoError(t, stdjson.Unmarshal(buf.Bytes(), &got))
	require.NoError(t, stdjson.Unmarshal([]byte(content[3:]), &want))
	require.Equal(t, want, got)
	// And our reader reads it back to the same model (modulo escapes).
	again, err := scanKV(context.Background(), lightragfile.NewBytesScanner(buf.Bytes(), "x"), "x")
	require.NoError(t, err)
	require.Equal(t, orderedKV(d), orderedKV(again))
	// Rewriting the rewrite is a fixed point.
	var buf2 bytes.Buffer
	require.NoError(t, writeKVFile(&buf2, again))
	require.Equal(t, buf.String(), buf2.String())
}

func TestWriteKVInvalidUTF8(t *testing.T) {
	d := newKVData()
	d.records["k\xff"] = &kvEntry{data: []byte("{\"v\":\"a\xffb\"}")}
	var buf bytes.Buffer
	require.NoError(t, writeKVFile(&buf, d))
	require.Equal(t, "{\n  \"k\uFFFD\": {\n    \"v\": \"a\uFFFDb\"\n  }\n}", buf.String())
}

var _ = adapters.KindKV

package json

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	stdjson "encoding/json"
	"github.com/hybridrag/storage-proxy/lightragfile"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func matrixB64(vals ...float32) string {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestReadVectorFileVariants(t *testing.T) {
	m := matrixB64(0.6, 0.8, 1, 0)
	tests := []struct {
		name, content string
		dim           int
		ids           []string
		check         func(t *testing.T, d *vectorData)
	}{
		{"empty store", `{"embedding_dim": 1536, "data": [], "matrix": ""}`, 1536, []string{}, nil},
		{"legacy items without __created_at__, quoted names", `{"embedding_dim": 2, "data": [{"__id__": "ent-1", "entity_name": "\"ALEX\""}, {"__id__": "rel-2", "src_id": "\"A\"", "tgt_id": "\"B\""}], "matrix": "` + m + `"}`,
			2, []string{"ent-1", "rel-2"}, func(t *testing.T, d *vectorData) {
				require.Equal(t, stdjson.Number(""), d.items[0].createdAt)
				require.Equal(t, []rawField{{"entity_name", []byte(`"\"ALEX\""`)}}, d.items[0].fields)
				require.Equal(t, []float32{0.6, 0.8, 1, 0}, d.matrix)
			}},
		{"float and int __created_at__, vector, additional_data", `{"embedding_dim": 2, "data": [{"__id__": "a", "__created_at__": 1735689600.123, "content": "x"}, {"vector": "eJxjsGFwYHBicAEAA/YBAw==", "__created_at__": 1735689600, "__id__": "b"}], "matrix": "` + m + `", "additional_data": {"k": [1]}}`,
			2, []string{"a", "b"}, func(t *testing.T, d *vectorData) {
				require.Equal(t, stdjson.Number("1735689600.123"), d.items[0].createdAt)
				require.Equal(t, stdjson.Number("1735689600"), d.items[1].createdAt)
				require.Equal(t, "eJxjsGFwYHBicAEAA/YBAw==", d.items[1].vector16)
				require.Equal(t, []rawField{{"additional_data", []byte(`{"k":[1]}`)}}, d.extra)
			}},
		{"matrix before data, BOM, CRLF", "\xef\xbb\xbf{\r\n\"matrix\": \"" + m + "\",\r\n\"embedding_dim\": 2, \"data\": [{\"__id__\": \"a\"}, {\"__id__\": \"b\"}]}\r\n",
			2, []string{"a", "b"}, nil},
		{"rows not unit length are normalised", `{"embedding_dim": 2, "data": [{"__id__": "a"}], "matrix": "` + matrixB64(3, 4) + `"}`,
			2, []string{"a"}, func(t *testing.T, d *vectorData) {
				require.InDeltaSlice(t, []float32{0.6, 0.8}, d.matrix, 1e-6)
			}},
		{"duplicate id keeps the first position and the last item", `{"embedding_dim": 2, "data": [{"__id__": "a", "v": 1}, {"__id__": "b"}, {"__id__": "a", "v": 2}], "matrix": "` + matrixB64(1, 0, 0, 1, 0.6, 0.8) + `"}`,
			2, []string{"a", "b"}, func(t *testing.T, d *vectorData) {
				require.Equal(t, []float32{0.6, 0.8, 0, 1}, d.matrix)
				require.Equal(t, []byte("2"), []byte(d.items[0].fields[0].val))
				require.Equal(t, map[string]int{"a": 0, "b": 1}, d.index)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, t.TempDir(), "vdb_x.json", tt.content)
			d, err := readVectorFile(context.Background(), p)
			require.NoError(t, err)
			require.Equal(t, tt.dim, d.dim)
			require.Equal(t, len(tt.ids), len(d.ids))
			for i, id := range tt.ids {
				require.Equal(t, id, d.ids[i])
				require.Equal(t, i, d.index[id])
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestReadVectorFileMissing(t *testing.T) {
	d, err := readVectorFile(context.Background(), filepath.Join(t.TempDir(), "vdb_x.json"))
	require.NoError(t, err)
	require.NotNil(t, d)
	require.Equal(t, 0, d.dim)
	require.Empty(t, d.items)
}

func TestReadVectorFileCorrupt(t *testing.T) {
	m := matrixB64(1, 0)
	tests := []struct{ name, content, msg string }{
		{"JSON array", "[]\n", "vdb_x.json: top level is a JSON array, want an object with embedding_dim, data and matrix"},
		{"empty", "", "file is empty"},
		{"no embedding_dim", `{"data": [], "matrix": ""}`, "embedding_dim is missing"},
		{"no data", `{"embedding_dim": 2, "matrix": ""}`, "data is missing"},
		{"no matrix", `{"embedding_dim": 2, "data": []}`, "matrix is missing"},
		{"dim not a number", `{"embedding_dim": "2", "data": [], "matrix": ""}`, `embedding_dim is "2", want a positive integer`},
		{"data not array", `{"embedding_dim": 2, "data": {}, "matrix": ""}`, "data is a JSON object, want an array"},
		{"item not object", `{"embedding_dim": 2, "data": [1], "matrix": "` + m + `"}`, "data[0] is a JSON number"},
		{"item without id", `{"embedding_dim": 2, "data": [{"x": 1}], "matrix": "` + m + `"}`, "data[0] has no __id__"},
		{"numeric id", `{"embedding_dim": 2, "data": [{"__id__": 1}], "matrix": "` + m + `"}`, "data[0].__id__ is a JSON number"},
		{"matrix too short", `{"embedding_dim": 2, "data": [{"__id__": "a"}, {"__id__": "b"}], "matrix": "` + m + `"}`, "matrix holds 2 floats, want len(data) x embedding_dim = 2 x 2 = 4"},
		{"matrix not base64", `{"embedding_dim": 2, "data": [{"__id__": "a"}], "matrix": "!!!!!!!!!!!!"}`, "matrix is not base64"},
		{"matrix partial float", `{"embedding_dim": 1, "data": [{"__id__": "a"}], "matrix": "AAAAAAA="}`, "matrix is not base64"},
		{"matrix not string", `{"embedding_dim": 2, "data": [], "matrix": []}`, "matrix is a JSON array"},
		{"dim 0 with items", `{"embedding_dim": 0, "data": [{"__id__": "a"}], "matrix": ""}`, "embedding_dim is 0 but data has 1 items"},
		{"truncated", `{"embedding_dim": 2, "data": [{"__id__": "a"}], "matrix": "AAAA`, "unexpected end of file inside a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, t.TempDir(), "vdb_x.json", tt.content)
			_, err := readVectorFile(context.Background(), p)
			requireCorrupt(t, err, "vdb_x.json")
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestVectorWriteLayoutAndRoundTrip(t *testing.T) {
	m := matrixB64(0.6, 0.8, 0, 1)
	// NanoVectorDB's own layout: a rewrite of an unchanged store is identical.
	content := `{"embedding_dim": 2, "data": [{"__id__": "ent-é", "__created_at__": 1735689600, "entity_name": "A<SEP>B", "meta": [1, {"b": null}], "vector": "eJxjsGFwYHBicAEAA/YBAw=="}, {"__id__": "b", "__created_at__": 1.5}], "matrix": "` + m + `", "additional_data": {"x": "y"}}`
	d, err := scanVector(context.Background(), lightragfile.NewBytesScanner([]byte(content), "vdb_x.json"), "vdb_x.json")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, writeVectorFile(&buf, d))
	require.Equal(t, content, buf.String())

	// Written items keep __id__, __created_at__, meta fields, vector order
	// even when the file had another order; encoding/json agrees.
	content2 := `{"data": [{"vector": "eJxjsGFwYHBicAEAA/YBAw==", "x": "\u00e9", "__id__": "a"}], "embedding_dim": 2, "matrix": "` + matrixB64(1, 0) + `"}`
	d2, err := scanVector(context.Background(), lightragfile.NewBytesScanner([]byte(content2), "v"), "v")
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, writeVectorFile(&buf, d2))
	require.Equal(t, `{"embedding_dim": 2, "data": [{"__id__": "a", "x": "é", "vector": "eJxjsGFwYHBicAEAA/YBAw=="}], "matrix": "`+matrixB64(1, 0)+`"}`, buf.String())
	var parsed struct {
		Dim    int              `json:"embedding_dim"`
		Data   []map[string]any `json:"data"`
		Matrix string           `json:"matrix"`
	}
	require.NoError(t, stdjson.Unmarshal(buf.Bytes(), &parsed))
	require.Equal(t, 2, parsed.Dim)
	require.Equal(t, "é", parsed.Data[0]["x"])

	// Empty store.
	buf.Reset()
	require.NoError(t, writeVectorFile(&buf, newVectorData(1536)))
	require.Equal(t, `{"embedding_dim": 1536, "data": [], "matrix": ""}`, buf.String())
}

func TestWriteVectorFileRejectsInconsistentModel(t *testing.T) {
	d := newVectorData(2)
	d.ids = []string{"a"}
	d.items = []vectorItem{{}}
	d.matrix = []float32{1}
	require.ErrorContains(t, writeVectorFile(&bytes.Buffer{}, d), "do not match")
}

func TestReadVectorLargeMatrixStreams(t *testing.T) {
	// A matrix much larger than the scanner's buffer, split at odd places.
	const n, dim = 3000, 64
	vals := make([]float32, n*dim)
	for i := range vals {
		vals[i] = float32(i%dim) / 100
	}
	normalizeRows(vals, dim)
	var sb strings.Builder
	sb.WriteString(`{"embedding_dim": 64, "data": [`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(`{"__id__": "id-` + string(rune('a'+i%26)) + strings.Repeat("x", i%7) + `-` + strconv.Itoa(i) + `"}`)
	}
	sb.WriteString(`], "matrix": "` + matrixB64(vals...) + `"}`)
	d, err := scanVector(context.Background(), lightragfile.NewScanner(strings.NewReader(sb.String()), "v"), "v")
	require.NoError(t, err)
	require.Equal(t, vals, d.matrix)
}

package adapters

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// AppendJSONString writes what encoding/json writes (without HTML
// escaping), and AppendCompact what json.Compact gives, on strings mixing
// every kind of byte at every offset of the word-at-a-time scans.
func TestJSONTextAgreesWithEncodingJSON(t *testing.T) {
	pieces := []string{"a", "lorem ipsum ", "\"", "\\", "\n", "\x01", "\x1f", " ", "\t", "é", "😀", "\u2028", "\u2029", "\xff", "\xe2\x80", "<&>", "~\x7f"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(s))
		got := AppendJSONString(nil, s)
		require.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(got), "%q", s)
		require.Equal(t, string(got), string(AppendJSONBytes(nil, []byte(s))))

		doc := []byte(`{ "k" : ` + string(got) + ` ,"a": [1, 2 ,` + "\n" + string(got) + `] }`)
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, doc))
		require.Equal(t, compact.String(), string(AppendCompact(nil, doc)), "%s", doc)
	}
}

// AppendNodesEdges writes what encoding/json writes (nil edges as []).
func TestAppendNodesEdgesMatchesEncodingJSON(t *testing.T) {
	for _, ne := range [][]NodeEdges{
		nil,
		{{Found: false, Edges: []Edge{}}},
		{{Found: true, Edges: []Edge{{Src: "A", Tgt: "B \"<&>\" é\u2028"}, {Src: "A", Tgt: "C"}}}, {Edges: []Edge{}}},
	} {
		body := struct {
			Edges []NodeEdges `json:"edges"`
		}{Edges: ne}
		if body.Edges == nil {
			body.Edges = []NodeEdges{}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			t.Fatal(err)
		}
		if got := AppendNodesEdges(nil, ne); string(got) != want.String() {
			t.Errorf("got  %s\nwant %s", got, want.String())
		}
	}
}

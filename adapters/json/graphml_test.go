package json

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

const gmlHead = `<?xml version='1.0' encoding='utf-8'?>` + "\n" +
	`<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">`

// A pretty-printed (ElementTree) file with typed keys, a repeated attr.name,
// nano-graphrag's clusters/order and an unknown edge key.
const gmlPretty = gmlHead + `
  <key id="d9" for="edge" attr.name="reference" attr.type="string" />
  <key id="d8" for="edge" attr.name="order" attr.type="long" />
  <key id="d7" for="edge" attr.name="weight" attr.type="double" />
  <key id="d6" for="node" attr.name="flag" attr.type="boolean" />
  <key id="d5" for="node" attr.name="score" attr.type="float" />
  <key id="d4" for="node" attr.name="rank" attr.type="int" />
  <key id="d3" for="node" attr.name="created_at" attr.type="long" />
  <key id="d2" for="node" attr.name="clusters" attr.type="string" />
  <key id="d1" for="node" attr.name="mixed" attr.type="long" />
  <key id="d0" for="node" attr.name="mixed" attr.type="string" />
  <graph edgedefault="undirected">
    <node id="&quot;ALEX&quot;">
      <data key="d0">text &lt;SEP&gt; more &amp; "q"</data>
      <data key="d2">[{"level": 0, "cluster": 1}]</data>
      <data key="d3">1735689600</data>
      <data key="d4">7</data>
      <data key="d5">1</data>
      <data key="d6">True</data>
    </node>
    <node id="B">
      <data key="d1">42</data>
      <data key="d6">false</data>
      <data key="d0" />
    </node>
    <node id="C" />
    <edge source="&quot;ALEX&quot;" target="B">
      <data key="d7">2.5</data>
      <data key="d8">1</data>
      <data key="d9">ref</data>
    </edge>
    <edge source="C" target="B" />
  </graph>
</graphml>
`

func props(kv ...string) adapters.Props {
	p := adapters.Props{}
	for i := 0; i < len(kv); i += 2 {
		p[kv[i]] = stdjson.RawMessage(kv[i+1])
	}
	return p
}

func TestReadGraphPretty(t *testing.T) {
	g, err := parseGraph(context.Background(), strings.NewReader(gmlPretty), "graph_x.graphml")
	require.NoError(t, err)
	require.True(t, g.header.pretty)
	require.Equal(t, "undirected", g.header.edgeDefault)
	require.Len(t, g.keys, 10)
	require.Equal(t, props(
		"mixed", `"text <SEP> more & \"q\""`,
		"clusters", `"[{\"level\": 0, \"cluster\": 1}]"`,
		"created_at", "1735689600", "rank", "7", "score", "1.0", "flag", "true"), g.nodes[`"ALEX"`].props)
	// The empty <data> is "", as networkx reads it, and overrides the 42
	// read before it under the same name.
	require.Equal(t, props("mixed", `""`, "flag", "false"), g.nodes["B"].props)
	require.Equal(t, adapters.Props{}, g.nodes["C"].props)
	e := g.edges[canonicalEdge(`"ALEX"`, "B")]
	require.Equal(t, props("weight", "2.5", "order", "1", "reference", `"ref"`), e.props)
	require.Contains(t, g.edges, canonicalEdge("B", "C"))
	require.Equal(t, map[string]struct{}{"B": {}}, g.adj["C"])
}

func TestReadGraphCompact(t *testing.T) {
	// lxml's compact layout, as in most LightRAG folders.
	src := gmlHead + `<key id="d1" for="edge" attr.name="weight" attr.type="double"/>
<key id="d0" for="node" attr.name="entity_type" attr.type="string"/>
<graph edgedefault="undirected"><node id="A">
  <data key="d0">person</data>
</node>
<node id="B"/>
<edge source="A" target="B">
  <data key="d1">1.0</data>
</edge>
</graph></graphml>`
	g, err := parseGraph(context.Background(), strings.NewReader(src), "graph_x.graphml")
	require.NoError(t, err)
	require.False(t, g.header.pretty)
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, g))
	require.Equal(t, src, buf.String())
}

func TestGraphRewriteIdentical(t *testing.T) {
	g, err := parseGraph(context.Background(), strings.NewReader(gmlPretty), "graph_x.graphml")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, g))
	// The empty "mixed" overriding 42 (one <data> per name), the normalised
	// values (1 -> 1.0, false -> False) and networkx's edge orientation (from
	// the earlier node) are the only differences.
	want := strings.NewReplacer("      <data key=\"d1\">42</data>\n      <data key=\"d6\">false</data>\n      <data key=\"d0\" />\n",
		"      <data key=\"d0\" />\n      <data key=\"d6\">False</data>\n", `<data key="d5">1</data>`, `<data key="d5">1.0</data>`,
		`<data key="d6">false</data>`, `<data key="d6">False</data>`,
		`<edge source="C" target="B" />`, `<edge source="B" target="C" />`).Replace(gmlPretty)
	require.Equal(t, want, buf.String())
}

func TestWriteGraphTypes(t *testing.T) {
	g, err := parseGraph(context.Background(), strings.NewReader(gmlPretty), "graph_x.graphml")
	require.NoError(t, err)
	g.putNode("N", props(
		"mixed", "5", // an int goes to the long key of the repeated name
		"rank", "3.0", // an integral float fits the declared int key
		"created_at", "1700000000", // existing long key
		"new_s", `"s"`, "new_i", "3", "new_f", "2.5", "new_b", "true",
		"nothing", "null"))
	g.putNode(`"ALEX"`, props("mixed", `"x"`))
	g.putEdge("N", "C", props("weight", "3", "created_at", "1700000000.0", "description", `"a<b>&c"`))
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, g))
	out := buf.String()
	for _, s := range []string{
		`<key id="d10" for="node" attr.name="new_b" attr.type="boolean" />`,
		`attr.name="new_s" attr.type="string"`, `attr.name="new_i" attr.type="long"`,
		`attr.name="new_f" attr.type="double"`,
		`<key id="d14" for="edge" attr.name="created_at" attr.type="long" />`,
		`<key id="d15" for="edge" attr.name="description" attr.type="string" />`,
		`<data key="d7">3.0</data>`, `<data key="d1">5</data>`, `<data key="d4">3</data>`,
		`a&lt;b&gt;&amp;c`, `<data key="d0">x</data>`,
	} {
		require.Contains(t, out, s, out)
	}
	require.NotContains(t, out, "nothing")
	// New keys come before the old ones, like networkx's insert(0).
	require.Less(t, strings.Index(out, `attr.name="new_s"`), strings.Index(out, `<key id="d9"`))

	g2, err := parseGraph(context.Background(), strings.NewReader(out), "graph_x.graphml")
	require.NoError(t, err)
	require.Equal(t, props("mixed", "5", "rank", "3", "created_at", "1700000000",
		"new_s", `"s"`, "new_i", "3", "new_f", "2.5", "new_b", "true"), g2.nodes["N"].props)
	require.Equal(t, props("weight", "3.0", "created_at", "1700000000", "description", `"a<b>&c"`),
		g2.edges[canonicalEdge("C", "N")].props)
	requireWellFormed(t, out)
}

func requireWellFormed(t *testing.T, s string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if err != nil {
			require.Equal(t, "EOF", err.Error())
			return
		}
	}
}

func TestWriteGraphEdgeOrderLikeNetworkx(t *testing.T) {
	g := newGraphData()
	g.header.pretty = true
	g.putNode("b", nil)
	g.putNode("a", nil)
	g.putEdge("a", "b", nil) // written as b-a: b comes first in node order
	g.putEdge("c", "a", nil)
	g.putEdge("b", "b", props("w", "1"))
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, g))
	require.Equal(t, gmlHead+`
  <key id="d0" for="edge" attr.name="w" attr.type="long" />
  <graph edgedefault="undirected">
    <node id="b" />
    <node id="a" />
    <node id="c" />
    <edge source="b" target="a" />
    <edge source="b" target="b">
      <data key="d0">1</data>
    </edge>
    <edge source="a" target="c" />
  </graph>
</graphml>
`, buf.String())
}

func TestWriteGraphEscapes(t *testing.T) {
	g := newGraphData()
	g.putNode("q\"<&>\n\t\r\x01\xff", props("d", `"line1\r\nline2\u0002"`))
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, g))
	requireWellFormed(t, buf.String())
	g2, err := parseGraph(context.Background(), bytes.NewReader(buf.Bytes()), "g")
	require.NoError(t, err)
	require.Contains(t, g2.nodes, "q\"<&>\n\t\r\uFFFD\uFFFD")
	require.Equal(t, props("d", `"line1\r\nline2\ufffd"`)["d"], stdjson.RawMessage(`"line1\r\nline2\ufffd"`))
}

func TestWriteEmptyGraph(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, newGraphData()))
	require.Equal(t, gmlHead+`<graph edgedefault="undirected"></graph></graphml>`, buf.String())
	g, err := parseGraph(context.Background(), bytes.NewReader(buf.Bytes()), "g")
	require.NoError(t, err)
	require.Empty(t, g.nodes)
}

func TestReadGraphDirected(t *testing.T) {
	lightrag := gmlHead + `<key id="d0" for="node" attr.name="entity_type" attr.type="string"/>` +
		`<graph edgedefault="directed"><node id="A"/><node id="B"/><edge source="B" target="A"/></graph></graphml>`
	g, err := parseGraph(context.Background(), strings.NewReader(lightrag), "graph_x.graphml")
	require.NoError(t, err)
	require.Equal(t, "directed", g.header.edgeDefault)
	var buf bytes.Buffer
	require.NoError(t, writeGraphFile(&buf, g))
	require.Contains(t, buf.String(), `<graph edgedefault="directed">`)
	require.Contains(t, buf.String(), `<edge source="B" target="A"/>`)
}

func TestReadGraphCorrupt(t *testing.T) {
	tests := []struct{ name, content, msg string }{
		{"directed non-LightRAG graph", gmlHead + `<key id="d0" for="node" attr.name="label" attr.type="string"/>` +
			`<graph edgedefault="directed"><node id="n0"/></graph></graphml>`, `the graph is directed (edgedefault="directed") and has none of LightRAG's attributes`},
		{"not XML", "{}", "text outside the root element"},
		{"bad XML", "<graphml><graph></graphml>", "not well-formed XML"},
		{"empty", "", "no <graph> element"},
		{"wrong root", "<html></html>", "root element is <html>, want <graphml>"},
		{"truncated", gmlHead + `<graph edgedefault="undirected"><node id="a">`, "not well-formed XML"},
		{"undeclared key", gmlHead + `<graph edgedefault="undirected"><node id="a"><data key="d9">x</data></node></graph></graphml>`, `<data key="d9"> refers to an undeclared key`},
		{"bad long", gmlHead + `<key id="d0" for="node" attr.name="created_at" attr.type="long"/><graph edgedefault="undirected"><node id="a"><data key="d0">soon</data></node></graph></graphml>`, `node "a": created_at value "soon" is not a long`},
		{"bad boolean", gmlHead + `<key id="d0" for="node" attr.name="f" attr.type="boolean"/><graph edgedefault="undirected"><node id="a"><data key="d0">yes</data></node></graph></graphml>`, `is not a boolean`},
		{"unknown type", gmlHead + `<key id="d0" for="node" attr.name="f" attr.type="date"/><graph edgedefault="undirected"></graph></graphml>`, `attr.type "date"`},
		{"node without id", gmlHead + `<graph edgedefault="undirected"><node/></graph></graphml>`, "a <node> has no id"},
		{"two graphs", gmlHead + `<graph edgedefault="undirected"></graph><graph edgedefault="undirected"></graph></graphml>`, "more than one <graph>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGraph(context.Background(), strings.NewReader(tt.content), "graph_x.graphml")
			requireCorrupt(t, err, "graph_x.graphml")
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestPyFloatRepr(t *testing.T) {
	for in, want := range map[float64]string{
		1: "1.0", 0.1: "0.1", 1e16: "1e+16", 1e15: "1000000000000000.0", 1.5e-5: "1.5e-05",
		0.0001: "0.0001", -2.5: "-2.5", 0: "0.0", 123456789012345678: "1.2345678901234568e+17",
	} {
		require.Equal(t, want, lightragfile.PyFloatRepr(in), "%v", in)
	}
}

func TestReadGraphXMLDetails(t *testing.T) {
	// CRLF, BOM, comments, CDATA, character references, attribute
	// whitespace normalisation and single-quoted attributes, like expat.
	src := "\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?>\r\n<!-- c -->\r\n<graphml xmlns='http://graphml.graphdrawing.org/xmlns'>\r\n" +
		"<key id='d0' for='node' attr.name='description' attr.type='string'/>\r\n" +
		"<graph edgedefault='undirected'>\r\n<node id='a&#10;b\tc'>\r\n<data key='d0'>x\r\ny &#13;&#x4E2D; <![CDATA[<raw> & \r\n]]></data>\r\n</node>\r\n</graph>\r\n</graphml>\r\n"
	g, err := parseGraph(context.Background(), strings.NewReader(src), "g")
	require.NoError(t, err)
	require.Contains(t, g.nodes, "a\nb c")
	require.Equal(t, stdjson.RawMessage(`"x\ny \r中 <raw> & \n"`), g.nodes["a\nb c"].props["description"])

	for _, bad := range []string{
		gmlHead + `<graph edgedefault="undirected"><node id="a&bogus;"/></graph></graphml>`,
		gmlHead + `<graph edgedefault="undirected"><node id="a<"/></graph></graphml>`,
		gmlHead + `<graph edgedefault="undirected"><node id="a"></edge></graph></graphml>`,
		gmlHead + `<graph edgedefault="undirected"></graph></graphml><graphml/>`,
		`<?xml version='1.0' encoding='latin-1'?><graphml/>`,
		gmlHead + `<key id="d0" for="node" attr.name="x" attr.type="string"/><graph edgedefault="undirected"><node id="a"><data key="d0">&#1;</data></node></graph></graphml>`,
		gmlHead + "<key id=\"d0\" for=\"node\" attr.name=\"x\" attr.type=\"string\"/><graph edgedefault=\"undirected\"><node id=\"a\"><data key=\"d0\">\xff</data></node></graph></graphml>",
	} {
		_, err := parseGraph(context.Background(), strings.NewReader(bad), "g")
		requireCorrupt(t, err, "g")
		require.Contains(t, err.Error(), "not well-formed XML")
	}
}

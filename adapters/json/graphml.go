package json

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// readGraphFile loads graph_<ns>.graphml as networkx.read_graphml does:
// values are converted by their key's attr.type (string -> JSON string,
// long/int/integer -> integer text, double/float -> float text with a '.' or
// exponent, boolean -> true/false), empty <data> elements are dropped, an
// edge's id attribute becomes its "id" property. Unknown keys survive.
// A missing file is an empty graph.
func readGraphFile(ctx context.Context, path string) (*graphData, error) {
	f, err := openData(path)
	if f == nil {
		if err != nil {
			return nil, err
		}
		return newGraphData(), nil
	}
	defer f.Close()
	name := filepath.Base(path)
	return parseGraph(ctx, bufio.NewReaderSize(f, 256<<10), name)
}

// graphParser holds the state of one streaming parse.
type graphParser struct {
	name  string
	g     *graphData
	keyOf map[string]int // key id -> index in g.keys
	// The element being filled: "node", "edge" or "graph".
	elem       string
	nodeID     string
	src, tgt   string
	edgeID     string
	hasEdgeID  bool
	props      adapters.Props
	order      []string
	ar         arena
	scratch    []byte
	dataKey    string
	inData     bool
	dataText   []byte
	dataHasSub bool
	sawGraph   bool
	pending    []parsedEdge
}

type parsedEdge struct {
	src, tgt string
	props    adapters.Props
	order    []string
}

func parseGraph(ctx context.Context, r io.Reader, name string) (*graphData, error) {
	p := &graphParser{name: name, g: newGraphData(), keyOf: map[string]int{}}
	p.g.header.edgeDefault = ""
	x := lightragfile.NewXMLScanner(r)
	x.SkipBOM()
	var stack []string
	firstChild, leadingSpace, rootDone := true, false, false
	for n := 0; ; n++ {
		if n&8191 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if err := x.Next(); err != nil {
			return nil, xmlError(name, err)
		}
		switch x.Kind {
		case lightragfile.XMLEOF:
			if len(stack) != 0 {
				return nil, lightragfile.CorruptError(name, "not well-formed XML: the file ends inside <"+stack[len(stack)-1]+">")
			}
			if !p.sawGraph {
				return nil, lightragfile.CorruptError(name, "no <graph> element, want a GraphML file written by networkx")
			}
			if p.g.header.edgeDefault == "directed" && !p.lightRAGKeys() {
				return nil, lightragfile.CorruptError(name, `the graph is directed (edgedefault="directed") and has none of LightRAG's attributes `+
					`(entity_id, entity_type, description, source_id, weight, keywords); LightRAG writes undirected graphs`)
			}
			if len(p.g.header.props) == 0 {
				p.g.header.props = nil
			}
			return p.g, nil
		case lightragfile.XMLStart:
			depth := len(stack)
			if p.elem != "" && !p.inData && depth == dataDepth(p.elem) && string(x.Name) == "data" && !x.SelfClose {
				// Hot path: <data key=".."> without building an xml.StartElement.
				if err := p.startData(x); err != nil {
					return nil, err
				}
				stack = append(stack, "data")
				continue
			}
			if depth == 0 && rootDone {
				return nil, lightragfile.CorruptError(name, fmt.Sprintf("not well-formed XML: a second root element <%s> (line %d)", x.Name, x.Line))
			}
			t, err := x.StartElement()
			if err != nil {
				return nil, xmlError(name, err)
			}
			if depth == 1 && firstChild {
				firstChild = false
				p.g.header.pretty = leadingSpace
			}
			stack = append(stack, t.Name.Local)
			if err := p.start(t, depth, stack); err != nil {
				return nil, err
			}
			if x.SelfClose {
				stack = stack[:len(stack)-1]
				if err := p.end(t.Name.Local, len(stack)); err != nil {
					return nil, err
				}
			}
		case lightragfile.XMLEnd:
			if len(stack) == 0 || stack[len(stack)-1] != string(x.Name) {
				return nil, lightragfile.CorruptError(name, fmt.Sprintf("not well-formed XML: unexpected </%s> (line %d)", x.Name, x.Line))
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				rootDone = true
			}
			if err := p.end(string(x.Name), len(stack)); err != nil {
				return nil, err
			}
		case lightragfile.XMLText:
			if len(stack) == 1 && firstChild && bytes.IndexByte(x.Text, '\n') >= 0 {
				leadingSpace = true
			}
			if p.inData && len(stack) > 0 && stack[len(stack)-1] == "data" || p.inData && len(stack) > 0 && stack[len(stack)-1] == "default" {
				var err error
				if x.CDATA {
					p.dataText, err = lightragfile.DecodeCDATA(p.dataText, x.Text)
				} else {
					p.dataText, err = lightragfile.DecodeXML(p.dataText, x.Text, false)
				}
				if err != nil {
					return nil, xmlError(name, err)
				}
			} else if len(stack) == 0 && len(bytes.TrimSpace(x.Text)) > 0 && !x.CDATA {
				return nil, lightragfile.CorruptError(name, fmt.Sprintf("not well-formed XML: text outside the root element (line %d)", x.Line))
			}
		}
	}
}

// xmlError turns a tokenizer error into a corrupt_file error, or keeps an
// I/O error as it is.
func xmlError(name string, err error) error {
	if !errors.Is(err, lightragfile.ErrXMLSyntax) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return lightragfile.CorruptError(name, "not well-formed XML: "+strings.TrimPrefix(err.Error(), lightragfile.ErrXMLSyntax.Error()+": "))
}

func attr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Local == name && (a.Name.Space == "" || name == "xmlns") {
			return a.Value, true
		}
	}
	return "", false
}

func (p *graphParser) start(t xml.StartElement, depth int, stack []string) error {
	name := t.Name.Local
	switch {
	case depth == 0:
		if name != "graphml" {
			return lightragfile.CorruptError(p.name, fmt.Sprintf("root element is <%s>, want <graphml>", name))
		}
	case depth == 1 && name == "key":
		return p.key(t)
	case depth == 2 && name == "default" && stack[1] == "key":
		p.inData, p.dataText = true, p.dataText[:0]
	case depth == 1 && name == "graph":
		if p.sawGraph {
			return lightragfile.CorruptError(p.name, "more than one <graph> element; LightRAG writes one")
		}
		p.sawGraph = true
		ed, _ := attr(t, "edgedefault")
		if ed != "" && ed != "directed" && ed != "undirected" {
			return lightragfile.CorruptError(p.name, fmt.Sprintf("edgedefault is %q, want \"undirected\"", ed))
		}
		if ed == "" {
			ed = "undirected" // networkx's default when the attribute is absent
		}
		p.g.header.edgeDefault = ed
		p.g.header.graphID, _ = attr(t, "id")
		p.g.header.props = adapters.Props{}
		p.elem, p.props = "graph", p.g.header.props
	case depth == 2 && stack[1] == "graph" && name == "node":
		id, ok := attr(t, "id")
		if !ok {
			return lightragfile.CorruptError(p.name, "a <node> has no id attribute")
		}
		p.elem, p.nodeID, p.props = "node", id, adapters.Props{}
	case depth == 2 && stack[1] == "graph" && name == "edge":
		src, ok1 := attr(t, "source")
		tgt, ok2 := attr(t, "target")
		if !ok1 || !ok2 {
			return lightragfile.CorruptError(p.name, "an <edge> lacks its source or target attribute")
		}
		if d, ok := attr(t, "directed"); ok && d == "true" && p.g.header.edgeDefault == "undirected" {
			return lightragfile.CorruptError(p.name, fmt.Sprintf("edge %q-%q is directed=\"true\" in an undirected graph", src, tgt))
		}
		p.elem, p.src, p.tgt, p.props = "edge", src, tgt, adapters.Props{}
		p.edgeID, p.hasEdgeID = attr(t, "id")
	case name == "data" && p.elem != "" && depth == dataDepth(p.elem):
		key, ok := attr(t, "key")
		if !ok {
			return lightragfile.CorruptError(p.name, "a <data> element has no key attribute")
		}
		p.inData, p.dataKey, p.dataText, p.dataHasSub = true, key, p.dataText[:0], false
	case p.inData:
		p.dataHasSub = true // yFiles-style structured data: ignored like networkx does for unknown content
	}
	return nil
}

// startData begins a <data> element read by the hot path.
func (p *graphParser) startData(x *lightragfile.XMLScanner) error {
	var key []byte
	found := false
	err := lightragfile.EachAttr(x.Attrs, func(name, val []byte) error {
		if string(name) != "key" {
			return nil
		}
		found = true
		if bytes.IndexByte(val, '&') < 0 && bytes.IndexAny(val, "\t\r\n") < 0 {
			key = val
			return nil
		}
		var err error
		key, err = lightragfile.DecodeXML(nil, val, true)
		return err
	})
	if err != nil {
		return xmlError(p.name, err)
	}
	if !found {
		return lightragfile.CorruptError(p.name, "a <data> element has no key attribute")
	}
	if p.dataKey != string(key) {
		p.dataKey = string(key)
	}
	p.inData, p.dataText, p.dataHasSub = true, p.dataText[:0], false
	return nil
}

// dataDepth is the nesting depth of the <data> children of elem.
func dataDepth(elem string) int {
	if elem == "graph" {
		return 2
	}
	return 3
}

func (p *graphParser) key(t xml.StartElement) error {
	k := graphKey{}
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "id":
			k.id = a.Value
		case a.Name.Space == "" && a.Name.Local == "for":
			k.forWhat = a.Value
		case a.Name.Space == "" && a.Name.Local == "attr.name":
			k.name = a.Value
		case a.Name.Space == "" && a.Name.Local == "attr.type":
			k.typ = a.Value
		default:
			n := a.Name.Local
			if a.Name.Space != "" {
				n = a.Name.Space + ":" + n
			}
			k.extraAttrs = append(k.extraAttrs, rawAttr{name: n, value: a.Value})
		}
	}
	if k.name == "" {
		return lightragfile.CorruptError(p.name, fmt.Sprintf("<key id=%q> has no attr.name", k.id))
	}
	if k.typ != "" && lightragfile.TypeFamily(k.typ) == "" {
		return lightragfile.CorruptError(p.name, fmt.Sprintf("<key id=%q> has attr.type %q, want string, long, int, double, float or boolean", k.id, k.typ))
	}
	p.keyOf[k.id] = len(p.g.keys)
	p.g.keys = append(p.g.keys, k)
	return nil
}

func (p *graphParser) end(name string, depth int) error {
	switch {
	case name == "default" && depth == 2:
		k := &p.g.keys[len(p.g.keys)-1]
		k.def, k.hasDef = string(p.dataText), true
		p.inData = false
	case name == "data" && p.inData && p.elem != "" && depth == dataDepth(p.elem):
		p.inData = false
		idx, ok := p.keyOf[p.dataKey]
		if !ok {
			return lightragfile.CorruptError(p.name, fmt.Sprintf("<data key=%q> refers to an undeclared key", p.dataKey))
		}
		if p.dataHasSub {
			return nil // networkx drops structured (yfiles) data
		}
		k := p.g.keys[idx]
		// networkx reads an empty <data> as "" whatever the key's type, and
		// writes "" that way, so an empty string survives a round trip.
		if len(p.dataText) == 0 || lightragfile.TypeFamily(k.typ) == "string" {
			// The common case: encode straight into the arena.
			p.scratch = lightragfile.AppendJSONString(p.scratch[:0], p.dataText)
			v := stdjson.RawMessage(p.ar.copy(p.scratch))
			if _, dup := p.props[k.name]; !dup {
				p.order = append(p.order, k.name)
			}
			p.props[k.name] = v
			return nil
		}
		v, err := lightragfile.GraphValue(k.typ, string(p.dataText))
		if err != nil {
			return lightragfile.CorruptError(p.name, fmt.Sprintf("%s: %s value %q is not a %s: %v", p.where(), k.name, truncateStr(string(p.dataText)), k.typ, err))
		}
		if _, dup := p.props[k.name]; !dup {
			p.order = append(p.order, k.name)
		}
		p.props[k.name] = v
	case name == "node" && depth == 2 && p.elem == "node":
		p.g.putNode(p.nodeID, p.props)
		p.g.nodes[p.nodeID].order = p.order
		p.order = nil
		p.elem = "graph"
		p.props = nil
	case name == "edge" && depth == 2 && p.elem == "edge":
		if p.hasEdgeID && p.edgeID != "" {
			p.props["id"] = lightragfile.JSONString(p.edgeID)
		}
		p.addEdge()
		p.order = nil
		p.elem = "graph"
	case name == "graph" && depth == 1:
		p.addEdges()
		p.elem = ""
	}
	if p.elem == "graph" && p.props == nil {
		p.props = p.g.header.props
	}
	return nil
}

// addEdge queues the parsed edge: read_graphml adds every <node> before any
// <edge>, so an endpoint with no <node> element comes after all declared
// nodes, whatever the element order.
func (p *graphParser) addEdge() {
	p.pending = append(p.pending, parsedEdge{src: p.src, tgt: p.tgt, props: p.props, order: p.order})
}

// addEdges adds the queued edges in file order; a repeated pair merges its
// properties (later values win) and keeps its first place, as add_edge
// does on an undirected graph.
func (p *graphParser) addEdges() {
	for _, pe := range p.pending {
		k := canonicalEdge(pe.src, pe.tgt)
		if e, ok := p.g.edges[k]; ok {
			for n, v := range pe.props {
				e.props[n] = v
			}
			continue
		}
		p.g.putEdge(pe.src, pe.tgt, pe.props)
		p.g.edges[k].order = pe.order
	}
	p.pending = nil
}

func (p *graphParser) where() string {
	switch p.elem {
	case "node":
		return fmt.Sprintf("node %q", p.nodeID)
	case "edge":
		return fmt.Sprintf("edge %q-%q", p.src, p.tgt)
	}
	return "graph"
}

// lightRAGKeys reports whether the keys look like LightRAG's graph.
func (p *graphParser) lightRAGKeys() bool {
	for _, k := range p.g.keys {
		switch k.name {
		case "entity_id", "entity_type", "description", "source_id", "weight", "keywords":
			return true
		}
	}
	return false
}

func truncateStr(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ---- writer ----

// valueKind classifies a raw JSON prop value.
func valueKind(v []byte) string {
	if len(v) == 0 {
		return "null"
	}
	switch v[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '[', '{':
		return "json"
	}
	for _, c := range v {
		if c == '.' || c == 'e' || c == 'E' {
			return "float"
		}
	}
	return "int"
}

// graphWriter resolves each (scope, name, kind) to a key once.
type graphWriter struct {
	d       *graphData
	keys    []graphKey // existing keys, then new ones in creation order
	nOld    int
	chosen  map[[3]string]int
	usedIDs map[string]bool
}

func (gw *graphWriter) resolve(scope, name string, v []byte) (int, string) {
	kind := valueKind(v)
	if kind == "null" {
		return -1, ""
	}
	want := map[string]string{"string": "string", "json": "string", "bool": "bool", "int": "int", "float": "float"}[kind]
	if kind == "int" || kind == "float" {
		switch name {
		case "weight":
			want = "float"
		case "created_at":
			if kind == "int" || isIntegral(v) {
				want = "int"
			}
		}
	}
	ck := [3]string{scope, name, kind + "/" + want}
	if i, ok := gw.chosen[ck]; ok {
		return i, want
	}
	pick := -1
	for i, k := range gw.keys {
		if k.name != name || (k.forWhat != scope && k.forWhat != "all" && k.forWhat != "") {
			continue
		}
		if lightragfile.TypeFamily(k.typ) == want {
			pick = i
			break
		}
		if pick < 0 && convertible(kind, v, lightragfile.TypeFamily(k.typ)) {
			pick = i
		}
	}
	if pick < 0 {
		id := ""
		for n := len(gw.keys); ; n++ {
			if id = "d" + strconv.Itoa(n); !gw.usedIDs[id] {
				break
			}
		}
		gw.usedIDs[id] = true
		gw.keys = append(gw.keys, graphKey{id: id, forWhat: scope, name: name,
			typ: map[string]string{"string": "string", "int": "long", "float": "double", "bool": "boolean"}[want]})
		pick = len(gw.keys) - 1
	}
	gw.chosen[ck] = pick
	return pick, lightragfile.TypeFamily(gw.keys[pick].typ)
}

func isIntegral(v []byte) bool {
	f, err := strconv.ParseFloat(string(v), 64)
	return err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53
}

func convertible(kind string, v []byte, fam string) bool {
	switch fam {
	case "string":
		return true
	case "int":
		return kind == "int" || (kind == "float" && isIntegral(v))
	case "float":
		if kind == "string" {
			var s string
			if stdjson.Unmarshal(v, &s) != nil {
				return false
			}
			f, err := strconv.ParseFloat(s, 64)
			return err == nil && (math.IsNaN(f) || math.IsInf(f, 0))
		}
		return kind == "int" || kind == "float"
	case "bool":
		return kind == "bool"
	}
	return false
}

// dataText renders a value as the <data> text for a key of family fam.
func dataText(v []byte, fam string) (string, error) {
	kind := valueKind(v)
	switch fam {
	case "int":
		if kind == "int" {
			return string(v), nil
		}
		f, _ := strconv.ParseFloat(string(v), 64)
		return strconv.FormatInt(int64(f), 10), nil
	case "float":
		if kind == "string" {
			var s string
			_ = stdjson.Unmarshal(v, &s)
			f, _ := strconv.ParseFloat(s, 64)
			return lightragfile.PyFloatRepr(f), nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return string(v), nil // out of range: keep the digits
		}
		return lightragfile.PyFloatRepr(f), nil
	case "bool":
		if string(v) == "true" {
			return "True", nil // Python's str(True), as networkx writes it
		}
		return "False", nil
	}
	switch kind {
	case "string":
		var s string
		if err := stdjson.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case "bool":
		if string(v) == "true" {
			return "True", nil
		}
		return "False", nil
	}
	return string(v), nil
}

type dataItem struct {
	key  int
	text string
	pos  int
}

func (gw *graphWriter) items(scope string, props adapters.Props, order []string) ([]dataItem, error) {
	out := make([]dataItem, 0, len(props))
	pos := make(map[string]int, len(order))
	for i, n := range order {
		pos[n] = i
	}
	// Resolve in a fixed order so new keys get the same ids every time.
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	sort.Slice(names, func(a, b int) bool {
		pa, oka := pos[names[a]]
		pb, okb := pos[names[b]]
		if oka != okb {
			return oka
		}
		if oka && pa != pb {
			return pa < pb
		}
		return names[a] < names[b]
	})
	for _, name := range names {
		v := props[name]
		i, fam := gw.resolve(scope, name, v)
		if i < 0 {
			continue
		}
		t, err := dataText(v, fam)
		if err != nil {
			return nil, fmt.Errorf("property %q: %w", name, err)
		}
		p, ok := pos[name]
		if !ok {
			p = len(order)
		}
		out = append(out, dataItem{key: i, text: t, pos: p})
	}
	// networkx writes data in attribute order: the order read, then the
	// keys' creation order (the reverse of their declaration order).
	sort.Slice(out, func(a, b int) bool {
		if out[a].pos != out[b].pos {
			return out[a].pos < out[b].pos
		}
		return gw.rank(out[a].key) < gw.rank(out[b].key)
	})
	return out, nil
}

func (gw *graphWriter) rank(i int) int {
	if i < gw.nOld {
		return gw.nOld - 1 - i
	}
	return i
}

// writeGraphFile writes GraphML that networkx.read_graphml loads, in the
// file's own layout (lxml's compact one or ElementTree's pretty one). Nodes
// keep their order; edges come in networkx's order for an undirected graph
// (by the earlier endpoint, then by insertion), oriented from the earlier
// endpoint, so an unchanged graph is written as networkx would write it.
func writeGraphFile(w io.Writer, d *graphData) error {
	gw := &graphWriter{d: d, keys: append([]graphKey(nil), d.keys...), nOld: len(d.keys),
		chosen: map[[3]string]int{}, usedIDs: map[string]bool{}}
	for _, k := range d.keys {
		gw.usedIDs[k.id] = true
	}
	nodeIDs := d.nodeOrder()
	edges, err := d.edgeOrder()
	if err != nil {
		return fmt.Errorf("write graph: %w", err)
	}
	// Resolve every key before writing, since keys come first in the file.
	graphItems, err := gw.items("graph", d.header.props, nil)
	if err != nil {
		return fmt.Errorf("write graph: %w", err)
	}
	nodeItems := make([][]dataItem, len(nodeIDs))
	for i, id := range nodeIDs {
		if nodeItems[i], err = gw.items("node", d.nodes[id].props, d.nodes[id].order); err != nil {
			return fmt.Errorf("write graph: node %q: %w", id, err)
		}
	}
	edgeItems := make([][]dataItem, len(edges))
	for i, e := range edges {
		if edgeItems[i], err = gw.items("edge", e.e.props, e.e.order); err != nil {
			return fmt.Errorf("write graph: edge %q-%q: %w", e.src, e.tgt, err)
		}
	}

	bw := bufio.NewWriterSize(w, 256<<10)
	pretty := d.header.pretty
	bw.WriteString("<?xml version='1.0' encoding='utf-8'?>\n")
	bw.WriteString(`<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">`)
	if pretty {
		bw.WriteByte('\n')
	}
	// networkx declares a new key in front of the others.
	order := make([]int, 0, len(gw.keys))
	for i := len(gw.keys) - 1; i >= gw.nOld; i-- {
		order = append(order, i)
	}
	for i := 0; i < gw.nOld; i++ {
		order = append(order, i)
	}
	for _, i := range order {
		writeKey(bw, gw.keys[i], pretty)
	}
	indent := func(n int) {
		if pretty {
			bw.WriteString("    "[:2*n])
		}
	}
	indent(1)
	bw.WriteString(`<graph edgedefault="`)
	ed := d.header.edgeDefault
	if ed == "" {
		ed = "undirected"
	}
	bw.WriteString(ed)
	bw.WriteByte('"')
	if d.header.graphID != "" {
		bw.WriteString(` id="`)
		escapeXML(bw, d.header.graphID, true)
		bw.WriteByte('"')
	}
	if len(graphItems) == 0 && len(nodeIDs) == 0 && len(edges) == 0 {
		if pretty {
			bw.WriteString(" />\n</graphml>\n")
		} else {
			bw.WriteString("></graph></graphml>")
		}
		return bw.Flush()
	}
	bw.WriteByte('>')
	if pretty {
		bw.WriteByte('\n')
	}
	writeData := func(items []dataItem, level int) {
		for _, it := range items {
			if pretty {
				bw.WriteString("      "[:2*level])
			} else {
				bw.WriteString("  ")
			}
			bw.WriteString(`<data key="`)
			escapeXML(bw, gw.keys[it.key].id, true)
			if it.text == "" {
				if pretty {
					bw.WriteString(`" />`)
				} else {
					bw.WriteString(`"/>`)
				}
			} else {
				bw.WriteString(`">`)
				escapeXML(bw, it.text, false)
				bw.WriteString("</data>")
			}
			bw.WriteByte('\n')
		}
	}
	writeData(graphItems, 2)
	element := func(open string, items []dataItem, closeTag string) {
		indent(2)
		bw.WriteString(open)
		if len(items) == 0 {
			if pretty {
				bw.WriteString(" />\n")
			} else {
				bw.WriteString("/>\n")
			}
			return
		}
		bw.WriteString(">\n")
		writeData(items, 3)
		indent(2)
		bw.WriteString(closeTag)
		bw.WriteByte('\n')
	}
	var sb strings.Builder
	for i, id := range nodeIDs {
		sb.Reset()
		sb.WriteString(`<node id="`)
		escapeXMLTo(&sb, id, true)
		sb.WriteByte('"')
		element(sb.String(), nodeItems[i], "</node>")
	}
	for i, e := range edges {
		sb.Reset()
		sb.WriteString(`<edge source="`)
		escapeXMLTo(&sb, e.src, true)
		sb.WriteString(`" target="`)
		escapeXMLTo(&sb, e.tgt, true)
		sb.WriteByte('"')
		element(sb.String(), edgeItems[i], "</edge>")
	}
	if pretty {
		bw.WriteString("  </graph>\n</graphml>\n")
	} else {
		bw.WriteString("</graph></graphml>")
	}
	return bw.Flush()
}

func writeKey(bw *bufio.Writer, k graphKey, pretty bool) {
	if pretty {
		bw.WriteString("  ")
	}
	bw.WriteString(`<key id="`)
	escapeXML(bw, k.id, true)
	bw.WriteByte('"')
	if k.forWhat != "" {
		bw.WriteString(` for="`)
		escapeXML(bw, k.forWhat, true)
		bw.WriteByte('"')
	}
	bw.WriteString(` attr.name="`)
	escapeXML(bw, k.name, true)
	bw.WriteByte('"')
	if k.typ != "" {
		bw.WriteString(` attr.type="`)
		escapeXML(bw, k.typ, true)
		bw.WriteByte('"')
	}
	for _, a := range k.extraAttrs {
		if a.name == "xmlns" || strings.HasPrefix(a.name, "xmlns:") || strings.Contains(a.name, ":") {
			continue // namespaced attributes would need their declarations
		}
		bw.WriteByte(' ')
		bw.WriteString(a.name)
		bw.WriteString(`="`)
		escapeXML(bw, a.value, true)
		bw.WriteByte('"')
	}
	switch {
	case k.hasDef && pretty:
		bw.WriteString(">\n    <default>")
		escapeXML(bw, k.def, false)
		bw.WriteString("</default>\n  </key>\n")
	case k.hasDef:
		bw.WriteString("><default>")
		escapeXML(bw, k.def, false)
		bw.WriteString("</default></key>\n")
	case pretty:
		bw.WriteString(" />\n")
	default:
		bw.WriteString("/>\n")
	}
}

type byteStringWriter interface {
	WriteByte(byte) error
	WriteString(string) (int, error)
}

func escapeXML(w *bufio.Writer, s string, inAttr bool) { escapeXMLTo(w, s, inAttr) }

// escapeXMLTo escapes text or an attribute value. \r (and in attributes \n
// and \t) become character references so they survive XML's newline
// normalisation; characters XML 1.0 cannot carry at all become U+FFFD.
func escapeXMLTo(w byteStringWriter, s string, inAttr bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				w.WriteString("&amp;")
			case c == '<':
				w.WriteString("&lt;")
			case c == '>':
				w.WriteString("&gt;")
			case c == '"' && inAttr:
				w.WriteString("&quot;")
			case c == '\r':
				w.WriteString("&#13;")
			case c == '\n' && inAttr:
				w.WriteString("&#10;")
			case c == '\t' && inAttr:
				w.WriteString("&#9;")
			case c < 0x20 && c != '\n' && c != '\t':
				w.WriteString("\uFFFD")
			default:
				w.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == 0xFFFE || r == 0xFFFF {
			w.WriteString("\uFFFD")
		} else {
			w.WriteString(s[i : i+size])
		}
		i += size
	}
}

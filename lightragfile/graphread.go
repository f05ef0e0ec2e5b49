package lightragfile

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// ReadGraph streams a graph_<ns>.graphml file (NetworkX, undirected) as
// adapters/json's graph loader holds it: values converted by their key's
// attr.type, empty <data> dropped, an edge's id attribute as its "id"
// property, a node declared twice keeping its last properties, endpoints
// that no <node> declares created with no properties, and a pair written
// twice merged into one edge (later values win, first orientation kept).
//
// All nodes come first (declared ones in the order of their last
// declaration, then undeclared endpoints in the order they first appear),
// then all edges (in the order of the last occurrence of their pair);
// Options.Skip counts nodes and edges together. The file is read up to
// three times; memory holds the sets of node ids and edge pairs, plus the
// properties of repeated pairs until their last occurrence.
func ReadGraph(ctx context.Context, f File, opt Options, node func(adapters.Node) error, edge func(adapters.EdgeData) error) error {
	fh, name, err := openFile(f)
	if err != nil {
		return err
	}
	defer fh.Close()
	em := &emitter{opt: opt, file: name}

	// Pass 1: node ids, edge pairs, endpoints.
	declared := map[string]int32{}
	pairs := map[string]int32{}
	seenEnd := map[string]bool{}
	var endpoints []string
	lastNode := int64(-1)
	err = scanGraphStream(ctx, fh, name, graphHandlers{em: &emitter{file: name},
		node: func(id string, _ adapters.Props, _ int64) error {
			declared[id]++
			return nil
		},
		edge: func(src, tgt string, _ adapters.Props) error {
			pairs[pairKey(src, tgt)]++
			for _, id := range [2]string{src, tgt} {
				if !seenEnd[id] {
					seenEnd[id] = true
					endpoints = append(endpoints, id)
				}
			}
			return nil
		},
		nodeStart: func(off int64) { lastNode = off },
	})
	if err != nil {
		return err
	}
	clear(seenEnd)
	undeclared := endpoints[:0]
	for _, id := range endpoints {
		if _, ok := declared[id]; !ok {
			undeclared = append(undeclared, id)
		}
	}
	totalNodes := int64(len(declared) + len(undeclared))

	// Pass 2: nodes.
	if opt.Skip < totalNodes {
		left := map[string]int32{}
		for id, n := range declared {
			if n > 1 {
				left[id] = n
			}
		}
		err = scanGraphStream(ctx, fh, name, graphHandlers{em: em, nodeProblems: true,
			node: func(id string, props adapters.Props, _ int64) error {
				if n, dup := left[id]; dup {
					left[id] = n - 1
					if n > 1 {
						return nil
					}
				}
				if !em.next() {
					return nil
				}
				return node(adapters.Node{ID: id, Props: props})
			},
			stopAt: lastNode,
		})
		if err != nil {
			return err
		}
		for _, id := range undeclared {
			if em.next() {
				if err := node(adapters.Node{ID: id, Props: adapters.Props{}}); err != nil {
					return err
				}
			}
		}
	} else {
		em.n = totalNodes
	}
	clear(declared)

	// Pass 3: edges.
	type pending struct {
		src, tgt string
		props    adapters.Props
	}
	merging := map[string]*pending{}
	return scanGraphStream(ctx, fh, name, graphHandlers{em: em, edgeProblems: true,
		edge: func(src, tgt string, props adapters.Props) error {
			k := pairKey(src, tgt)
			if n := pairs[k]; n > 1 {
				pairs[k] = n - 1
				p := merging[k]
				if p == nil {
					merging[k] = &pending{src: src, tgt: tgt, props: props}
					return nil
				}
				for n, v := range props {
					p.props[n] = v
				}
				return nil
			} else if p := merging[k]; p != nil {
				delete(merging, k)
				for n, v := range props {
					p.props[n] = v
				}
				src, tgt, props = p.src, p.tgt, p.props
			}
			if !em.next() {
				return nil
			}
			return edge(adapters.EdgeData{Src: src, Tgt: tgt, Props: props})
		},
	})
}

// pairKey is the canonical key of an undirected pair (XML text cannot hold
// a NUL, so it separates the ids safely).
func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "\x00" + b
}

// graphHandlers receive a scan's elements; nil handlers skip the work.
type graphHandlers struct {
	em *emitter
	// nodeProblems / edgeProblems select which element problems this scan
	// reports; file-level problems go with edgeProblems.
	nodeProblems, edgeProblems bool
	node                       func(id string, props adapters.Props, off int64) error
	edge                       func(src, tgt string, props adapters.Props) error
	nodeStart                  func(off int64)
	// stopAt (> 0) ends the scan after the node element starting there.
	stopAt int64
}

type gKey struct{ name, typ string }

// graphElem is the <node> or <edge> being read.
type graphElem struct {
	kind       string // "node", "edge", "" (none)
	start      int64
	id         string
	src, tgt   string
	edgeID     string
	hasEdgeID  bool
	props      adapters.Props
	bad        string // why the element is skipped
	inData     bool
	dataKey    string
	dataText   []byte
	dataHasSub bool
}

var graphResync = [][]byte{[]byte("<node"), []byte("<edge"), []byte("</graph")}

// scanGraphStream reads a GraphML file from the start. Elements that do not
// convert are reported and skipped; after an XML syntax error reading
// resumes at the next <node, <edge or </graph. A file that is not a
// networkx GraphML (wrong root, bad key types, a directed non-LightRAG
// graph) is a corrupt_file error.
func scanGraphStream(ctx context.Context, fh *os.File, name string, h graphHandlers) error {
	if _, err := fh.Seek(0, 0); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	x := NewXMLScannerAt(fh, 0)
	x.SkipBOM()
	var (
		keys        = map[string]gKey{}
		lightRAG    bool
		edgeDefault string
		sawGraph    bool
		rootDone    bool
		stack       []string
		el          graphElem
		scratch     []byte
		stopPending bool
		problemFor  = func(kind string) bool { return kind == "node" && h.nodeProblems || kind != "node" && h.edgeProblems }
	)
	report := func(kind string, off int64, rec, why string) {
		if problemFor(kind) {
			h.em.problem(off, rec, why)
		}
	}
	// finishData stores the value of the <data> element just ended (or
	// self-closed).
	finishData := func() {
		el.inData = false
		if el.bad != "" {
			return
		}
		k, ok := keys[el.dataKey]
		if !ok {
			el.bad = fmt.Sprintf("<data key=%q> refers to an undeclared key", el.dataKey)
			return
		}
		if el.dataHasSub {
			return
		}
		var v stdjson.RawMessage
		// networkx reads an empty <data> as "" whatever the key's type.
		if len(el.dataText) == 0 || TypeFamily(k.typ) == "string" {
			v = AppendJSONString(nil, el.dataText)
		} else {
			var err error
			if v, err = GraphValue(k.typ, string(el.dataText)); err != nil {
				el.bad = fmt.Sprintf("%s value %q is not a %s: %v", k.name, truncateStr(string(el.dataText)), k.typ, err)
				return
			}
		}
		el.props[k.name] = v
	}
	finishElem := func() error {
		e := &el
		defer func() { e.kind, e.props, e.bad = "", nil, "" }()
		if e.bad != "" {
			rec := e.id
			if e.kind == "edge" {
				rec = e.src + " - " + e.tgt
			}
			report(e.kind, e.start, rec, e.bad)
			return nil
		}
		switch e.kind {
		case "node":
			if h.node != nil {
				return h.node(e.id, e.props, e.start)
			}
		case "edge":
			if e.hasEdgeID && e.edgeID != "" {
				e.props["id"] = JSONString(e.edgeID)
			}
			if h.edge != nil {
				return h.edge(e.src, e.tgt, e.props)
			}
		}
		return nil
	}
	for n := 0; ; n++ {
		if n&8191 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if stopPending && el.kind == "" {
			return nil
		}
		err := x.Next()
		if err != nil {
			if !errors.Is(err, ErrXMLSyntax) {
				return fmt.Errorf("read %s: %w", name, err)
			}
			if !sawGraph {
				return CorruptError(name, "not well-formed XML: "+strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": "))
			}
			if len(stack) < 2 {
				// After the </graph>: every element was read.
				report("", x.TokenStart, "", "not well-formed XML after the graph: "+strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": "))
				return nil
			}
			from := x.TokenStart
			kind, rec := "", ""
			if el.kind != "" {
				from, kind, rec = el.start, el.kind, el.id
				if kind == "edge" {
					rec = el.src + " - " + el.tgt
				}
			}
			why := "not well-formed XML: " + strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": ")
			s, serr := scannerAt(fh, from+1, name)
			if serr != nil {
				return serr
			}
			if s.seekAny(graphResync...) < 0 {
				report("", from, rec, why+"; nothing readable follows (the file may be cut off)")
				return nil
			}
			report(kind, from, rec, why)
			off := s.Offset()
			if _, err := fh.Seek(off, 0); err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			x = NewXMLScannerAt(fh, off)
			stack = append(stack[:0], "graphml", "graph")
			el = graphElem{dataText: el.dataText}
			continue
		}
		switch x.Kind {
		case XMLEOF:
			if len(stack) != 0 {
				if !sawGraph {
					return CorruptError(name, "not well-formed XML: the file ends inside <"+stack[len(stack)-1]+"> before any <graph>")
				}
				from, rec := x.Offset(), ""
				if el.kind != "" {
					from, rec = el.start, el.id
				}
				report("", from, rec, fmt.Sprintf("the file ends inside <%s> at byte %d (cut off)", stack[len(stack)-1], x.Offset()))
				return nil
			}
			if !sawGraph {
				return CorruptError(name, "no <graph> element, want a GraphML file written by networkx")
			}
			return nil
		case XMLStart:
			depth := len(stack)
			if el.kind != "" && !el.inData && depth == 3 && string(x.Name) == "data" {
				el.inData, el.dataKey, el.dataText, el.dataHasSub = true, "", el.dataText[:0], false
				found := false
				err := EachAttr(x.Attrs, func(an, val []byte) error {
					if string(an) != "key" {
						return nil
					}
					found = true
					v, err := DecodeXML(scratch[:0], val, true)
					scratch = v
					el.dataKey = string(v)
					return err
				})
				if err != nil && el.bad == "" {
					el.bad = "not well-formed XML: " + strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": ")
				}
				if !found && el.bad == "" {
					el.bad = "a <data> element has no key attribute"
				}
				if x.SelfClose {
					finishData()
				} else {
					stack = append(stack, "data")
				}
				continue
			}
			if depth == 0 && rootDone {
				report("", x.TokenStart, "", fmt.Sprintf("a second root element <%s>; the rest of the file is ignored", x.Name))
				return nil
			}
			lname := string(x.Name)
			switch {
			case depth == 0:
				if lname != "graphml" {
					return CorruptError(name, fmt.Sprintf("root element is <%s>, want <graphml>", lname))
				}
			case depth == 1 && lname == "key":
				t, err := x.StartElement()
				if err != nil {
					return CorruptError(name, "not well-formed XML: "+strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": "))
				}
				k, id := gKey{}, ""
				for _, a := range t.Attr {
					if a.Name.Space != "" {
						continue
					}
					switch a.Name.Local {
					case "id":
						id = a.Value
					case "attr.name":
						k.name = a.Value
					case "attr.type":
						k.typ = a.Value
					}
				}
				if k.name == "" {
					return CorruptError(name, fmt.Sprintf("<key id=%q> has no attr.name", id))
				}
				if k.typ != "" && TypeFamily(k.typ) == "" {
					return CorruptError(name, fmt.Sprintf("<key id=%q> has attr.type %q, want string, long, int, double, float or boolean", id, k.typ))
				}
				switch k.name {
				case "entity_id", "entity_type", "description", "source_id", "weight", "keywords":
					lightRAG = true
				}
				keys[id] = k
			case depth == 1 && lname == "graph":
				if sawGraph {
					return CorruptError(name, "more than one <graph> element; LightRAG writes one")
				}
				sawGraph = true
				t, err := x.StartElement()
				if err != nil {
					return CorruptError(name, "not well-formed XML: "+strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": "))
				}
				ed, _ := xmlAttr(t, "edgedefault")
				if ed != "" && ed != "directed" && ed != "undirected" {
					return CorruptError(name, fmt.Sprintf("edgedefault is %q, want \"undirected\"", ed))
				}
				if ed == "" {
					ed = "undirected"
				}
				edgeDefault = ed
				if ed == "directed" && !lightRAG {
					return CorruptError(name, `the graph is directed (edgedefault="directed") and has none of LightRAG's attributes `+
						`(entity_id, entity_type, description, source_id, weight, keywords); LightRAG writes undirected graphs`)
				}
			case depth == 2 && stack[1] == "graph" && (lname == "node" || lname == "edge"):
				el = graphElem{kind: lname, start: x.TokenStart, props: adapters.Props{}, dataText: el.dataText[:0]}
				if lname == "node" && h.nodeStart != nil {
					h.nodeStart(x.TokenStart)
				}
				if h.stopAt > 0 && lname == "node" && x.TokenStart >= h.stopAt {
					stopPending = true
				}
				t, err := x.StartElement()
				if err != nil {
					el.bad = "not well-formed XML: " + strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": ")
					break
				}
				if lname == "node" {
					id, ok := xmlAttr(t, "id")
					if !ok {
						el.bad = "a <node> has no id attribute"
					}
					el.id = id
					break
				}
				src, ok1 := xmlAttr(t, "source")
				tgt, ok2 := xmlAttr(t, "target")
				el.src, el.tgt = src, tgt
				el.edgeID, el.hasEdgeID = xmlAttr(t, "id")
				switch {
				case !ok1 || !ok2:
					el.bad = "an <edge> lacks its source or target attribute"
				case edgeDefault == "undirected":
					if d, ok := xmlAttr(t, "directed"); ok && d == "true" {
						el.bad = fmt.Sprintf("edge %q-%q is directed=\"true\" in an undirected graph", src, tgt)
					}
				}
			case el.inData:
				el.dataHasSub = true
			}
			if x.SelfClose {
				if depth == 2 && el.kind != "" {
					if err := finishElem(); err != nil {
						return err
					}
				}
				continue
			}
			stack = append(stack, lname)
		case XMLEnd:
			if len(stack) == 0 || stack[len(stack)-1] != string(x.Name) {
				// Handled like a syntax error: resynchronise.
				from, kind, rec := x.TokenStart, "", ""
				if el.kind != "" {
					from, kind, rec = el.start, el.kind, el.id
				}
				why := fmt.Sprintf("not well-formed XML: unexpected </%s>", x.Name)
				if len(stack) < 2 {
					if len(stack) == 0 {
						report("", from, rec, why+"; the rest of the file is ignored")
						return nil
					}
					return CorruptError(name, why)
				}
				s, serr := scannerAt(fh, from+1, name)
				if serr != nil {
					return serr
				}
				if s.seekAny(graphResync...) < 0 {
					report(kind, from, rec, why+"; nothing readable follows")
					return nil
				}
				report(kind, from, rec, why)
				off := s.Offset()
				if _, err := fh.Seek(off, 0); err != nil {
					return fmt.Errorf("read %s: %w", name, err)
				}
				x = NewXMLScannerAt(fh, off)
				stack = append(stack[:0], "graphml", "graph")
				el = graphElem{dataText: el.dataText}
				continue
			}
			stack = stack[:len(stack)-1]
			depth := len(stack)
			if depth == 0 {
				rootDone = true
			}
			switch {
			case el.kind != "" && el.inData && depth == 3 && string(x.Name) == "data":
				finishData()
			case depth == 2 && el.kind != "" && string(x.Name) == el.kind:
				if err := finishElem(); err != nil {
					return err
				}
			}
		case XMLText:
			if el.inData && len(stack) > 0 && stack[len(stack)-1] == "data" {
				var err error
				if x.CDATA {
					el.dataText, err = DecodeCDATA(el.dataText, x.Text)
				} else {
					el.dataText, err = DecodeXML(el.dataText, x.Text, false)
				}
				if err != nil && el.bad == "" {
					el.bad = "not well-formed XML: " + strings.TrimPrefix(err.Error(), ErrXMLSyntax.Error()+": ")
				}
			} else if len(stack) == 0 && len(bytes.TrimSpace(x.Text)) > 0 && !x.CDATA {
				report("", x.TokenStart, "", "text outside the root element; ignored")
			}
		}
	}
}

func xmlAttr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

package dataset

import (
	"bufio"
	"strconv"
	"strings"
)

// graphFile writes graph_chunk_entity_relation.graphml in the layout of
// networkx's lxml writer (keys in reverse order, one <data> per line) with
// LightRAG's typed keys. Edges go to a spill because GraphML lists every
// node before the edges.
type graphFile struct {
	*outFile
	edges  spill
	nEdges int
}

const graphHeader = `<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"><key id="d13" for="edge" attr.name="truncate" attr.type="string"/>
<key id="d12" for="edge" attr.name="created_at" attr.type="long"/>
<key id="d11" for="edge" attr.name="file_path" attr.type="string"/>
<key id="d10" for="edge" attr.name="source_id" attr.type="string"/>
<key id="d9" for="edge" attr.name="keywords" attr.type="string"/>
<key id="d8" for="edge" attr.name="description" attr.type="string"/>
<key id="d7" for="edge" attr.name="weight" attr.type="double"/>
<key id="d6" for="node" attr.name="truncate" attr.type="string"/>
<key id="d5" for="node" attr.name="created_at" attr.type="long"/>
<key id="d4" for="node" attr.name="file_path" attr.type="string"/>
<key id="d3" for="node" attr.name="source_id" attr.type="string"/>
<key id="d2" for="node" attr.name="description" attr.type="string"/>
<key id="d1" for="node" attr.name="entity_type" attr.type="string"/>
<key id="d0" for="node" attr.name="entity_id" attr.type="string"/>
<graph edgedefault="undirected">`

func createGraph(dir string, total *int64) (*graphFile, error) {
	o, err := createOut(dir, "graph_chunk_entity_relation.graphml", total)
	if err != nil {
		return nil, err
	}
	e, err := createSpill(dir, "graph-edges", total)
	if err != nil {
		o.close()
		return nil, err
	}
	o.w.WriteString(graphHeader)
	return &graphFile{outFile: o, edges: e}, nil
}

func (g *graphFile) node(e *entity, filePath string) {
	w := g.w
	g.n++
	w.WriteString(`<node id="`)
	xmlEscape(w, e.name, true)
	w.WriteString("\">\n")
	data(w, "d0", e.name)
	data(w, "d1", e.typ)
	data(w, "d2", e.description)
	data(w, "d3", strings.Join(e.chunks, sep))
	data(w, "d4", filePath)
	data(w, "d5", strconv.FormatInt(e.createdAt, 10))
	data(w, "d6", "")
	w.WriteString("</node>\n")
}

func (g *graphFile) edge(r *relation, filePath string) {
	w := g.edges.w
	g.nEdges++
	w.WriteString(`<edge source="`)
	xmlEscape(w, r.src, true)
	w.WriteString(`" target="`)
	xmlEscape(w, r.tgt, true)
	w.WriteString("\">\n")
	data(w, "d7", pyFloat(r.weight))
	data(w, "d8", r.description)
	data(w, "d9", r.keywords)
	data(w, "d10", strings.Join(r.chunks, sep))
	data(w, "d11", filePath)
	data(w, "d12", strconv.FormatInt(r.createdAt, 10))
	data(w, "d13", "")
	w.WriteString("</edge>\n")
}

func (g *graphFile) finish(total *int64) error {
	if err := g.edges.appendTo(g.outFile, total); err != nil {
		return err
	}
	g.w.WriteString("</graph></graphml>")
	return g.close()
}

func (g *graphFile) discard() {
	g.edges.discard()
	_ = g.close()
}

func data(w *bufio.Writer, key, value string) {
	w.WriteString(`  <data key="`)
	w.WriteString(key)
	w.WriteString(`">`)
	xmlEscape(w, value, false)
	w.WriteString("</data>\n")
}

// xmlEscape escapes as lxml does: &, <, > always, quotes in attributes.
func xmlEscape(w *bufio.Writer, s string, attr bool) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			if !attr {
				continue
			}
			rep = "&quot;"
		case '\n':
			if !attr {
				continue
			}
			rep = "&#10;"
		default:
			continue
		}
		w.WriteString(s[start:i])
		w.WriteString(rep)
		start = i + 1
	}
	w.WriteString(s[start:])
}

package json

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// Report is `proxy inspect DIR --json`: what a LightRAG folder holds, counted
// while skimming the files (nothing is loaded into memory).
type Report struct {
	Dir   string       `json:"dir"`
	Files []FileReport `json:"files"`
}

// FileReport describes one LightRAG file; only the fields that apply to its
// kind are set. Workspace is the sub-folder for a non-default workspace.
type FileReport struct {
	File      string           `json:"file"`
	Workspace string           `json:"workspace,omitempty"`
	Kind      adapters.Kind    `json:"kind"`
	Namespace string           `json:"namespace"`
	Bytes     int64            `json:"bytes"`
	Records   *int64           `json:"records,omitempty"`
	Dim       *int             `json:"dim,omitempty"`
	Vectors   *int64           `json:"vectors,omitempty"`
	Nodes     *int64           `json:"nodes,omitempty"`
	Edges     *int64           `json:"edges,omitempty"`
	Statuses  map[string]int64 `json:"statuses,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// Inspect reports on the LightRAG files in dir and in its workspace
// sub-folders (one level, as LightRAG lays them out). A file that cannot be
// read gets its Error set; the others are still reported. Only a dir that
// cannot be listed is an error.
func Inspect(ctx context.Context, dir string) (*Report, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("inspect %s: not a folder", dir)
	}
	rep := &Report{Dir: dir, Files: []FileReport{}}
	if err := inspectFolder(ctx, dir, "", rep); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() || adapters.ValidateName("workspace", e.Name()) != nil {
			continue
		}
		if err := inspectFolder(ctx, filepath.Join(dir, e.Name()), e.Name(), rep); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(rep.Files, func(i, j int) bool {
		a, b := rep.Files[i], rep.Files[j]
		if a.Workspace != b.Workspace {
			return a.Workspace < b.Workspace
		}
		return a.File < b.File
	})
	return rep, nil
}

func inspectFolder(ctx context.Context, dir, workspace string, rep *Report) error {
	files, err := listFolder(dir)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", dir, err)
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		fr := FileReport{File: f.Name, Workspace: workspace, Kind: f.Kind, Namespace: f.Namespace, Bytes: f.Bytes}
		if err := inspectFile(ctx, filepath.Join(dir, f.Name), &fr); err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			fr.Error = err.Error()
			fr.Records, fr.Dim, fr.Vectors, fr.Nodes, fr.Edges, fr.Statuses = nil, nil, nil, nil, nil, nil
		}
		rep.Files = append(rep.Files, fr)
	}
	return nil
}

func inspectFile(ctx context.Context, path string, fr *FileReport) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", fr.File, err)
	}
	defer f.Close()
	switch fr.Kind {
	case adapters.KindKV, adapters.KindDocStatus:
		return inspectKV(ctx, lightragfile.NewScanner(f, fr.File), fr)
	case adapters.KindVector:
		return inspectVector(ctx, lightragfile.NewScanner(f, fr.File), fr)
	case adapters.KindGraph:
		return inspectGraph(ctx, bufio.NewReaderSize(f, 256<<10), fr)
	}
	return nil
}

// inspectKV counts top-level keys (and statuses for doc status) without
// keeping any record.
func inspectKV(ctx context.Context, s *lightragfile.Scanner, fr *FileReport) error {
	s.SkipBOM()
	b, ok := s.PeekKind()
	if !ok {
		if s.ReadErr() != nil {
			return s.Corrupt("")
		}
		return lightragfile.CorruptError(fr.File, "file is empty, want a JSON object of records keyed by id (LightRAG writes {} for an empty store)")
	}
	if b != '{' {
		return lightragfile.CorruptError(fr.File, fmt.Sprintf("top level is %s, want a JSON object of records keyed by id", lightragfile.JSONKindName(b)))
	}
	var n int64
	statuses := map[string]int64{}
	doc := fr.Kind == adapters.KindDocStatus
	var keyBuf, stBuf []byte
	err := s.ObjectMembers(nil, func([]byte) error {
		n++
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !doc {
			_, err := s.CopyValue(nil, false)
			return err
		}
		if b, _ := s.PeekKind(); b != '{' {
			_, err := s.CopyValue(nil, false)
			return err
		}
		return s.ObjectMembers(keyBuf, func(k []byte) error {
			if string(k) == "status" {
				if b, _ := s.PeekKind(); b == '"' {
					s.Advance()
					var err error
					if stBuf, err = s.ReadStringValue(stBuf[:0]); err != nil {
						return err
					}
					statuses[string(stBuf)]++
					return nil
				}
			}
			_, err := s.CopyValue(nil, false)
			return err
		})
	})
	if err != nil {
		return err
	}
	if err := s.ExpectEOF(); err != nil {
		return err
	}
	fr.Records = &n
	if doc {
		for _, st := range adapters.DocStatuses {
			statuses[st] += 0
		}
		fr.Statuses = statuses
	}
	return nil
}

// inspectVector reads embedding_dim and counts the items of data; the matrix
// is skipped byte by byte, never decoded.
func inspectVector(ctx context.Context, s *lightragfile.Scanner, fr *FileReport) error {
	s.SkipBOM()
	b, ok := s.PeekKind()
	if !ok {
		if s.ReadErr() != nil {
			return s.Corrupt("")
		}
		return lightragfile.CorruptError(fr.File, "file is empty, "+lightragfile.VDBWant)
	}
	if b != '{' {
		return lightragfile.CorruptError(fr.File, fmt.Sprintf("top level is %s, %s", lightragfile.JSONKindName(b), lightragfile.VDBWant))
	}
	var (
		items                         int64
		dim                           int
		haveDim, haveData, haveMatrix bool
		matrixChars                   int64
	)
	err := s.ObjectMembers(nil, func(key []byte) error {
		switch string(key) {
		case "embedding_dim":
			raw, err := s.CopyValue(nil, true)
			if err != nil {
				return err
			}
			if dim, err = strconv.Atoi(string(raw)); err != nil || dim < 0 {
				return lightragfile.CorruptError(fr.File, fmt.Sprintf("embedding_dim is %s, want a positive integer", truncateForMsg(raw)))
			}
			haveDim = true
			return nil
		case "data":
			if b, _ := s.PeekKind(); b != '[' {
				return lightragfile.CorruptError(fr.File, fmt.Sprintf("data is %s, want an array of items", lightragfile.JSONKindName(b)))
			}
			haveData = true
			return s.ArrayElems(func(i int) error {
				items++
				if i&1023 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				_, err := s.CopyValue(nil, false)
				return err
			})
		case "matrix":
			if b, _ := s.PeekKind(); b != '"' {
				return lightragfile.CorruptError(fr.File, fmt.Sprintf("matrix is %s, want a base64 string", lightragfile.JSONKindName(b)))
			}
			s.Advance()
			haveMatrix = true
			return s.ReadString(func(p []byte) error {
				matrixChars += int64(len(p))
				return nil
			})
		}
		_, err := s.CopyValue(nil, false)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.ExpectEOF(); err != nil {
		return err
	}
	switch {
	case !haveDim:
		return lightragfile.CorruptError(fr.File, "embedding_dim is missing, "+lightragfile.VDBWant)
	case !haveData:
		return lightragfile.CorruptError(fr.File, "data is missing, "+lightragfile.VDBWant)
	case !haveMatrix:
		return lightragfile.CorruptError(fr.File, "matrix is missing, "+lightragfile.VDBWant)
	}
	// Check the size without decoding: base64 of rows x dim float32s.
	want := items * int64(dim) * 4
	if got := matrixChars / 4 * 3; matrixChars%4 != 0 || got < want || got-want > 2 {
		return lightragfile.CorruptError(fr.File, fmt.Sprintf("matrix holds about %d bytes, want len(data) x embedding_dim x 4 = %d x %d x 4 = %d",
			got, items, dim, want))
	}
	fr.Dim, fr.Vectors, fr.Records = &dim, &items, &items
	return nil
}

// inspectGraph counts the <node> and <edge> elements of the <graph>,
// decoding nothing but the <key> and <graph> attributes.
func inspectGraph(ctx context.Context, r io.Reader, fr *FileReport) error {
	x := lightragfile.NewXMLScanner(r)
	x.SkipBOM()
	var nodes, edges int64
	var stack [][]byte
	sawGraph, directed, lightRAG, rootDone := false, false, false, false
	for n := 0; ; n++ {
		if n&8191 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := x.Next(); err != nil {
			return xmlError(fr.File, err)
		}
		switch x.Kind {
		case lightragfile.XMLEOF:
			if len(stack) != 0 {
				return lightragfile.CorruptError(fr.File, "not well-formed XML: the file ends inside <"+string(stack[len(stack)-1])+">")
			}
			if !sawGraph {
				return lightragfile.CorruptError(fr.File, "no <graph> element, want a GraphML file written by networkx")
			}
			if directed && !lightRAG {
				return lightragfile.CorruptError(fr.File, `the graph is directed (edgedefault="directed") and has none of LightRAG's attributes `+
					`(entity_id, entity_type, description, source_id, weight, keywords); LightRAG writes undirected graphs`)
			}
			fr.Nodes, fr.Edges = &nodes, &edges
			return nil
		case lightragfile.XMLStart:
			depth := len(stack)
			name := string(x.Name)
			switch {
			case depth == 0 && (name != "graphml" || rootDone):
				return lightragfile.CorruptError(fr.File, fmt.Sprintf("root element is <%s>, want one <graphml>", name))
			case depth == 1 && (name == "key" || name == "graph"):
				t, err := x.StartElement()
				if err != nil {
					return xmlError(fr.File, err)
				}
				if name == "graph" {
					if sawGraph {
						return lightragfile.CorruptError(fr.File, "more than one <graph> element; LightRAG writes one")
					}
					sawGraph = true
					ed, _ := attr(t, "edgedefault")
					directed = ed == "directed"
				}
				switch v, _ := attr(t, "attr.name"); v {
				case "entity_id", "entity_type", "description", "source_id", "weight", "keywords":
					lightRAG = true
				}
			case depth == 2 && name == "node":
				nodes++
			case depth == 2 && name == "edge":
				edges++
			}
			if !x.SelfClose {
				stack = append(stack, append([]byte(nil), x.Name...))
			}
		case lightragfile.XMLEnd:
			if len(stack) == 0 || !bytes.Equal(stack[len(stack)-1], x.Name) {
				return lightragfile.CorruptError(fr.File, fmt.Sprintf("not well-formed XML: unexpected </%s> (line %d)", x.Name, x.Line))
			}
			stack = stack[:len(stack)-1]
			rootDone = len(stack) == 0
		}
	}
}

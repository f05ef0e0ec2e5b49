package json

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	stdjson "encoding/json"
	"fmt"
	"github.com/hybridrag/storage-proxy/lightragfile"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"unicode/utf8"
)

// readVectorFile loads vdb_<ns>.json (NanoVectorDB): {"embedding_dim": D,
// "data": [...], "matrix": "<base64 float32 LE>"} plus any other top-level
// keys, which are kept. The matrix is base64-decoded while it streams in, so
// its text is never held whole. A missing file is an empty store of dim 0.
func readVectorFile(ctx context.Context, path string) (*vectorData, error) {
	f, err := openData(path)
	if f == nil {
		if err != nil {
			return nil, err
		}
		return newVectorData(0), nil
	}
	defer f.Close()
	name := filepath.Base(path)
	return scanVector(ctx, lightragfile.NewScanner(f, name), name)
}

func scanVector(ctx context.Context, s *lightragfile.Scanner, name string) (*vectorData, error) {
	s.SkipBOM()
	b, ok := s.PeekKind()
	if !ok {
		if s.ReadErr() != nil {
			return nil, s.Corrupt("")
		}
		return nil, lightragfile.CorruptError(name, "file is empty, "+lightragfile.VDBWant)
	}
	if b != '{' {
		return nil, lightragfile.CorruptError(name, fmt.Sprintf("top level is %s, %s", lightragfile.JSONKindName(b), lightragfile.VDBWant))
	}
	d := newVectorData(0)
	var (
		haveDim, haveData, haveMatrix bool
		ar                            arena
		scratch                       []byte
		keys                          = map[string]string{}
	)
	intern := func(k []byte) string {
		if v, ok := keys[string(k)]; ok {
			return v
		}
		v := string(k)
		keys[v] = v
		return v
	}
	err := s.ObjectMembers(nil, func(key []byte) error {
		switch string(key) {
		case "embedding_dim":
			raw, err := s.CopyValue(nil, true)
			if err != nil {
				return err
			}
			dim, err := strconv.Atoi(string(raw))
			if err != nil || dim < 0 {
				return lightragfile.CorruptError(name, fmt.Sprintf("embedding_dim is %s, want a positive integer", truncateForMsg(raw)))
			}
			d.dim, haveDim = dim, true
		case "data":
			if b, _ := s.PeekKind(); b != '[' {
				return lightragfile.CorruptError(name, fmt.Sprintf("data is %s, want an array of items", lightragfile.JSONKindName(b)))
			}
			d.items, d.ids = d.items[:0], d.ids[:0]
			haveData = true
			return s.ArrayElems(func(i int) error {
				if i&1023 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				item, id, err := scanVectorItem(s, name, i, &ar, &scratch, intern)
				if err != nil {
					return err
				}
				d.items = append(d.items, item)
				d.ids = append(d.ids, id)
				return nil
			})
		case "matrix":
			if b, _ := s.PeekKind(); b != '"' {
				return lightragfile.CorruptError(name, fmt.Sprintf("matrix is %s, want a base64 string", lightragfile.JSONKindName(b)))
			}
			s.Advance()
			want := 0
			if haveData && haveDim {
				want = len(d.items) * d.dim
			}
			m, err := decodeMatrix(s, name, want)
			if err != nil {
				return err
			}
			d.matrix, haveMatrix = m, true
		default:
			raw, err := s.CopyValue(nil, true)
			if err != nil {
				return err
			}
			d.extra = append(d.extra, rawField{key: string(key), val: raw})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.ExpectEOF(); err != nil {
		return nil, err
	}
	switch {
	case !haveDim:
		return nil, lightragfile.CorruptError(name, "embedding_dim is missing, "+lightragfile.VDBWant)
	case !haveData:
		return nil, lightragfile.CorruptError(name, "data is missing, "+lightragfile.VDBWant)
	case !haveMatrix:
		return nil, lightragfile.CorruptError(name, "matrix is missing, "+lightragfile.VDBWant)
	case d.dim == 0 && len(d.items) > 0:
		return nil, lightragfile.CorruptError(name, fmt.Sprintf("embedding_dim is 0 but data has %d items", len(d.items)))
	case len(d.matrix) != len(d.items)*d.dim:
		return nil, lightragfile.CorruptError(name, fmt.Sprintf("matrix holds %d floats, want len(data) x embedding_dim = %d x %d = %d",
			len(d.matrix), len(d.items), d.dim, len(d.items)*d.dim))
	}
	dedupeVectors(d)
	normalizeRows(d.matrix, d.dim)
	return d, nil
}

func truncateForMsg(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// scanVectorItem reads one element of "data".
func scanVectorItem(s *lightragfile.Scanner, name string, i int, ar *arena, scratch *[]byte, intern func([]byte) string) (vectorItem, string, error) {
	var (
		item  vectorItem
		id    string
		hasID bool
	)
	if b, _ := s.PeekKind(); b != '{' {
		return item, "", lightragfile.CorruptError(name, fmt.Sprintf("data[%d] is %s, want an object with __id__", i, lightragfile.JSONKindName(b)))
	}
	err := s.ObjectMembers(nil, func(key []byte) error {
		b, _ := s.PeekKind()
		switch {
		case string(key) == "__id__":
			if b != '"' {
				return lightragfile.CorruptError(name, fmt.Sprintf("data[%d].__id__ is %s, want a string", i, lightragfile.JSONKindName(b)))
			}
			s.Advance()
			v, err := s.ReadStringValue((*scratch)[:0])
			*scratch = v
			if err == nil && !utf8.Valid(v) {
				return lightragfile.CorruptError(name, fmt.Sprintf("data[%d].__id__ %q is not valid UTF-8", i, v))
			}
			id, hasID = string(v), true
			return err
		case string(key) == "__created_at__" && (b == '-' || b >= '0' && b <= '9'):
			v, err := s.CopyValue((*scratch)[:0], true)
			*scratch = v
			item.createdAt = stdjson.Number(v)
			return err
		case string(key) == "vector" && b == '"':
			s.Advance()
			v, err := s.ReadStringValue((*scratch)[:0])
			*scratch = v
			item.vector16 = string(v)
			return err
		}
		v, err := s.CopyValue((*scratch)[:0], true)
		*scratch = v
		if err != nil {
			return err
		}
		item.fields = append(item.fields, rawField{key: intern(key), val: ar.copy(v)})
		return nil
	})
	if err != nil {
		return item, "", err
	}
	if !hasID {
		return item, "", lightragfile.CorruptError(name, fmt.Sprintf("data[%d] has no __id__", i))
	}
	return item, id, nil
}

// decodeMatrix streams the matrix string (opening quote consumed) through a
// base64 decoder into float32s.
func decodeMatrix(s *lightragfile.Scanner, name string, want int) ([]float32, error) {
	m := make([]float32, 0, want)
	var (
		carry   [4]byte // base64 characters not yet forming a quantum
		ncarry  int
		fcarry  [4]byte // decoded bytes not yet forming a float32
		nfcarry int
		padded  bool
		bad     bool
		out     = make([]byte, 48<<10)
	)
	appendBytes := func(b []byte) {
		if nfcarry > 0 {
			for len(b) > 0 && nfcarry < 4 {
				fcarry[nfcarry] = b[0]
				nfcarry++
				b = b[1:]
			}
			if nfcarry < 4 {
				return
			}
			m = append(m, math.Float32frombits(binary.LittleEndian.Uint32(fcarry[:])))
			nfcarry = 0
		}
		n := len(b) / 4
		for k := 0; k < n; k++ {
			m = append(m, math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:])))
		}
		nfcarry = copy(fcarry[:], b[4*n:])
	}
	decode := func(src []byte) {
		if bad || len(src) == 0 {
			return
		}
		if padded {
			bad = true
			return
		}
		n, err := base64.StdEncoding.Decode(out, src)
		if err != nil {
			bad = true
			return
		}
		if n < len(src)/4*3 {
			padded = true
		}
		appendBytes(out[:n])
	}
	err := s.ReadString(func(p []byte) error {
		if ncarry > 0 {
			for len(p) > 0 && ncarry < 4 {
				carry[ncarry] = p[0]
				ncarry++
				p = p[1:]
			}
			if ncarry < 4 {
				return nil
			}
			decode(carry[:])
			ncarry = 0
		}
		for len(p) >= 4 {
			n := min(len(p)/4*4, len(out)/3*4)
			decode(p[:n])
			p = p[n:]
		}
		ncarry = copy(carry[:], p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ncarry > 0 || nfcarry > 0 || bad {
		return nil, lightragfile.CorruptError(name, "matrix is not base64 of little-endian float32 values")
	}
	return m, nil
}

// dedupeVectors builds the id index. An id written twice keeps the first
// position and the last item and row (Python dict semantics).
func dedupeVectors(d *vectorData) {
	d.index = make(map[string]int, len(d.ids))
	dups := false
	for i, id := range d.ids {
		if j, ok := d.index[id]; ok {
			dups = true
			d.items[j] = d.items[i]
			copy(d.matrix[j*d.dim:(j+1)*d.dim], d.matrix[i*d.dim:(i+1)*d.dim])
			d.ids[i] = "" // marked for removal below
			continue
		}
		d.index[id] = i
	}
	if !dups {
		return
	}
	// Compact, keeping the first positions; only reached for broken files.
	seen := make(map[string]bool, len(d.index))
	w := 0
	for i, id := range d.ids {
		if _, ok := d.index[id]; !ok || seen[id] || d.index[id] != i {
			continue
		}
		seen[id] = true
		d.ids[w], d.items[w] = id, d.items[i]
		copy(d.matrix[w*d.dim:(w+1)*d.dim], d.matrix[i*d.dim:(i+1)*d.dim])
		d.index[id] = w
		w++
	}
	d.ids, d.items, d.matrix = d.ids[:w], d.items[:w], d.matrix[:w*d.dim]
}

// normalizeRows L2-normalises rows that are not unit length already, as
// NanoVectorDB does on load. Rows already normalised are left bit-exact so
// an unchanged row is written back unchanged.
func normalizeRows(m []float32, dim int) {
	if dim == 0 {
		return
	}
	for r := 0; r+dim <= len(m); r += dim {
		row := m[r : r+dim]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		if ss == 0 || math.Abs(ss-1) < 1e-5 {
			continue
		}
		inv := 1 / math.Sqrt(ss)
		for k := range row {
			row[k] = float32(float64(row[k]) * inv)
		}
	}
}

// writeVectorFile writes NanoVectorDB's compact one-line layout:
// {"embedding_dim": D, "data": [...], "matrix": "..."} with ", " and ": "
// separators, items as __id__, __created_at__, meta fields, vector, and
// any other top-level keys after the matrix.
func writeVectorFile(w io.Writer, d *vectorData) error {
	if len(d.matrix) != len(d.items)*d.dim || len(d.ids) != len(d.items) {
		return fmt.Errorf("write vectors: %d ids, %d items and %d floats do not match dimension %d",
			len(d.ids), len(d.items), len(d.matrix), d.dim)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	p := lightragfile.NewPyWriter(bw, 0)
	bw.WriteString(`{"embedding_dim": `)
	bw.WriteString(strconv.Itoa(d.dim))
	bw.WriteString(`, "data": [`)
	for i, it := range d.items {
		if i > 0 {
			bw.WriteString(", ")
		}
		bw.WriteString(`{"__id__": `)
		lightragfile.WritePyString(bw, []byte(d.ids[i]))
		if it.createdAt != "" {
			bw.WriteString(`, "__created_at__": `)
			bw.WriteString(string(it.createdAt))
		}
		for _, f := range it.fields {
			bw.WriteString(", ")
			lightragfile.WritePyString(bw, []byte(f.key))
			bw.WriteString(": ")
			if err := p.Value(f.val, 0); err != nil {
				return fmt.Errorf("write vector %q field %q: %w", d.ids[i], f.key, err)
			}
		}
		if it.vector16 != "" {
			bw.WriteString(`, "vector": `)
			lightragfile.WritePyString(bw, []byte(it.vector16))
		}
		bw.WriteByte('}')
	}
	bw.WriteString(`], "matrix": "`)
	enc := base64.NewEncoder(base64.StdEncoding, bw)
	var buf [4096]byte
	for i := 0; i < len(d.matrix); {
		n := 0
		for ; n+4 <= len(buf) && i < len(d.matrix); i++ {
			binary.LittleEndian.PutUint32(buf[n:], math.Float32bits(d.matrix[i]))
			n += 4
		}
		if _, err := enc.Write(buf[:n]); err != nil {
			return fmt.Errorf("write vectors: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write vectors: %w", err)
	}
	bw.WriteByte('"')
	for _, f := range d.extra {
		bw.WriteString(", ")
		lightragfile.WritePyString(bw, []byte(f.key))
		bw.WriteString(": ")
		if err := p.Value(f.val, 0); err != nil {
			return fmt.Errorf("write vectors field %q: %w", f.key, err)
		}
	}
	bw.WriteByte('}')
	return bw.Flush()
}

package lightragfile

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/hybridrag/storage-proxy/adapters"
)

// VDBWant describes a vdb file, for error messages.
const VDBWant = "want an object with embedding_dim, data and matrix"

// ReadVectors streams the items of a vdb_<ns>.json file (NanoVectorDB)
// exactly as adapters/json serves them after loading it: an id written
// twice keeps its last item and row; the vector is the item's own
// un-normalised "vector" (LightRAG >= 1.4.7) when it decodes, else its
// matrix row L2-normalised as NanoVectorDB does on load. Records come in
// the order of the last occurrence of their id. dim is embedding_dim.
//
// The file is read twice (ids and the matrix offset first) and the matrix
// is decoded row by row from a second handle while the items stream, so
// memory holds the set of ids and one row, whatever the order of the keys.
func ReadVectors(ctx context.Context, f File, opt Options, fn func(adapters.VectorRecord) error) (dim int, err error) {
	fh, name, err := openFile(f)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	em := &emitter{opt: opt, file: name}

	// Pass 1: ids, dimension, where the matrix is and how long.
	counts := map[string]int32{}
	info, err := scanVDBStream(ctx, fh, name, &emitter{file: name}, true, func(_ int, _ int64, it *vecItem) error {
		counts[it.id]++
		return nil
	}, nil)
	if err != nil {
		return 0, err
	}
	if err := info.check(name); err != nil {
		return 0, err
	}
	dim = info.dim
	left := map[string]int32{}
	for k, n := range counts {
		if n > 1 {
			left[k] = n
		}
	}
	clear(counts)
	counts = nil

	// Pass 2: items, with their rows from a second handle.
	var rows *rowReader
	if info.haveMatrix {
		fh2, err := os.Open(f.Path)
		if err != nil {
			return dim, fmt.Errorf("open %s: %w", f.Path, err)
		}
		defer fh2.Close()
		s2, err := scannerAt(fh2, info.matrixOff, name)
		if err != nil {
			return dim, err
		}
		rows = newRowReader(s2, dim)
	}
	lost := 0
	cutNote := func() string {
		if lost == 0 {
			return ""
		}
		return fmt.Sprintf("; %d items before the cut have no matrix row (and no per-item vector) and are lost", lost)
	}
	var rowBuf []float32
	_, err = scanVDBStream(ctx, fh, name, em, false, func(i int, off int64, it *vecItem) error {
		if n, dup := left[it.id]; dup {
			left[it.id] = n - 1
			if n > 1 {
				return nil
			}
		}
		var vec []float32
		if it.vector16 != "" {
			if v, err := DecodeVector16(it.vector16, dim); err == nil {
				vec = v
			}
		}
		if vec == nil {
			if rows == nil || dim == 0 {
				lost++
				return nil
			}
			var ok bool
			rowBuf, ok = rows.row(i, rowBuf)
			if !ok {
				if !errors.Is(rows.err, io.ErrUnexpectedEOF) && !rows.reported {
					rows.reported = true
					em.problem(off, it.id, fmt.Sprintf("matrix row %d and the ones after it do not decode (%v); items without a per-item vector are skipped", i, rows.err))
				} else if rows.reported {
					em.problem(off, it.id, "no matrix row")
				}
				lost++
				return nil
			}
			vec = append([]float32(nil), rowBuf...)
		}
		if !em.next() {
			return nil
		}
		at, raw := CreatedAt(it.createdAt)
		return fn(adapters.VectorRecord{ID: it.id, Fields: it.encodeFields(), CreatedAt: at, CreatedAtRaw: raw, Vector: vec})
	}, cutNote)
	return dim, err
}

// vecItem is one element of "data", parsed; its buffers are reused.
type vecItem struct {
	id        string
	createdAt []byte // number text, nil when absent
	fields    []byte // "key":value pairs joined by ',' (no braces)
	nfields   int
	vector16  string
	scratch   []byte
}

func (it *vecItem) encodeFields() adapters.Record {
	out := make([]byte, 0, len(it.fields)+2)
	out = append(out, '{')
	out = append(out, it.fields...)
	return append(out, '}')
}

// CreatedAt reads NanoVectorDB's __created_at__ as written (nil when
// absent): the whole seconds, and the exact value when whole seconds cannot
// say it (see adapters.VectorRecord.CreatedAtRaw).
func CreatedAt(text []byte) (int64, stdjson.RawMessage) {
	if text == nil {
		return 0, stdjson.RawMessage("null")
	}
	if n, err := strconv.ParseInt(string(text), 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(string(text), 64); err == nil {
		return int64(f), append(stdjson.RawMessage(nil), text...)
	}
	return 0, nil
}

// vdbInfo is what a scan learnt about the file's layout.
type vdbInfo struct {
	dim                           int
	haveDim, haveData, haveMatrix bool
	items                         int // raw items, including skipped ones
	matrixOff                     int64
	matrixChars                   int64
	matrixPad                     int
	cut                           bool // the file ends early (or cannot be read on)
}

// check applies adapters/json's consistency checks to an uncut file.
func (in *vdbInfo) check(name string) error {
	if in.cut {
		return nil
	}
	switch {
	case !in.haveDim:
		return CorruptError(name, "embedding_dim is missing, "+VDBWant)
	case !in.haveData:
		return CorruptError(name, "data is missing, "+VDBWant)
	case !in.haveMatrix:
		return CorruptError(name, "matrix is missing, "+VDBWant)
	case in.dim == 0 && in.items > 0:
		return CorruptError(name, fmt.Sprintf("embedding_dim is 0 but data has %d items", in.items))
	}
	bytes := in.matrixChars/4*3 - int64(in.matrixPad)
	if in.matrixChars%4 != 0 || bytes%4 != 0 || bytes/4 != int64(in.items)*int64(in.dim) {
		return CorruptError(name, fmt.Sprintf("matrix holds about %d floats, want len(data) x embedding_dim = %d x %d = %d",
			bytes/4, in.items, in.dim, in.items*in.dim))
	}
	return nil
}

// errCutReported ends a scan whose early end was reported already.
var errCutReported = errors.New("cut reported")

var (
	patItem   = []byte(`{"__id__"`)
	patMatrix = []byte(`"matrix"`)
)

// scanVDBStream reads a vdb file from the start, calling item with each
// well-formed element of "data" (i is its index in the array, counting
// skipped ones, so row i of the matrix is its row). A malformed item is
// reported and skipped; reading resumes at the next {"__id__" (NanoVectorDB
// writes __id__ first) or at the "matrix" key. With countMatrix the matrix
// string is measured (info.matrixChars); else it is only skipped.
func scanVDBStream(ctx context.Context, fh *os.File, name string, em *emitter, countMatrix bool,
	item func(i int, off int64, it *vecItem) error, cutNote func() string) (vdbInfo, error) {
	var info vdbInfo
	s, err := scannerAt(fh, 0, name)
	if err != nil {
		return info, err
	}
	note := func() string {
		if cutNote == nil {
			return ""
		}
		return cutNote()
	}
	cut := func(off int64, what string) (vdbInfo, error) {
		if s.rerr != nil {
			return info, s.Corrupt("")
		}
		info.cut = true
		em.problem(off, "", fmt.Sprintf("the file ends %s at byte %d (cut off)%s", what, s.Offset(), note()))
		return info, nil
	}
	s.SkipBOM()
	b, ok := s.PeekKind()
	if !ok {
		if s.rerr != nil {
			return info, s.Corrupt("")
		}
		return info, CorruptError(name, "file is empty, "+VDBWant)
	}
	if b != '{' {
		return info, CorruptError(name, fmt.Sprintf("top level is %s, %s", JSONKindName(b), VDBWant))
	}
	s.pos++
	var (
		key      []byte
		it       vecItem
		needSep  bool
		dataDone bool
	)
	for {
		c, ok := s.skipWS()
		if !ok {
			return cut(s.Offset(), "before the closing '}'")
		}
		if c == '}' {
			s.pos++
			if b, ok := s.skipWS(); ok {
				em.problem(s.Offset(), "", fmt.Sprintf("unexpected %s after the closing '}'; the rest of the file is ignored", describeByte(b)))
			} else if s.rerr != nil {
				return info, s.Corrupt("")
			}
			return info, nil
		}
		memberStart := s.Offset()
		if needSep {
			if c != ',' {
				em.problem(memberStart, "", fmt.Sprintf("found %s between top-level keys, want ',' or '}'; the rest of the file is skipped", describeByte(c)))
				info.cut = true
				return info, nil
			}
			s.pos++
			if c, ok = s.skipWS(); !ok {
				return cut(s.Offset(), "after a ','")
			}
		}
		needSep = true
		if c != '"' {
			em.problem(s.Offset(), "", fmt.Sprintf("found %s, want a top-level key; the rest of the file is skipped", describeByte(c)))
			info.cut = true
			return info, nil
		}
		s.pos++
		if key, err = s.ReadStringValue(key[:0]); err == nil {
			err = s.Expect(':', "':' after a key")
		}
		if err != nil {
			if s.AtEOF() {
				return cut(memberStart, "inside a top-level key")
			}
			if s.rerr != nil {
				return info, s.Corrupt("")
			}
			em.problem(memberStart, "", reason(err, name)+"; the rest of the file is skipped")
			info.cut = true
			return info, nil
		}
		switch string(key) {
		case "embedding_dim":
			raw, err := s.CopyValue(nil, true)
			if err != nil {
				if s.AtEOF() {
					return cut(memberStart, "inside embedding_dim")
				}
				return info, err
			}
			dim, err := strconv.Atoi(string(raw))
			if err != nil || dim < 0 {
				return info, CorruptError(name, fmt.Sprintf("embedding_dim is %s, want a positive integer", truncateForMsg(raw)))
			}
			info.dim, info.haveDim = dim, true
		case "data":
			if b, _ := s.PeekKind(); b != '[' {
				if !s.fill() {
					return cut(memberStart, "before data")
				}
				return info, CorruptError(name, fmt.Sprintf("data is %s, want an array of items", JSONKindName(b)))
			}
			if dataDone {
				return info, CorruptError(name, "data appears twice")
			}
			dataDone, info.haveData = true, true
			s.pos++
			n, resyncedAtMatrix, stop, err := scanVecItems(ctx, &s, fh, name, em, &it, item)
			info.items = n
			if err == errCutReported {
				info.cut = true
				return info, nil
			}
			if err != nil {
				return info, err
			}
			if stop != "" {
				return cut(s.Offset(), stop)
			}
			if resyncedAtMatrix {
				needSep = false // at the "matrix" key: the ']' and ',' were lost
			}
		case "matrix":
			if b, _ := s.PeekKind(); b != '"' {
				if !s.fill() {
					return cut(memberStart, "before the matrix")
				}
				return info, CorruptError(name, fmt.Sprintf("matrix is %s, want a base64 string", JSONKindName(b)))
			}
			s.pos++
			info.haveMatrix, info.matrixOff = true, s.Offset()
			var (
				emit func([]byte) error
				last [2]byte
			)
			if countMatrix {
				info.matrixChars = 0
				emit = func(p []byte) error {
					info.matrixChars += int64(len(p))
					for _, c := range p[max(0, len(p)-2):] {
						last[0], last[1] = last[1], c
					}
					return nil
				}
			}
			if err := s.ReadString(emit); err != nil {
				if s.AtEOF() {
					return cut(memberStart, "inside the matrix")
				}
				return info, err
			}
			info.matrixPad = 0
			if info.matrixChars >= 1 && last[1] == '=' {
				info.matrixPad++
				if info.matrixChars >= 2 && last[0] == '=' {
					info.matrixPad++
				}
			}
		default:
			if _, err := s.CopyValue(nil, false); err != nil {
				if s.AtEOF() {
					return cut(memberStart, fmt.Sprintf("inside the value of %q", key))
				}
				return info, err
			}
		}
	}
}

// scanVecItems reads the elements of "data" (its '[' consumed). It returns
// the number of elements (skipped ones included); atMatrix when it
// resynchronised at the "matrix" key; stop (not "") when the file ends
// early, describing where. *sp may be replaced by a scanner further on.
func scanVecItems(ctx context.Context, sp **Scanner, fh *os.File, name string, em *emitter, it *vecItem,
	item func(i int, off int64, it *vecItem) error) (n int, atMatrix bool, stop string, err error) {
	s := *sp
	defer func() { *sp = s }()
	first := true
	for i := 0; ; {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return i, false, "", err
			}
		}
		c, ok := s.skipWS()
		if !ok {
			if s.rerr != nil {
				return i, false, "", s.Corrupt("")
			}
			return i, false, "inside data", nil
		}
		if c == ']' {
			s.pos++
			return i, false, "", nil
		}
		itemStart := s.Offset()
		err := func() error {
			if !first {
				if c != ',' {
					return s.Corrupt("found %s inside data, want ',' or ']'", describeByte(c))
				}
				s.pos++
				if _, ok := s.skipWS(); !ok {
					return s.Corrupt("unexpected end of file inside data")
				}
				itemStart = s.Offset()
			}
			return scanVecItem(s, name, i, it)
		}()
		first = false
		if err == nil {
			i++
			if err := item(i-1, itemStart, it); err != nil {
				return i, false, "", err
			}
			continue
		}
		if s.rerr != nil {
			return i, false, "", s.Corrupt("")
		}
		if s.AtEOF() {
			return i, false, fmt.Sprintf("inside data[%d]", i), nil
		}
		em.problem(itemStart, it.id, reason(err, name))
		i++
		if s, err = scannerAt(fh, itemStart+1, name); err != nil {
			return i, false, "", err
		}
		switch s.seekAny(patItem, patMatrix) {
		case 0:
			first = true
		case 1:
			return i, true, "", nil
		default:
			if s.rerr != nil {
				return i, false, "", s.Corrupt("")
			}
			return i, false, "", errCutReported
		}
	}
}

func truncateForMsg(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// scanVecItem reads one element of "data" into it, as adapters/json's
// scanVectorItem does.
func scanVecItem(s *Scanner, name string, i int, it *vecItem) error {
	it.id, it.createdAt, it.fields, it.nfields, it.vector16 = "", it.createdAt[:0], it.fields[:0], 0, ""
	hasCreated := false
	if b, _ := s.PeekKind(); b != '{' {
		return CorruptError(name, fmt.Sprintf("data[%d] is %s, want an object with __id__ (at byte %d)", i, JSONKindName(b), s.Offset()))
	}
	hasID := false
	err := s.ObjectMembers(nil, func(key []byte) error {
		b, _ := s.PeekKind()
		switch {
		case string(key) == "__id__":
			if b != '"' {
				return CorruptError(name, fmt.Sprintf("data[%d].__id__ is %s, want a string", i, JSONKindName(b)))
			}
			s.pos++
			v, err := s.ReadStringValue(it.scratch[:0])
			it.scratch = v
			if err != nil {
				return err
			}
			if !utf8.Valid(v) {
				return CorruptError(name, fmt.Sprintf("data[%d].__id__ %q is not valid UTF-8", i, v))
			}
			it.id, hasID = string(v), true
			return nil
		case string(key) == "__created_at__" && (b == '-' || b >= '0' && b <= '9'):
			v, err := s.CopyValue(it.createdAt[:0], true)
			it.createdAt, hasCreated = v, true
			return err
		case string(key) == "vector" && b == '"':
			s.pos++
			v, err := s.ReadStringValue(it.scratch[:0])
			it.scratch = v
			it.vector16 = string(v)
			return err
		}
		if it.nfields > 0 {
			it.fields = append(it.fields, ',')
		}
		it.nfields++
		it.fields = append(it.fields, adapters.MarshalString(string(key))...)
		it.fields = append(it.fields, ':')
		var err error
		it.fields, err = s.CopyValue(it.fields, true)
		return err
	})
	if !hasCreated {
		it.createdAt = it.createdAt[:0]
	}
	if err != nil {
		return err
	}
	if !hasID {
		return CorruptError(name, fmt.Sprintf("data[%d] has no __id__", i))
	}
	if !hasCreated {
		it.createdAt = nil
	}
	return nil
}

// rowReader decodes the matrix (base64 of little-endian float32, from the
// byte after its opening quote) one row at a time.
type rowReader struct {
	dec      io.Reader
	dim      int
	next     int // index of the next row in the stream
	raw      []byte
	err      error
	reported bool
}

func newRowReader(s *Scanner, dim int) *rowReader {
	return &rowReader{dec: base64.NewDecoder(base64.StdEncoding, &jsonStringReader{s: s}), dim: dim, raw: make([]byte, 4*dim)}
}

// row returns row i (i must not decrease between calls), L2-normalised as
// adapters/json's normalizeRows does, in dst; false when it cannot be read
// (r.err says why).
func (r *rowReader) row(i int, dst []float32) ([]float32, bool) {
	if r.err != nil || r.dim == 0 {
		return dst, false
	}
	for ; r.next <= i; r.next++ {
		if _, err := io.ReadFull(r.dec, r.raw); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.err = err
			return dst, false
		}
	}
	dst = dst[:0]
	for k := 0; k < r.dim; k++ {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(r.raw[4*k:])))
	}
	NormalizeRow(dst)
	return dst, true
}

// NormalizeRow L2-normalises a row that is not unit length already, as
// NanoVectorDB does on load; a row already normalised (or all zero) is
// left bit-exact.
func NormalizeRow(row []float32) {
	var ss float64
	for _, v := range row {
		ss += float64(v) * float64(v)
	}
	if ss == 0 || math.Abs(ss-1) < 1e-5 {
		return
	}
	inv := 1 / math.Sqrt(ss)
	for k := range row {
		row[k] = float32(float64(row[k]) * inv)
	}
}

// jsonStringReader reads the decoded content of a JSON string whose
// opening quote was consumed; io.EOF at the closing quote,
// io.ErrUnexpectedEOF when the input ends first.
type jsonStringReader struct {
	s    *Scanner
	done bool
	esc  []byte
}

func (r *jsonStringReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	s := r.s
	n := 0
	for n < len(p) {
		if len(r.esc) > 0 {
			k := copy(p[n:], r.esc)
			r.esc = r.esc[k:]
			n += k
			continue
		}
		if !s.fill() {
			if s.rerr != nil {
				return n, s.rerr
			}
			if n > 0 {
				return n, nil
			}
			return 0, io.ErrUnexpectedEOF
		}
		start, i := s.pos, s.pos
		for i < s.end && i-start < len(p)-n && !strSpecial[s.buf[i]] {
			i++
		}
		n += copy(p[n:], s.buf[start:i])
		s.pos = i
		if i == s.end || n == len(p) {
			continue
		}
		switch c := s.buf[i]; c {
		case '"':
			s.pos++
			r.done = true
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		case '\\':
			s.pos++
			e, err := s.readEscape(nil)
			if err != nil {
				return n, err
			}
			r.esc = e
		default:
			return n, fmt.Errorf("control character 0x%02x inside the matrix", c)
		}
	}
	return n, nil
}

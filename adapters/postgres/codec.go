package postgres

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hybridrag/storage-proxy/adapters"
)

// The codec splits a JSON record between a table's fixed columns (what
// LightRAG reads) and an extra document (what makes the round trip
// lossless; kept in the side table for LightRAG's tables, extras.go, and in
// a JSONB column of our own):
//
//	{"order": [top-level keys in record order],
//	 "fields": {key: value}   keys no column holds, when JSONB keeps them exactly,
//	 "raw": {key: "json text"} values a column or JSONB would change: a float in
//	                           an INTEGER column, a number in exponent form
//	                           (JSONB turns 1e+16 into an int), a string with
//	                           NUL, a VARCHAR overflow, an ISO date not in
//	                           LightRAG's form, ...}
//
// Decoding walks "order" and takes raw, then fields, then the column. A row
// written by LightRAG itself has no extra and decodes from its columns.
// In a JSONB column (and in documents the version-2 upgrade moved), key
// order inside nested objects is JSONB's (length, then bytes); the side
// table keeps the text as written. The values are kept exactly.
type extraDoc struct {
	Order  []string                   `json:"order"`
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
	Raw    map[string]string          `json:"raw,omitempty"`
}

// encoded is a record split for one row.
type encoded struct {
	vals  []any  // one per table column, in t.cols order
	extra []byte // the extra column's JSON; nil when the columns say it all
}

// encode splits rec (a JSON object) for table t.
func (t table) encode(id string, rec adapters.Record) (encoded, error) {
	out := encoded{vals: make([]any, len(t.cols))}
	var err error
	out.extra, err = t.encodeTo(new(encoder), id, rec, out.vals)
	return out, err
}

// encoder holds one goroutine's buffers for encoding records. Its scratch
// slices are reused from record to record; what it hands out (unescaped
// strings, extra documents, rows) is carved from blocks it never writes
// again, so the rows of a batch stay valid while more are encoded.
type encoder struct {
	buf        []byte // the current block for bytes handed out
	slots      []any  // the current block for rows handed out
	keys, vals [][]byte
	fields     []int // keys going to the extra's "fields"
	raws       []int // keys going to its "raw"
	// The last epoch timestamp boxed (records share their times).
	epoch    int64
	epochVal any
}

const encodeBlock = 64 << 10

// reserve makes room for n more bytes in the current block.
func (e *encoder) reserve(n int) {
	if cap(e.buf)-len(e.buf) < n {
		e.buf = make([]byte, 0, max(encodeBlock, n))
	}
}

// done hands out e.buf[start:] and closes it to appends.
func (e *encoder) done(start int) []byte {
	return e.buf[start:len(e.buf):len(e.buf)]
}

// row hands out n zeroed slots.
func (e *encoder) row(n int) []any {
	if len(e.slots) < n {
		e.slots = make([]any, max(encodeBlock/16, n))
	}
	r := e.slots[:n:n]
	e.slots = e.slots[n:]
	return r
}

// encodeTo splits rec (a JSON object) for table t: the column values into
// vals (len(t.cols) of them, in t.cols order), and returns the extra
// column's JSON, nil when the record is its columns exactly (every key a
// column, in column order, none null or changed): decode rebuilds such a
// record from the columns alone, as it does LightRAG's rows.
func (t table) encodeTo(e *encoder, id string, rec []byte, vals []any) ([]byte, error) {
	keys, raws, ok := scanObject(rec, e.keys, e.vals)
	if !ok {
		ks, vs, err := splitObjectSlow(rec)
		if err != nil {
			return nil, fmt.Errorf("%w: record %q: %w", adapters.ErrInvalid, id, err)
		}
		keys, raws = keys[:0], raws[:0]
		for i := range ks {
			keys, raws = append(keys, []byte(ks[i])), append(raws, vs[i])
		}
	}
	e.keys, e.vals = keys, raws
	clear(vals)
	e.fields, e.raws = e.fields[:0], e.raws[:0]
	needExtra, last := false, -1
	for i, k := range keys {
		v := raws[i]
		ci := t.column(k)
		if ci < 0 {
			needExtra = true
			if jsonbStable(v) {
				e.fields = append(e.fields, i)
			} else {
				e.raws = append(e.raws, i)
			}
			continue
		}
		val, exact := e.value(t.cols[ci], v)
		vals[ci] = val
		if !exact {
			e.raws = append(e.raws, i)
		}
		if !exact || val == nil || ci < last {
			needExtra = true
		}
		last = ci
	}
	if !needExtra {
		return nil, nil
	}
	return e.extra(keys, raws), nil
}

// column is the index of the column holding key, -1 if none.
func (t table) column(key []byte) int {
	for i := range t.cols {
		if t.cols[i].key == string(key) {
			return i
		}
	}
	return -1
}

// extra writes the extra document (see extraDoc) of keys: the order, and
// the fields and raw values encodeTo picked.
func (e *encoder) extra(keys, vals [][]byte) []byte {
	n := 32
	for i := range keys {
		n += 2*len(keys[i]) + 8
	}
	for _, i := range e.fields {
		n += len(vals[i])
	}
	for _, i := range e.raws {
		n += 2*len(vals[i]) + 4
	}
	e.reserve(n)
	start := len(e.buf)
	b := append(e.buf, `{"order":[`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONText(b, k)
	}
	b = append(b, ']')
	for j, i := range e.fields {
		if j == 0 {
			b = append(b, `,"fields":{`...)
		} else {
			b = append(b, ',')
		}
		b = append(appendJSONText(b, keys[i]), ':')
		b = append(b, vals[i]...)
		if j == len(e.fields)-1 {
			b = append(b, '}')
		}
	}
	for j, i := range e.raws {
		if j == 0 {
			b = append(b, `,"raw":{`...)
		} else {
			b = append(b, ',')
		}
		b = append(appendJSONText(b, keys[i]), ':')
		b = appendJSONText(b, vals[i])
		if j == len(e.raws)-1 {
			b = append(b, '}')
		}
	}
	e.buf = append(b, '}')
	return e.done(start)
}

// encodeValue converts one JSON value to its column's Go value. exact is false
// when decoding the column would not give the same JSON value back.
func encodeValue(c column, v json.RawMessage) (val any, exact bool) {
	return new(encoder).value(c, v)
}

// value is encodeValue. Text goes to COPY as []byte: the record's own bytes
// when the string has no escapes.
func (e *encoder) value(c column, v []byte) (val any, exact bool) {
	if isJSONNull(v) {
		return nil, true
	}
	switch c.kind {
	case kText:
		s, ok := e.text(v)
		if !ok || bytes.IndexByte(s, 0) >= 0 {
			return nil, false
		}
		if c.maxLen > 0 && len(s) > c.maxLen && utf8.RuneCount(s) > c.maxLen {
			return truncateRunes(s, c.maxLen), false
		}
		return s, true
	case kInt:
		// -0 reads back as 0: not exact.
		if n, ok := parseDigits(v); ok && n >= math.MinInt32 && n <= math.MaxInt32 && (n != 0 || v[0] != '-') {
			return int32(n), true
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < math.MaxInt32 {
			return int32(f), false
		}
		return nil, false
	case kJSONB:
		if !jsonbStorable(v) {
			return nil, false
		}
		return []byte(v), jsonbStable(v)
	case kEpoch:
		if n, ok := parseDigits(v); ok && n > -62135596800 && n < 253402300800 && (n != 0 || v[0] != '-') {
			if e.epochVal == nil || e.epoch != n {
				e.epoch, e.epochVal = n, time.Unix(n, 0).UTC()
			}
			return e.epochVal, true
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil && f > -6e10 && f < 2.5e11 {
			return time.Unix(int64(math.Round(f)), 0).UTC(), false
		}
		return nil, false
	case kISO:
		s, ok := e.text(v)
		if !ok {
			return nil, false
		}
		ts, err := parseISO(string(s))
		if err != nil {
			return nil, false
		}
		return ts, formatISO(ts) == string(s)
	case kSep:
		s, ok := e.text(v)
		if !ok || bytes.IndexByte(s, 0) >= 0 {
			return nil, false
		}
		parts := strings.Split(string(s), adapters.GraphFieldSep)
		for _, p := range parts {
			if utf8.RuneCountInString(p) > c.maxLen {
				return nil, false
			}
		}
		return parts, true
	}
	return nil, false
}

// text is the text of a JSON string (ok false if v is not one): v's own
// bytes when it has no escapes, else unescaped into e's block. It is never
// nil, so an empty string is not NULL.
func (e *encoder) text(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	body := v[1 : len(v)-1 : len(v)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return body, true
	}
	e.reserve(len(body))
	start := len(e.buf)
	if b, ok := appendUnescaped(e.buf, body); ok {
		e.buf = b
		return e.done(start), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return nil, false
	}
	return append([]byte{}, s...), true
}

// selectExpr is how a column is read: JSONB as text, timestamps in epoch
// seconds, <SEP> arrays joined back.
func selectExpr(c column) string {
	col := quoteIdent(c.name)
	switch c.kind {
	case kJSONB:
		return col + "::text"
	case kEpoch:
		return "EXTRACT(EPOCH FROM " + col + ")::bigint"
	case kInt:
		return col + "::bigint"
	case kSep:
		return "array_to_string(" + col + ", '" + adapters.GraphFieldSep + "')"
	}
	return col
}

type recordBuilder struct {
	buf bytes.Buffer
	n   int
}

func (b *recordBuilder) add(k string, v json.RawMessage) {
	if b.n == 0 {
		b.buf.WriteByte('{')
	} else {
		b.buf.WriteByte(',')
	}
	b.n++
	b.buf.Write(adapters.MarshalString(k))
	b.buf.WriteByte(':')
	b.buf.Write(v)
}

func (b *recordBuilder) done() adapters.Record {
	if b.n == 0 {
		return adapters.Record("{}")
	}
	b.buf.WriteByte('}')
	return append(adapters.Record(nil), b.buf.Bytes()...)
}

// splitObject returns a JSON object's keys and raw values in order. Duplicate
// keys keep the last value at the first position (Python's json.loads).
func splitObject(data []byte) ([]string, []json.RawMessage, error) {
	if keys, vals, ok := splitObjectFast(data); ok {
		return keys, vals, nil
	}
	return splitObjectSlow(data)
}

func splitObjectSlow(data []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("want a JSON object")
	}
	var keys []string
	var vals []json.RawMessage
	pos := map[string]int{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("field %q: %w", k, err)
		}
		v = compactJSON(v)
		if i, ok := pos[k]; ok {
			vals[i] = v
			continue
		}
		pos[k] = len(keys)
		keys = append(keys, k)
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("trailing data after the object")
	}
	return keys, vals, nil
}

func compactJSON(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

func isJSONNull(v json.RawMessage) bool {
	if len(v) <= 4 || (skipWS(v, 0) == 0 && skipWS(v[len(v)-1:], 0) == 0) {
		return string(v) == "null"
	}
	return string(bytes.TrimSpace(v)) == "null"
}

// truncateRunes is s's first n characters.
func truncateRunes(s []byte, n int) []byte {
	j := 0
	for range n {
		if j >= len(s) {
			break
		}
		_, size := utf8.DecodeRune(s[j:])
		j += size
	}
	return s[:j:j]
}

// jsonbStorable: PostgreSQL's JSONB cannot hold \u0000 in a string.
func jsonbStorable(v json.RawMessage) bool {
	return !bytes.Contains(v, []byte(`\u0000`))
}

// jsonbStable reports whether JSONB gives the value back equal: same strings,
// same numbers with the same int/float form, no duplicate keys lost. It is
// false for numbers in exponent form (JSONB prints 1e+16 as an int), negative
// zero, strings JSONB rejects, and duplicate object keys.
func jsonbStable(v json.RawMessage) bool {
	if stable, ok := jsonbStableFast(v); ok {
		return stable
	}
	return jsonbStableSlow(v)
}

func jsonbStableSlow(v json.RawMessage) bool {
	if !jsonbStorable(v) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var stack []*jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return errors.Is(err, io.EOF) && len(stack) == 0
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				markValue(stack)
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return false
			}
			top.keys[k] = true
			top.expKey = false
			continue
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &jsonFrame{obj: true, keys: map[string]bool{}, expKey: true})
				continue
			case '[':
				stack = append(stack, &jsonFrame{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			s := string(t)
			if strings.ContainsAny(s, "eE") || (strings.HasPrefix(s, "-") && strings.Trim(s, "-0.") == "") {
				return false
			}
		}
		markValue(stack)
	}
}

// markValue records that a value ended inside the innermost container.
func markValue(stack []*jsonFrame) {
	if len(stack) > 0 && stack[len(stack)-1].obj {
		stack[len(stack)-1].expKey = true
	}
}

type jsonFrame struct {
	obj    bool
	keys   map[string]bool
	expKey bool
}

// LightRAG's ISO form: datetime.isoformat() of a UTC datetime.
func formatISO(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000") + "+00:00"
	}
	return t.Format("2006-01-02T15:04:05") + "+00:00"
}

// parseISO accepts what Python's datetime.fromisoformat does for LightRAG's
// timestamps; a value without an offset is taken as UTC (LightRAG's PG code
// does the same). The result is naive UTC for a TIMESTAMP column.
func parseISO(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return t.Truncate(time.Microsecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO-8601 time: %q", s)
}

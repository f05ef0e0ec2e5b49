package postgres

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Reading a record is one pass: each column's raw wire bytes (pgx's
// RawValues) and the extra document go straight into the record's JSON,
// compact, in the order the record was written; for a KV get the same pass
// applies adapters.KVView ("_id", create_time, update_time), so neither the
// view nor the response writer parses the record again.

// binaryFormat is pgx's binary wire format (0 is text).
const binaryFormat = 1

// pgEpoch is PostgreSQL's timestamp origin (binary timestamps count
// microseconds from it).
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// rowVals is one row of a table as selectList selects it: the column values
// (nil for NULL) with their wire formats, and the extra document (nil when
// the columns are the record).
type rowVals struct {
	cols    [][]byte
	formats []int16
	extra   []byte
	// scratch, when set, is reused to parse the extra document (a read of
	// many rows allocates once).
	scratch *extraView
}

// extraView is a parsed extra document: the key order, and the values the
// document itself holds (raw values still JSON-string encoded).
type extraView struct {
	order      [][]byte
	fieldKeys  [][]byte
	fieldVals  [][]byte
	rawKeys    [][]byte
	rawVals    [][]byte
	compactOK  bool // the field values are compact already
	rawEscaped bool // rawVals are JSON strings (fast path) rather than JSON text
	// top and topVals are the fast path's scratch for the document's keys.
	top, topVals [][]byte
}

// parseExtra parses an extra document: in one pass when it is compact and
// its keys plain (what encodeTo writes), else through encoding/json (a
// document that went through JSONB, e.g. one the schema migration moved).
func parseExtra(doc []byte, scratch *extraView) (extraView, error) {
	var x extraView
	if scratch == nil {
		scratch = new(extraView)
	}
	if ok := parseExtraFast(doc, scratch); ok {
		return *scratch, nil
	}
	var d extraDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return x, err
	}
	for _, k := range d.Order {
		x.order = append(x.order, []byte(k))
	}
	for k, v := range d.Fields {
		x.fieldKeys, x.fieldVals = append(x.fieldKeys, []byte(k)), append(x.fieldVals, v)
	}
	for k, v := range d.Raw {
		x.rawKeys, x.rawVals = append(x.rawKeys, []byte(k)), append(x.rawVals, []byte(v))
	}
	return x, nil
}

// parseExtraFast parses a compact document into x, reusing its slices.
func parseExtraFast(doc []byte, x *extraView) bool {
	x.compactOK, x.rawEscaped = true, true
	x.order, x.fieldKeys, x.fieldVals, x.rawKeys, x.rawVals = x.order[:0], x.fieldKeys[:0], x.fieldVals[:0], x.rawKeys[:0], x.rawVals[:0]
	keys, vals, ok := scanObject(doc, x.top, x.topVals)
	x.top, x.topVals = keys, vals
	if !ok {
		return false
	}
	for i, k := range keys {
		switch string(k) {
		case "order":
			if x.order, ok = plainStrings(vals[i], x.order); !ok {
				return false
			}
		case "fields":
			if x.fieldKeys, x.fieldVals, ok = scanObject(vals[i], x.fieldKeys, x.fieldVals); !ok {
				return false
			}
		case "raw":
			if x.rawKeys, x.rawVals, ok = scanObject(vals[i], x.rawKeys, x.rawVals); !ok {
				return false
			}
		}
	}
	return true
}

// plainStrings appends the strings of a compact JSON array of strings
// without escapes to out[:0] (ok false otherwise).
func plainStrings(v []byte, out [][]byte) ([][]byte, bool) {
	out = out[:0]
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return out, false
	}
	for i := 1; i < len(v)-1; {
		if v[i] != '"' {
			return nil, false
		}
		end, esc, ok := scanString(v, i)
		if !ok || esc {
			return nil, false
		}
		out = append(out, v[i+1:end-1])
		i = end
		if i < len(v)-1 {
			if v[i] != ',' {
				return nil, false
			}
			i++
		}
	}
	return out, true
}

func lookup(keys, vals [][]byte, k []byte) ([]byte, bool) {
	for i := range keys {
		if bytes.Equal(keys[i], k) {
			return vals[i], true
		}
	}
	return nil, false
}

// viewKeys are the keys adapters.KVView adds when missing, in its order.
var viewKeys = [3]string{"_id", "create_time", "update_time"}

// appendRecord appends the record of row r of table t to dst, as it was
// written (see codec.go). With view set it is adapters.KVView(id, record):
// "_id" is the id, and "_id", create_time and update_time (0) are added at
// the end when missing.
func (t table) appendRecord(dst []byte, id string, r rowVals, view bool) ([]byte, error) {
	var seen [3]bool
	n := 0
	key := func(k []byte) {
		if n == 0 {
			dst = append(dst, '{')
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = appendJSONText(dst, k)
		dst = append(dst, ':')
		if view {
			for i, vk := range viewKeys {
				if string(k) == vk {
					seen[i] = true
				}
			}
		}
	}
	var err error
	if r.extra == nil {
		// A row LightRAG wrote: every non-NULL column, in column order.
		for i := range t.cols {
			if r.cols[i] == nil {
				continue
			}
			key([]byte(t.cols[i].key))
			if dst, err = appendColumn(dst, t.cols[i], r.cols[i], r.formats[i]); err != nil {
				return nil, err
			}
		}
	} else {
		x, err := parseExtra(r.extra, r.scratch)
		if err != nil {
			return nil, fmt.Errorf("%w: the extra document of %s row %q: %w", adapters.ErrCorrupt, t.name, id, err)
		}
		for _, k := range x.order {
			v, compact := []byte(nil), false
			if rv, ok := lookup(x.rawKeys, x.rawVals, k); ok {
				if v, err = rawText(rv, x.rawEscaped); err != nil {
					return nil, fmt.Errorf("%w: the extra document of %s row %q: raw value of %q: %w", adapters.ErrCorrupt, t.name, id, k, err)
				}
			} else if fv, ok := lookup(x.fieldKeys, x.fieldVals, k); ok {
				v, compact = fv, x.compactOK
			} else if ci := t.column(k); ci >= 0 {
				key(k)
				if r.cols[ci] == nil {
					dst = append(dst, "null"...)
				} else if dst, err = appendColumn(dst, t.cols[ci], r.cols[ci], r.formats[ci]); err != nil {
					return nil, err
				}
				continue
			} else {
				continue
			}
			key(k)
			switch {
			case view && string(k) == "_id" && !isJSONString(v, id):
				// JsonKVStorage overwrites a stored "_id" with the key.
				dst = appendJSONText(dst, []byte(id))
			case compact:
				dst = append(dst, v...)
			default:
				dst = appendCompact(dst, v)
			}
		}
	}
	if view {
		if !seen[0] {
			key([]byte("_id"))
			dst = appendJSONText(dst, []byte(id))
		}
		for i := 1; i < 3; i++ {
			if !seen[i] {
				key([]byte(viewKeys[i]))
				dst = append(dst, '0')
			}
		}
	}
	if n == 0 {
		return append(dst, "{}"...), nil
	}
	return append(dst, '}'), nil
}

// rawText is the JSON text a raw value of the extra document holds (a JSON
// string when escaped), checked to be JSON.
func rawText(v []byte, escaped bool) ([]byte, error) {
	if escaped {
		s, ok := appendUnescaped(nil, v[1:len(v)-1])
		if !ok {
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				return nil, err
			}
			s = []byte(str)
		}
		v = s
	}
	if !json.Valid(v) {
		return nil, fmt.Errorf("not JSON")
	}
	return v, nil
}

// isJSONString reports whether v is the JSON string s.
func isJSONString(v []byte, s string) bool {
	if len(v) == len(s)+2 && v[0] == '"' && string(v[1:len(v)-1]) == s && bytes.IndexByte(v[1:len(v)-1], '\\') < 0 {
		return true
	}
	var got string
	return json.Unmarshal(v, &got) == nil && got == s
}

// appendColumn appends one column's JSON value from its wire bytes, as
// selectExpr selects it: text (TEXT, VARCHAR, JSONB::text, joined arrays),
// bigint (INTEGER and epoch seconds) or timestamp.
func appendColumn(dst []byte, c column, v []byte, format int16) ([]byte, error) {
	switch c.kind {
	case kText, kSep:
		return appendJSONText(dst, v), nil
	case kJSONB:
		return appendCompact(dst, v), nil
	case kInt, kEpoch:
		if format == binaryFormat {
			if len(v) != 8 {
				return nil, fmt.Errorf("%w: column %s: %d bytes for a bigint", adapters.ErrCorrupt, c.name, len(v))
			}
			return strconv.AppendInt(dst, int64(binary.BigEndian.Uint64(v)), 10), nil
		}
		if _, ok := parseDigits(v); !ok {
			return nil, fmt.Errorf("%w: column %s: %q is not an integer", adapters.ErrCorrupt, c.name, v)
		}
		return append(dst, v...), nil
	case kISO:
		ts, err := wireTimestamp(v, format)
		if err != nil {
			return nil, fmt.Errorf("%w: column %s: %w", adapters.ErrCorrupt, c.name, err)
		}
		dst = append(dst, '"')
		dst = append(dst, formatISO(ts)...)
		return append(dst, '"'), nil
	}
	return nil, fmt.Errorf("column %s: unknown kind %d", c.name, c.kind)
}

// wireTimestamp decodes a TIMESTAMP value; infinity reads as the zero time,
// as pgtype.Timestamp leaves it.
func wireTimestamp(v []byte, format int16) (time.Time, error) {
	if format == binaryFormat {
		if len(v) != 8 {
			return time.Time{}, fmt.Errorf("%d bytes for a timestamp", len(v))
		}
		us := int64(binary.BigEndian.Uint64(v))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return time.Time{}, nil
		}
		return pgEpoch.Add(time.Duration(us%1e6) * time.Microsecond).Add(time.Duration(us/1e6) * time.Second), nil
	}
	s := string(v)
	if s == "infinity" || s == "-infinity" {
		return time.Time{}, nil
	}
	return time.Parse("2006-01-02 15:04:05.999999999", s)
}

// appendCompact is adapters.AppendCompact.
func appendCompact(dst, v []byte) []byte { return adapters.AppendCompact(dst, v) }

// appendJSONText is adapters.AppendJSONBytes.
func appendJSONText(dst, s []byte) []byte { return adapters.AppendJSONBytes(dst, s) }

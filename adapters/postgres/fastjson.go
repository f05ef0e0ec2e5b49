package postgres

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// Fast paths of the codec for the common shape of records (compact JSON,
// plain keys), which a bulk load encodes by the million. Each returns ok =
// false whenever its answer could differ from the general code's, which then
// decides.

// splitObjectFast is splitObject for a valid object whose keys have no
// escapes and whose values have no whitespace outside strings (nothing to
// compact), without duplicate keys. Values are sub-slices of data.
func splitObjectFast(data []byte) (keys []string, vals []json.RawMessage, ok bool) {
	k, v, ok := scanObject(data, nil, nil)
	if !ok || len(k) == 0 {
		return nil, nil, ok
	}
	keys, vals = make([]string, len(k)), make([]json.RawMessage, len(v))
	for i := range k {
		keys[i], vals[i] = string(k[i]), v[i]
	}
	return keys, vals, true
}

// scanObject checks and splits a JSON object in one pass, appending its
// keys and values (sub-slices of data) to keys[:0] and vals[:0]. ok is
// false, and the general code decides, unless data is a valid object (its
// strings valid UTF-8) whose keys have no escapes, without duplicate keys,
// and whose values have no whitespace outside strings.
func scanObject(data []byte, keys, vals [][]byte) ([][]byte, [][]byte, bool) {
	keys, vals = keys[:0], vals[:0]
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return keys, vals, false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return keys, vals, skipWS(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return keys, vals, false
		}
		end, esc, ok := scanString(data, i)
		if !ok || esc {
			return keys, vals, false
		}
		key := data[i+1 : end-1]
		for _, k := range keys {
			if string(k) == string(key) {
				return keys, vals, false // a duplicate key: the general code decides
			}
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return keys, vals, false
		}
		start := skipWS(data, i+1)
		stop, ok := scanValue(data, start, 0)
		if !ok {
			return keys, vals, false
		}
		keys, vals = append(keys, key), append(vals, data[start:stop])
		i = skipWS(data, stop)
		if i >= len(data) {
			return keys, vals, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return keys, vals, skipWS(data, i+1) == len(data)
		default:
			return keys, vals, false
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// plain marks the bytes a JSON string holds as they are: printable ASCII
// but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the JSON string at data[i] (a quote): end is past its
// closing quote, esc tells whether it has escapes. ok is false for an
// invalid string (a control character, a bad escape, invalid UTF-8).
func scanString(data []byte, i int) (end int, esc, ok bool) {
	ascii := true
	j := i + 1
	for {
		for j < len(data) && plain[data[j]] {
			j++
		}
		if j >= len(data) {
			return 0, false, false
		}
		switch c := data[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(data[i+1:j]) {
				return 0, false, false
			}
			return j + 1, esc, true
		case c == '\\':
			esc = true
			if j+1 >= len(data) {
				return 0, false, false
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if _, ok := hex4(data[j+2:]); !ok {
					return 0, false, false
				}
				j += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default: // >= 0x80, checked at the end
			ascii = false
			j++
		}
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// maxScanDepth bounds scanValue's nesting; deeper values go to the general
// code.
const maxScanDepth = 64

// scanValue checks the JSON value at data[i] and returns its end; ok is
// false for an invalid value and for one with whitespace outside strings.
func scanValue(data []byte, i, depth int) (int, bool) {
	if i >= len(data) || depth > maxScanDepth {
		return 0, false
	}
	switch c := data[i]; {
	case c == '"':
		end, _, ok := scanString(data, i)
		return end, ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i++
		if i < len(data) && data[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return 0, false
				}
				end, _, ok := scanString(data, i)
				if !ok || end >= len(data) || data[end] != ':' {
					return 0, false
				}
				i = end + 1
			}
			end, ok := scanValue(data, i, depth+1)
			if !ok || end >= len(data) {
				return 0, false
			}
			switch data[end] {
			case ',':
				i = end + 1
			case closer:
				return end + 1, true
			default:
				return 0, false
			}
		}
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(data, i)
	}
	return 0, false
}

func literal(data []byte, i int, lit string) (int, bool) {
	if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return 0, false
}

// scanNumber checks JSON's number grammar; the caller checks what follows.
func scanNumber(data []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		return j
	}
	if data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return 0, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// appendUnescaped appends the text of a JSON string's body (between the
// quotes) to dst; ok is false (the general decoder decides) for invalid
// UTF-8, a lone surrogate or a bad escape.
func appendUnescaped(dst, s []byte) ([]byte, bool) {
	if !utf8.Valid(s) {
		return dst, false
	}
	for i := 0; i < len(s); {
		j := bytes.IndexByte(s[i:], '\\')
		if j < 0 {
			return append(dst, s[i:]...), true
		}
		dst = append(dst, s[i:i+j]...)
		i += j
		if i+1 >= len(s) {
			return dst, false
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				return dst, false
			}
			if utf16.IsSurrogate(r) {
				if i+12 > len(s) || s[i+6] != '\\' || s[i+7] != 'u' {
					return dst, false
				}
				r2, ok := hex4(s[i+8:])
				if r = utf16.DecodeRune(r, r2); !ok || r == utf8.RuneError {
					return dst, false
				}
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 4
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// parseDigits parses an optionally negative decimal integer of at most 18
// digits, as strconv.ParseInt does; it fails on anything else (a JSON
// integer of more digits is out of the columns' range anyway).
func parseDigits(v []byte) (int64, bool) {
	i := 0
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		i = 1
	}
	if i == len(v) || len(v)-i > 18 {
		return 0, false
	}
	var n int64
	for ; i < len(v); i++ {
		c := v[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonbStableFast is jsonbStable for compact values: a string is stable
// unless it holds \u0000, a number unless in exponent form or negative zero,
// an array or object when all it holds is and no object has a key twice
// (objects whose keys have escapes go to the general code).
func jsonbStableFast(v json.RawMessage) (stable, ok bool) {
	end, stable, ok := stableScan(v, 0, 0)
	return stable, ok && (!stable || end == len(v))
}

// stableScan is jsonbStableFast for the value at v[i]; end is its end when
// stable. ok is false when the general code must decide.
func stableScan(v []byte, i, depth int) (end int, stable, ok bool) {
	if i >= len(v) || depth > maxScanDepth {
		return 0, false, false
	}
	switch c := v[i]; {
	case c == '"':
		end, esc, ok := scanString(v, i)
		if !ok {
			return 0, false, false
		}
		return end, !esc || jsonbStorable(v[i:end]), true
	case c == 't' || c == 'f' || c == 'n':
		end, ok := scanValue(v, i, depth)
		return end, ok, ok
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := scanNumber(v, i)
		if !ok {
			return 0, false, false
		}
		return end, numberStable(v[i:end]), true
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i++
		if i < len(v) && v[i] == closer {
			return i + 1, true, true
		}
		var keyBuf [8][]byte
		keys := keyBuf[:0]
		for {
			if c == '{' {
				if i >= len(v) || v[i] != '"' {
					return 0, false, false
				}
				kend, esc, ok := scanString(v, i)
				if !ok || esc || len(keys) == 64 || kend >= len(v) || v[kend] != ':' {
					return 0, false, false
				}
				key := v[i+1 : kend-1]
				for _, k := range keys {
					if string(k) == string(key) {
						return 0, false, true // a key JSONB would keep once
					}
				}
				keys = append(keys, key)
				i = kend + 1
			}
			end, stable, ok := stableScan(v, i, depth+1)
			if !ok || !stable {
				return 0, false, ok
			}
			if end >= len(v) {
				return 0, false, false
			}
			switch v[end] {
			case ',':
				i = end + 1
			case closer:
				return end + 1, true, true
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}

// numberStable: JSONB gives a number back with the same text unless it is
// in exponent form or a negative zero.
func numberStable(v []byte) bool {
	if bytes.ContainsAny(v, "eE") {
		return false
	}
	return !(v[0] == '-' && len(bytes.Trim(v, "-0.")) == 0)
}

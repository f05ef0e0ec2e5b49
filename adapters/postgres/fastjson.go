package postgres

import (
	"bytes"
	"encoding/json"
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
	if !json.Valid(data) || !utf8.Valid(data) {
		return nil, nil, false
	}
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, nil, false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, nil, skipWS(data, i+1) == len(data)
	}
	keys = make([]string, 0, 16)
	vals = make([]json.RawMessage, 0, 16)
	for i < len(data) {
		if data[i] != '"' {
			return nil, nil, false
		}
		end := i + 1
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' {
				return nil, nil, false
			}
			end++
		}
		key := string(data[i+1 : end])
		for _, k := range keys {
			if k == key {
				return nil, nil, false // a duplicate key: the general code decides
			}
		}
		i = skipWS(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return nil, nil, false
		}
		start := skipWS(data, i+1)
		stop, clean := valueEnd(data, start)
		if !clean {
			return nil, nil, false
		}
		keys, vals = append(keys, key), append(vals, json.RawMessage(data[start:stop]))
		i = skipWS(data, stop)
		if i >= len(data) {
			return nil, nil, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return keys, vals, skipWS(data, i+1) == len(data)
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the end of the (valid) JSON value at start; clean is
// false when it holds whitespace outside strings.
func valueEnd(data []byte, start int) (end int, clean bool) {
	depth := 0
	for i := start; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if depth == 0 {
				return i + 1, true
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case ',':
			if depth == 0 {
				return i, true
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i, true
			}
			return 0, false
		}
	}
	return len(data), depth == 0
}

// jsonStringFast is jsonString for a string without escapes.
func jsonStringFast(v json.RawMessage) (s string, isString, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false, len(v) > 0 && v[0] != '"'
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') >= 0 || !utf8.Valid(body) {
		return "", false, false
	}
	return string(body), true, true
}

// jsonbStableFast is jsonbStable for scalars: a string is stable unless it
// holds \u0000, a number unless in exponent form or negative zero.
func jsonbStableFast(v json.RawMessage) (stable, ok bool) {
	if len(v) == 0 {
		return false, false
	}
	switch c := v[0]; {
	case c == '"':
		return jsonbStorable(v), true
	case c == 't' || c == 'f' || c == 'n':
		return true, true
	case c == '-' || (c >= '0' && c <= '9'):
		return numberStable(v), true
	case c == '[':
		// An array without objects has no keys to lose: stable unless a
		// string holds \u0000 or a number is unstable.
		if bytes.IndexByte(v, '{') >= 0 || !jsonbStorable(v) {
			return false, false
		}
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case c == '"':
				for i++; i < len(v) && v[i] != '"'; i++ {
					if v[i] == '\\' {
						i++
					}
				}
			case c == '-' || (c >= '0' && c <= '9'):
				j := i
				for j < len(v) && bytes.IndexByte([]byte("+-.0123456789eE"), v[j]) >= 0 {
					j++
				}
				if !numberStable(v[i:j]) {
					return false, true
				}
				i = j - 1
			}
		}
		return true, true
	}
	return false, false
}

// numberStable: JSONB gives a number back with the same text unless it is
// in exponent form or a negative zero.
func numberStable(v []byte) bool {
	if bytes.ContainsAny(v, "eE") {
		return false
	}
	return !(v[0] == '-' && len(bytes.Trim(v, "-0.")) == 0)
}

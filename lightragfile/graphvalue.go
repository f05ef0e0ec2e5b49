package lightragfile

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeCDATA appends CDATA content with line ends normalised.
func DecodeCDATA(dst, raw []byte) ([]byte, error) {
	if !utf8.Valid(raw) {
		return dst, fmt.Errorf("%w: invalid UTF-8", ErrXMLSyntax)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			dst = append(dst, '\n')
		case c < 0x20 && c != '\n' && c != '\t':
			return dst, fmt.Errorf("%w: control character 0x%02x", ErrXMLSyntax, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func truncateStr(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// TypeFamily maps a GraphML attr.type to string, int, float or bool ("" for
// a type networkx does not know).
func TypeFamily(typ string) string {
	switch typ {
	case "", "string":
		return "string"
	case "long", "int", "integer":
		return "int"
	case "double", "float":
		return "float"
	case "boolean":
		return "bool"
	}
	return ""
}

// GraphValue converts <data> text by its key type into a raw JSON scalar.
func GraphValue(typ, text string) (stdjson.RawMessage, error) {
	switch TypeFamily(typ) {
	case "int":
		var n big.Int
		if _, ok := n.SetString(strings.TrimSpace(text), 10); !ok {
			return nil, errors.New("want an integer")
		}
		return stdjson.RawMessage(n.String()), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return JSONString(strconv.FormatFloat(f, 'g', -1, 64)), nil
			}
			return nil, errors.New("want a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no NaN or Infinity: keep Python's spelling as a string.
			return JSONString(PyFloatRepr(f)), nil
		}
		return stdjson.RawMessage(PyFloatRepr(f)), nil
	case "bool":
		switch strings.ToLower(text) {
		case "true", "1":
			return stdjson.RawMessage("true"), nil
		case "false", "0":
			return stdjson.RawMessage("false"), nil
		}
		return nil, errors.New("want true or false")
	}
	return JSONString(text), nil
}

// PyFloatRepr formats like Python's repr(float): shortest round-trip
// digits, always a '.' or an exponent, exponent form below 1e-4 and from 1e16.
func PyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if f != 0 && (exp < -4 || exp >= 16) {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// JSONString encodes s as a JSON string without HTML escaping.
func JSONString(s string) stdjson.RawMessage {
	return AppendJSONString(make([]byte, 0, len(s)+2), []byte(s))
}

// AppendJSONString appends s as a JSON string, without HTML escaping.
func AppendJSONString(b []byte, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
				j++
			}
			b = append(b, s[i:j]...)
			i = j
			continue
		}
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', HexDigits[c>>4], HexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

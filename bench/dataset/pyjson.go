package dataset

import (
	"bufio"
	"strconv"
	"unicode/utf8"
)

// The generator writes JSON the way Python's json.dump does (LightRAG's
// writer): ensure_ascii=False, "<", ">" and "&" left alone, and either
// indent=2 (KV files) or the compact ", " / ": " separators (vdb files). Its
// own small writer keeps key order and avoids building maps per record.

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// obj is a JSON object whose members keep their order.
type obj []kv

// null is JSON null.
type null struct{}

// writePretty writes v as json.dump(indent=2) would at nesting level depth.
func writePretty(w *bufio.Writer, v any, depth int) {
	switch x := v.(type) {
	case obj:
		if len(x) == 0 {
			w.WriteString("{}")
			return
		}
		w.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			newline(w, depth+1)
			writeString(w, m.k)
			w.WriteString(": ")
			writePretty(w, m.v, depth+1)
		}
		newline(w, depth)
		w.WriteByte('}')
	case []string:
		if len(x) == 0 {
			w.WriteString("[]")
			return
		}
		w.WriteByte('[')
		for i, s := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			newline(w, depth+1)
			writeString(w, s)
		}
		newline(w, depth)
		w.WriteByte(']')
	case [][2]string:
		if len(x) == 0 {
			w.WriteString("[]")
			return
		}
		w.WriteByte('[')
		for i, p := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			newline(w, depth+1)
			writePretty(w, p[:], depth+1)
		}
		newline(w, depth)
		w.WriteByte(']')
	default:
		writeScalar(w, v)
	}
}

// writeCompact writes v with Python's default separators (", " and ": ").
func writeCompact(w *bufio.Writer, v any) {
	switch x := v.(type) {
	case obj:
		w.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				w.WriteString(", ")
			}
			writeString(w, m.k)
			w.WriteString(": ")
			writeCompact(w, m.v)
		}
		w.WriteByte('}')
	case []string:
		w.WriteByte('[')
		for i, s := range x {
			if i > 0 {
				w.WriteString(", ")
			}
			writeString(w, s)
		}
		w.WriteByte(']')
	default:
		writeScalar(w, v)
	}
}

func writeScalar(w *bufio.Writer, v any) {
	switch x := v.(type) {
	case string:
		writeString(w, x)
	case int:
		w.WriteString(strconv.Itoa(x))
	case int64:
		w.WriteString(strconv.FormatInt(x, 10))
	case float64:
		w.WriteString(pyFloat(x))
	case bool:
		if x {
			w.WriteString("true")
		} else {
			w.WriteString("false")
		}
	default: // null and anything unexpected
		w.WriteString("null")
	}
}

func newline(w *bufio.Writer, depth int) {
	w.WriteByte('\n')
	for range depth {
		w.WriteString("  ")
	}
}

// pyFloat formats like Python's repr for the values the generator uses.
func pyFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s
		}
	}
	return s + ".0"
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string with ensure_ascii=False escaping.
func writeString(w *bufio.Writer, s string) {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				i++
				continue
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			continue
		}
		w.WriteString(s[start:i])
		switch c {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		default:
			w.WriteString(`\u00`)
			w.WriteByte(hexDigits[c>>4])
			w.WriteByte(hexDigits[c&0xf])
		}
		i++
		start = i
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
}

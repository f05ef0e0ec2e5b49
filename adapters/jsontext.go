package adapters

import (
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// AppendCompact appends valid JSON v without the whitespace outside its
// strings: what json.Compact gives for valid input, without validating it
// again (records an adapter returns were valid when written).
func AppendCompact(dst, v []byte) []byte {
	in := false
	start := 0
	for i := 0; i < len(v); i++ {
		if in {
			// Skip 8 bytes at a time to the string's next quote or backslash.
			for i+8 <= len(v) && quoteOrBackslash(load64(v[i:])) == 0 {
				i += 8
			}
			if i >= len(v) {
				break
			}
		}
		c := v[i]
		switch {
		case in:
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
		case c == '"':
			in = true
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}

// AppendJSONString appends s as encoding/json (without HTML escaping) writes
// a string: \b \f \n \r \t, \u00XX for other control characters, \u2028 and
// \u2029 escaped, invalid UTF-8 as \ufffd.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain bytes at a time (most of a text is).
		for i+8 <= len(s) && notPlain(load64String(s[i:])) == 0 {
			i += 8
		}
		if i >= len(s) {
			break
		}
		if plainASCII[s[i]] {
			i++
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigit[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigit = "0123456789abcdef"

// plainASCII marks the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONBytes is AppendJSONString for the text in s.
func AppendJSONBytes(dst, s []byte) []byte {
	// The string only lives for the call and s is not written meanwhile.
	return AppendJSONString(dst, unsafe.String(unsafe.SliceData(s), len(s)))
}

// Word-at-a-time byte tests (SWAR): each sets the high bit of (at least)
// the first byte of x that matches, so a zero result means none does.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hasByte(x uint64, b byte) uint64 {
	y := x ^ (ones * uint64(b))
	return (y - ones) & ^y & highs
}

// notPlain flags the bytes a JSON string cannot hold as they are: control
// characters, the quote, the backslash, and any non-ASCII byte.
func notPlain(x uint64) uint64 {
	return ((x - ones*0x20) & ^x & highs) | hasByte(x, '"') | hasByte(x, '\\') | (x & highs)
}

func quoteOrBackslash(x uint64) uint64 { return hasByte(x, '"') | hasByte(x, '\\') }

func load64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func load64String(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// AppendNodesEdges appends get_nodes_edges_batch's answer, {"edges": ne}
// and a newline, as encoding/json would write it (a nil edge list as []),
// without reflection: a batch of 40 nodes carries hundreds of edges.
func AppendNodesEdges(dst []byte, ne []NodeEdges) []byte {
	dst = append(dst, `{"edges":[`...)
	for i, n := range ne {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"found":`...)
		dst = strconv.AppendBool(dst, n.Found)
		dst = append(dst, `,"edges":[`...)
		for j, e := range n.Edges {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"src":`...)
			dst = AppendJSONString(dst, e.Src)
			dst = append(dst, `,"tgt":`...)
			dst = AppendJSONString(dst, e.Tgt)
			dst = append(dst, '}')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}\n"...)
}

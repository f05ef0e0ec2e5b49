package lightragfile

import (
	"bufio"
	"unicode/utf8"
)

// PyWriter re-emits raw JSON the way Python's json.dump(ensure_ascii=False)
// lays it out, so LightRAG's files keep their look after we rewrite them:
// with indent > 0 it is json.dump(indent=2) (KV files), with indent 0 the
// default one-line ", " / ": " separators (NanoVectorDB files).
type PyWriter struct {
	w       *bufio.Writer
	indent  int
	scratch []byte
}

// NewPyWriter writes to w with the given indent (2 for KV files, 0 for the
// one-line NanoVectorDB layout).
func NewPyWriter(w *bufio.Writer, indent int) *PyWriter { return &PyWriter{w: w, indent: indent} }

// Value writes one raw JSON value at nesting level.
func (p *PyWriter) Value(raw []byte, level int) error {
	s := NewBytesScanner(raw, "record")
	if err := p.scanValue(s, level, 0); err != nil {
		return err
	}
	return s.ExpectEOF()
}

func (p *PyWriter) newline(level int) {
	if p.indent == 0 {
		return
	}
	p.w.WriteByte('\n')
	for i := 0; i < level*p.indent; i++ {
		p.w.WriteByte(' ')
	}
}

func (p *PyWriter) scanValue(s *Scanner, level, depth int) error {
	if depth > maxDepth {
		return s.Corrupt("values nested more than %d deep", maxDepth)
	}
	c, ok := s.skipWS()
	if !ok {
		return s.Corrupt("unexpected end of input, want a value")
	}
	switch c {
	case '"':
		s.pos++
		var err error
		p.scratch, err = s.ReadStringValue(p.scratch[:0])
		if err != nil {
			return err
		}
		p.writeString(p.scratch)
		return nil
	case '{':
		if b, _ := peekAfter(s); b == '}' {
			_, err := s.CopyValue(nil, false)
			p.w.WriteString("{}")
			return err
		}
		p.w.WriteByte('{')
		n := 0
		err := s.ObjectMembers(nil, func(key []byte) error {
			if n > 0 {
				p.w.WriteByte(',')
				if p.indent == 0 {
					p.w.WriteByte(' ')
				}
			}
			n++
			p.newline(level + 1)
			p.writeString(key)
			p.w.WriteString(": ")
			return p.scanValue(s, level+1, depth+1)
		})
		if err != nil {
			return err
		}
		p.newline(level)
		p.w.WriteByte('}')
		return nil
	case '[':
		if b, _ := peekAfter(s); b == ']' {
			_, err := s.CopyValue(nil, false)
			p.w.WriteString("[]")
			return err
		}
		p.w.WriteByte('[')
		err := s.ArrayElems(func(i int) error {
			if i > 0 {
				p.w.WriteByte(',')
				if p.indent == 0 {
					p.w.WriteByte(' ')
				}
			}
			p.newline(level + 1)
			return p.scanValue(s, level+1, depth+1)
		})
		if err != nil {
			return err
		}
		p.newline(level)
		p.w.WriteByte(']')
		return nil
	}
	var err error
	p.scratch, err = s.CopyValue(p.scratch[:0], true)
	if err != nil {
		return err
	}
	p.w.Write(p.scratch)
	return nil
}

// peekAfter returns the first non-space byte after the current one (the
// opening bracket) without consuming anything. Only used on in-memory input.
func peekAfter(s *Scanner) (byte, bool) {
	for i := s.pos + 1; i < s.end; i++ {
		switch c := s.buf[i]; c {
		case ' ', '\n', '\r', '\t':
		default:
			return c, true
		}
	}
	return 0, false
}

// HexDigits are the lower-case hex digits used in \u escapes.
const HexDigits = "0123456789abcdef"

// writeString writes s as a JSON string escaped like Python's
// ensure_ascii=False encoder: only '"', '\\' and control characters are
// escaped. Invalid UTF-8 becomes U+FFFD so Python can read the file.
func (p *PyWriter) writeString(s []byte) {
	WritePyString(p.w, s)
}

// WritePyString writes s as a JSON string escaped like Python's
// json.dump(ensure_ascii=False).
func WritePyString(w *bufio.Writer, s []byte) {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			w.Write(s[start:i])
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
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			default:
				w.WriteString(`\u00`)
				w.WriteByte(HexDigits[c>>4])
				w.WriteByte(HexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.Write(s[start:i])
			w.WriteString("\uFFFD")
			i++
			start = i
			continue
		}
		i += size
	}
	w.Write(s[start:])
	w.WriteByte('"')
}

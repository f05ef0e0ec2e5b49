package json

import (
	"bufio"
	"unicode/utf8"
)

// pyWriter re-emits raw JSON the way Python's json.dump(ensure_ascii=False)
// lays it out, so LightRAG's files keep their look after we rewrite them:
// with indent > 0 it is json.dump(indent=2) (KV files), with indent 0 the
// default one-line ", " / ": " separators (NanoVectorDB files).
type pyWriter struct {
	w       *bufio.Writer
	indent  int
	scratch []byte
}

// value writes one raw JSON value at nesting level.
func (p *pyWriter) value(raw []byte, level int) error {
	s := newBytesScanner(raw, "record")
	if err := p.scanValue(s, level, 0); err != nil {
		return err
	}
	return s.expectEOF()
}

func (p *pyWriter) newline(level int) {
	if p.indent == 0 {
		return
	}
	p.w.WriteByte('\n')
	for i := 0; i < level*p.indent; i++ {
		p.w.WriteByte(' ')
	}
}

func (p *pyWriter) scanValue(s *scanner, level, depth int) error {
	if depth > maxDepth {
		return s.corrupt("values nested more than %d deep", maxDepth)
	}
	c, ok := s.skipWS()
	if !ok {
		return s.corrupt("unexpected end of input, want a value")
	}
	switch c {
	case '"':
		s.pos++
		var err error
		p.scratch, err = s.readStringValue(p.scratch[:0])
		if err != nil {
			return err
		}
		p.writeString(p.scratch)
		return nil
	case '{':
		if b, _ := peekAfter(s); b == '}' {
			_, err := s.copyValue(nil, false)
			p.w.WriteString("{}")
			return err
		}
		p.w.WriteByte('{')
		n := 0
		err := s.objectMembers(nil, func(key []byte) error {
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
			_, err := s.copyValue(nil, false)
			p.w.WriteString("[]")
			return err
		}
		p.w.WriteByte('[')
		err := s.arrayElems(func(i int) error {
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
	p.scratch, err = s.copyValue(p.scratch[:0], true)
	if err != nil {
		return err
	}
	p.w.Write(p.scratch)
	return nil
}

// peekAfter returns the first non-space byte after the current one (the
// opening bracket) without consuming anything. Only used on in-memory input.
func peekAfter(s *scanner) (byte, bool) {
	for i := s.pos + 1; i < s.end; i++ {
		switch c := s.buf[i]; c {
		case ' ', '\n', '\r', '\t':
		default:
			return c, true
		}
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string escaped like Python's
// ensure_ascii=False encoder: only '"', '\\' and control characters are
// escaped. Invalid UTF-8 becomes U+FFFD so Python can read the file.
func (p *pyWriter) writeString(s []byte) {
	writePyString(p.w, s)
}

func writePyString(w *bufio.Writer, s []byte) {
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
				w.WriteByte(hexDigits[c>>4])
				w.WriteByte(hexDigits[c&0xf])
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

package lightragfile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// XMLScanner is a small streaming XML tokenizer for GraphML. encoding/xml
// reads about 35 MB/s on LightRAG's graphs (it allocates per token and per
// byte of text); this one returns slices of its buffer and decodes only what
// the caller asks for. It follows expat (which networkx uses) where it
// matters: entity and character references, CRLF and attribute whitespace
// normalisation, CDATA, comments and processing instructions, UTF-8 only.
type XMLScanner struct {
	r    io.Reader
	buf  []byte
	pos  int
	end  int
	base int64 // input offset of buf[0]
	eof  bool
	rerr error
	// Line is the number of lines before the unread input, for messages
	// (approximate).
	Line int
	// The current token (slices alias the buffer until the next call).
	Kind      XMLKind
	Name      []byte // local name of a start or end tag
	Attrs     []byte // raw attribute text of a start tag
	SelfClose bool
	Text      []byte // raw text, or CDATA content
	CDATA     bool
	// TokenStart is the input offset of the current token's first byte.
	TokenStart int64
}

// XMLKind is the kind of the current token.

type XMLKind int

const (
	XMLEOF XMLKind = iota
	XMLStart
	XMLEnd
	XMLText
)

var ErrXMLSyntax = errors.New("xml syntax")

// skipBOM drops a UTF-8 byte order mark.
func (x *XMLScanner) SkipBOM() {
	for x.end-x.pos < 3 && x.more() {
	}
	if bytes.HasPrefix(x.buf[x.pos:x.end], []byte{0xEF, 0xBB, 0xBF}) {
		x.pos += 3
	}
}

// NewXMLScanner reads XML from r through a growing buffer.
func NewXMLScanner(r io.Reader) *XMLScanner {
	return &XMLScanner{r: r, buf: make([]byte, 256<<10), Line: 1}
}

// NewXMLScannerAt is NewXMLScanner for input that starts at byte offset
// base of a file, so offsets and TokenStart are file offsets.
func NewXMLScannerAt(r io.Reader, base int64) *XMLScanner {
	x := NewXMLScanner(r)
	x.base = base
	return x
}

// Offset is the input offset of the next unread byte.
func (x *XMLScanner) Offset() int64 { return x.base + int64(x.pos) }

func (x *XMLScanner) syntax(format string, args ...any) error {
	if x.rerr != nil {
		return x.rerr
	}
	return fmt.Errorf("%w: %s (line %d)", ErrXMLSyntax, fmt.Sprintf(format, args...), x.Line)
}

// more reads more input, compacting and growing the buffer; false at EOF.
func (x *XMLScanner) more() bool {
	if x.eof {
		return false
	}
	if x.pos > 0 {
		x.Line += bytes.Count(x.buf[:x.pos], []byte{'\n'})
		x.base += int64(x.pos) // offsets stay file offsets
		copy(x.buf, x.buf[x.pos:x.end])
		x.end -= x.pos
		x.pos = 0
	}
	if x.end == len(x.buf) {
		x.buf = append(x.buf, make([]byte, len(x.buf))...)
	}
	n, err := x.r.Read(x.buf[x.end:])
	x.end += n
	if err != nil {
		if err != io.EOF {
			x.rerr = err
		}
		x.eof = true
	}
	return n > 0 || !x.eof
}

// find returns the index (relative to pos) of sep in the unread input,
// reading more as needed; -1 at EOF.
func (x *XMLScanner) find(from int, sep string) int {
	for {
		if i := bytes.Index(x.buf[x.pos+from:x.end], []byte(sep)); i >= 0 {
			return from + i
		}
		from = max(from, x.end-x.pos-len(sep)+1)
		if !x.more() {
			return -1
		}
	}
}

// findTagEnd returns the index of the '>' closing the tag that starts at
// pos, skipping quoted attribute values.
func (x *XMLScanner) findTagEnd() int {
	var quote byte
	for i := 1; ; i++ {
		for x.pos+i >= x.end {
			if !x.more() {
				return -1
			}
		}
		c := x.buf[x.pos+i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
}

// next advances to the next start tag, end tag or text run. Comments,
// processing instructions and the doctype are skipped.
func (x *XMLScanner) Next() error {
	for {
		x.TokenStart = x.Offset()
		if x.pos == x.end && !x.more() {
			x.Kind = XMLEOF
			if x.rerr != nil {
				return x.rerr
			}
			return nil
		}
		if x.buf[x.pos] != '<' {
			i := x.find(0, "<")
			if i < 0 {
				i = x.end - x.pos
			}
			x.Kind, x.Text, x.CDATA = XMLText, x.buf[x.pos:x.pos+i], false
			x.pos += i
			return nil
		}
		for x.end-x.pos < 9 && x.more() {
		}
		rest := x.buf[x.pos:x.end]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			i := x.find(2, "?>")
			if i < 0 {
				return x.syntax("unterminated processing instruction")
			}
			pi := x.buf[x.pos : x.pos+i]
			if bytes.HasPrefix(pi, []byte("<?xml ")) {
				if err := x.checkDecl(pi); err != nil {
					return err
				}
			}
			x.pos += i + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			i := x.find(4, "-->")
			if i < 0 {
				return x.syntax("unterminated comment")
			}
			x.pos += i + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			i := x.find(9, "]]>")
			if i < 0 {
				return x.syntax("unterminated CDATA section")
			}
			x.Kind, x.Text, x.CDATA = XMLText, x.buf[x.pos+9:x.pos+i], true
			x.pos += i + 3
			return nil
		case bytes.HasPrefix(rest, []byte("<!")):
			i := x.findTagEnd()
			if i < 0 {
				return x.syntax("unterminated declaration")
			}
			if bytes.IndexByte(x.buf[x.pos:x.pos+i], '[') >= 0 {
				return x.syntax("a DOCTYPE with an internal subset is not supported")
			}
			x.pos += i + 1
		default:
			i := x.findTagEnd()
			if i < 0 {
				return x.syntax("unexpected end of file inside a tag")
			}
			tag := x.buf[x.pos+1 : x.pos+i]
			x.pos += i + 1
			if len(tag) > 0 && tag[0] == '/' {
				x.Kind, x.Name = XMLEnd, localName(bytes.TrimRight(tag[1:], " \t\r\n"))
				if len(x.Name) == 0 {
					return x.syntax("an end tag has no name")
				}
				return nil
			}
			x.SelfClose = len(tag) > 0 && tag[len(tag)-1] == '/'
			if x.SelfClose {
				tag = tag[:len(tag)-1]
			}
			n := 0
			for n < len(tag) && !isXMLSpace(tag[n]) {
				n++
			}
			if n == 0 {
				return x.syntax("a tag has no name")
			}
			x.Kind, x.Name, x.Attrs = XMLStart, localName(tag[:n]), tag[n:]
			return nil
		}
	}
}

func (x *XMLScanner) checkDecl(pi []byte) error {
	i := bytes.Index(pi, []byte("encoding="))
	if i < 0 || i+10 > len(pi) {
		return nil
	}
	q := pi[i+9]
	v := pi[i+10:]
	if j := bytes.IndexByte(v, q); j >= 0 {
		v = v[:j]
	}
	switch strings.ToLower(string(v)) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return nil
	}
	return x.syntax("encoding %q is not supported, want UTF-8", v)
}

func localName(b []byte) []byte {
	if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// EachAttr calls fn with each attribute's (qualified) name and raw value.
func EachAttr(raw []byte, fn func(name, val []byte) error) error {
	for {
		for len(raw) > 0 && isXMLSpace(raw[0]) {
			raw = raw[1:]
		}
		if len(raw) == 0 {
			return nil
		}
		eq := bytes.IndexByte(raw, '=')
		if eq <= 0 {
			return fmt.Errorf("%w: malformed attribute %q", ErrXMLSyntax, truncateStr(string(raw)))
		}
		name := bytes.TrimRight(raw[:eq], " \t\r\n")
		raw = raw[eq+1:]
		for len(raw) > 0 && isXMLSpace(raw[0]) {
			raw = raw[1:]
		}
		if len(raw) == 0 || (raw[0] != '"' && raw[0] != '\'') {
			return fmt.Errorf("%w: attribute %s has no quoted value", ErrXMLSyntax, name)
		}
		q := raw[0]
		end := bytes.IndexByte(raw[1:], q)
		if end < 0 {
			return fmt.Errorf("%w: attribute %s is not terminated", ErrXMLSyntax, name)
		}
		val := raw[1 : 1+end]
		if bytes.IndexByte(val, '<') >= 0 {
			return fmt.Errorf("%w: '<' in the value of attribute %s", ErrXMLSyntax, name)
		}
		if err := fn(name, val); err != nil {
			return err
		}
		raw = raw[2+end:]
		if len(raw) > 0 && !isXMLSpace(raw[0]) {
			return fmt.Errorf("%w: no space after attribute %s", ErrXMLSyntax, name)
		}
	}
}

// DecodeXML appends the decoded form of raw text (inAttr: an attribute
// value) to dst: references resolved, line ends normalised, and for
// attributes whitespace characters turned into spaces, as expat does.
func DecodeXML(dst, raw []byte, inAttr bool) ([]byte, error) {
	if !utf8.Valid(raw) {
		return dst, fmt.Errorf("%w: invalid UTF-8", ErrXMLSyntax)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '&':
			j := bytes.IndexByte(raw[i:], ';')
			if j < 0 {
				return dst, fmt.Errorf("%w: unterminated entity reference", ErrXMLSyntax)
			}
			ent := string(raw[i+1 : i+j])
			i += j
			switch ent {
			case "lt":
				dst = append(dst, '<')
			case "gt":
				dst = append(dst, '>')
			case "amp":
				dst = append(dst, '&')
			case "quot":
				dst = append(dst, '"')
			case "apos":
				dst = append(dst, '\'')
			default:
				if len(ent) < 2 || ent[0] != '#' {
					return dst, fmt.Errorf("%w: unknown entity &%s;", ErrXMLSyntax, ent)
				}
				var n uint64
				var err error
				if ent[1] == 'x' {
					n, err = strconv.ParseUint(ent[2:], 16, 32)
				} else {
					n, err = strconv.ParseUint(ent[1:], 10, 32)
				}
				if err != nil || !isXMLChar(rune(n)) {
					return dst, fmt.Errorf("%w: invalid character reference &%s;", ErrXMLSyntax, ent)
				}
				dst = utf8.AppendRune(dst, rune(n))
			}
		case c == '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			if inAttr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, '\n')
			}
		case c == '\n' || c == '\t':
			if inAttr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, c)
			}
		case c < 0x20:
			return dst, fmt.Errorf("%w: control character 0x%02x", ErrXMLSyntax, c)
		case c == 0xEF && i+2 < len(raw) && raw[i+1] == 0xBF && (raw[i+2] == 0xBE || raw[i+2] == 0xBF):
			return dst, fmt.Errorf("%w: character U+FFFE or U+FFFF is not allowed in XML", ErrXMLSyntax)
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// startElement builds an xml.StartElement with decoded attribute values.
func (x *XMLScanner) StartElement() (xml.StartElement, error) {
	t := xml.StartElement{Name: xml.Name{Local: string(x.Name)}}
	err := EachAttr(x.Attrs, func(name, val []byte) error {
		v, err := DecodeXML(nil, val, true)
		if err != nil {
			return err
		}
		n := xml.Name{Local: string(name)}
		if i := bytes.IndexByte(name, ':'); i >= 0 {
			n = xml.Name{Space: string(name[:i]), Local: string(name[i+1:])}
		}
		t.Attr = append(t.Attr, xml.Attr{Name: n, Value: string(v)})
		return nil
	})
	return t, err
}

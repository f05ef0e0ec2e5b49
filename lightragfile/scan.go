package lightragfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Scanner is a small streaming JSON tokenizer for LightRAG's files. It reads
// through a fixed buffer, so a multi-GB file never sits in memory, and it can
// copy a value compactly (whitespace outside strings dropped, string bytes
// kept exactly as written) or skip it while still checking its syntax.
// encoding/json's Decoder.Token allocates per token and is several times
// slower on these files.
type Scanner struct {
	r    io.Reader // nil when scanning an in-memory slice
	buf  []byte
	pos  int
	end  int
	base int64 // file offset of buf[0]
	eof  bool
	rerr error
	file string // name used in error messages
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 10000

const scanBufSize = 256 << 10

// NewScanner reads r through a fixed buffer; file names it in errors.
func NewScanner(r io.Reader, file string) *Scanner {
	return &Scanner{r: r, buf: make([]byte, scanBufSize), file: file}
}

// NewBytesScanner scans an in-memory slice.
func NewBytesScanner(b []byte, file string) *Scanner {
	return &Scanner{buf: b, end: len(b), eof: true, file: file}
}

// NewScannerAt is NewScanner for input that starts at byte offset base of
// the file, so offsets in messages are file offsets.
func NewScannerAt(r io.Reader, base int64, file string) *Scanner {
	s := NewScanner(r, file)
	s.base = base
	return s
}

// Advance consumes the byte that PeekKind returned (a string's opening
// quote, typically, before ReadString).
func (s *Scanner) Advance() { s.pos++ }

// ReadErr is the I/O error that ended the input early, if any.
func (s *Scanner) ReadErr() error { return s.rerr }

// AtEOF reports whether all input has been consumed.
func (s *Scanner) AtEOF() bool { return !s.fill() }

// ErrReadFailed marks an I/O failure (as opposed to bad content).
var ErrReadFailed = errors.New("read failed")

// fill makes at least one unread byte available; false at end of input.
func (s *Scanner) fill() bool {
	if s.pos < s.end {
		return true
	}
	if s.eof || s.r == nil {
		return false
	}
	s.base += int64(s.end)
	s.pos, s.end = 0, 0
	for s.end == 0 {
		n, err := s.r.Read(s.buf)
		s.end = n
		if err != nil {
			if err != io.EOF {
				s.rerr = err
			}
			s.eof = true
			return n > 0
		}
	}
	return true
}

func (s *Scanner) Offset() int64 { return s.base + int64(s.pos) }

// corrupt builds the error for bad content at the current offset.
func (s *Scanner) Corrupt(format string, args ...any) error {
	if s.rerr != nil {
		return fmt.Errorf("read %s: %w: %w", s.file, ErrReadFailed, s.rerr)
	}
	msg := fmt.Sprintf(format, args...)
	return CorruptError(s.file, fmt.Sprintf("%s (at byte %d)", msg, s.Offset()))
}

// CorruptError is the error for a file that is not in LightRAG's format.
func CorruptError(file, problem string) *adapters.Error {
	return adapters.Errorf(adapters.ErrCorrupt, "corrupt_file",
		"the file is not in LightRAG's format: restore it from a backup, or move it out of the folder to start this namespace empty",
		"%s: %s", file, problem)
}

// ensure makes at least n unread bytes available if the input has them.
func (s *Scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if s.eof || s.r == nil {
			return false
		}
		if s.pos > 0 {
			copy(s.buf, s.buf[s.pos:s.end])
			s.base += int64(s.pos)
			s.end -= s.pos
			s.pos = 0
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err != nil {
			if err != io.EOF {
				s.rerr = err
			}
			s.eof = true
		}
	}
	return true
}

// skipBOM drops a UTF-8 byte order mark at the start (LightRAG opens files
// with utf-8-sig).
func (s *Scanner) SkipBOM() {
	if s.ensure(3) && bytes.HasPrefix(s.buf[s.pos:s.end], []byte{0xEF, 0xBB, 0xBF}) {
		s.pos += 3
	}
}

// skipWS skips JSON whitespace and returns the next byte without consuming
// it; ok is false at end of input.
func (s *Scanner) skipWS() (byte, bool) {
	for s.fill() {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				return c, true
			}
			s.pos++
		}
	}
	return 0, false
}

// expect consumes c after optional whitespace.
func (s *Scanner) Expect(c byte, what string) error {
	b, ok := s.skipWS()
	if !ok {
		return s.Corrupt("unexpected end of file, want %s", what)
	}
	if b != c {
		return s.Corrupt("found %s, want %s", describeByte(b), what)
	}
	s.pos++
	return nil
}

// expectEOF checks nothing but whitespace follows the top-level value.
func (s *Scanner) ExpectEOF() error {
	if b, ok := s.skipWS(); ok {
		return s.Corrupt("unexpected %s after the top-level value", describeByte(b))
	}
	if s.rerr != nil {
		return s.Corrupt("")
	}
	return nil
}

func describeByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return fmt.Sprintf("%q", rune(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}

// strSpecial marks bytes that end a fast run inside a string.
var strSpecial = func() (t [256]bool) {
	for i := 0; i < 0x20; i++ {
		t[i] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

// readString reads a string (the opening quote already consumed), calling
// emit with successive pieces of its decoded text. Pieces alias the buffer
// and are valid only during the call.
func (s *Scanner) ReadString(emit func([]byte) error) error {
	var esc [utf8.UTFMax * 2]byte
	for {
		if !s.fill() {
			return s.Corrupt("unexpected end of file inside a string")
		}
		start := s.pos
		i := s.pos
		for i < s.end && !strSpecial[s.buf[i]] {
			i++
		}
		if i > start && emit != nil {
			if err := emit(s.buf[start:i]); err != nil {
				return err
			}
		}
		s.pos = i
		if i == s.end {
			continue
		}
		switch c := s.buf[i]; c {
		case '"':
			s.pos++
			return nil
		case '\\':
			s.pos++
			n, err := s.readEscape(esc[:0])
			if err != nil {
				return err
			}
			if emit != nil {
				if err := emit(n); err != nil {
					return err
				}
			}
		default:
			return s.Corrupt("control character 0x%02x inside a string", c)
		}
	}
}

// nextByte consumes one byte.
func (s *Scanner) nextByte() (byte, bool) {
	if !s.fill() {
		return 0, false
	}
	c := s.buf[s.pos]
	s.pos++
	return c, true
}

// readEscape decodes one escape (after the backslash) and appends its UTF-8.
func (s *Scanner) readEscape(dst []byte) ([]byte, error) {
	c, ok := s.nextByte()
	if !ok {
		return nil, s.Corrupt("unexpected end of file inside a string escape")
	}
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		r, err := s.readHex4()
		if err != nil {
			return nil, err
		}
		if utf16.IsSurrogate(r) {
			// A pair is two escapes in a row; a lone surrogate (Python can
			// write one) becomes U+FFFD like encoding/json does.
			if s.fill() && s.buf[s.pos] == '\\' {
				s.pos++
				c2, ok := s.nextByte()
				if !ok {
					return nil, s.Corrupt("unexpected end of file inside a string escape")
				}
				if c2 == 'u' {
					r2, err := s.readHex4()
					if err != nil {
						return nil, err
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						return utf8.AppendRune(dst, d), nil
					}
					dst = utf8.AppendRune(dst, utf8.RuneError)
					if utf16.IsSurrogate(r2) {
						return utf8.AppendRune(dst, utf8.RuneError), nil
					}
					return utf8.AppendRune(dst, r2), nil
				}
				// Not \u: undo by decoding this escape separately.
				s.pos--
				dst = utf8.AppendRune(dst, utf8.RuneError)
				return s.readEscapeAfterBackslash(dst)
			}
			return utf8.AppendRune(dst, utf8.RuneError), nil
		}
		return utf8.AppendRune(dst, r), nil
	}
	return nil, s.Corrupt("invalid escape \\%s inside a string", describeByte(c))
}

// readEscapeAfterBackslash re-enters readEscape for an escape whose
// backslash was consumed already (pos is at the escape letter).
func (s *Scanner) readEscapeAfterBackslash(dst []byte) ([]byte, error) {
	return s.readEscape(dst)
}

func (s *Scanner) readHex4() (rune, error) {
	var r rune
	for k := 0; k < 4; k++ {
		c, ok := s.nextByte()
		if !ok {
			return 0, s.Corrupt("unexpected end of file inside a \\u escape")
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, s.Corrupt("invalid \\u escape inside a string")
		}
		r = r<<4 | rune(v)
	}
	return r, nil
}

// readStringValue reads a string (opening quote consumed) into dst, decoded.
func (s *Scanner) ReadStringValue(dst []byte) ([]byte, error) {
	err := s.ReadString(func(p []byte) error {
		dst = append(dst, p...)
		return nil
	})
	return dst, err
}

// copyString copies a string raw (opening quote consumed; both quotes are
// appended), checking its escapes.
func (s *Scanner) copyString(dst []byte) ([]byte, error) {
	dst = append(dst, '"')
	for {
		if !s.fill() {
			return dst, s.Corrupt("unexpected end of file inside a string")
		}
		start := s.pos
		i := s.pos
		for i < s.end && !strSpecial[s.buf[i]] {
			i++
		}
		dst = append(dst, s.buf[start:i]...)
		s.pos = i
		if i == s.end {
			continue
		}
		switch c := s.buf[i]; c {
		case '"':
			s.pos++
			return append(dst, '"'), nil
		case '\\':
			s.pos++
			e, ok := s.nextByte()
			if !ok {
				return dst, s.Corrupt("unexpected end of file inside a string escape")
			}
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				dst = append(dst, '\\', e)
			case 'u':
				dst = append(dst, '\\', 'u')
				for k := 0; k < 4; k++ {
					h, ok := s.nextByte()
					if !ok || !isHex(h) {
						return dst, s.Corrupt("invalid \\u escape inside a string")
					}
					dst = append(dst, h)
				}
			default:
				return dst, s.Corrupt("invalid escape \\%s inside a string", describeByte(e))
			}
		default:
			return dst, s.Corrupt("control character 0x%02x inside a string", c)
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// copyValue appends the next value compactly to dst. With keep false it only
// checks and skips the value (dst is returned unchanged).
func (s *Scanner) CopyValue(dst []byte, keep bool) ([]byte, error) {
	return s.value(dst, keep, 0)
}

func (s *Scanner) value(dst []byte, keep bool, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, s.Corrupt("values nested more than %d deep", maxDepth)
	}
	c, ok := s.skipWS()
	if !ok {
		return dst, s.Corrupt("unexpected end of file, want a value")
	}
	switch {
	case c == '"':
		s.pos++
		if keep {
			return s.copyString(dst)
		}
		return dst, s.ReadString(nil)
	case c == '{' || c == '[':
		s.pos++
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if keep {
			dst = append(dst, c)
		}
		first := true
		for {
			b, ok := s.skipWS()
			if !ok {
				return dst, s.Corrupt("unexpected end of file inside %s", containerName(c))
			}
			if b == closer && first {
				s.pos++
				break
			}
			if !first {
				if b == closer {
					s.pos++
					break
				}
				if b != ',' {
					return dst, s.Corrupt("found %s inside %s, want ',' or %q", describeByte(b), containerName(c), rune(closer))
				}
				s.pos++
				if keep {
					dst = append(dst, ',')
				}
				b, ok = s.skipWS()
				if !ok {
					return dst, s.Corrupt("unexpected end of file inside %s", containerName(c))
				}
			}
			first = false
			if c == '{' {
				if b != '"' {
					return dst, s.Corrupt("found %s, want an object key", describeByte(b))
				}
				s.pos++
				var err error
				if keep {
					dst, err = s.copyString(dst)
				} else {
					err = s.ReadString(nil)
				}
				if err != nil {
					return dst, err
				}
				if err := s.Expect(':', "':' after an object key"); err != nil {
					return dst, err
				}
				if keep {
					dst = append(dst, ':')
				}
			}
			var err error
			if dst, err = s.value(dst, keep, depth+1); err != nil {
				return dst, err
			}
		}
		if keep {
			dst = append(dst, closer)
		}
		return dst, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(dst, keep)
	case c == 't':
		return s.literal(dst, keep, "true")
	case c == 'f':
		return s.literal(dst, keep, "false")
	case c == 'n':
		return s.literal(dst, keep, "null")
	case c == 'N' || c == 'I':
		return dst, s.Corrupt("NaN and Infinity are not JSON; replace them with null or a number")
	}
	return dst, s.Corrupt("found %s, want a value", describeByte(c))
}

func containerName(c byte) string {
	if c == '{' {
		return "an object"
	}
	return "an array"
}

func (s *Scanner) literal(dst []byte, keep bool, lit string) ([]byte, error) {
	for k := 0; k < len(lit); k++ {
		c, ok := s.nextByte()
		if !ok || c != lit[k] {
			return dst, s.Corrupt("invalid literal, want %s", lit)
		}
	}
	if keep {
		dst = append(dst, lit...)
	}
	return dst, nil
}

// number copies a JSON number, checking its grammar.
func (s *Scanner) number(dst []byte, keep bool) ([]byte, error) {
	// states: 0 start, 1 after '-', 2 leading zero, 3 int digits, 4 after '.',
	// 5 frac digits, 6 after e, 7 after e sign, 8 exp digits
	state := 0
	for s.fill() {
		c := s.buf[s.pos]
		next := -1
		switch state {
		case 0:
			if c == '-' {
				next = 1
			} else if c == '0' {
				next = 2
			} else if c >= '1' && c <= '9' {
				next = 3
			}
		case 1:
			if c == '0' {
				next = 2
			} else if c >= '1' && c <= '9' {
				next = 3
			}
		case 2, 3:
			switch {
			case state == 3 && c >= '0' && c <= '9':
				next = 3
			case c == '.':
				next = 4
			case c == 'e' || c == 'E':
				next = 6
			}
		case 4, 5:
			if c >= '0' && c <= '9' {
				next = 5
			} else if state == 5 && (c == 'e' || c == 'E') {
				next = 6
			}
		case 6:
			if c == '+' || c == '-' {
				next = 7
			} else if c >= '0' && c <= '9' {
				next = 8
			}
		case 7, 8:
			if c >= '0' && c <= '9' {
				next = 8
			}
		}
		if next < 0 {
			break
		}
		state = next
		s.pos++
		if keep {
			dst = append(dst, c)
		}
	}
	if state != 2 && state != 3 && state != 5 && state != 8 {
		return dst, s.Corrupt("invalid number")
	}
	return dst, nil
}

// objectKeys iterates the members of an object whose '{' is next: for each
// key (decoded) it calls member, which must consume the value.
func (s *Scanner) ObjectMembers(keyBuf []byte, member func(key []byte) error) error {
	if err := s.Expect('{', "'{'"); err != nil {
		return err
	}
	first := true
	for {
		b, ok := s.skipWS()
		if !ok {
			return s.Corrupt("unexpected end of file inside an object")
		}
		if b == '}' {
			s.pos++
			return nil
		}
		if !first {
			if b != ',' {
				return s.Corrupt("found %s inside an object, want ',' or '}'", describeByte(b))
			}
			s.pos++
			if b, ok = s.skipWS(); !ok {
				return s.Corrupt("unexpected end of file inside an object")
			}
		}
		first = false
		if b != '"' {
			return s.Corrupt("found %s, want an object key", describeByte(b))
		}
		s.pos++
		var err error
		keyBuf, err = s.ReadStringValue(keyBuf[:0])
		if err != nil {
			return err
		}
		if err := s.Expect(':', "':' after an object key"); err != nil {
			return err
		}
		if err := member(keyBuf); err != nil {
			return err
		}
	}
}

// arrayElems iterates the elements of an array whose '[' is next; elem must
// consume each element.
func (s *Scanner) ArrayElems(elem func(i int) error) error {
	if err := s.Expect('[', "'['"); err != nil {
		return err
	}
	for i := 0; ; i++ {
		b, ok := s.skipWS()
		if !ok {
			return s.Corrupt("unexpected end of file inside an array")
		}
		if b == ']' {
			s.pos++
			return nil
		}
		if i > 0 {
			if b != ',' {
				return s.Corrupt("found %s inside an array, want ',' or ']'", describeByte(b))
			}
			s.pos++
		}
		if err := elem(i); err != nil {
			return err
		}
	}
}

// peekKind returns the next non-space byte without consuming it.
func (s *Scanner) PeekKind() (byte, bool) { return s.skipWS() }

// JSONKindName names the JSON type starting with b, for messages.
func JSONKindName(b byte) string {
	switch {
	case b == '{':
		return "a JSON object"
	case b == '[':
		return "a JSON array"
	case b == '"':
		return "a JSON string"
	case b == 't' || b == 'f':
		return "a JSON boolean"
	case b == 'n':
		return "null"
	case b == '-' || (b >= '0' && b <= '9'):
		return "a JSON number"
	}
	return describeByte(b)
}

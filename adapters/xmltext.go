package adapters

import (
	"fmt"
	"unicode/utf8"
)

// XMLTextError checks a graph id, property name or string value for
// characters XML 1.0 cannot hold (C0 controls but tab, LF and CR, U+FFFE,
// U+FFFF, bytes that are not UTF-8). A GraphML file would turn them into
// U+FFFD, so distinct ids would collide and read back as another id: they
// are refused with invalid_character, naming the character, before anything
// is stored.
func XMLTextError(what, s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		bad := ""
		switch {
		case r == utf8.RuneError && size == 1:
			bad = fmt.Sprintf("the byte 0x%02X, which is not UTF-8", s[i])
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			bad = fmt.Sprintf("the character U+%04X", r)
		}
		if bad != "" {
			return Errorf(ErrInvalid, "invalid_character",
				"remove or replace the character: LightRAG's GraphML file (XML 1.0) cannot hold it",
				"%s holds %s at byte %d", what, bad, i)
		}
		i += size
	}
	return nil
}

// LoneSurrogate reports the first \uD800-\uDFFF escape in raw JSON text that
// is not half of a surrogate pair. Go's JSON decoder silently turns it into
// U+FFFD, so a body holding one cannot be stored as sent.
func LoneSurrogate(raw []byte) (string, bool) {
	for i := 0; i+6 <= len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(raw[i+2 : i+6])
		if !ok || r < 0xD800 || r > 0xDFFF {
			i += 5
			continue
		}
		if r <= 0xDBFF && i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			if lo, ok := hex4(raw[i+8 : i+12]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11
				continue
			}
		}
		return string(raw[i : i+6]), true
	}
	return "", false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

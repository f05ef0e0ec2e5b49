package lightragfile

import "unicode/utf8"

// LegacyEntry is one entry of a pre-1.3.10 nested LLM cache mode.
type LegacyEntry struct {
	Hash, CacheType string
	Data            []byte // the entry, compact JSON
}

// LegacyCacheEntries reports whether raw (one record of an LLM cache file)
// is a nested cache mode {hash: {"return": ..., ...}} as LightRAG wrote
// before 1.3.10, and returns its entries. JsonKVStorage's
// _migrate_legacy_cache_structure flattens each to
// "{mode}:{cache_type}:{hash}", cache_type defaulting to "extract".
func LegacyCacheEntries(raw []byte, name string) ([]LegacyEntry, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var entries []LegacyEntry
	s := NewBytesScanner(raw, name)
	nested := true
	err := s.ObjectMembers(nil, func(key []byte) error {
		b, _ := s.PeekKind()
		v, err := s.CopyValue(nil, true)
		if err != nil {
			return err
		}
		if b != '{' {
			nested = false
			return nil
		}
		hasReturn, cacheType := false, "extract"
		es := NewBytesScanner(v, name)
		err = es.ObjectMembers(nil, func(k []byte) error {
			switch string(k) {
			case "return":
				hasReturn = true
			case "cache_type":
				cacheType = pyStr(es)
				return nil
			}
			_, err := es.CopyValue(nil, false)
			return err
		})
		if err != nil {
			return err
		}
		if !hasReturn {
			nested = false
		}
		// Written back as text, an invalid byte of the key becomes U+FFFD
		// (one each, as the writer does); the flattened id must say so now.
		entries = append(entries, LegacyEntry{Hash: validUTF8(key), CacheType: cacheType, Data: v})
		return nil
	})
	if err != nil || !nested {
		return nil, false
	}
	return entries, true
}

// validUTF8 is b with every byte that is not part of valid UTF-8 replaced
// by U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r) // RuneError for an invalid byte
		b = b[n:]
	}
	return string(out)
}

// pyStr reads a value and renders it like Python's str() would in an
// f-string (used for cache_type in the migrated key).
func pyStr(s *Scanner) string {
	b, _ := s.PeekKind()
	if b == '"' {
		s.pos++
		v, err := s.ReadStringValue(nil)
		if err != nil {
			return ""
		}
		return string(v)
	}
	v, err := s.CopyValue(nil, true)
	if err != nil {
		return ""
	}
	switch string(v) {
	case "null":
		return "None"
	case "true":
		return "True"
	case "false":
		return "False"
	}
	return string(v)
}

package lightragfile

import (
	"context"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hybridrag/storage-proxy/adapters"
)

// kvWant describes a KV file, for error messages.
const kvWant = "want a JSON object of records keyed by id"

// ReadKV streams the records of a kv_store_<ns>.json file (kind kv or
// doc_status) in stored form, exactly as adapters/json holds them after
// loading it: a key written twice keeps its last value, and a legacy
// nested LLM cache is flattened as JsonKVStorage migrates it. Records come
// in the order of the last occurrence of their key.
//
// The file is read two or three times (ids first, then records); memory
// holds the set of ids, never the records.
func ReadKV(ctx context.Context, f File, opt Options, fn func(adapters.KVRecord) error) error {
	fh, name, err := openFile(f)
	if err != nil {
		return err
	}
	defer fh.Close()
	em := &emitter{opt: opt, file: name}
	quiet := &emitter{file: name}

	// Pass 1: how often each key occurs, and the first key.
	counts := map[string]int32{}
	var firstKey string
	haveFirst := false
	err = scanKVStream(ctx, fh, name, quiet, func(key []byte, _ int64, _ []byte) error {
		if !haveFirst {
			firstKey, haveFirst = string(key), true
		}
		counts[string(key)]++
		return nil
	})
	if err != nil {
		return err
	}
	_, ns, _ := Classify(name)
	legacy := strings.HasSuffix(ns, "_cache") && haveFirst && len(strings.Split(firstKey, ":")) != 3

	// final calls out with each key's last value only.
	final := func(out func(key []byte, off int64, val []byte) error) func(key []byte, off int64, val []byte) error {
		left := map[string]int32{}
		for k, n := range counts {
			if n > 1 {
				left[k] = n
			}
		}
		return func(key []byte, off int64, val []byte) error {
			if n, dup := left[string(key)]; dup {
				left[string(key)] = n - 1
				if n > 1 {
					return nil
				}
			}
			return out(key, off, val)
		}
	}
	emit := func(id string, data []byte) error {
		if !em.next() {
			return nil
		}
		return fn(adapters.KVRecord{ID: id, Data: append(adapters.Record(nil), data...)})
	}
	if !legacy {
		return scanKVStream(ctx, fh, name, em, final(func(key []byte, _ int64, val []byte) error {
			return emit(string(key), val)
		}))
	}

	// A legacy cache: the flattened ids may repeat too, so count them in a
	// dry run before yielding.
	expand := func(out func(id string, data []byte) error) func(key []byte, off int64, val []byte) error {
		return func(key []byte, _ int64, val []byte) error {
			entries, nested := LegacyCacheEntries(val, name)
			if !nested {
				return out(string(key), val)
			}
			for _, e := range entries {
				if err := out(string(key)+":"+e.CacheType+":"+e.Hash, e.Data); err != nil {
					return err
				}
			}
			return nil
		}
	}
	outCounts := map[string]int32{}
	err = scanKVStream(ctx, fh, name, quiet, final(expand(func(id string, _ []byte) error {
		outCounts[id]++
		return nil
	})))
	if err != nil {
		return err
	}
	for k, n := range outCounts {
		if n == 1 {
			delete(outCounts, k)
		}
	}
	return scanKVStream(ctx, fh, name, em, final(expand(func(id string, data []byte) error {
		if n, dup := outCounts[id]; dup {
			outCounts[id] = n - 1
			if n > 1 {
				return nil
			}
		}
		return emit(id, data)
	})))
}

// scanKVStream reads the top-level object of a KV file from the start,
// calling rec with each well-formed member (key decoded, value compact
// JSON aliasing a scratch buffer). A malformed member is reported and
// skipped: reading resumes at the next line that starts a top-level key
// (LightRAG writes indent=2), which a file without line breaks does not
// allow. A cut-off end is reported once. Only a file that is not a JSON
// object at all, and I/O errors, are errors.
func scanKVStream(ctx context.Context, fh *os.File, name string, em *emitter,
	rec func(key []byte, off int64, val []byte) error) error {
	s, err := scannerAt(fh, 0, name)
	if err != nil {
		return err
	}
	s.SkipBOM()
	b, ok := s.PeekKind()
	if !ok {
		if s.rerr != nil {
			return s.Corrupt("")
		}
		return CorruptError(name, "file is empty, "+kvWant+" (LightRAG writes {} for an empty store)")
	}
	if b != '{' {
		return CorruptError(name, fmt.Sprintf("top level is %s, %s", JSONKindName(b), kvWant))
	}
	s.pos++
	// The whitespace before the first key tells the indentation that marks
	// a top-level key at the start of a line.
	var ws []byte
	for s.fill() {
		c := s.buf[s.pos]
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			break
		}
		if len(ws) < 256 {
			ws = append(ws, c)
		}
		s.pos++
	}
	var resyncPat []byte
	if i := strings.LastIndexByte(string(ws), '\n'); i >= 0 {
		resyncPat = append(append([]byte(nil), ws[i:]...), '"')
	}
	var (
		key, val []byte
		first    = true
		n        int
	)
	for {
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		c, ok := s.skipWS()
		if !ok {
			if s.rerr != nil {
				return s.Corrupt("")
			}
			em.problem(s.Offset(), "", "the file ends before the closing '}' (cut off)")
			return nil
		}
		if c == '}' {
			s.pos++
			if b, ok := s.skipWS(); ok {
				em.problem(s.Offset(), "", fmt.Sprintf("unexpected %s after the closing '}'; the rest of the file is ignored", describeByte(b)))
			} else if s.rerr != nil {
				return s.Corrupt("")
			}
			return nil
		}
		recStart := s.Offset()
		key = key[:0]
		err := func() error {
			if !first {
				if c != ',' {
					return s.Corrupt("found %s, want ',' or '}'", describeByte(c))
				}
				s.pos++
				if c, ok = s.skipWS(); !ok {
					return s.Corrupt("unexpected end of file, want a record id")
				}
				recStart = s.Offset()
			}
			if c != '"' {
				return s.Corrupt("found %s, want a record id", describeByte(c))
			}
			s.pos++
			var err error
			if key, err = s.ReadStringValue(key[:0]); err != nil {
				return err
			}
			if err := s.Expect(':', "':' after a record id"); err != nil {
				return err
			}
			val, err = s.CopyValue(val[:0], true)
			return err
		}()
		first = false
		if err != nil {
			if isReadFailure(err) || s.rerr != nil {
				return s.Corrupt("")
			}
			id := ""
			if utf8.Valid(key) {
				id = string(key)
			}
			if s.AtEOF() {
				em.problem(recStart, id, "the file ends inside this record (cut off at byte "+fmt.Sprint(s.Offset())+")")
				return nil
			}
			if resyncPat == nil {
				em.problem(recStart, id, reason(err, name)+"; the file has no line breaks to resynchronise at, so the rest of it is skipped")
				return nil
			}
			em.problem(recStart, id, reason(err, name))
			if s, err = scannerAt(fh, recStart+1, name); err != nil {
				return err
			}
			if s.seekAny(resyncPat) < 0 {
				if s.rerr != nil {
					return s.Corrupt("")
				}
				return nil // nothing after it: the problem is reported
			}
			s.pos += len(resyncPat) - 1 // at the key's opening quote
			first = true
			continue
		}
		if !utf8.Valid(key) {
			em.problem(recStart, "", fmt.Sprintf("record id %q is not valid UTF-8", key))
			continue
		}
		if len(val) == 0 || val[0] != '{' {
			b := byte(0)
			if len(val) > 0 {
				b = val[0]
			}
			em.problem(recStart, string(key), fmt.Sprintf("the record is %s, want a JSON object", JSONKindName(b)))
			continue
		}
		if err := rec(key, recStart, val); err != nil {
			return err
		}
	}
}

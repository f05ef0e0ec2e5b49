package lightragfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Problem is a record that was skipped, or a file cut off mid-way.
type Problem struct {
	File   string
	Offset int64  // byte offset of the record (or of the cut) in the file
	Record string // the record's id, when it is known
	Reason string
}

func (p Problem) String() string {
	if p.Record != "" {
		return fmt.Sprintf("%s at byte %d (record %q): %s", p.File, p.Offset, p.Record, p.Reason)
	}
	return fmt.Sprintf("%s at byte %d: %s", p.File, p.Offset, p.Reason)
}

// Options tune a reader.
type Options struct {
	// Skip is the number of records, in the order the reader yields them,
	// to pass over without calling the callback (resuming a copy). Problems
	// met before the Skip-th record was passed are not reported again.
	Skip int64
	// OnProblem receives every skipped record and a cut-off end; nil
	// ignores them.
	OnProblem func(Problem)
}

// emitter counts the records a reader yields and applies Options.
type emitter struct {
	opt  Options
	file string
	n    int64 // records passed so far (yielded or skipped)
}

// next counts one record and reports whether the callback gets it.
func (e *emitter) next() bool {
	e.n++
	return e.n > e.opt.Skip
}

func (e *emitter) problem(off int64, record, reason string) {
	if e.opt.OnProblem == nil || e.n < e.opt.Skip {
		return
	}
	e.opt.OnProblem(Problem{File: e.file, Offset: off, Record: record, Reason: reason})
}

// reason extracts the description from a reader error (the file name that
// CorruptError puts in front is dropped).
func reason(err error, file string) string {
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return strings.TrimPrefix(ae.Message, file+": ")
	}
	return err.Error()
}

// isReadFailure reports an I/O error, as opposed to bad content.
func isReadFailure(err error) bool {
	var ae *adapters.Error
	return err != nil && !errors.As(err, &ae)
}

func openFile(f File) (*os.File, string, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", f.Path, err)
	}
	return fh, filepath.Base(f.Path), nil
}

// scannerAt returns a scanner reading fh from byte offset off.
func scannerAt(fh *os.File, off int64, name string) (*Scanner, error) {
	if _, err := fh.Seek(off, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return NewScannerAt(fh, off, name), nil
}

// seekAny advances to the earliest occurrence of one of pats and returns
// its index, or -1 (input consumed) when none occurs.
func (s *Scanner) seekAny(pats ...[]byte) int {
	longest := 0
	for _, p := range pats {
		longest = max(longest, len(p))
	}
	for {
		best, which := -1, -1
		for k, p := range pats {
			if i := bytes.Index(s.buf[s.pos:s.end], p); i >= 0 && (best < 0 || i < best) {
				best, which = i, k
			}
		}
		if which >= 0 {
			s.pos += best
			return which
		}
		if keep := s.end - s.pos - (longest - 1); keep > 0 {
			s.pos += keep
		}
		if !s.ensure(longest) {
			// Fewer than longest bytes remain: check them too.
			for k, p := range pats {
				if i := bytes.Index(s.buf[s.pos:s.end], p); i >= 0 {
					s.pos += i
					return k
				}
			}
			s.pos = s.end
			return -1
		}
	}
}

// checkEvery is how often (in records) readers check the context.
const checkEvery = 1024

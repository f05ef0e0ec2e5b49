package dataset

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// counter counts the bytes written through it, so the generator knows the
// folder's size without stat calls.
type counter struct {
	w io.Writer
	n *int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// outFile is one output file written front to back.
type outFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int
}

func createOut(dir, name string, total *int64) (*outFile, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return &outFile{path: path, f: f, w: bufio.NewWriterSize(counter{w: f, n: total}, 256<<10)}, nil
}

func (o *outFile) close() error {
	if o.f == nil {
		return nil
	}
	err := o.w.Flush()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	o.f = nil
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(o.path), err)
	}
	return nil
}

// kvFile writes a KV store as json.dump(indent=2) does, one record at a time.
type kvFile struct{ *outFile }

func createKV(dir, ns string, total *int64) (kvFile, error) {
	o, err := createOut(dir, "kv_store_"+ns+".json", total)
	if err != nil {
		return kvFile{}, err
	}
	o.w.WriteByte('{')
	return kvFile{o}, nil
}

func (k kvFile) put(id string, rec obj) {
	if k.n > 0 {
		k.w.WriteByte(',')
	}
	k.n++
	k.w.WriteString("\n  ")
	writeString(k.w, id)
	k.w.WriteString(": ")
	writePretty(k.w, rec, 1)
}

func (k kvFile) finish() error {
	if k.n > 0 {
		k.w.WriteByte('\n')
	}
	k.w.WriteByte('}')
	return k.close()
}

// spill is a temp file in the output folder for the part of a file that
// comes after a part still being written (the vdb matrix after its data
// list, GraphML edges after the nodes). It keeps memory flat.
type spill struct{ *outFile }

func createSpill(dir, name string, total *int64) (spill, error) {
	o, err := createOut(dir, ".gen-"+name+".tmp", total)
	return spill{o}, err
}

// appendTo copies the spill into dst and removes it. The spill's bytes were
// counted once already, so the copy goes around the counter.
func (s spill) appendTo(dst *outFile, total *int64) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(s.path), err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(s.path), err)
	}
	if err := dst.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(dst.path), err)
	}
	if _, err := io.Copy(dst.f, s.f); err != nil {
		return fmt.Errorf("copy %s: %w", filepath.Base(s.path), err)
	}
	err := s.close()
	if rerr := os.Remove(s.path); err == nil && rerr != nil {
		err = fmt.Errorf("remove %s: %w", filepath.Base(s.path), rerr)
	}
	return err
}

func (s spill) discard() {
	_ = s.close()
	_ = os.Remove(s.path)
}

// vdbFile writes a NanoVectorDB file: {"embedding_dim": D, "data": [...],
// "matrix": "<base64>"}. Matrix rows stream base64-encoded into a spill.
type vdbFile struct {
	*outFile
	matrix spill
	b64    io.WriteCloser
}

func createVDB(dir, ns string, dim int, total *int64) (*vdbFile, error) {
	o, err := createOut(dir, "vdb_"+ns+".json", total)
	if err != nil {
		return nil, err
	}
	m, err := createSpill(dir, "vdb_"+ns+"-matrix", total)
	if err != nil {
		o.close()
		return nil, err
	}
	fmt.Fprintf(o.w, `{"embedding_dim": %d, "data": [`, dim)
	return &vdbFile{outFile: o, matrix: m, b64: base64.NewEncoder(base64.StdEncoding, m.w)}, nil
}

func (v *vdbFile) put(item obj, row []byte) error {
	if v.n > 0 {
		v.w.WriteString(", ")
	}
	v.n++
	writeCompact(v.w, item)
	if _, err := v.b64.Write(row); err != nil {
		return fmt.Errorf("write %s matrix: %w", filepath.Base(v.path), err)
	}
	return nil
}

func (v *vdbFile) finish(total *int64) error {
	if err := v.b64.Close(); err != nil {
		return fmt.Errorf("write %s matrix: %w", filepath.Base(v.path), err)
	}
	v.w.WriteString(`], "matrix": "`)
	if err := v.matrix.appendTo(v.outFile, total); err != nil {
		return err
	}
	v.w.WriteString(`"}`)
	return v.close()
}

func (v *vdbFile) discard() {
	v.matrix.discard()
	_ = v.close()
}

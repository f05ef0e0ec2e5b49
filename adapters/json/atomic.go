package json

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix names our temporary files so a crash leftover can be swept.
const tempPrefix = ".hybridrag-tmp-"

// writeFileAtomic replaces path with what write produces: a temp file in the
// same folder is written, fsynced, closed and renamed over path, then the
// folder is fsynced so the rename itself survives a crash. On any failure
// the temp file is removed and path is left as it was.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	p, err := prepareFile(path, write)
	if err != nil {
		return err
	}
	return commitFiles([]*pendingFile{p})[0]
}

// pendingFile is a finished, fsynced temp file waiting to replace path.
type pendingFile struct {
	path, tmp string
}

// prepareFile writes what write produces to a temp file next to path,
// fsyncs and closes it. On failure nothing is left behind.
func prepareFile(path string, write func(io.Writer) error) (_ *pendingFile, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Keep the mode of the file being replaced (CreateTemp uses 0600).
	mode := os.FileMode(0o644)
	if st, serr := os.Stat(path); serr == nil {
		mode = st.Mode().Perm()
	}
	if err = f.Chmod(mode); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	if err = write(bw); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &pendingFile{path: path, tmp: tmp}, nil
}

// commitFiles renames prepared files over their paths, then fsyncs each
// folder once, so several files cost one folder fsync instead of one each.
// errs[i] is the outcome of files[i] (nil entries are skipped); a file
// whose rename failed keeps its old content and its temp file is removed.
func commitFiles(files []*pendingFile) []error {
	errs := make([]error, len(files))
	dirs := map[string][]int{}
	for i, p := range files {
		if p == nil {
			continue
		}
		if err := os.Rename(p.tmp, p.path); err != nil {
			os.Remove(p.tmp)
			errs[i] = fmt.Errorf("write %s: %w", p.path, err)
			continue
		}
		dir := filepath.Dir(p.path)
		dirs[dir] = append(dirs[dir], i)
	}
	for dir, idx := range dirs {
		if err := syncDir(dir); err != nil {
			for _, i := range idx {
				errs[i] = fmt.Errorf("write %s: %w", files[i].path, err)
			}
		}
	}
	return errs
}

// syncDir fsyncs a folder so a rename or create in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// sweepTempFiles removes temp files a crash left behind in dir. They are
// never the real data: the real file is only replaced by a finished rename.
func sweepTempFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("sweep %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sweep %s: %w", dir, err)
		}
	}
	return nil
}

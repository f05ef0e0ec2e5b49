package monitor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// FileSize is one LightRAG file of a JSON database. File is relative to the
// database folder ("ws1/kv_store_full_docs.json" for a workspace).
type FileSize struct {
	File  string
	Bytes int64
}

// isStorageFile reports whether name is one of LightRAG's storage files
// (kv_store_*.json, vdb_*.json, graph_*.graphml).
func isStorageFile(name string) bool {
	switch {
	case strings.HasPrefix(name, "kv_store_") && strings.HasSuffix(name, ".json"),
		strings.HasPrefix(name, "vdb_") && strings.HasSuffix(name, ".json"),
		strings.HasPrefix(name, "graph_") && strings.HasSuffix(name, ".graphml"):
		return true
	}
	return false
}

// ScanFolder lists LightRAG's files in dir and its workspace sub-folders (one
// level, as LightRAG lays them out) with their sizes from stat: nothing is
// opened or parsed, so it is fast for files of any size. A missing folder is
// an empty database.
func ScanFolder(dir string) ([]FileSize, int64, error) {
	var out []FileSize
	var total int64
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []FileSize{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", dir, err)
	}
	add := func(rel string, e fs.DirEntry) error {
		if !e.Type().IsRegular() || !isStorageFile(e.Name()) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // replaced or removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", filepath.Join(dir, rel), err)
		}
		out = append(out, FileSize{File: rel, Bytes: info.Size()})
		total += info.Size()
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if adapters.ValidateName("workspace", e.Name()) != nil {
				continue
			}
			sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				continue // a sub-folder we cannot list is not LightRAG's
			}
			for _, se := range sub {
				if err := add(e.Name()+"/"+se.Name(), se); err != nil {
					return nil, 0, err
				}
			}
			continue
		}
		if err := add(e.Name(), e); err != nil {
			return nil, 0, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	if out == nil {
		out = []FileSize{}
	}
	return out, total, nil
}

// Human formats a byte count in binary units: "512 B", "1.5 KB", "600.0 MB",
// "2.0 GB".
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KB", "MB", "GB", "TB", "PB"}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

package lightragfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// LightRAG's file names for a namespace.

// KVFileName is kv_store_<ns>.json (KV and doc status).
func KVFileName(ns string) string { return "kv_store_" + ns + ".json" }

// VectorFileName is vdb_<ns>.json (NanoVectorDB).
func VectorFileName(ns string) string { return "vdb_" + ns + ".json" }

// GraphFileName is graph_<ns>.graphml (NetworkX).
func GraphFileName(ns string) string { return "graph_" + ns + ".graphml" }

// FolderFile is one LightRAG file found directly in a folder.
type FolderFile struct {
	Name      string
	Kind      adapters.Kind
	Namespace string
	Bytes     int64
}

// Classify maps a file name to its kind and namespace; ok is false for
// anything that is not a LightRAG storage file.
func Classify(name string) (kind adapters.Kind, ns string, ok bool) {
	switch {
	case strings.HasPrefix(name, "kv_store_") && strings.HasSuffix(name, ".json"):
		ns = strings.TrimSuffix(strings.TrimPrefix(name, "kv_store_"), ".json")
		kind = adapters.KindKV
		if strings.HasSuffix(ns, "doc_status") {
			kind = adapters.KindDocStatus
		}
	case strings.HasPrefix(name, "vdb_") && strings.HasSuffix(name, ".json"):
		ns = strings.TrimSuffix(strings.TrimPrefix(name, "vdb_"), ".json")
		kind = adapters.KindVector
	case strings.HasPrefix(name, "graph_") && strings.HasSuffix(name, ".graphml"):
		ns = strings.TrimSuffix(strings.TrimPrefix(name, "graph_"), ".graphml")
		kind = adapters.KindGraph
	default:
		return "", "", false
	}
	if ns == "" {
		return "", "", false
	}
	return kind, ns, true
}

// ListFolder lists LightRAG files directly in dir (not recursive), sorted
// by name. A missing dir is an empty list.
func ListFolder(dir string) ([]FolderFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []FolderFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		kind, ns, ok := Classify(e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		out = append(out, FolderFile{Name: e.Name(), Kind: kind, Namespace: ns, Bytes: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// File is one LightRAG storage file of a working directory: the top level
// is workspace "", each sub-folder whose name is a valid workspace name is
// that workspace (as adapters/json lays them out).
type File struct {
	Path                 string
	Workspace, Namespace string
	Kind                 adapters.Kind
	Bytes                int64
}

// Name is the file's base name.
func (f File) Name() string { return filepath.Base(f.Path) }

// List lists the LightRAG files of the working directory dir and of its
// workspace sub-folders (one level), sorted by workspace, then file name.
func List(dir string) ([]File, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("list %s: not a folder", dir)
	}
	var out []File
	add := func(sub, ws string) error {
		d := filepath.Join(dir, sub)
		files, err := ListFolder(d)
		if err != nil {
			return fmt.Errorf("list %s: %w", d, err)
		}
		for _, f := range files {
			out = append(out, File{Path: filepath.Join(d, f.Name), Workspace: ws, Namespace: f.Namespace, Kind: f.Kind, Bytes: f.Bytes})
		}
		return nil
	}
	if err := add("", ""); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() || adapters.ValidateName("workspace", e.Name()) != nil {
			continue
		}
		if err := add(e.Name(), e.Name()); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Workspace != out[j].Workspace {
			return out[i].Workspace < out[j].Workspace
		}
		return out[i].Name() < out[j].Name()
	})
	return out, nil
}

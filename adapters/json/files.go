package json

import (
	"os"
	"sort"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// LightRAG's file names for a namespace.
func kvFileName(ns string) string     { return "kv_store_" + ns + ".json" }
func vectorFileName(ns string) string { return "vdb_" + ns + ".json" }
func graphFileName(ns string) string  { return "graph_" + ns + ".graphml" }

// folderFile is one LightRAG file found in a folder.
type folderFile struct {
	Name      string
	Kind      adapters.Kind
	Namespace string
	Bytes     int64
}

// classifyFile maps a file name to its kind and namespace; ok is false for
// anything that is not a LightRAG storage file.
func classifyFile(name string) (kind adapters.Kind, ns string, ok bool) {
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

// listFolder lists LightRAG files directly in dir (not recursive), sorted by
// name. A missing dir is an empty list.
func listFolder(dir string) ([]folderFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []folderFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		kind, ns, ok := classifyFile(e.Name())
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
		out = append(out, folderFile{Name: e.Name(), Kind: kind, Namespace: ns, Bytes: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

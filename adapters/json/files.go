package json

import (
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// The LightRAG file naming and classifying helpers live in lightragfile;
// these names keep the storage engine's call sites unchanged.

// folderFile is one LightRAG file found in a folder.
type folderFile = lightragfile.FolderFile

func kvFileName(ns string) string     { return lightragfile.KVFileName(ns) }
func vectorFileName(ns string) string { return lightragfile.VectorFileName(ns) }
func graphFileName(ns string) string  { return lightragfile.GraphFileName(ns) }

// classifyFile maps a file name to its kind and namespace.
var classifyFile = lightragfile.Classify

// listFolder lists LightRAG files directly in dir, sorted by name.
var listFolder = lightragfile.ListFolder

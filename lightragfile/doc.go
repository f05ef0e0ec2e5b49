// Package lightragfile reads LightRAG's working-directory files: the
// kv_store_<ns>.json, vdb_<ns>.json (NanoVectorDB) and graph_<ns>.graphml
// (NetworkX) of every format era, and holds the low-level codecs (a
// streaming JSON tokenizer, Python-style JSON writing, a streaming XML
// tokenizer) that the JSON storage adapter (adapters/json) builds on.
//
// The streaming readers (ReadKV, ReadVectors, ReadGraph) yield records one
// at a time with flat memory, exactly as adapters/json holds them after
// loading the file, so a migration can copy a multi-GB folder.
package lightragfile

// Package adapters is the storage contract shared by the proxy's router, its
// adapters (JSON files, PostgreSQL) and the one conformance suite in
// adapterstest. It mirrors LightRAG's four storage kinds (KV, vector, graph,
// document status), batch-first, with LightRAG's semantics written down on each
// method so that every adapter gives the same answers.
//
// It is the deliberate exception to "interfaces are defined where they are
// used": like Vault's sdk/physical it is the vocabulary every other package
// speaks.
package adapters

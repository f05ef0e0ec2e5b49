package proxy

import (
	"fmt"
)

// Limits on the work one request may ask for (documented in openapi.yaml
// under "Limits"). The body size limit is Config.MaxBodyBytes.
const (
	// MaxBatchItems bounds the ids, keys, records, nodes, edges, pairs,
	// chunk ids and statuses of one call.
	MaxBatchItems = 100_000
	// MaxTopK bounds a vector query's top_k.
	MaxTopK = 10_000
	// MaxGraphNodes bounds a knowledge-graph's max_nodes.
	MaxGraphNodes = 100_000
)

// batchRequest is a request body carrying a list; decodeBody refuses one
// over MaxBatchItems.
type batchRequest interface {
	batch() (field string, n int)
}

// arrayBatch is a request whose list is a JSON array of field: decodeBody
// counts its items in the raw body first, so a list far over the limit is
// refused before it is decoded (2.5 million ids in a 50 MiB body would take
// hundreds of MB as Go strings).
type arrayBatch interface {
	batchRequest
	batchField() string
}

func (*idsRequest) batchField() string      { return "ids" }
func (*keysRequest) batchField() string     { return "keys" }
func (*edgesRequest) batchField() string    { return "pairs" }
func (*chunkIDsRequest) batchField() string { return "chunk_ids" }
func (*vectorsRequest) batchField() string  { return "ids" }

func (r *idsRequest) batch() (string, int)           { return "ids", len(r.IDs) }
func (r *keysRequest) batch() (string, int)          { return "keys", len(r.Keys) }
func (r *recordsUpsertRequest) batch() (string, int) { return "records", len(r.Records) }
func (r *edgesRequest) batch() (string, int)         { return "pairs", len(r.Pairs) }
func (r *nodesUpsertRequest) batch() (string, int)   { return "nodes", len(r.Nodes) }
func (r *edgesUpsertRequest) batch() (string, int)   { return "edges", len(r.Edges) }
func (r *chunkIDsRequest) batch() (string, int)      { return "chunk_ids", len(r.ChunkIDs) }
func (r *statusesRequest) batch() (string, int)      { return "statuses", len(r.Statuses) }
func (r *vectorUpsertRequest) batch() (string, int)  { return "records", len(r.Records) }
func (r *vectorsRequest) batch() (string, int)       { return "ids", len(r.IDs) }

// overLimit names the limit a request went over and how to stay under it;
// what says what the request asked for ("field \"ids\" has 200000 items").
func overLimit(what string, limit int, fix string) *apiError {
	return newAPIError(kindTooLarge, "limit_exceeded", fix, "%s, over this proxy's limit of %d per request", what, limit)
}

func tooManyItems(field string, n int) *apiError {
	return overLimit(fmt.Sprintf("field %q has %d items", field, n), MaxBatchItems,
		fmt.Sprintf("split the call into batches of at most %d %s", MaxBatchItems, field))
}

// checkBatchRaw refuses, before decoding, an array field over the limit.
func checkBatchRaw(dst any, body []byte) error {
	b, ok := dst.(arrayBatch)
	if !ok {
		return nil
	}
	if n := arrayLen(body, b.batchField()); n > MaxBatchItems {
		return tooManyItems(b.batchField(), n)
	}
	return nil
}

// checkBatch refuses a decoded list over the limit.
func checkBatch(dst any) error {
	b, ok := dst.(batchRequest)
	if !ok {
		return nil
	}
	if field, n := b.batch(); n > MaxBatchItems {
		return tooManyItems(field, n)
	}
	return nil
}

// arrayLen counts the items of the array that is the value of key in the
// JSON object body, scanning bytes without decoding anything; -1 when
// there is no such array. Invalid JSON gives an arbitrary count: the
// decoder reports it afterwards.
func arrayLen(body []byte, key string) int {
	depth := 0
	isKey, want := true, false // at depth 1: the next string is a key; the next value is key's
	inArr, nonEmpty, commas := false, false, 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inArr && depth == 2 && !nonEmpty && c != ']' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			nonEmpty = true
		}
		switch c {
		case '"':
			j := i + 1
			for j < len(body) && body[j] != '"' {
				if body[j] == '\\' {
					j++
				}
				j++
			}
			if depth == 1 && isKey {
				want = j <= len(body) && string(body[i+1:min(j, len(body))]) == key
			}
			i = j
		case ':':
			if depth == 1 {
				isKey = false
			}
		case ',':
			switch {
			case depth == 1:
				isKey, want = true, false
			case inArr && depth == 2:
				commas++
			}
		case '{', '[':
			if depth == 1 && want && c == '[' {
				inArr = true
			}
			depth++
		case '}', ']':
			depth--
			if inArr && depth == 1 {
				if !nonEmpty {
					return 0
				}
				return commas + 1
			}
		}
	}
	return -1
}

package migration

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Verification compares what the source and the target hold without
// holding either in memory: every record is hashed in a canonical form
// (sorted keys, numbers as written, vectors by their float32 bits) and the
// hashes are added up, which does not depend on the order the two sides
// list their records in. The sums are kept per bucket of the id's hash, so
// a mismatch is narrowed to a few buckets whose ids a second pass collects
// to name the records that differ.

const buckets = 64

// digest is an order-independent checksum of a set of records.
type digest struct {
	n   int64
	sum [buckets][4]uint64
}

type recordHash struct {
	id     string
	bucket int
	h      [32]byte
}

func (d *digest) add(r recordHash) {
	d.n++
	s := &d.sum[r.bucket]
	for i := range s {
		s[i] += binary.LittleEndian.Uint64(r.h[i*8:])
	}
}

// String is the whole set's checksum (the buckets added up), hex.
func (d *digest) String() string {
	var tot [4]uint64
	for b := range d.sum {
		for i := range tot {
			tot[i] += d.sum[b][i]
		}
	}
	var out [32]byte
	for i, v := range tot {
		binary.LittleEndian.PutUint64(out[i*8:], v)
	}
	return hex.EncodeToString(out[:16])
}

// differing lists the buckets whose sums differ.
func (d *digest) differing(o *digest) []int {
	var out []int
	for b := range d.sum {
		if d.sum[b] != o.sum[b] {
			out = append(out, b)
		}
	}
	return out
}

func bucketOf(id string) int {
	h := sha256.Sum256([]byte(id))
	return int(h[0]) % buckets
}

// canonical re-encodes a JSON value with sorted object keys and numbers as
// written, so two backends that keep keys in another order compare equal.
func canonical(raw json.RawMessage) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw // not JSON: compare the bytes
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return raw
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func canonicalProps(p adapters.Props) []byte {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = append(b, canonical(p[k])...)
		b = append(b, ',')
	}
	return b
}

func hashOf(id string, parts ...[]byte) recordHash {
	h := sha256.New()
	h.Write([]byte(id))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write(p)
	}
	var r recordHash
	r.id, r.bucket = id, bucketOf(id)
	copy(r.h[:], h.Sum(nil))
	return r
}

func hashKV(r adapters.KVRecord) recordHash { return hashOf(r.ID, []byte("kv"), canonical(r.Data)) }

func hashVector(r adapters.VectorRecord) recordHash {
	vec := make([]byte, 4*len(r.Vector))
	for i, f := range r.Vector {
		binary.LittleEndian.PutUint32(vec[i*4:], math.Float32bits(f))
	}
	fields := r.Fields
	if len(fields) == 0 {
		fields = json.RawMessage("{}")
	}
	created := strconv.AppendInt(nil, r.CreatedAt, 10)
	if len(r.CreatedAtRaw) > 0 {
		created = canonical(r.CreatedAtRaw)
	}
	return hashOf(r.ID, []byte("vector"), canonical(fields), created, vec)
}

func hashNode(n adapters.Node) recordHash {
	return hashOf(n.ID, []byte("node"), canonicalProps(n.Props))
}

// edgeID names an undirected edge the same whichever way a backend lists it.
func edgeID(src, tgt string) string {
	if tgt < src {
		src, tgt = tgt, src
	}
	return src + " -- " + tgt
}

func hashEdge(e adapters.EdgeData) recordHash {
	return hashOf(edgeID(e.Src, e.Tgt), []byte("edge"), canonicalProps(e.Props))
}

// hashes returns the record hashes of a batch.
func hashes(b adapters.Batch) []recordHash {
	out := make([]recordHash, 0, b.Len())
	for _, r := range b.KV {
		out = append(out, hashKV(r))
	}
	for _, r := range b.Vectors {
		out = append(out, hashVector(r))
	}
	for _, n := range b.Nodes {
		out = append(out, hashNode(n))
	}
	for _, e := range b.Edges {
		out = append(out, hashEdge(e))
	}
	return out
}

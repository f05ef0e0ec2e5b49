package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/x448/float16"
)

// topics is how many cluster centres the embeddings are drawn around, so
// that vector queries find neighbours instead of uniform noise.
const topics = 16

// embedder draws embeddings and encodes them the way nano-vectordb and
// LightRAG store them. It reuses its buffers: one per generator.
type embedder struct {
	dim     int
	rng     *rand.Rand
	centres [][]float32
	vec     []float32
	row     []byte
	half    []byte
	zbuf    bytes.Buffer
	zw      *zlib.Writer
}

func newEmbedder(dim int, rng *rand.Rand) *embedder {
	e := &embedder{dim: dim, rng: rng, vec: make([]float32, dim), row: make([]byte, 4*dim), half: make([]byte, 2*dim)}
	e.centres = make([][]float32, topics)
	for t := range e.centres {
		c := make([]float32, dim)
		for i := range c {
			c[i] = float32(rng.NormFloat64())
		}
		normalize(c)
		e.centres[t] = c
	}
	e.zw = zlib.NewWriter(&e.zbuf)
	return e
}

// next draws an embedding near topic t with a norm close to 1 (OpenAI
// embeddings are unit-length up to float error) and returns the matrix row
// (L2-normalised float32 LE) and the per-item `vector` (base64 of zlib of
// the un-normalised float16 LE values).
func (e *embedder) next(t int) (row []byte, vector string, err error) {
	c := e.centres[t%topics]
	noise := 1 / math.Sqrt(float64(e.dim))
	for i := range e.vec {
		e.vec[i] = 0.7*c[i] + float32(noise*e.rng.NormFloat64())
	}
	// A norm slightly off 1, as real embeddings have, so the per-item vector
	// really is un-normalised.
	scale := float32(0.98+0.04*e.rng.Float64()) / norm(e.vec)
	for i, x := range e.vec {
		e.vec[i] = x * scale
		binary.LittleEndian.PutUint16(e.half[2*i:], float16.Fromfloat32(e.vec[i]).Bits())
	}
	n := norm(e.vec)
	for i, x := range e.vec {
		binary.LittleEndian.PutUint32(e.row[4*i:], math.Float32bits(x/n))
	}
	e.zbuf.Reset()
	e.zw.Reset(&e.zbuf)
	if _, err := e.zw.Write(e.half); err != nil {
		return nil, "", fmt.Errorf("compress vector: %w", err)
	}
	if err := e.zw.Close(); err != nil {
		return nil, "", fmt.Errorf("compress vector: %w", err)
	}
	return e.row, base64.StdEncoding.EncodeToString(e.zbuf.Bytes()), nil
}

func norm(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}

func normalize(v []float32) {
	n := norm(v)
	if n == 0 {
		return
	}
	for i := range v {
		v[i] /= n
	}
}

package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
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
		binary.LittleEndian.PutUint16(e.half[2*i:], float32ToHalf(e.vec[i]))
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

// float32ToHalf converts to IEEE 754 binary16 with round-to-nearest-even,
// as numpy's astype(float16) does.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case (b>>23)&0xff == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= 0x1f: // overflow
		return sign | 0x7c00
	case exp <= 0: // subnormal or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is still correct
	}
	return sign | uint16(h)
}

// halfToFloat32 is the inverse (tests).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(mant) / 1024 / 16384 // 2^-14 * mant/1024
		if sign != 0 {
			return -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

package json

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// encodeVector16 builds NanoVectorDB's per-item "vector" (LightRAG >= 1.4.7):
// base64 of zlib of the un-normalised embedding as little-endian float16.
func encodeVector16(v []float32) (string, error) {
	raw := make([]byte, 2*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint16(raw[2*i:], float32ToHalf(f))
	}
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, 6) // Python's zlib.compress default
	if err != nil {
		return "", fmt.Errorf("encode vector: %w", err)
	}
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("encode vector: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("encode vector: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// maxVector16Values bounds decompression when the dimension is unknown, so a
// zlib bomb cannot exhaust memory.
const maxVector16Values = 1 << 20

// decodeVector16 reverses encodeVector16. dim > 0 requires exactly dim
// values; dim <= 0 accepts any count.
func decodeVector16(s string, dim int) ([]float32, error) {
	comp, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode vector: not base64: %w", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(comp))
	if err != nil {
		return nil, fmt.Errorf("decode vector: not zlib data: %w", err)
	}
	defer zr.Close()
	limit := int64(2*maxVector16Values + 1)
	if dim > 0 {
		limit = int64(2*dim + 1)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, limit))
	if err != nil {
		return nil, fmt.Errorf("decode vector: bad zlib data: %w", err)
	}
	switch {
	case len(raw)%2 != 0 && int64(len(raw)) != limit:
		return nil, fmt.Errorf("decode vector: %d bytes is not a whole number of float16 values", len(raw))
	case dim > 0 && len(raw) != 2*dim:
		if int64(len(raw)) == limit {
			return nil, fmt.Errorf("decode vector: more than %d values, want %d", dim, dim)
		}
		return nil, fmt.Errorf("decode vector: %d values, want %d", len(raw)/2, dim)
	case int64(len(raw)) == limit:
		return nil, fmt.Errorf("decode vector: more than %d values", maxVector16Values)
	}
	out := make([]float32, len(raw)/2)
	for i := range out {
		out[i] = halfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return out, nil
}

// float32ToHalf converts with round-to-nearest-even, like numpy's astype.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 // NaN
		}
		return sign | 0x7c00 // Inf
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rem > halfway || (rem == halfway && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // a carry into the exponent is the correct rounding
	}
	return sign | uint16(half)
}

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
		// Subnormal: value = mant * 2^-24.
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

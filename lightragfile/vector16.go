package lightragfile

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/x448/float16"
)

// zlibWriters reuses zlib writers: each new one allocates the compressor's
// state (hundreds of KB), which cost more than compressing a vector.
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(io.Discard, 6) // Python's zlib.compress default; 6 is valid
	return zw
}}

// EncodeVector16 builds NanoVectorDB's per-item "vector" (LightRAG >= 1.4.7):
// base64 of zlib of the un-normalised embedding as little-endian float16.
func EncodeVector16(v []float32) (string, error) {
	raw := make([]byte, 2*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint16(raw[2*i:], float16.Fromfloat32(f).Bits())
	}
	var buf bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&buf)
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

// DecodeVector16 decodes NanoVectorDB's per-item "vector" (LightRAG >=
// 1.4.7): base64 of zlib of the un-normalised embedding as little-endian
// float16. dim > 0 requires exactly dim values; dim <= 0 accepts any count.
func DecodeVector16(s string, dim int) ([]float32, error) {
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
		out[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
	}
	return out, nil
}

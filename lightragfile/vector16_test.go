package lightragfile

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/x448/float16"
)

func TestDecodeVector16Known(t *testing.T) {
	// From the storage contract: float16 [1, 2, 3, 4], zlib, base64.
	v, err := DecodeVector16("eJxjsGFwYHBicAEAA/YBAw==", 4)
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3, 4}, v)
	v, err = DecodeVector16("eJxjsGFwYHBicAEAA/YBAw==", 0)
	require.NoError(t, err)
	require.Len(t, v, 4)
}

func TestFloat16Conversion(t *testing.T) {
	// Expected bits from Python's struct.pack('<e', ...) (round half to even).
	tests := []struct {
		in   float32
		want uint16
	}{
		{0.1, 11878}, {-2.5, 49408}, {65504, 31743}, {1e-6, 17}, {3.14159, 16968},
		{5.96e-8, 1}, {2.98e-8, 0}, {0, 0}, {float32(math.Inf(1)), 0x7c00}, {1e6, 0x7c00},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, float16.Fromfloat32(tt.in).Bits(), "%v", tt.in)
	}
	for h := 0; h < 0x10000; h++ {
		f := float16.Frombits(uint16(h)).Float32()
		if f != f { // NaN
			continue
		}
		require.Equal(t, uint16(h), float16.Fromfloat32(f).Bits(), "half %#x", h)
	}
}

func TestVector16RoundTrip(t *testing.T) {
	in := []float32{0.5, -0.25, 0.125, 1e-3, -7}
	s, err := EncodeVector16(in)
	require.NoError(t, err)
	require.Equal(t, "eJ", s[:2]) // zlib default level header, as LightRAG's
	out, err := DecodeVector16(s, len(in))
	require.NoError(t, err)
	for i := range in {
		require.InDelta(t, in[i], out[i], 1e-3)
	}
}

func TestDecodeVector16Errors(t *testing.T) {
	good, err := EncodeVector16([]float32{1, 2, 3})
	require.NoError(t, err)
	tests := []struct{ name, in, msg string }{
		{"not base64", "!!", "not base64"},
		{"not zlib", "AAAA", "not zlib"},
		{"wrong dim", good, "3 values, want 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeVector16(tt.in, 4)
			require.ErrorContains(t, err, tt.msg)
		})
	}
	_, err = DecodeVector16(good, 2)
	require.ErrorContains(t, err, "more than 2 values")
}

func FuzzDecodeVector16(f *testing.F) {
	f.Add("eJxjsGFwYHBicAEAA/YBAw==", 4)
	f.Add("", 0)
	f.Add("AAAA", 1)
	f.Fuzz(func(t *testing.T, s string, dim int) {
		if dim > 1<<16 {
			dim = 1 << 16
		}
		v, err := DecodeVector16(s, dim)
		if err != nil {
			return
		}
		if dim > 0 {
			require.Len(t, v, dim)
		}
		enc, err := EncodeVector16(v)
		require.NoError(t, err)
		back, err := DecodeVector16(enc, len(v))
		require.NoError(t, err)
		require.Equal(t, len(v), len(back))
		for i := range v {
			if v[i] == v[i] { // NaN never equals itself
				require.Equal(t, v[i], back[i])
			}
		}
	})
}

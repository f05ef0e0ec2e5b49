package json

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDotMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 100, 384, 1536, 1537} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		require.InDelta(t, want, dot(a, b), 1e-3, "n=%d", n)
		require.InDelta(t, want, dotGeneric(a, b), 1e-3, "n=%d", n)
	}
}

package json

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// bruteTopK is the reference: every row scored with the float32 kernel,
// sorted by score (desc) then row, threshold applied, first k.
func bruteTopK(matrix []float32, dim int, q []float32, k int, threshold float32) []hit {
	var all []hit
	for r := 0; r < len(matrix)/dim; r++ {
		if s := dot(matrix[r*dim:(r+1)*dim], q); s >= threshold && s == s {
			all = append(all, hit{r, s})
		}
	}
	slices.SortStableFunc(all, func(a, b hit) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return a.row - b.row
	})
	if len(all) > k {
		all = all[:k]
	}
	if all == nil {
		all = []hit{}
	}
	return all
}

func randUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return normalized(v)
}

// matrixOf builds a vectorData from rows (normalised as stored).
func matrixOf(dim int, rows [][]float32) *vectorData {
	d := newVectorData(dim)
	for _, r := range rows {
		d.matrix = append(d.matrix, normalized(r)...)
	}
	return d
}

func TestQuantizedTopKIsExact(t *testing.T) {
	const n = 3 * quantMinRows
	rng := rand.New(rand.NewPCG(11, 12))
	type tc struct {
		name string
		dim  int
		rows func(dim int) [][]float32
		qs   func(d *vectorData) [][]float32
	}
	random := func(dim int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = randUnit(rng, dim)
		}
		return out
	}
	// Near-duplicates: a few bases, each copied many times with noise at
	// the last bits of float32 (and some exact copies: ties).
	nearDup := func(dim int) [][]float32 {
		bases := [][]float32{randUnit(rng, dim), randUnit(rng, dim), randUnit(rng, dim)}
		out := make([][]float32, n)
		for i := range out {
			b := bases[i%len(bases)]
			v := slices.Clone(b)
			if i%5 != 0 { // every fifth row an exact copy of its base
				for j := range v {
					v[j] += float32(rng.NormFloat64()) * 1e-6 * float32(i%7)
				}
			}
			out[i] = v
		}
		return out
	}
	// Mostly exact duplicates of one row, some zero rows, some negated.
	ties := func(dim int) [][]float32 {
		base := randUnit(rng, dim)
		out := make([][]float32, n)
		for i := range out {
			switch {
			case i%97 == 0:
				out[i] = make([]float32, dim)
			case i%3 == 0:
				out[i] = randUnit(rng, dim)
			case i%11 == 0:
				v := slices.Clone(base)
				for j := range v {
					v[j] = -v[j]
				}
				out[i] = v
			default:
				out[i] = slices.Clone(base)
			}
		}
		return out
	}
	// One large component (rows and query nearly parallel to an axis):
	// the int8 scale is set by one element, the rest quantize coarsely.
	spiky := func(dim int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			v := randUnit(rng, dim)
			for j := range v {
				v[j] *= 0.01
			}
			v[i%4] = 1
			out[i] = v
		}
		return out
	}
	queries := func(d *vectorData) [][]float32 {
		qs := [][]float32{
			randUnit(rng, d.dim),
			slices.Clone(d.matrix[5*d.dim : 6*d.dim]),       // a stored row
			slices.Clone(d.matrix[4000*d.dim : 4001*d.dim]), // another
			make([]float32, d.dim),                          // zero query: every score 0
		}
		near := slices.Clone(d.matrix[7*d.dim : 8*d.dim])
		for j := range near {
			near[j] += float32(rng.NormFloat64()) * 1e-4
		}
		return append(qs, normalized(near))
	}
	cases := []tc{
		{"random 1536", 1536, random, queries},
		{"random 37", 37, random, queries}, // not a multiple of 16: the kernel's tail
		{"near duplicates", 256, nearDup, queries},
		{"ties", 128, ties, queries},
		{"spiky", 64, spiky, queries},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := matrixOf(c.dim, c.rows(c.dim))
			for qi, q := range c.qs(d) {
				for _, k := range []int{1, 10, 60, len(d.matrix) / c.dim / quantMaxKFraction} {
					for _, th := range []float32{-2, 0, 0.2, 0.999} {
						want := bruteTopK(d.matrix, c.dim, q, k, th)
						got, ok, err := topKQuantized(context.Background(), d, q, k, th)
						require.NoError(t, err)
						require.True(t, ok)
						require.Equal(t, want, nonNil(got), "query %d, k %d, threshold %v", qi, k, th)
						plain, err := topK(context.Background(), d.matrix, c.dim, q, k, th)
						require.NoError(t, err)
						require.Equal(t, want, nonNil(plain), "plain scan: query %d, k %d, threshold %v", qi, k, th)
					}
				}
				// A threshold equal to a score keeps that row.
				if want := bruteTopK(d.matrix, c.dim, q, 10, -2); len(want) == 10 {
					th := want[9].score
					got, _, err := topKQuantized(context.Background(), d, q, 10, th)
					require.NoError(t, err)
					require.Equal(t, bruteTopK(d.matrix, c.dim, q, 10, th), nonNil(got))
				}
			}
		})
	}
}

func nonNil(h []hit) []hit {
	if h == nil {
		return []hit{}
	}
	return h
}

// The int8 copy follows upserts and deletes once built.
func TestQuantizedFollowsWrites(t *testing.T) {
	const dim = 96
	rng := rand.New(rand.NewPCG(21, 22))
	d := newVectorData(dim)
	var ps []preparedVector
	for i := range 2 * quantMinRows {
		ps = append(ps, preparedVector{id: string(rune('a'+i%26)) + string(rune(i)), row: randUnit(rng, dim)})
	}
	d.put(dim, ps)
	q := randUnit(rng, dim)
	check := func(what string) {
		t.Helper()
		got, err := d.topK(context.Background(), q, 10, 0)
		require.NoError(t, err)
		require.Equal(t, bruteTopK(d.matrix, dim, q, 10, 0), got, what)
		require.Equal(t, newQuantized(d.matrix, dim), d.q, what+": the copy equals a fresh one")
	}
	check("built")
	// Replace rows in place with the query itself and near copies, append
	// new ones, delete some: each time the copy must match.
	d.put(dim, []preparedVector{{id: ps[100].id, row: slices.Clone(q)}, {id: "new", row: slices.Clone(q)}})
	check("upserted")
	require.Equal(t, 100, d.index[ps[100].id])
	d.remove([]string{ps[3].id, ps[100].id, ps[5000].id})
	check("deleted")
}

func TestQuantizeQueryRefuses(t *testing.T) {
	_, ok := quantizeQuery([]float32{1, float32(math.NaN())})
	require.False(t, ok)
	_, ok = quantizeQuery([]float32{float32(math.Inf(1)), 0})
	require.False(t, ok)
	_, ok = quantizeQuery(make([]float32, 1<<20)) // int32 sums could overflow
	require.False(t, ok)
	z, ok := quantizeQuery(make([]float32, 8))
	require.True(t, ok)
	require.Zero(t, z.scale)
}

func TestDotI8MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 48, 1536, 1537} {
		a, b := make([]int8, n), make([]int16, n)
		var want int64
		for i := range a {
			a[i] = int8(rng.IntN(255) - 127)
			b[i] = int16(rng.IntN(2*8000+1) - 8000)
			want += int64(a[i]) * int64(b[i])
		}
		require.EqualValues(t, want, dotI8(a, b), "n=%d", n)
		require.EqualValues(t, want, dotI8Generic(a, b), "n=%d", n)
	}
}

// BenchmarkQuantize100k is the one-time cost of the int8 copy (first large
// query after open).
func BenchmarkQuantize100k(b *testing.B) {
	const rows, dim = 100_000, 1536
	rng := rand.New(rand.NewPCG(3, 4))
	m := make([]float32, rows*dim)
	for i := range m {
		m[i] = float32(rng.NormFloat64())
	}
	normalizeRows(m, dim)
	b.SetBytes(int64(len(m) * 4))
	for b.Loop() {
		newQuantized(m, dim)
	}
}

// Concurrent first queries build the int8 copy once (run with -race).
func TestQuantizedConcurrentFirstQueries(t *testing.T) {
	const dim = 32
	rng := rand.New(rand.NewPCG(31, 32))
	rows := make([][]float32, quantMinRows+100)
	for i := range rows {
		rows[i] = randUnit(rng, dim)
	}
	d := matrixOf(dim, rows)
	q := randUnit(rng, dim)
	want := bruteTopK(d.matrix, dim, q, 10, 0)
	errs := make(chan error, 4)
	got := make([][]hit, 4)
	for g := range 4 {
		go func() {
			var err error
			got[g], err = d.topK(context.Background(), q, 10, 0)
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	for g := range 4 {
		require.Equal(t, want, got[g])
	}
}

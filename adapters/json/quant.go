package json

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
)

// A large query scans an int8 copy of the matrix first (a quarter of the
// bytes: the float32 scan is memory-bound) on every core, and bounds each
// row's float32 score from the int8 one with a proven error margin. Only
// rows whose upper bound reaches the k-th best lower bound can be in the top
// k; those are then scored with the float32 kernel itself, so the result is
// the one a full float32 scan returns, score for score, ties included.

const (
	// quantMinRows: below it a query scans the float32 matrix directly.
	quantMinRows = 4096
	// quantMaxKFraction: a top k above rows/16 gains little from a first
	// pass, so it scans directly.
	quantMaxKFraction = 16
	// parallelMinRows is the least rows worth another goroutine.
	parallelMinRows = 8192
)

// quantized is the int8 copy of a vectorData's matrix: row r is about
// scale[r] * codes[r*dim:(r+1)*dim].
type quantized struct {
	dim   int
	codes []int8
	scale []float32
	// errNorm[r] >= ||row - scale*codes||_2 and norm[r] >= ||scale*codes||_2,
	// both rounded up: the inputs of the error bound.
	errNorm []float32
	norm    []float32
}

// roundUp is x as a float32 no smaller than x.
func roundUp(x float64) float32 {
	f := float32(x)
	if float64(f) < x {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// quantizeRow writes row's codes and returns its scale, error norm and norm.
// Any rounding of the codes is correct: the norms are measured on the codes
// written.
func quantizeRow(row []float32, codes []int8) (scale, errNorm, norm float32) {
	// Rows are finite; the builtin max's NaN handling costs more than the
	// rest of the function.
	var maxBits uint32
	for _, x := range row {
		if b := math.Float32bits(x) &^ (1 << 31); b > maxBits {
			maxBits = b
		}
	}
	maxAbs := math.Float32frombits(maxBits)
	if maxAbs == 0 {
		clear(codes)
		return 0, 0, 0
	}
	scale = maxAbs / 127
	inv := 1 / scale
	s64 := float64(scale)
	codes = codes[:len(row)]
	var e0, e1 float64
	var c2 int64
	i := 0
	for ; i+2 <= len(row); i += 2 {
		// x*inv is within 127.0001 of 0: adding and removing 1.5*2^23
		// rounds it to an integer without a branch.
		r0 := (row[i]*inv + 0x1.8p23) - 0x1.8p23
		r1 := (row[i+1]*inv + 0x1.8p23) - 0x1.8p23
		c0, c1 := max(-127, min(127, int32(r0))), max(-127, min(127, int32(r1)))
		codes[i], codes[i+1] = int8(c0), int8(c1)
		d0 := float64(row[i]) - s64*float64(c0) // exact in float64
		d1 := float64(row[i+1]) - s64*float64(c1)
		e0 += d0 * d0
		e1 += d1 * d1
		c2 += int64(c0*c0 + c1*c1)
	}
	for ; i < len(row); i++ {
		c := max(-127, min(127, int32((row[i]*inv+0x1.8p23)-0x1.8p23)))
		codes[i] = int8(c)
		d := float64(row[i]) - s64*float64(c)
		e0 += d * d
		c2 += int64(c * c)
	}
	// The float64 sums are exact to far better than the 1e-9 added.
	return scale, roundUp(math.Sqrt(e0+e1) * (1 + 1e-9)), roundUp(s64 * math.Sqrt(float64(c2)) * (1 + 1e-9))
}

func newQuantized(matrix []float32, dim int) *quantized {
	rows := len(matrix) / dim
	z := &quantized{dim: dim, codes: make([]int8, rows*dim), scale: make([]float32, rows),
		errNorm: make([]float32, rows), norm: make([]float32, rows)}
	_ = parallelRows(context.Background(), rows, func(lo, hi int) error {
		for r := lo; r < hi; r++ {
			z.scale[r], z.errNorm[r], z.norm[r] = quantizeRow(matrix[r*dim:(r+1)*dim], z.codes[r*dim:(r+1)*dim])
		}
		return nil
	})
	return z
}

// set quantizes row r (r == the row count appends).
func (z *quantized) set(r int, row []float32) {
	if r == len(z.scale) {
		z.codes = append(z.codes, make([]int8, z.dim)...)
		z.scale, z.errNorm, z.norm = append(z.scale, 0), append(z.errNorm, 0), append(z.norm, 0)
	}
	z.scale[r], z.errNorm[r], z.norm[r] = quantizeRow(row, z.codes[r*z.dim:(r+1)*z.dim])
}

// move copies row i to row w (compaction after deletes).
func (z *quantized) move(w, i int) {
	copy(z.codes[w*z.dim:(w+1)*z.dim], z.codes[i*z.dim:(i+1)*z.dim])
	z.scale[w], z.errNorm[w], z.norm[w] = z.scale[i], z.errNorm[i], z.norm[i]
}

func (z *quantized) truncate(rows int) {
	z.codes, z.scale, z.errNorm, z.norm = z.codes[:rows*z.dim], z.scale[:rows], z.errNorm[:rows], z.norm[:rows]
}

// quantizedCopy returns the int8 copy, building it on first use. Readers
// hold the space's read lock, so concurrent queries may race to build it:
// qmu lets one do it. Writers hold the write lock and keep it current.
func (d *vectorData) quantizedCopy() *quantized {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if d.q == nil {
		d.q = newQuantized(d.matrix, d.dim)
	}
	return d.q
}

// quantQuery is the query as int16 codes with the norms the bound needs.
type quantQuery struct {
	codes   []int16
	scale   float64
	norm    float64 // >= ||q||_2
	errNorm float64 // >= ||q - scale*codes||_2
}

// quantizeQuery returns false when q cannot be bounded (non-finite values,
// or a dimension so large that int32 sums could overflow).
func quantizeQuery(q []float32) (quantQuery, bool) {
	// |sum| <= dim * 127 * qmax must stay below 2^31.
	qmax := min(32767, (math.MaxInt32-1)/(127*max(len(q), 1)))
	if qmax < 255 {
		return quantQuery{}, false
	}
	var maxAbs, n2 float64
	for _, x := range q {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return quantQuery{}, false
		}
		maxAbs = max(maxAbs, math.Abs(float64(x)))
		n2 += float64(x) * float64(x)
	}
	out := quantQuery{codes: make([]int16, len(q)), norm: math.Sqrt(n2) * (1 + 1e-9)}
	if maxAbs == 0 {
		return out, true
	}
	out.scale = maxAbs / float64(qmax)
	var e2 float64
	for i, x := range q {
		c := max(-float64(qmax), min(float64(qmax), math.Round(float64(x)/out.scale)))
		out.codes[i] = int16(c)
		e := float64(x) - out.scale*c
		e2 += e * e
	}
	out.errNorm = math.Sqrt(e2) * (1 + 1e-9)
	return out, true
}

// kernelError bounds |dot(r, q) - r.q| for the float32 kernels over dim
// elements: gamma_dim * sum |r_i q_i| <= gamma_dim * ||r|| ||q|| (each
// kernel rounds at most dim times along any path; u = 2^-24).
func kernelError(dim int) float64 {
	nu := float64(dim+8) * 0x1p-24
	return nu / (1 - nu)
}

// topKQuantized is topK through the int8 first pass; ok is false when the
// query cannot use it (the caller scans directly then).
func topKQuantized(ctx context.Context, d *vectorData, q []float32, k int, threshold float32) (hits []hit, ok bool, err error) {
	dim := d.dim
	rows := len(d.matrix) / dim
	qq, ok := quantizeQuery(q)
	if !ok {
		return nil, false, nil
	}
	z := d.quantizedCopy()
	gamma := kernelError(dim)
	// Pass 1: every row's upper bound, and each worker's k best lower bounds.
	upper := make([]float64, rows)
	var mu sync.Mutex
	var lows []float64
	err = parallelRows(ctx, rows, func(lo, hi int) error {
		best := make([]float64, 0, k+1) // ascending: best[0] is the worst kept
		for r := lo; r < hi; r++ {
			ip := dotI8(z.codes[r*dim:(r+1)*dim], qq.codes)
			a := float64(z.scale[r]) * qq.scale * float64(ip)
			rn := float64(z.norm[r]) + float64(z.errNorm[r]) // >= ||row||
			b := float64(z.errNorm[r])*qq.norm + float64(z.norm[r])*qq.errNorm + gamma*rn*qq.norm
			b = b*(1+1e-6) + 1e-9 // the float64 arithmetic above, with room to spare
			upper[r] = a + b
			l := a - b
			if len(best) < k {
				best = insertSorted(best, l)
			} else if l > best[0] {
				best = insertSorted(best[1:], l)
			}
		}
		mu.Lock()
		lows = append(lows, best...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, true, err
	}
	// tau <= the k-th best float32 score, so every row of the top k (and
	// every row tied with its last) has upper >= tau.
	tau := math.Inf(-1)
	if len(lows) >= k {
		slices.Sort(lows)
		tau = lows[len(lows)-k]
	}
	tau = max(tau, float64(threshold))
	var cand []int
	for r, u := range upper {
		if u >= tau {
			cand = append(cand, r)
		}
	}
	// Pass 2: the candidates' float32 scores, in row order as topK sees them.
	c := newCollector(k, threshold)
	for i, r := range cand {
		if i%scanChunk == 0 {
			if err := ctx.Err(); err != nil {
				return nil, true, err
			}
		}
		c.add(r, dot(d.matrix[r*dim:(r+1)*dim], q))
	}
	return c.sorted(), true, nil
}

// insertSorted inserts x into ascending s.
func insertSorted(s []float64, x float64) []float64 {
	i, _ := slices.BinarySearch(s, x)
	return slices.Insert(s, i, x)
}

// parallelRows runs fn over [0, rows) split into contiguous ranges, one per
// core for large counts, checking ctx between chunks.
func parallelRows(ctx context.Context, rows int, fn func(lo, hi int) error) error {
	workers := max(1, min(runtime.GOMAXPROCS(0), rows/parallelMinRows))
	chunked := func(lo, hi int) error {
		for start := lo; start < hi; start += scanChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(start, min(start+scanChunk, hi)); err != nil {
				return err
			}
		}
		return nil
	}
	if workers == 1 {
		return chunked(0, rows)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	per := (rows + workers - 1) / workers
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, rows)
		wg.Go(func() { errs[w] = chunked(lo, hi) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Deterministic synthetic data: row i of every kind is a function of the
// seed and i, so the loader streams it and the query generator can rebuild
// any stored vector without keeping them.

func hashID(prefix string, i int) string {
	sum := md5.Sum([]byte(fmt.Sprint(prefix, i)))
	return prefix + "-" + hex.EncodeToString(sum[:])
}

func chunkID(i int) string { return hashID("chunk", i) }
func docID(i int) string   { return hashID("doc", i/20) }
func nodeID(i int) string  { return fmt.Sprintf("ENTITY_%06d", i) }

// vectorOf is stored vector i: Gaussian components, L2-normalised.
func vectorOf(seed uint64, i, dim int) []float32 {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	v := make([]float64, dim)
	var s float64
	for j := range v {
		v[j] = rng.NormFloat64()
		s += v[j] * v[j]
	}
	return toUnit(v, s)
}

func toUnit(v []float64, sumSq float64) []float32 {
	n := math.Sqrt(sumSq)
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(x / n)
	}
	return out
}

// queryVector is the normalised sum of k stored vectors: its cosine with each
// of them is about 1/sqrt(k) (0.32 for k = 10), above LightRAG's 0.2
// threshold, so a top-k query returns full results as a real one would.
func queryVector(seed uint64, rng *rand.Rand, n, k, dim int) []float32 {
	sum := make([]float64, dim)
	for range k {
		for j, x := range vectorOf(seed, rng.IntN(n), dim) {
			sum[j] += float64(x)
		}
	}
	var s float64
	for _, x := range sum {
		s += x * x
	}
	return toUnit(sum, s)
}

var words = strings.Fields(`the of retrieval graph entity relation chunk document vector storage proxy query
answer model language knowledge index search cosine embedding token context system data table record
network node edge weight source keyword summary description community report pipeline cache latency`)

// text is n words of filler.
func text(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()
}

// sample returns k distinct ints in [0, n).
func sample(rng *rand.Rand, n, k int) []int {
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		i := rng.IntN(n)
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

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

// Vector data sets (--data).
const (
	// dataLowRank: embeddings that vary along a few directions, as text
	// embeddings do (their intrinsic dimension is a few dozen): row i is
	// B z_i + noise, z_i ~ N(0, I) in latentDim dimensions, B fixed random
	// unit directions, noise a tenth of the row's norm. Queries are fresh
	// points of the same kind, so their nearest rows are real neighbours
	// (cosine about 0.5-0.7), as for a question against its corpus.
	dataLowRank = "lowrank"
	// dataUniform: Gaussian components, every direction alike. Nothing is
	// anyone's neighbour: the worst case for a graph index (HNSW walks
	// towards rows no nearer than the rest).
	dataUniform = "uniform"

	latentDim = 32
	// noiseRatio is the noise's norm over the latent part's.
	noiseRatio = 0.3
)

// vectorGen makes the stored and query vectors of --data.
type vectorGen struct {
	seed  uint64
	dim   int
	data  string
	basis [][]float64 // latentDim unit rows of dim (lowrank)
}

func newVectorGen(o options) *vectorGen {
	g := &vectorGen{seed: o.seed, dim: o.dim, data: o.data}
	if g.data == dataLowRank {
		rng := rand.New(rand.NewPCG(o.seed, 7<<40))
		g.basis = make([][]float64, latentDim)
		for l := range g.basis {
			b := make([]float64, o.dim)
			var s float64
			for j := range b {
				b[j] = rng.NormFloat64()
				s += b[j] * b[j]
			}
			for j := range b {
				b[j] /= math.Sqrt(s)
			}
			g.basis[l] = b
		}
	}
	return g
}

// draw is one vector from rng: a latent point plus noise (lowrank), or
// Gaussian components (uniform); L2-normalised.
func (g *vectorGen) draw(rng *rand.Rand) []float32 {
	v := make([]float64, g.dim)
	if g.data == dataLowRank {
		for _, b := range g.basis {
			z := rng.NormFloat64()
			for j, x := range b {
				v[j] += z * x
			}
		}
		// |B z| is about sqrt(latentDim); the noise is noiseRatio of it.
		eta := noiseRatio * math.Sqrt(latentDim) / math.Sqrt(float64(g.dim))
		for j := range v {
			v[j] += eta * rng.NormFloat64()
		}
	} else {
		for j := range v {
			v[j] = rng.NormFloat64()
		}
	}
	var s float64
	for _, x := range v {
		s += x * x
	}
	return toUnit(v, s)
}

// stored is stored vector i (a function of seed and i, so the loader
// streams them).
func (g *vectorGen) stored(i int) []float32 {
	return g.draw(rand.New(rand.NewPCG(g.seed, uint64(i))))
}

func toUnit(v []float64, sumSq float64) []float32 {
	n := math.Sqrt(sumSq)
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(x / n)
	}
	return out
}

// query is a query vector. lowrank: a fresh point of the data's kind.
// uniform: the normalised sum of k stored vectors: its cosine with each of
// them is about 1/sqrt(k) (0.32 for k = 10), above LightRAG's 0.2
// threshold, so a top-k query returns full results as a real one would.
func (g *vectorGen) query(rng *rand.Rand, n, k int) []float32 {
	if g.data == dataLowRank {
		return g.draw(rng)
	}
	sum := make([]float64, g.dim)
	for range k {
		for j, x := range g.stored(rng.IntN(n)) {
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

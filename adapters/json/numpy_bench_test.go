package json

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// TestVectorQueryVsNumpy is issue 12's JSON vector benchmark, run only with
// HYBRIDRAG_BENCH_NUMPY=1 (it needs numpy and 1.5 GB of memory):
//
//	HYBRIDRAG_BENCH_NUMPY=1 go test -run TestVectorQueryVsNumpy -v -count=1 ./adapters/json/
//
// 100k x 1536 random unit vectors; each query (half of them a stored row
// plus noise, half random) goes in turn to this adapter's Query and to
// LightRAG's path in numpy (bench/numpyvec.py, a child process with numpy's
// default threads), interleaved, which goes first alternating. Every answer
// of the adapter is checked against a float32 brute-force scan.
// HYBRIDRAG_BENCH_PYTHON picks the interpreter (default /usr/bin/python3),
// HYBRIDRAG_BENCH_NUMPY_N the timed queries (default 40).
func TestVectorQueryVsNumpy(t *testing.T) {
	if os.Getenv("HYBRIDRAG_BENCH_NUMPY") != "1" {
		t.Skip("a benchmark: set HYBRIDRAG_BENCH_NUMPY=1")
	}
	python := cmpOr(os.Getenv("HYBRIDRAG_BENCH_PYTHON"), "/usr/bin/python3")
	timed := 40
	if s := os.Getenv("HYBRIDRAG_BENCH_NUMPY_N"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		timed = n
	}
	const rows, dim, k, warmup = 100_000, 1536, 10, 5
	const threshold = 0.2 // LightRAG's default cosine threshold
	n := warmup + timed
	rng := rand.New(rand.NewPCG(3, 4))
	d := randomVectorData(rng, rows, dim, func(i int) string { return "chunk-" + strconv.Itoa(i) })
	queries := make([][]float32, n)
	for i := range queries {
		q := randUnit(rng, dim)
		if i%2 == 0 { // near a stored row: cosine about 0.6
			r := rng.IntN(rows)
			for j := range q {
				q[j] = d.matrix[r*dim+j] + 1.3*q[j]
			}
		}
		queries[i] = q
	}
	dir := t.TempDir()
	writeFloats(t, filepath.Join(dir, "matrix.f32"), d.matrix)
	writeFloats(t, filepath.Join(dir, "queries.f32"), slices.Concat(queries...))

	script, err := filepath.Abs("../../bench/numpyvec.py")
	require.NoError(t, err)
	cmd := exec.Command(python, script, filepath.Join(dir, "matrix.f32"), strconv.Itoa(rows), strconv.Itoa(dim),
		filepath.Join(dir, "queries.f32"), strconv.Itoa(n), strconv.Itoa(k), fmt.Sprint(threshold))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "numpy needs %s with numpy (Debian: apt-get install python3-numpy)", python)
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	out := bufio.NewScanner(stdout)
	require.True(t, out.Scan(), "the numpy child did not start: %v", out.Err())
	numpyVersion := out.Text()

	numpy := func(i int, mode string) (time.Duration, []int) {
		_, err := fmt.Fprintf(stdin, "%d %s\n", i, mode)
		require.NoError(t, err)
		require.True(t, out.Scan(), "numpy child: %v", out.Err())
		f := strings.Fields(out.Text())
		secs, err := strconv.ParseFloat(f[0], 64)
		require.NoError(t, err)
		var got []int
		for _, s := range f[1:] {
			r, err := strconv.Atoi(s)
			require.NoError(t, err)
			got = append(got, r)
		}
		return time.Duration(secs * float64(time.Second)), got
	}
	s := &space{ns: ns("chunks"), kind: fileVector, loaded: true, vec: d}
	v := &vectorStore{s: s, dim: dim}
	ctx := context.Background()
	adapter := func(i int) (time.Duration, []adapters.VectorMatch) {
		start := time.Now()
		m, err := v.Query(ctx, adapters.VectorQuery{Vector: queries[i], TopK: k, Threshold: threshold})
		took := time.Since(start)
		require.NoError(t, err)
		return took, m
	}
	// The first large query builds the int8 copy: time it on its own.
	buildStart := time.Now()
	d.quantizedCopy()
	build := time.Since(buildStart)

	var goT, npPart, npSort []time.Duration
	sameAsNumpy, matches := 0, 0
	for i := range n {
		var tg, tp, ts time.Duration
		var m []adapters.VectorMatch
		var np []int
		if i%2 == 0 {
			tg, m = adapter(i)
			tp, np = numpy(i, "argpartition")
			ts, _ = numpy(i, "argsort")
		} else {
			tp, np = numpy(i, "argpartition")
			ts, _ = numpy(i, "argsort")
			tg, m = adapter(i)
		}
		// Exactness, outside the timing: the adapter's answer is the float32
		// brute force's, and its full top k too.
		q := normalized(queries[i])
		want := bruteTopK(d.matrix, dim, q, k, threshold)
		require.Len(t, m, len(want), "query %d", i)
		for j, h := range want {
			require.Equal(t, d.ids[h.row], m[j].ID, "query %d, rank %d", i, j)
			require.Equal(t, h.score, m[j].Similarity, "query %d, rank %d", i, j)
		}
		all, err := d.topK(ctx, q, k, -2)
		require.NoError(t, err)
		require.Equal(t, bruteTopK(d.matrix, dim, q, k, -2), all, "query %d without threshold", i)
		rowsOf := make([]int, len(m))
		for j := range m {
			rowsOf[j] = d.index[m[j].ID]
		}
		if slices.Equal(rowsOf, np) {
			sameAsNumpy++
		}
		matches += len(m)
		if i >= warmup {
			goT, npPart, npSort = append(goT, tg), append(npPart, tp), append(npSort, ts)
		}
	}
	p50 := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	p90 := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)*9/10] }
	msf := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("cpu: %s; %d cores, GOMAXPROCS %d; %s; load %s; %s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), numpyVersion,
		strings.Join(strings.Fields(string(load))[:3], " "), time.Now().UTC().Format(time.RFC3339))
	t.Logf("%d x %d, top %d, threshold %.1f; %d timed queries after %d warm-up, interleaved; %.1f matches a query; numpy's rows equal the adapter's on %d of %d queries",
		rows, dim, k, threshold, timed, warmup, float64(matches)/float64(n), sameAsNumpy, n)
	t.Logf("int8 copy built once in %s", msf(build))
	t.Logf("| path | p50 | p90 |")
	t.Logf("| adapter Query (int8 first pass on %d cores + float32 re-rank) | %s | %s |", runtime.GOMAXPROCS(0), msf(p50(goT)), msf(p90(goT)))
	t.Logf("| numpy m @ q + argpartition | %s | %s |", msf(p50(npPart)), msf(p90(npPart)))
	t.Logf("| numpy np.dot + argsort (nano-vectordb 0.0.4.3) | %s | %s |", msf(p50(npSort)), msf(p90(npSort)))
	t.Logf("p50 ratio numpy argpartition / adapter: %.2f (target > 1); numpy argsort / adapter: %.2f",
		float64(p50(npPart))/float64(p50(goT)), float64(p50(npSort))/float64(p50(goT)))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func writeFloats(t *testing.T, path string, v []float32) {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// Command pgcompare runs issue 3's PostgreSQL benchmarks in one run: it loads
// a fresh database (random unit vectors in the chunks vector namespace, KV
// records in text_chunks, a graph in chunk_entity_relation), starts the real
// proxy on it, then times KV get, vector top-k and get_nodes_edges_batch
// through the proxy over HTTP against the same SQL sent straight to
// PostgreSQL with pgx, interleaved, and reports p50/p90, the p50 ratios, the
// database size and the proxy's peak RSS. KV get and get_nodes_edges_batch
// are also timed against a reference server (reference.go): the same HTTP
// calls answered by a minimal net/http + pgx server in its own process.
//
// Usage:
//
//	go run ./bench/pgcompare --dsn "$HYBRIDRAG_TEST_PG" [--vectors 100000] [--dim 1536] [--iterations 1000]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	dsn         string
	vectors     int
	dim         int
	kvRecords   int
	nodes       int
	edges       int
	iterations  int
	warmup      int
	topK        int
	threshold   float64
	kvBatch     int
	graphBatch  int
	seed        uint64
	keep        bool
	proxyBin    string
	indexMemory string
	quiet       bool
	// recallQueries are asked again, through the proxy and exactly, for
	// recall (each exact scan reads the whole table).
	recallQueries int
	reuse         string     // a kept database to measure again, unloaded
	data          string     // dataLowRank or dataUniform
	gen           *vectorGen // set by run from the options above
	// serveReference, set by the hidden --serve-reference, is the loopback
	// address to serve the reference server on (for --dsn's database)
	// instead of running the bench: run starts this binary with it, as a
	// child process.
	serveReference string
}

func defaultOptions() options {
	return options{
		vectors: 100_000, dim: 1536, kvRecords: 10_000, nodes: 20_000, edges: 40_000,
		iterations: 1000, warmup: 50, topK: 10, threshold: 0.2, kvBatch: 10, graphBatch: 40,
		seed: 1, indexMemory: "2GB", recallQueries: 100, data: dataLowRank,
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("pgcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dsn, "dsn", os.Getenv("HYBRIDRAG_TEST_PG"), "PostgreSQL URL of an existing database (default $HYBRIDRAG_TEST_PG); the bench creates and drops its own database next to it")
	fs.IntVar(&o.vectors, "vectors", o.vectors, "vectors in the chunks namespace")
	fs.IntVar(&o.dim, "dim", o.dim, "vector dimension")
	fs.IntVar(&o.kvRecords, "kv", o.kvRecords, "records in text_chunks")
	fs.IntVar(&o.nodes, "nodes", o.nodes, "graph nodes")
	fs.IntVar(&o.edges, "edges", o.edges, "graph edges")
	fs.IntVar(&o.iterations, "iterations", o.iterations, "timed iterations per query kind and path")
	fs.IntVar(&o.warmup, "warmup", o.warmup, "untimed iterations first (results are checked on these too)")
	fs.IntVar(&o.topK, "top-k", o.topK, "vector query top_k")
	fs.Float64Var(&o.threshold, "threshold", o.threshold, "vector query cosine threshold (LightRAG's default 0.2)")
	fs.Uint64Var(&o.seed, "seed", o.seed, "random seed")
	fs.BoolVar(&o.keep, "keep", false, "keep the bench database instead of dropping it")
	fs.StringVar(&o.reuse, "reuse", "", "measure again on a database kept by --keep (same data flags), without loading")
	fs.StringVar(&o.proxyBin, "proxy-bin", "", "prebuilt proxy binary (default: go build ./cmd/proxy)")
	fs.StringVar(&o.indexMemory, "index-memory", o.indexMemory, "maintenance_work_mem for the HNSW build")
	fs.StringVar(&o.data, "data", o.data, "vectors: lowrank (a few dozen latent dimensions plus noise, like text embeddings) or uniform (Gaussian, no neighbours: HNSW's worst case)")
	fs.IntVar(&o.recallQueries, "recall-queries", o.recallQueries, "vector queries compared with an exact scan for recall@k")
	fs.StringVar(&o.serveReference, referenceFlag, "", "")
	fs.Usage = func() { usage(fs, stderr) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	return o, o.validate()
}

// usage is the flags' usage without the hidden --serve-reference, which
// only run passes (to its child).
func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, "Usage of pgcompare:")
	shown := flag.NewFlagSet("pgcompare", flag.ContinueOnError)
	shown.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != referenceFlag {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue // not what was parsed so far
		}
	})
	shown.PrintDefaults()
}

func (o options) validate() error {
	if o.serveReference != "" {
		return validReference(o)
	}
	switch {
	case o.dsn == "":
		return errors.New("--dsn is empty: pass a PostgreSQL URL or set HYBRIDRAG_TEST_PG")
	case o.vectors < o.topK || o.vectors < 1:
		return fmt.Errorf("--vectors %d must be at least --top-k %d", o.vectors, o.topK)
	case o.dim < 2 || o.dim > 2000:
		return fmt.Errorf("--dim %d: use 2..2000 (pgvector's HNSW limit for vector)", o.dim)
	case o.kvRecords < o.kvBatch:
		return fmt.Errorf("--kv %d must be at least %d (the ids of one get)", o.kvRecords, o.kvBatch)
	case o.nodes < o.graphBatch || o.nodes < 2:
		return fmt.Errorf("--nodes %d must be at least %d (the ids of one batch)", o.nodes, o.graphBatch)
	case o.edges < 1 || int64(o.edges) > int64(o.nodes)*int64(o.nodes-1)/4:
		return fmt.Errorf("--edges %d: use 1..%d for %d nodes", o.edges, int64(o.nodes)*int64(o.nodes-1)/4, o.nodes)
	case o.data != dataLowRank && o.data != dataUniform:
		return fmt.Errorf("--data %q: use %s or %s", o.data, dataLowRank, dataUniform)
	case o.recallQueries < 0:
		return fmt.Errorf("--recall-queries %d must be at least 0", o.recallQueries)
	case o.iterations < 1 || o.warmup < 1:
		return errors.New("--iterations and --warmup must be at least 1")
	}
	return nil
}

// validReference checks the reference server's flags: a database, and an
// address on loopback (it serves the bench, nobody else).
func validReference(o options) error {
	if o.dsn == "" {
		return fmt.Errorf("--%s needs --dsn", referenceFlag)
	}
	host, _, err := net.SplitHostPort(o.serveReference)
	if err != nil {
		return fmt.Errorf("--%s %q: %w", referenceFlag, o.serveReference, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--%s %q: use a loopback IP address", referenceFlag, o.serveReference)
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgcompare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.serveReference != "" {
		if err := serveReference(ctx, o.serveReference, o.dsn); err != nil {
			fmt.Fprintln(os.Stderr, "pgcompare:", err)
			os.Exit(1)
		}
		return
	}
	start := time.Now()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "pgcompare: %v (after %s)\n", err, time.Since(start).Round(time.Second))
		os.Exit(1)
	}
}

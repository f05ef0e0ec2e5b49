package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/internal/testbin"
)

// TestMain lets the test binary serve as the reference server: run starts
// os.Executable(), which under go test is this binary, with --serve-reference.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "--"+referenceFlag {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunTiny runs the whole bench at toy sizes so the command cannot rot.
func TestRunTiny(t *testing.T) {
	dsn := os.Getenv("HYBRIDRAG_TEST_PG")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HYBRIDRAG_TEST_PG is unset: CI must provide PostgreSQL (make pg)")
		}
		t.Skip("set HYBRIDRAG_TEST_PG to run the PostgreSQL bench smoke test")
	}
	o := defaultOptions()
	o.dsn, o.vectors, o.dim, o.kvRecords, o.nodes, o.edges, o.iterations, o.warmup = dsn, 200, 16, 50, 100, 200, 5, 3
	// Built (or taken from HYBRIDRAG_TEST_PROXY_BIN) outside the deadline,
	// which is a safety net against a hang, generous for a loaded machine.
	bin, cleanup, err := testbin.Proxy()
	require.NoError(t, err)
	defer cleanup()
	o.proxyBin = bin
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, o, &out), out.String())
	require.Contains(t, out.String(), "| get_nodes_edges_batch 40 nodes |")
	require.Contains(t, out.String(), "| proxy CPU per call | reference p50 | p50 ratio proxy/reference | reference CPU per call |")
	// KV and nodes/edges have a reference path, the vector query none.
	require.Regexp(t, `\| KV get 10 ids \(text_chunks\) (\| [^|]+){6}\| \d+\.\d{3} ms \| \d+\.\d{2} \| \d+\.\d{3} ms \|\n`, out.String())
	require.Regexp(t, `\| get_nodes_edges_batch 40 nodes (\| [^|]+){6}\| \d+\.\d{3} ms \| \d+\.\d{2} \| \d+\.\d{3} ms \|\n`, out.String())
	require.Regexp(t, `\| vector top-10 \(HNSW, chunks\) (\| [^|]+){6}\| - \| - \| - \|\n`, out.String())
	require.Contains(t, out.String(), "Reference: the least an HTTP server in its own process can do")
	require.Contains(t, out.String(), "Proxy peak RSS (VmHWM)")
	require.Contains(t, out.String(), "HTTP floor (its own phase")
	require.Contains(t, out.String(), "Recall@10 of the proxy's answers")
	require.Regexp(t, `HNSW index scans: \d+, expected at least 24 .*: ok`, out.String())
	require.Contains(t, out.String(), "Index Scan using")
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"defaults", []string{"--dsn", "postgres://x@127.0.0.1/db"}, ""},
		{"no dsn", []string{"--dsn", ""}, "--dsn is empty"},
		{"dim too big", []string{"--dsn", "postgres://x@127.0.0.1/db", "--dim", "3000"}, "--dim 3000"},
		{"too few nodes", []string{"--dsn", "postgres://x@127.0.0.1/db", "--nodes", "10"}, "--nodes 10"},
		{"uniform data", []string{"--dsn", "postgres://x@127.0.0.1/db", "--data", "uniform"}, ""},
		{"unknown data", []string{"--dsn", "postgres://x@127.0.0.1/db", "--data", "gauss"}, `--data "gauss"`},
		{"reuse", []string{"--dsn", "postgres://x@127.0.0.1/db", "--reuse", "hybridrag_bench_kept"}, ""},
		{"negative recall queries", []string{"--dsn", "postgres://x@127.0.0.1/db", "--recall-queries", "-1"}, "--recall-queries -1"},
		{"stray argument", []string{"--dsn", "postgres://x@127.0.0.1/db", "extra"}, "unexpected arguments"},
		{"reference server", []string{"--serve-reference", "127.0.0.1:5000", "--dsn", "postgres://x@127.0.0.1/db"}, ""},
		{"reference server off loopback", []string{"--serve-reference", "0.0.0.0:5000", "--dsn", "postgres://x@127.0.0.1/db"}, "loopback"},
		{"reference server without dsn", []string{"--serve-reference", "127.0.0.1:5000", "--dsn", ""}, "needs --dsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, &bytes.Buffer{})
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// TestUsageHidesReference: --serve-reference is run's own, not the user's.
func TestUsageHidesReference(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"--vectors", "5", "-h"}, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, stderr.String(), "-recall-queries int")
	require.Contains(t, stderr.String(), "(default 100000)", "the default, not the value parsed before -h")
	require.NotContains(t, stderr.String(), referenceFlag)
}

func TestUsesIndex(t *testing.T) {
	const (
		index = "idx_lightrag_vdb_chunks_hnsw_cosine"
		table = "lightrag_vdb_chunks"
	)
	indexed := `Limit  (cost=12.50..20.11 rows=10 width=1200)
  ->  Index Scan using idx_lightrag_vdb_chunks_hnsw_cosine on lightrag_vdb_chunks  (cost=12.50..2300.00 rows=3000 width=1200)
        Order By: (content_vector <=> '[0.1,0.2]'::vector)
        Filter: ((workspace)::text = 'bench'::text)
        SubPlan 1
          ->  Index Scan using hybridrag_row_extras_pkey on hybridrag_row_extras x  (cost=0.15..8.17 rows=1 width=32)`
	// A scan and sort: the side table's index scan must not pass for the
	// HNSW index's.
	scanned := `Limit  (cost=900.00..900.02 rows=10 width=1200)
  ->  Sort  (cost=900.00..907.50 rows=3000 width=1200)
        ->  Seq Scan on lightrag_vdb_chunks  (cost=0.00..835.00 rows=3000 width=1200)
              Filter: ((workspace)::text = 'bench'::text)
        SubPlan 1
          ->  Index Scan using hybridrag_row_extras_pkey on hybridrag_row_extras x  (cost=0.15..8.17 rows=1 width=32)`
	tests := []struct {
		name, plan, index string
		want              bool
	}{
		{"hnsw index scan", indexed, index, true},
		{"seq scan and sort", scanned, index, false},
		{"no hnsw index", scanned, "", false},
		{"another table's index", indexed, "idx_lightrag_vdb_entity_hnsw_cosine", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, usesIndex(tc.plan, tc.index, table))
		})
	}
	require.Equal(t, "Limit <- Index Scan using "+index+" on "+table+" <- Index Scan using hybridrag_row_extras_pkey on hybridrag_row_extras x",
		planSummary(indexed))
}

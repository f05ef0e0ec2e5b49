package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/bench/dataset"
)

func newGenCmd(g *globals) *cobra.Command {
	var size string
	var dim int
	var seed uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gen DIR --size SIZE [--dim 1536] [--seed N]",
		Short: "Generate a LightRAG folder of a given size (tests, benchmarks)",
		Long: `gen writes a synthetic LightRAG working directory of about SIZE bytes into DIR: every file of the current
LightRAG release (KV stores, vdb_*.json with an L2-normalised float32 matrix and per-item float16
vectors, the typed GraphML graph, doc status), LightRAG's id schemes, and about five entities and five
relations per chunk as real extraction gives. The same --seed gives the same bytes. It streams, so
memory stays flat even for SIZE=1GB. DIR must not hold LightRAG files already.`,
		Example: `  proxy gen /tmp/rag100 --size 100MB
  proxy gen /tmp/rag1g --size 1GB --seed 7
  proxy gen /tmp/small --size 2MB --dim 64 --json`,
		Args: exactArgs(1, "one output folder DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseSize(size)
			if err != nil {
				return usagef("--size: %v", err)
			}
			start := time.Now()
			st, err := dataset.Generate(cmd.Context(), args[0], dataset.Options{Size: n, Dim: dim, Seed: seed})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(st)
			}
			fmt.Fprintf(g.stdout, "wrote %s to %s in %s: %d docs (%d failed), %d chunks, %d entities, %d relations, %d cache entries\n",
				humanSize(st.Bytes), args[0], time.Since(start).Round(time.Millisecond), st.Docs, st.FailedDocs, st.Chunks,
				st.Entities, st.Relations, st.CacheEntries)
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "size", "", "target folder size, e.g. 100MB or 1GB (required)")
	cmd.Flags().IntVar(&dim, "dim", dataset.DefaultDim, "embedding dimension")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	_ = cmd.MarkFlagRequired("size")
	return cmd
}

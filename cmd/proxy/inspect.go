package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
)

// errFilesUnreadable is returned (exit code 1) when some file of the folder
// could not be read; the report itself has been printed.
type errFilesUnreadable int

func (e errFilesUnreadable) Error() string {
	return fmt.Sprintf("%d file(s) could not be read: see the error column; the other files are fine", int(e))
}

func newInspectCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect DIR [--json]",
		Short: "Report what a LightRAG folder holds, offline",
		Long: `inspect reads a LightRAG working directory (and its workspace sub-folders) without starting a server
and without loading the files: it streams through them, so its memory stays small even on
multi-gigabyte files. For each kv_store_*.json, vdb_*.json and graph_*.graphml it reports the kind,
namespace, size, records (top-level keys of a KV file, items of a vector file), vectors and their
dimension, graph nodes and edges, doc-status counts per status, and what is wrong with a file that
cannot be read.

--json prints one object: {"dir", "files": [{"file", "kind", "namespace", "bytes", "records", "dim",
"vectors", "nodes", "edges", "statuses", "error"}]} with the fields that apply.

Exit code 1 when any file has an error (the report is still printed), 0 otherwise.`,
		Example: `  proxy inspect ./rag_storage
  proxy inspect ./rag_storage --json | jq '.files[] | select(.error)'`,
		Args: exactArgs(1, "one folder DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := jsonadapter.Inspect(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("%w: give the path of a LightRAG working directory", err)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(rep); err != nil {
					return fmt.Errorf("write report: %w", err)
				}
			} else if err := writeInspectTable(g.stdout, rep); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			bad := 0
			for _, f := range rep.Files {
				if f.Error != "" {
					bad++
				}
			}
			if bad > 0 {
				return errFilesUnreadable(bad)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	return cmd
}

func writeInspectTable(w io.Writer, rep *jsonadapter.Report) error {
	fmt.Fprintf(w, "%s\n", rep.Dir)
	if len(rep.Files) == 0 {
		fmt.Fprintln(w, "no LightRAG files (kv_store_*.json, vdb_*.json, graph_*.graphml) found")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tKIND\tNAMESPACE\tSIZE\tRECORDS\tVECTORS\tDIM\tNODES\tEDGES\tSTATUSES\tERROR")
	var total int64
	for _, f := range rep.Files {
		total += f.Bytes
		file := f.File
		if f.Workspace != "" {
			file = filepath.Join(f.Workspace, f.File)
		}
		errText := f.Error
		if errText == "" {
			errText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", file, f.Kind, f.Namespace, humanSize(f.Bytes),
			count(f.Records), count(f.Vectors), countInt(f.Dim), count(f.Nodes), count(f.Edges), statuses(f.Statuses),
			strings.ReplaceAll(errText, "\n", " "))
	}
	fmt.Fprintf(tw, "total: %d file(s)\t\t\t%s\t\t\t\t\t\t\t\n", len(rep.Files), humanSize(total))
	return tw.Flush()
}

func count(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

func countInt(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func statuses(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n == 0 {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "-"
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}

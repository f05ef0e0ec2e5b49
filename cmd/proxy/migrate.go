package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// `proxy migrate` and `proxy export`. When a proxy serves the registry the
// CLI drives the migration through that proxy's admin API (the proxy owns
// the JSON folder and keeps serving reads); otherwise it runs here.

type migrateOptions struct {
	req        migration.Request
	jsonOut    bool
	noProgress bool
	token      string
}

func newMigrateCmd(g *globals) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate DB --to postgres (--dsn DSN | --backend NAME) [--workspace W] [--force] [--restart] | --to json --path DIR",
		Short: "Move a database between JSON files and PostgreSQL: streamed, resumable, verified",
		Long: `migrate copies every namespace of DB into the target backend and switches DB to it once the copy
is verified. While it runs, DB is in maintenance: writes answer 503 with Retry-After (LightRAG's
client retries), reads keep being served from the current backend.

Phases: check the target (a target workspace that already holds rows is refused unless --force)
-> maintenance -> flush -> copy in batches (binary COPY into PostgreSQL) -> build indexes -> verify
(counts, checksums, sampled queries) -> cut over in registry.yaml -> leave maintenance. On any
failure DB stays on its current backend and leaves maintenance; running the same command again
resumes from the last loaded batch (--restart discards the half-done job). Records that cannot
be read are skipped and reported with file, position and reason; source files are never changed.

When a proxy serves the registry, the migration runs inside it (through its admin API); otherwise
in this process. "proxy migrate verify DB" compares the JSON folder and PostgreSQL again at any time.`,
		Example: `  proxy migrate mydb --to postgres --dsn 'postgres://rag:${PGPASSWORD}@db:5432/rag'
  proxy migrate mydb --to postgres --backend pg-main --restart
  proxy migrate mydb --to json --path ./mydb-back
  proxy migrate verify mydb
  proxy migrate status mydb`,
		Args: exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error { return runMigrate(cmd, g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.req.To, "to", "", "target backend type: postgres or json")
	f.StringVar(&o.req.DSN, "dsn", "", "PostgreSQL connection string (${VAR} references are expanded when connecting)")
	f.StringVar(&o.req.Backend, "backend", "", "a named backend of registry.yaml instead of --dsn")
	f.StringVar(&o.req.Workspace, "workspace", "", "LightRAG workspace in PostgreSQL (default: derived from DB)")
	f.StringVar(&o.req.EmbeddingModel, "embedding-model", "", "embedding model in suffixed vector table names")
	f.StringVar(&o.req.VectorTableNaming, "vector-table-naming", "", "suffixed (default) or legacy")
	f.StringVar(&o.req.Path, "path", "", "folder of a JSON target (--to json)")
	f.BoolVar(&o.req.Force, "force", false, "load into a target that already holds rows (same ids are replaced)")
	f.BoolVar(&o.req.Restart, "restart", false, "discard a half-done migration of DB and start afresh")
	f.IntVar(&o.req.BatchSize, "batch-size", 0, "records per loaded batch (default 2000)")
	f.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar (plain progress lines)")
	f.StringVar(&o.token, "token", "", "token of the running proxy (env "+envToken+")")
	cmd.AddCommand(newMigrateVerifyCmd(g), newMigrateStatusCmd(g), newMigrateCancelCmd(g))
	return cmd
}

// localRunner runs migrations in this process, through the same switching
// service as `proxy backend set`.
func localRunner(g *globals, cmd *cobra.Command, log *slog.Logger) (*migration.Runner, error) {
	regPath, err := g.registryPath(cmd)
	if err != nil {
		return nil, err
	}
	dataDir, err := g.dataDir(cmd)
	if err != nil {
		return nil, err
	}
	sw := &backends.Switcher{RegistryPath: regPath, DataDir: dataDir, Catalog: backends.Default(log), Logger: log}
	return &migration.Runner{Switcher: sw, Log: log}, nil
}

func runMigrate(cmd *cobra.Command, g *globals, o *migrateOptions, name string) error {
	if err := adapters.ValidateName("database", name); err != nil {
		return usageError{err}
	}
	if err := o.req.Validate(); err != nil {
		return usageError{err}
	}
	if o.req.Path != "" {
		// Relative to here, as for `db add`, also when a proxy runs it.
		abs, err := filepath.Abs(o.req.Path)
		if err != nil {
			return err
		}
		o.req.Path = abs
	}
	ctx := cmd.Context()
	regPath, err := g.registryPath(cmd)
	if err != nil {
		return err
	}
	show := newProgressView(g.stderr, o.noProgress || o.jsonOut)
	defer show.Close()
	var sum *migration.Summary
	if url, ok, err := registry.Serving(regPath); err == nil && ok {
		fmt.Fprintf(g.stderr, "a proxy serves %s at %s: the migration runs inside it (reads go on)\n", regPath, url)
		sum, err = remoteMigrate(ctx, g.adminClient(cmd, url, o.token), name, o.req, show.Update)
		show.Close()
		if sum != nil {
			printSummary(g.stdout, sum, o.jsonOut)
		}
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rn, err := localRunner(g, cmd, log)
	if err != nil {
		return err
	}
	sum, err = rn.Migrate(ctx, name, o.req, show.Update)
	show.Close()
	if sum != nil {
		printSummary(g.stdout, sum, o.jsonOut)
	}
	return err
}

// remoteMigrate starts the migration on a running proxy and follows it.
func remoteMigrate(ctx context.Context, c *adminClient, name string, req migration.Request, onProgress func(migration.Progress)) (*migration.Summary, error) {
	var st migration.JobStatus
	err := c.do(ctx, "POST", "/v1/databases/"+name+"/migration", req, &st)
	var ae *adapters.Error
	if errors.As(err, &ae) && ae.Code == "migration_running" {
		// Already running there (a retried start, or another shell): follow it.
		err = c.do(ctx, "GET", "/v1/databases/"+name+"/migration", nil, &st)
	}
	if err != nil {
		return nil, err
	}
	for {
		onProgress(st.Progress)
		if !st.Running {
			if st.Error != nil {
				return st.Summary, adapters.Errorf(adapters.ErrConflict, st.Error.Code, st.Error.Hint, "%s", st.Error.Message)
			}
			return st.Summary, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped following the migration of %s, which goes on in the proxy: "+
				"follow it with `proxy migrate status %s`, stop it with `proxy migrate cancel %s`", name, name, name)
		case <-time.After(500 * time.Millisecond):
		}
		if err := c.do(ctx, "GET", "/v1/databases/"+name+"/migration", nil, &st); err != nil {
			return nil, err
		}
	}
}

func newMigrateVerifyCmd(g *globals) *cobra.Command {
	var dsn, backend, token string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "verify DB [--dsn DSN | --backend NAME]",
		Short: "Compare a database's JSON folder with its PostgreSQL backend (counts, checksums, sampled queries)",
		Long: `verify reads DB's JSON folder (after a migration to PostgreSQL, the folder it came from, kept as an
archive) and its PostgreSQL backend, and compares every namespace: record counts, an order-independent
checksum over canonical records, and sampled queries (vector top-10, node neighbours, doc-status
counts). It exits 1 and names the namespaces and ids that differ. A database still on JSON needs
--dsn or --backend to say which PostgreSQL to compare with.`,
		Args: exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			ctx := cmd.Context()
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			var checks []migration.Check
			if url, ok, err := registry.Serving(regPath); err == nil && ok && dsn == "" && backend == "" {
				var out struct {
					Checks []migration.Check `json:"checks"`
				}
				if err := g.adminClient(cmd, url, token).do(ctx, "POST", "/v1/databases/"+name+"/migration/verify", struct{}{}, &out); err != nil {
					return err
				}
				checks = out.Checks
			} else {
				rn, err := localRunner(g, cmd, slog.New(slog.DiscardHandler))
				if err != nil {
					return err
				}
				var other *backends.Settings
				if dsn != "" || backend != "" {
					other = &backends.Settings{Type: registry.BackendPostgres, DSN: dsn, Backend: backend}
					if backend != "" {
						other.Type = ""
					}
				}
				if checks, err = rn.VerifyNow(ctx, name, other); err != nil {
					return err
				}
			}
			printChecks(g.stdout, checks, jsonOut)
			for _, c := range checks {
				if !c.OK() {
					return errors.New("verification found differences")
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dsn, "dsn", "", "PostgreSQL to compare with (a database still on JSON)")
	cmd.Flags().StringVar(&backend, "backend", "", "named backend to compare with")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the checks as JSON")
	cmd.Flags().StringVar(&token, "token", "", "token of the running proxy (env "+envToken+")")
	return cmd
}

func newMigrateStatusCmd(g *globals) *cobra.Command {
	return newServingJobCmd(g, "status DB", "Show the progress of a migration running in the proxy", "GET",
		func(w io.Writer, _ string, st migration.JobStatus) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		})
}

func newMigrateCancelCmd(g *globals) *cobra.Command {
	return newServingJobCmd(g, "cancel DB",
		"Stop a migration running in the proxy (the database stays where it was; run migrate again to resume)", "DELETE",
		func(w io.Writer, db string, st migration.JobStatus) error {
			_, err := fmt.Fprintf(w, "migration of %s stopped in phase %q; run the same migrate command to resume\n", db, st.Progress.Phase)
			return err
		})
}

// newServingJobCmd is a command that calls method on the migration of the
// proxy serving the registry and prints its answer.
func newServingJobCmd(g *globals, use, short, method string, print func(io.Writer, string, migration.JobStatus) error) *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := servingClient(g, cmd, token)
			if err != nil {
				return err
			}
			var st migration.JobStatus
			if err := c.do(cmd.Context(), method, "/v1/databases/"+args[0]+"/migration", nil, &st); err != nil {
				return err
			}
			return print(g.stdout, args[0], st)
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "token of the running proxy (env "+envToken+")")
	return cmd
}

func servingClient(g *globals, cmd *cobra.Command, token string) (*adminClient, error) {
	regPath, err := g.registryPath(cmd)
	if err != nil {
		return nil, err
	}
	url, ok, err := registry.Serving(regPath)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no proxy serves %s: a migration run with `proxy migrate` in this shell shows its own progress", regPath)
	}
	return g.adminClient(cmd, url, token), nil
}

func newExportCmd(g *globals) *cobra.Command {
	var force, jsonOut, noProgress bool
	cmd := &cobra.Command{
		Use:   "export DB DIR [--force]",
		Short: "Write a database (any backend) as a LightRAG working directory",
		Long: `export copies every namespace of DB into DIR as LightRAG's own files (kv_store_*.json, vdb_*.json,
graph_*.graphml), which LightRAG opens directly, and verifies the copy. DIR must be empty or new unless
--force. DB keeps being served; writes made during the export may be missing from it (put DB in
maintenance first for an exact copy: proxy backend maintenance DB on).`,
		Args: exactArgs(2, "a database DB and a folder DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := adapters.ValidateName("database", name); err != nil {
				return usageError{err}
			}
			dir, err := filepath.Abs(args[1]) // relative to here, not to the data folder
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			rn, err := localRunner(g, cmd, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			if url, ok, err := registry.Serving(regPath); err == nil && ok {
				// The proxy owns the database: ask it to flush, then read
				// the files (or the server) directly.
				rn.Flush = func(ctx context.Context, name string) error {
					return g.adminClient(cmd, url, "").do(ctx, "POST", "/v1/databases/"+name+"/flush", struct{}{}, nil)
				}
			}
			show := newProgressView(g.stderr, noProgress || jsonOut)
			sum, err := rn.Export(cmd.Context(), name, dir, force, show.Update)
			show.Close()
			if sum != nil {
				printSummary(g.stdout, sum, jsonOut)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "write into a folder that already holds LightRAG files")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the summary as JSON")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar")
	return cmd
}

func printSummary(w io.Writer, s *migration.Summary, jsonOut bool) {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s)
		return
	}
	fmt.Fprintf(w, "database %s from %s", s.Database, s.Source)
	if s.Resumed {
		fmt.Fprint(w, " (resumed)")
	}
	fmt.Fprintf(w, ": %.1fs\n", s.Seconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tRECORDS\tSECONDS\tVERIFIED")
	checks := map[string]migration.Check{}
	for _, c := range s.Checks {
		checks[c.Unit] = c
	}
	for _, u := range s.Units {
		v := "-"
		if c, ok := checks[u.Unit]; ok {
			v = "ok"
			if !c.OK() {
				v = "DIFFERS: " + strings.Join(c.Differences, "; ")
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\n", u.Unit, u.Records, u.Seconds, v)
	}
	_ = tw.Flush()
	for _, p := range s.Phases {
		fmt.Fprintf(w, "  %-22s %.1fs\n", p.Phase, p.Seconds)
	}
	if s.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d records that cannot be read (left behind in the source files):\n", s.Skipped)
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  %s at byte %d: %s %s\n", p.File, p.Offset, p.Record, p.Reason)
		}
	}
	switch {
	case s.CutOver:
		fmt.Fprintf(w, "verified; %s is now served by its new backend\n", s.Database)
	case s.Verified:
		fmt.Fprintln(w, "verified")
	default:
		fmt.Fprintln(w, "not verified: the database stays on its current backend")
	}
}

func printChecks(w io.Writer, checks []migration.Check, jsonOut bool) {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"checks": checks})
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSOURCE\tTARGET\tCHECKSUM\tSAMPLES\tRESULT")
	for _, c := range checks {
		res := "ok"
		if !c.OK() {
			res = "DIFFERS: " + strings.Join(c.Differences, "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\n", c.Unit, c.SourceRecords, c.TargetRecords, c.SourceChecksum, c.Samples, res)
	}
	_ = tw.Flush()
}

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
	"github.com/spf13/pflag"

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
	live       liveFlags
}

// liveFlags are a live migration's settings (--live, and rollback).
type liveFlags struct {
	live          bool
	detach        bool
	shadowShare   float64
	cleanRequests int64
	cleanMinutes  float64
	cutover       string
	abortAfter    float64
}

func (l *liveFlags) register(f *pflag.FlagSet) {
	d := migration.LiveDefaults
	f.Float64Var(&l.shadowShare, "shadow-share", d.ShadowShare, "live: share of reads also run on the target and compared (0 to 1)")
	f.Int64Var(&l.cleanRequests, "clean-requests", d.CleanRequests, "live: shadow reads without a mismatch before the cutover")
	f.Float64Var(&l.cleanMinutes, "clean-minutes", d.CleanMinutes, "live: minutes without a mismatch before the cutover")
	f.StringVar(&l.cutover, "cutover", "auto", "live: auto (as soon as the clean window passed) or manual (proxy migrate cutover DB)")
	f.Float64Var(&l.abortAfter, "abort-after", d.AbortAfterSeconds, "live: abort when the target stays unavailable this many seconds")
	f.BoolVar(&l.detach, "detach", false, "live: start it and return; follow with proxy migrate status DB")
}

// apply copies the live settings given on the command line into req.
func (l *liveFlags) apply(cmd *cobra.Command, req *migration.Request) {
	f := cmd.Flags()
	if f.Changed("shadow-share") {
		req.ShadowShare = &l.shadowShare
	}
	if f.Changed("clean-requests") {
		req.CleanRequests = &l.cleanRequests
	}
	if f.Changed("clean-minutes") {
		req.CleanMinutes = &l.cleanMinutes
	}
	if f.Changed("cutover") {
		req.Cutover = l.cutover
	}
	if f.Changed("abort-after") {
		req.AbortAfterSeconds = &l.abortAfter
	}
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
in this process. "proxy migrate verify DB" compares the JSON folder and PostgreSQL again at any time.

--live moves DB while it keeps taking writes (no 503), inside the proxy that serves the registry:
every write goes to both backends; the target is backfilled while writes go on, verified (records
that differ are repaired from the source, rounds repeat until clean), then reads are also run on
the target and compared (shadow reads) until a clean window passes (--clean-requests reads and
--clean-minutes without a mismatch); then it cuts over (--cutover auto) or waits for
"proxy migrate cutover DB". The source stays as a read-only archive; "proxy migrate rollback DB"
moves back the same way, "proxy migrate abort DB" stops before the cutover and drops the copy.`,
		Example: `  proxy migrate mydb --to postgres --dsn 'postgres://rag:${PGPASSWORD}@db:5432/rag'
  proxy migrate mydb --to postgres --backend pg-main --restart
  proxy migrate mydb --to json --path ./mydb-back
  proxy migrate mydb --to postgres --dsn "$DSN" --live --clean-minutes 10
  proxy migrate cutover mydb
  proxy migrate rollback mydb
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
	f.BoolVar(&o.live.live, "live", false, "move DB while it keeps taking writes (dual-write, backfill, verify, shadow reads, cutover)")
	o.live.register(f)
	cmd.AddCommand(newMigrateVerifyCmd(g), newMigrateStatusCmd(g), newMigrateCancelCmd(g),
		newMigrateCutoverCmd(g), newMigrateAbortCmd(g), newMigrateRollbackCmd(g))
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
	if o.live.live {
		o.req.Mode = migration.ModeLive
	}
	o.live.apply(cmd, &o.req)
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
	if o.req.Live() {
		show.Close()
		c, err := servingClient(g, cmd, o.token)
		if err != nil {
			return fmt.Errorf("%w; a live migration runs inside the proxy that serves the registry: start `proxy serve`, "+
				"or drop --live to migrate with writes paused", err)
		}
		return followLive(cmd.Context(), g, c, name, "POST", "/v1/databases/"+name+"/migration", o.req, o)
	}
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
	return newServingJobCmd(g, "status DB", "Show the progress of a migration running in the proxy", "GET", "", nil,
		func(w io.Writer, _ string, raw json.RawMessage) error {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		})
}

func newMigrateCancelCmd(g *globals) *cobra.Command {
	return newServingJobCmd(g, "cancel DB",
		"Stop a migration running in the proxy (the database stays where it was; run migrate again to resume; a live migration is aborted)",
		"DELETE", "", nil, printStopped)
}

func printStopped(w io.Writer, db string, raw json.RawMessage) error {
	var st struct {
		Mode     string             `json:"mode"`
		Phase    string             `json:"phase"`
		Progress migration.Progress `json:"progress"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	if st.Mode == migration.ModeLive {
		_, err := fmt.Fprintf(w, "live migration of %s aborted in phase %q: it serves from its own backend alone; the copy is dropped\n", db, st.Phase)
		return err
	}
	_, err := fmt.Fprintf(w, "migration of %s stopped in phase %q; run the same migrate command to resume\n", db, st.Progress.Phase)
	return err
}

func newMigrateAbortCmd(g *globals) *cobra.Command {
	return newServingJobCmd(g, "abort DB",
		"Abort a live migration before its cutover: the database serves from its own backend alone; the copy is dropped",
		"POST", "/abort", func() any { return map[string]any{} }, printStopped)
}

func newMigrateCutoverCmd(g *globals) *cobra.Command {
	var force bool
	cmd := newServingJobCmd(g, "cutover DB [--force]",
		"Cut a live migration over once its clean window passed (--force: now)", "POST", "/cutover",
		func() any { return map[string]any{"force": force} },
		func(w io.Writer, db string, _ json.RawMessage) error {
			_, err := fmt.Fprintf(w, "live migration of %s is cutting over; follow it with proxy migrate status %s\n", db, db)
			return err
		})
	cmd.Flags().BoolVar(&force, "force", false, "cut over without waiting for the clean window")
	return cmd
}

func newMigrateRollbackCmd(g *globals) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "rollback DB",
		Short: "Move a database back, live, into the backend its last live migration left (its archive)",
		Args:  exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := adapters.ValidateName("database", name); err != nil {
				return usageError{err}
			}
			o.live.apply(cmd, &o.req)
			c, err := servingClient(g, cmd, o.token)
			if err != nil {
				return err
			}
			body := map[string]any{}
			if o.req.ShadowShare != nil {
				body["shadow_share"] = *o.req.ShadowShare
			}
			if o.req.CleanRequests != nil {
				body["clean_requests"] = *o.req.CleanRequests
			}
			if o.req.CleanMinutes != nil {
				body["clean_minutes"] = *o.req.CleanMinutes
			}
			if o.req.Cutover != "" {
				body["cutover"] = o.req.Cutover
			}
			if o.req.AbortAfterSeconds != nil {
				body["abort_after_seconds"] = *o.req.AbortAfterSeconds
			}
			return followLive(cmd.Context(), g, c, name, "POST", "/v1/databases/"+name+"/migration/rollback", body, o)
		},
	}
	f := cmd.Flags()
	o.live.register(f)
	f.BoolVar(&o.jsonOut, "json", false, "print the final status as JSON")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar (plain progress lines)")
	f.StringVar(&o.token, "token", "", "token of the running proxy (env "+envToken+")")
	return cmd
}

// newServingJobCmd is a command that calls method on the migration (path
// suffix sub) of the proxy serving the registry, sending body() (nil: no
// body), and prints its answer.
func newServingJobCmd(g *globals, use, short, method, sub string, body func() any,
	print func(io.Writer, string, json.RawMessage) error) *cobra.Command {
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
			var send any
			if body != nil {
				send = body()
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), method, "/v1/databases/"+args[0]+"/migration"+sub, send, &raw); err != nil {
				return err
			}
			return print(g.stdout, args[0], raw)
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

// followLive starts (or finds running) a live migration and follows it
// until it is done, aborted or failed, or waits for a manual cutover.
func followLive(ctx context.Context, g *globals, c *adminClient, name, method, path string, body any, o *migrateOptions) error {
	var st migration.LiveStatus
	err := c.do(ctx, method, path, body, &st)
	var ae *adapters.Error
	if errors.As(err, &ae) && ae.Code == "migration_running" {
		err = c.do(ctx, "GET", "/v1/databases/"+name+"/migration", nil, &st)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "live migration %s of %s: %s -> %s (reads and writes go on)\n", st.ID, name, st.Source, st.Target)
	show := newProgressView(g.stderr, o.noProgress || o.jsonOut)
	defer show.Close()
	last := ""
	for {
		show.Update(migration.Progress{Database: name, Phase: "live " + st.Phase, Started: st.Started, Units: st.Units,
			Records: st.Records, TotalRecords: st.TotalRecords, ETASeconds: st.ETASeconds})
		line := liveLine(st)
		if line != last && (o.noProgress || st.Phase != "backfill") && !o.jsonOut {
			fmt.Fprintln(g.stderr, line)
			last = line
		}
		switch {
		case st.State == migration.LiveDone, st.State == migration.LiveAborted, st.State == migration.LiveFailed:
			show.Close()
			return finishLive(g, name, st, o.jsonOut)
		case st.State == migration.LiveWaiting && st.ID != "":
			show.Close()
			fmt.Fprintf(g.stderr, "the clean window passed: cut over with `proxy migrate cutover %s` (or abort with `proxy migrate abort %s`)\n", name, name)
			return finishLive(g, name, st, o.jsonOut)
		case o.live.detach:
			show.Close()
			fmt.Fprintf(g.stderr, "follow it with `proxy migrate status %s`\n", name)
			return finishLive(g, name, st, o.jsonOut)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following the live migration of %s, which goes on in the proxy: "+
				"follow it with `proxy migrate status %s`, abort it with `proxy migrate abort %s`", name, name, name)
		case <-time.After(500 * time.Millisecond):
		}
		if err := c.do(ctx, "GET", "/v1/databases/"+name+"/migration", nil, &st); err != nil {
			return err
		}
	}
}

// liveLine is one line of a live migration's state.
func liveLine(st migration.LiveStatus) string {
	switch st.Phase {
	case "backfill":
		return fmt.Sprintf("backfill: %d of %d records copied", st.Records, st.TotalRecords)
	case "verify":
		return fmt.Sprintf("verify: round %d, %d records repaired so far", st.VerifyRounds+1, st.Repaired)
	}
	return fmt.Sprintf("%s: %d shadow reads compared, %d mismatches; clean window %d/%d reads, %.0f/%.0f s",
		st.Phase, st.Shadow.Compared, st.Shadow.Mismatches, st.Shadow.WindowReads, st.CleanWindow.Requests,
		st.Shadow.WindowSeconds, st.CleanWindow.Minutes*60)
}

func finishLive(g *globals, name string, st migration.LiveStatus, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "live migration of %s: %s (phase %s); %d records copied, %d verification rounds, %d repaired, "+
			"%d shadow reads compared, %d mismatches\n", name, st.State, st.Phase, st.Records, st.VerifyRounds, st.Repaired,
			st.Shadow.Compared, st.Shadow.Mismatches)
	}
	if st.Error != nil && st.State != migration.LiveDone {
		return adapters.Errorf(adapters.ErrConflict, st.Error.Code, st.Error.Hint, "%s", st.Error.Message)
	}
	return nil
}

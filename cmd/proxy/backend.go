package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// The backend commands switch through the one switching service
// (backends.Switcher), as PUT /v1/databases/{db}/backend does: in-process on
// registry.yaml (the source of truth), or, when a proxy serves the registry
// (registry.Serving), through that proxy's API so the data is counted
// through the backends it has open. A running proxy reloads the registry
// and switches the database without a restart (in-flight requests finish on
// the old backend).

func newBackendCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Choose, show and test the backend (JSON files or PostgreSQL) of a database",
		Long: `backend edits the backend of a database in registry.yaml. A running proxy picks the change up by
itself within a few seconds and switches without a restart. Passwords are never printed: connection
strings are shown with the password replaced by xxxxx (a ${VAR} reference is shown as written).`,
		Example: `  proxy backend test 'postgres://rag:${PGPASSWORD}@db:5432/rag'
  proxy backend set mydb --postgres 'postgres://rag:${PGPASSWORD}@db:5432/rag' --workspace mydb
  proxy backend show mydb --json
  proxy backend maintenance mydb on`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for 'proxy backend': use set, show, test or maintenance", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBackendSetCmd(g), newBackendShowCmd(g), newBackendTestCmd(g), newBackendMaintenanceCmd(g))
	return cmd
}

type backendSetOptions struct {
	postgres, workspace, model, naming, jsonPath, token string
	force                                               bool
	timeout                                             time.Duration
}

func newBackendSetCmd(g *globals) *cobra.Command {
	o := &backendSetOptions{}
	cmd := &cobra.Command{
		Use:   "set DB (--postgres DSN [--workspace W] [--embedding-model NAME] | --json [DIR]) [--force]",
		Short: "Serve a database from PostgreSQL (or back from JSON files)",
		Long: `set checks the connection first (reachable, PostgreSQL 14 or newer, pgvector present or creatable,
the right to create tables); each failure has its own code and a hint. It then writes a backend
definition named DB into registry.yaml (the DSN exactly as given: ${VAR} references are expanded
only when the proxy connects) and points DB at it. The registry stays readable by its owner only.
Without --workspace a new definition gets a workspace of its own, derived from DB, so two
databases never share rows; 'proxy backend show DB' says what LightRAG needs to open them.

A database that holds data (writes not yet flushed to LightRAG's files included) is not switched
to an empty backend, and no database is switched to a workspace that already holds rows (another
database's, or any it would serve instead of its own): migrate the data first, or pass --force.
DB is created when it does not exist.

When a proxy serves this registry, set goes through that proxy's API (PUT
/v1/databases/DB/backend, with --token or HYBRIDRAG_TOKEN), which counts the data through the
backend it has open; otherwise it works on the registry directly.`,
		Example: `  proxy backend set mydb --postgres 'postgres://rag:${PGPASSWORD}@db:5432/rag'
  proxy backend set mydb --postgres "$DSN" --workspace tenant_a --embedding-model text-embedding-3-small
  proxy backend set mydb --json`,
		Args: exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error { return runBackendSet(cmd, g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.postgres, "postgres", "", "PostgreSQL connection string (postgres://user:pass@host:5432/db)")
	f.StringVar(&o.workspace, "workspace", "", "LightRAG workspace for requests that name none (default: derived from DB)")
	f.StringVar(&o.model, "embedding-model", "", "embedding model in suffixed vector table names")
	f.StringVar(&o.naming, "vector-table-naming", "", "suffixed (LightRAG >= 1.4.9.10, default) or legacy (1.4.9.8)")
	f.StringVar(&o.jsonPath, "json", "", "serve from JSON files again (optional DIR; default the database's path)")
	f.Lookup("json").NoOptDefVal = "-"
	f.BoolVar(&o.force, "force", false, "switch even if it hides the database's data or shares a workspace holding rows")
	f.DurationVar(&o.timeout, "timeout", postgres.DefaultValidateTimeout, "how long the connection check may take")
	f.StringVar(&o.token, "token", "", "bearer token of the running proxy (env "+envToken+")")
	return cmd
}

func runBackendSet(cmd *cobra.Command, g *globals, o *backendSetOptions, name string) error {
	if err := adapters.ValidateName("database", name); err != nil {
		return usageError{err}
	}
	if (o.postgres == "") == (o.jsonPath == "") {
		return usagef("give exactly one of --postgres DSN and --json")
	}
	regPath, err := g.registryPath(cmd)
	if err != nil {
		return err
	}
	dataDir, err := g.dataDir(cmd)
	if err != nil {
		return err
	}
	st := backends.Settings{Workspace: o.workspace}
	if o.postgres != "" {
		st.Type, st.DSN, st.EmbeddingModel, st.VectorTableNaming = registry.BackendPostgres, o.postgres, o.model, o.naming
	} else {
		st.Type = registry.BackendJSON
		if o.jsonPath != "-" {
			st.Path = o.jsonPath
		}
	}
	req := backends.Request{Database: name, Settings: st, Force: o.force, CheckTimeout: o.timeout}
	ctx := cmd.Context()
	proxyURL, serving, err := registry.Serving(regPath)
	if err != nil {
		return err
	}
	var info backends.Info
	if serving {
		fmt.Fprintf(g.stderr, "proxy: a proxy serves this registry at %s: switching through it\n", proxyURL)
		info, err = switchThroughProxy(ctx, proxyURL, g.flagOrEnv(cmd, "token", envToken), req)
	} else {
		var res backends.Result
		res, err = cliSwitcher(regPath, dataDir).Switch(ctx, req)
		info = res.Info
	}
	if err != nil {
		return describeValidation(err)
	}
	fmt.Fprintf(g.stdout, "database %s now uses backend %s (%s)", name, info.Backend, info.Type)
	if info.DSN != "" {
		fmt.Fprintf(g.stdout, ": %s", info.DSN)
	}
	fmt.Fprintln(g.stdout)
	for _, e := range info.LightRAGEnv {
		fmt.Fprintf(g.stdout, "LightRAG opens the same rows with %s\n", e)
	}
	if !serving {
		fmt.Fprintln(g.stdout, "a running proxy switches within a few seconds")
	}
	return nil
}

// cliSwitcher switches in-process: it opens the database's current backend
// itself to count its data (a JSON folder a proxy holds cannot be opened:
// then the proxy is asked, see registry.Serving).
func cliSwitcher(regPath, dataDir string) *backends.Switcher {
	return &backends.Switcher{RegistryPath: regPath, DataDir: dataDir, Catalog: backends.Default(nil)}
}

// describeValidation prints the code and hint of a failed check or switch.
func describeValidation(err error) error {
	var ae *adapters.Error
	if errors.As(err, &ae) {
		msg := ae.Error()
		if ae.Code != "" {
			msg = ae.Code + ": " + msg
		}
		if ae.Hint != "" {
			msg += "\nhint: " + ae.Hint
		}
		return errors.New(msg)
	}
	return err
}

// switchThroughProxy asks the proxy serving the registry to switch (PUT
// /v1/databases/{db}/backend): it counts the data through the backend it
// has open. Connection failures and 5xx answers are retried briefly; an
// error answer comes back as an *adapters.Error with the proxy's code.
func switchThroughProxy(ctx context.Context, baseURL, token string, req backends.Request) (backends.Info, error) {
	body, err := json.Marshal(map[string]any{
		"type": req.Type, "backend": req.Backend, "name": req.Name, "dsn": req.DSN, "workspace": req.Workspace,
		"embedding_model": req.EmbeddingModel, "vector_table_naming": req.VectorTableNaming, "path": req.Path, "force": req.Force,
	})
	if err != nil {
		return backends.Info{}, err
	}
	rc := retryablehttp.NewClient()
	rc.RetryMax, rc.RetryWaitMin, rc.RetryWaitMax = 3, 200*time.Millisecond, 2*time.Second
	rc.Logger = nil
	rc.HTTPClient.Timeout = 2*backends.DataCheckTimeout + req.CheckTimeout
	hreq, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPut,
		strings.TrimRight(baseURL, "/")+"/v1/databases/"+url.PathEscape(req.Database)+"/backend", body)
	if err != nil {
		return backends.Info{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := rc.Do(hreq)
	if err != nil {
		return backends.Info{}, fmt.Errorf("switch through the proxy at %s: %w: check that it runs, or stop it to switch without it", baseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return backends.Info{}, fmt.Errorf("read the proxy's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct{ Code, Message, Hint string }
		if json.Unmarshal(raw, &eb) != nil || eb.Code == "" {
			return backends.Info{}, fmt.Errorf("the proxy at %s answered %s", baseURL, resp.Status)
		}
		kind := adapters.ErrInvalid
		switch {
		case resp.StatusCode == http.StatusConflict:
			kind = adapters.ErrConflict
		case resp.StatusCode == http.StatusUnauthorized:
			eb.Hint = "pass the proxy's token with --token or " + envToken
		case resp.StatusCode >= 500:
			kind = adapters.ErrUnavailable
		}
		return backends.Info{}, &adapters.Error{Kind: kind, Code: eb.Code, Message: eb.Message, Hint: eb.Hint}
	}
	var info backends.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return backends.Info{}, fmt.Errorf("read the proxy's answer: %w", err)
	}
	return info, nil
}

type backendShowOptions struct{ json bool }

func newBackendShowCmd(g *globals) *cobra.Command {
	o := &backendShowOptions{}
	cmd := &cobra.Command{
		Use:     "show DB [--json]",
		Short:   "Show the backend of a database (password redacted)",
		Example: "  proxy backend show mydb\n  proxy backend show mydb --json",
		Args:    exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			reg, err := registry.LoadOrDefault(regPath)
			if err != nil {
				return err
			}
			db, ok := reg.Databases[args[0]]
			if !ok {
				return fmt.Errorf("database %q is not in the registry (known: %v)", args[0], reg.Names())
			}
			return writeBackendInfo(g.stdout, backends.Default(nil).Describe(args[0], db), o.json)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func writeBackendInfo(w io.Writer, info backends.Info, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("database", info.Database)
	row("type", info.Type)
	row("backend", info.Backend)
	row("dsn", info.DSN)
	row("path", info.Path)
	row("workspace", info.Workspace)
	row("embedding model", info.EmbeddingModel)
	row("vector tables", info.VectorTableNaming)
	row("maintenance", fmt.Sprint(info.Maintenance))
	if l := info.LiveMigration; l != nil {
		what := "to " + l.Target
		if l.Rollback {
			what = "back to " + l.Target
		}
		row("live migration", fmt.Sprintf("%s, phase %s (every write goes to both backends until the cutover)", what, l.Phase))
	}
	if a := info.Archive; a != nil {
		where := a.Backend
		if a.Path != "" {
			where += " folder " + a.Path
		} else if a.Workspace != "" {
			where += " workspace " + a.Workspace
		}
		row("archive", fmt.Sprintf("%s, read-only since %s (no longer written by the proxy; proxy migrate rollback %s moves back into it)",
			where, a.Since.Format(time.RFC3339), info.Database))
	}
	for i, e := range info.LightRAGEnv {
		k := ""
		if i == 0 {
			k = "LightRAG env"
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, e)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(info.LightRAGEnv) > 0 {
		_, err := fmt.Fprintf(w, "(set %s for LightRAG to open the same rows directly)\n", strings.Join(info.LightRAGEnv, " "))
		return err
	}
	return nil
}

func newBackendTestCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test DSN",
		Short: "Check a PostgreSQL connection string without saving anything",
		Long: `test connects within --timeout and checks PostgreSQL >= 14, pgvector (installed or creatable) and the
right to create tables. A failure prints its code (invalid_dsn, host_unreachable, connection_refused,
authentication_failed, database_not_found, pgvector_missing, insufficient_privilege,
connection_timeout, server_version_too_old) and a hint, and exits 1. ${VAR} references are expanded
from the environment.`,
		Example: `  proxy backend test 'postgres://rag:${PGPASSWORD}@127.0.0.1:5432/rag?sslmode=disable'`,
		Args:    exactArgs(1, "one connection string DSN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A bare connection string is PostgreSQL's.
			d := registry.BackendDef{Type: registry.BackendPostgres, DSN: args[0]}
			if _, err := d.ExpandDSN(); err != nil {
				return usageError{err}
			}
			entry := registry.Database{Backend: "test", Resolved: d}
			desc, err := backends.Default(nil).For(entry)
			if err != nil {
				return err
			}
			out, err := desc.Check(cmd.Context(), entry, "", backends.CheckOptions{Timeout: timeout})
			if err != nil {
				return describeValidation(err)
			}
			rep, isPG := out.(postgres.Report)
			if asJSON || !isPG {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			pgv := rep.PgvectorVersion + " (installed)"
			if !rep.PgvectorInstalled {
				pgv = rep.PgvectorVersion + " (available, enabled on first use)"
			}
			fmt.Fprintf(g.stdout, "ok: %s\nPostgreSQL %s, pgvector %s, can create tables, %.1f ms\n",
				d.RedactedDSN(), rep.ServerVersion, pgv, rep.LatencyMS)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", postgres.DefaultValidateTimeout, "how long the check may take")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func newBackendMaintenanceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "maintenance DB on|off",
		Short:   "Refuse writes to a database (503 + Retry-After) while reads go on",
		Example: "  proxy backend maintenance mydb on\n  proxy backend maintenance mydb off",
		Args:    exactArgs(2, "a database DB and on or off"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[1] {
			case "on":
				on = true
			case "off":
			default:
				return usagef("the second argument is on or off, not %q", args[1])
			}
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			dataDir, err := g.dataDir(cmd)
			if err != nil {
				return err
			}
			if err := cliSwitcher(regPath, dataDir).SetMaintenance(cmd.Context(), args[0], on); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "database %s: maintenance %s\n", args[0], args[1])
			return nil
		},
	}
}

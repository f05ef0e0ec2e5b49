package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/proxy"
	"github.com/hybridrag/storage-proxy/registry"
)

// The backend commands edit registry.yaml directly (the source of truth),
// with the same validation as PUT /v1/databases/{db}/backend; a running
// proxy reloads the registry within seconds and switches the database
// without a restart (in-flight requests finish on the old backend).

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
	postgres, workspace, model, naming, jsonPath string
	force                                        bool
	timeout                                      time.Duration
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

A database that holds data is not switched to an empty backend: migrate the data first, or pass
--force. DB is created when it does not exist.`,
		Example: `  proxy backend set mydb --postgres 'postgres://rag:${PGPASSWORD}@db:5432/rag'
  proxy backend set mydb --postgres "$DSN" --workspace tenant_a --embedding-model text-embedding-3-small
  proxy backend set mydb --json`,
		Args: exactArgs(1, "one database DB"),
		RunE: func(cmd *cobra.Command, args []string) error { return runBackendSet(cmd, g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.postgres, "postgres", "", "PostgreSQL connection string (postgres://user:pass@host:5432/db)")
	f.StringVar(&o.workspace, "workspace", "", "LightRAG workspace for requests that name none (default: default)")
	f.StringVar(&o.model, "embedding-model", "", "embedding model in suffixed vector table names")
	f.StringVar(&o.naming, "vector-table-naming", "", "suffixed (LightRAG >= 1.4.9.10, default) or legacy (1.4.9.8)")
	f.StringVar(&o.jsonPath, "json", "", "serve from JSON files again (optional DIR; default the database's path)")
	f.Lookup("json").NoOptDefVal = "-"
	f.BoolVar(&o.force, "force", false, "switch even if the database holds data and the new backend is empty")
	f.DurationVar(&o.timeout, "timeout", postgres.DefaultValidateTimeout, "how long the connection check may take")
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
	reg, err := registry.LoadOrDefault(regPath)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	cur, exists := reg.Databases[name]
	next := cur
	next.Resolved = registry.BackendDef{}
	var def *registry.BackendDef
	if o.postgres != "" {
		d := registry.BackendDef{Type: registry.BackendPostgres, DSN: o.postgres, Workspace: o.workspace,
			EmbeddingModel: o.model, VectorTableNaming: o.naming}
		if err := d.Validate(); err != nil {
			return usageError{err}
		}
		dsn, err := d.ExpandDSN()
		if err != nil {
			return usageError{err}
		}
		if _, err := postgres.Validate(ctx, dsn, postgres.ValidateOptions{Timeout: o.timeout}); err != nil {
			return describeValidation(err)
		}
		def, next.Backend, next.Resolved = &d, name, d
	} else {
		next.Backend = registry.BackendJSON
		if o.jsonPath != "-" {
			next.Path = o.jsonPath
		}
		if next.Path == "" {
			next.Path = name
		}
	}
	if exists && !o.force && !next.SameBackend(cur) {
		if err := checkSwitchCLI(ctx, name, cur, next, dataDir); err != nil {
			return err
		}
	}
	err = registry.Update(regPath, func(r *registry.Registry) error {
		if def != nil {
			if r.Backends == nil {
				r.Backends = map[string]registry.BackendDef{}
			}
			r.Backends[name] = *def
		}
		db := r.Databases[name]
		db.Backend, db.Path = next.Backend, next.Path
		r.Databases[name] = db
		return nil
	})
	if err != nil {
		return err
	}
	reg, err = registry.Load(regPath)
	if err != nil {
		return err
	}
	info := proxy.DescribeBackend(name, reg.Databases[name])
	fmt.Fprintf(g.stdout, "database %s now uses backend %s (%s)", name, info.Backend, info.Type)
	if info.DSN != "" {
		fmt.Fprintf(g.stdout, ": %s", info.DSN)
	}
	fmt.Fprintln(g.stdout, "\na running proxy switches within a few seconds")
	return nil
}

// describeValidation prints the code and hint of a failed check.
func describeValidation(err error) error {
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s\nhint: %s", ae.Code, ae.Error(), ae.Hint)
	}
	return err
}

// checkSwitchCLI refuses to switch a database holding data to an empty
// backend. JSON folders are counted without opening them (a running proxy
// holds their lock).
func checkSwitchCLI(ctx context.Context, name string, cur, next registry.Database, dataDir string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	have, err := countEntry(ctx, cur, dataDir, false)
	if err != nil {
		return fmt.Errorf("cannot tell whether database %s holds data (%w); pass --force to switch anyway", name, err)
	}
	if have == 0 {
		return nil
	}
	target, err := countEntry(ctx, next, dataDir, true)
	if err != nil {
		return fmt.Errorf("cannot read the new backend of %s (%w); pass --force to switch anyway", name, err)
	}
	if target == 0 {
		return fmt.Errorf("switch_refused: database %s holds %d records and the new backend is empty, so LightRAG would see "+
			"an empty database\nhint: migrate the data into the new backend first, or pass --force to switch anyway", name, have)
	}
	return nil
}

func countEntry(ctx context.Context, db registry.Database, dataDir string, defaultOnly bool) (int64, error) {
	if db.BackendType() == registry.BackendJSON {
		dir, err := db.ResolvePath(dataDir)
		if err != nil {
			return 0, err
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return 0, nil // created on the first write: nothing in it yet
		}
		rep, err := jsonadapter.Inspect(ctx, dir)
		if err != nil {
			return 0, err
		}
		var n int64
		for _, f := range rep.Files {
			if defaultOnly && f.Workspace != "" {
				continue
			}
			for _, c := range []*int64{f.Records, f.Vectors, f.Nodes} {
				if c != nil {
					n += *c
				}
			}
		}
		return n, nil
	}
	dsn, err := db.Resolved.ExpandDSN()
	if err != nil {
		return 0, err
	}
	b, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: db.PostgresWorkspace(),
		EmbeddingModel: db.Resolved.EmbeddingModel, VectorTableNaming: db.Resolved.VectorTableNaming})
	if err != nil {
		return 0, err
	}
	defer b.Close(context.WithoutCancel(ctx))
	infos, err := b.Namespaces(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, in := range infos {
		// Only its default workspace: a shared server holds other
		// databases' workspaces too.
		if in.Workspace == "" {
			n += in.Records
		}
	}
	return n, nil
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
			return writeBackendInfo(g.stdout, proxy.DescribeBackend(args[0], db), o.json)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func writeBackendInfo(w io.Writer, info proxy.BackendInfo, asJSON bool) error {
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
	return tw.Flush()
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
			d := registry.BackendDef{Type: registry.BackendPostgres, DSN: args[0]}
			dsn, err := d.ExpandDSN()
			if err != nil {
				return usageError{err}
			}
			rep, err := postgres.Validate(cmd.Context(), dsn, postgres.ValidateOptions{Timeout: timeout})
			if err != nil {
				return describeValidation(err)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
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
			err = registry.Update(regPath, func(r *registry.Registry) error {
				db, ok := r.Databases[args[0]]
				if !ok {
					return fmt.Errorf("database %q is not in the registry (known: %v)", args[0], r.Names())
				}
				db.Maintenance = on
				r.Databases[args[0]] = db
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "database %s: maintenance %s\n", args[0], args[1])
			return nil
		},
	}
}

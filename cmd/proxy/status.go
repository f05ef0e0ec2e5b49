package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/proxy"
	"github.com/hybridrag/storage-proxy/registry"
)

// statusTimeout bounds the whole `proxy status` (PostgreSQL look-ups run
// concurrently, each within monitor.DefaultPostgresTimeout).
const statusTimeout = 5 * time.Second

// errUnhealthy makes `proxy status` exit non-zero after printing.
var errUnhealthy = errors.New("a database is unhealthy")

// statusCmdOptions are what `proxy status` needs from the root command.
type statusCmdOptions struct {
	// RegistryPath and DataDir return the root's resolved settings.
	RegistryPath func() (string, error)
	DataDir      func() (string, error)
	// Backends inspects databases whose backend reports server statistics
	// (backends.Descriptor.Stats) with a one-off connection; nil leaves
	// them uninspected.
	Backends *backends.Catalog
	// Live returns the live migration of db from the proxy serving at url
	// (nil when it cannot tell); nil: not asked.
	Live func(ctx context.Context, url, db string) *migration.LiveStatus
}

// newStatusCmdFor is `proxy status` with the root's --registry and --data.
// PostgreSQL databases are inspected through their resolved backend
// definition.
func newStatusCmdFor(g *globals) *cobra.Command {
	var cmd *cobra.Command
	cmd = newStatusCmd(statusCmdOptions{
		RegistryPath: func() (string, error) { return g.registryPath(cmd) },
		DataDir:      func() (string, error) { return g.dataDir(cmd) },
		Backends:     backends.Default(nil),
		Live: func(ctx context.Context, url, db string) *migration.LiveStatus {
			var st migration.LiveStatus
			c := g.adminClient(cmd, url, "")
			c.hc.RetryMax = 0
			if err := c.do(ctx, "GET", "/v1/databases/"+db+"/migration", nil, &st); err != nil || st.Mode != migration.ModeLive {
				return nil
			}
			return &st
		},
	})
	return cmd
}

// setupTelemetry builds serve's OpenTelemetry exporters: OTLP from the
// OTEL_* variables, --otel-stdout, and Prometheus at /metrics (--metrics).
func setupTelemetry(ctx context.Context, g *globals, o *serveOptions) (*proxy.Telemetry, error) {
	opts := proxy.TelemetryOptions{Prometheus: o.metrics, ServiceVersion: buildVersion().Version, Getenv: g.getenv}
	if o.otelStdout {
		opts.Stdout = g.stdout
	}
	tel, err := proxy.SetupTelemetry(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: fix the OTEL_* environment variables or run without them", err)
	}
	return tel, nil
}

// shutdownTelemetry flushes pending spans and metrics on exit.
func shutdownTelemetry(tel *proxy.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry shutdown", slog.Any("error", err))
	}
}

// newStatusCmd is `proxy status [db] [--json]`: it reads the registry and
// the file system directly (no running proxy needed, nothing parsed).
func newStatusCmd(opts statusCmdOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [db]",
		Short: "Show each database's backend, file sizes against the thresholds, PostgreSQL statistics and warnings",
		Long: "status reads registry.yaml and the databases' folders directly (sizes from the file system, nothing is\n" +
			"parsed), and connects to PostgreSQL databases for their statistics. It exits non-zero when a database\n" +
			"is unhealthy. --json prints the stable JSON documented in the README.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
			defer cancel()
			out := cmd.OutOrStdout()
			return runStatus(ctx, out, isTerminal(out), opts, args, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (stable, for scripts)")
	return cmd
}

func runStatus(ctx context.Context, out io.Writer, color bool, opts statusCmdOptions, args []string, asJSON bool) error {
	regPath, err := opts.RegistryPath()
	if err != nil {
		return err
	}
	dataDir, err := opts.DataDir()
	if err != nil {
		return err
	}
	reg, err := registry.LoadOrDefault(regPath)
	if err != nil {
		return err
	}
	coll := monitor.Collector{DataDir: dataDir, Postgres: catalogInspector(opts.Backends)}
	url, serving, err := registry.Serving(regPath)
	serving = serving && err == nil
	if serving {
		coll.ProxyURL = url // the warnings' curl reaches the proxy that serves this registry
	}
	if opts.Backends != nil {
		coll.ServerStats = opts.Backends.HasStats
	}
	var sts []monitor.Status
	if len(args) == 1 {
		if _, ok := reg.Databases[args[0]]; !ok {
			return fmt.Errorf("database %q is not in the registry (known: %v); add it with `proxy db add %s --path DIR`",
				args[0], reg.Names(), args[0])
		}
		sts = []monitor.Status{coll.Database(ctx, reg, args[0])}
	} else {
		sts = coll.All(ctx, reg)
	}
	for i, st := range sts {
		lm := reg.Databases[st.Name].Live
		if lm == nil {
			continue
		}
		if serving && opts.Live != nil {
			sts[i].LiveMigration = opts.Live(ctx, url, st.Name)
		}
		if sts[i].LiveMigration == nil {
			// Recorded in the registry; the proxy that serves it resumes it.
			sts[i].LiveMigration = &migration.LiveStatus{Mode: migration.ModeLive, Database: st.Name, ID: lm.ID,
				Rollback: lm.Rollback, Phase: lm.Phase, State: "recorded in the registry; resumes when a proxy serves it",
				Started: lm.Started, Units: []migration.UnitProgress{}, ETASeconds: -1}
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		var v any = sts
		if len(args) == 1 {
			v = sts[0]
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	} else if err := monitor.WriteTable(out, sts, color); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	for _, st := range sts {
		if !st.Healthy {
			return errUnhealthy
		}
	}
	return nil
}

// catalogInspector inspects databases through their descriptor's Stats,
// with a one-off connection.
func catalogInspector(cat *backends.Catalog) monitor.InspectorFor {
	if cat == nil {
		return nil
	}
	return func(name string, db registry.Database) (monitor.PostgresInspector, error) {
		d, err := cat.For(db)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", name, err)
		}
		if d.Stats == nil {
			return nil, fmt.Errorf("database %s: backend type %s reports no statistics", name, d.Type)
		}
		return monitor.PostgresInspectorFunc(func(ctx context.Context) (adapters.DBStats, error) {
			return d.Stats(ctx, db)
		}), nil
	}
}

// isTerminal reports whether w is a terminal (colour only then; NO_COLOR
// turns it off).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}

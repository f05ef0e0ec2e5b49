package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/provision"
	"github.com/hybridrag/storage-proxy/proxy"
	"github.com/hybridrag/storage-proxy/registry"
)

// newProvisionCmd is `proxy provision docker|status|stop|remove`.
func newProvisionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Run PostgreSQL with pgvector in Docker for the proxy, and manage that container",
		Args:  noArgs,
	}
	cmd.AddCommand(newProvisionDockerCmd(g), newProvisionStatusCmd(g), newProvisionStopCmd(g, false), newProvisionStopCmd(g, true))
	return cmd
}

func newProvisionDockerCmd(g *globals) *cobra.Command {
	var o provision.Options
	var timeout time.Duration
	var asJSON, force bool
	cmd := &cobra.Command{
		Use:   "docker",
		Short: "Create (or find) a PostgreSQL+pgvector container and record it as a backend",
		Long: `docker checks that Docker is reachable (the socket, or DOCKER_HOST), then creates or finds the container
it manages (by its labels): image pgvector/pgvector:pg16, a named volume for the data, restart policy
unless-stopped, the port published on 127.0.0.1 only (a free one when the port is taken), a generated
password kept in <data>/secrets (mode 0600, never printed unless --show-password) and a health check.
It waits until PostgreSQL answers a query over TCP, creates the vector extension, checks the connection,
writes the backend docker-<name> into registry.yaml and, with --db, switches that database to it.

Running it again is safe: a running container is left alone, a stopped one is started, and the container
is recreated only with --recreate or when its spec changed. The volume is only deleted by
'proxy provision remove --delete-volume'.`,
		Example: `  proxy provision docker --db mydb
  proxy provision docker --port 5433 --name rag-pg --volume rag-pg-data
  proxy provision docker --recreate`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := g.dataDir(cmd)
			if err != nil {
				return err
			}
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			o.DataDir, o.Timeout, o.Out = data, timeout, g.stderr
			o.Registrar = registrar(cmd, g, regPath, data, force)
			o.Validator = postgresValidator{}
			res, err := provision.Docker(cmd.Context(), o)
			if err != nil {
				return withCode(err)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(g.stdout, "%s container %s (image %s, volume %s) on 127.0.0.1:%d in %s\n", res.Action, res.Container,
				res.Image, res.Volume, res.Port, res.Duration.Round(time.Millisecond))
			fmt.Fprintf(g.stdout, "backend %s: %s\n", res.Backend, res.DSN)
			fmt.Fprintf(g.stdout, "password file: %s\n", res.PasswordFile)
			if res.Database != "" {
				fmt.Fprintf(g.stdout, "database %s now uses backend %s\n", res.Database, res.Backend)
			} else {
				fmt.Fprintf(g.stdout, "no database switched: rerun with --db NAME, or set a database's backend to %s in %s\n",
					res.Backend, regPath)
			}
			if res.Password != "" {
				fmt.Fprintf(g.stdout, "password: %s\n", res.Password)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DB, "db", "", "database to switch to the new backend")
	f.IntVar(&o.Port, "port", provision.DefaultPort, "host port on 127.0.0.1 (a free one is used when it is taken)")
	f.StringVar(&o.Name, "name", provision.DefaultName, "container name")
	f.StringVar(&o.Image, "image", provision.DefaultImage, "PostgreSQL image with pgvector")
	f.StringVar(&o.Volume, "volume", "", "named volume for the data (default <name>-data)")
	f.BoolVar(&force, "force", false, "with --db: switch even when it hides the database's data or shares a workspace holding rows")
	f.String("token", "", "bearer token of the proxy serving the registry, if one does (env "+envToken+")")
	f.BoolVar(&o.Recreate, "recreate", false, "replace the container even when its spec is unchanged (the volume is kept)")
	f.BoolVar(&o.ShowPassword, "show-password", false, "print the generated password")
	f.StringVar(&o.DockerHost, "docker-host", "", "Docker engine address (default DOCKER_HOST, else the local socket)")
	f.DurationVar(&timeout, "timeout", provision.DefaultTimeout, "how long to wait for PostgreSQL to accept connections")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newProvisionStatusCmd(g *globals) *cobra.Command {
	var m provision.ManageOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the PostgreSQL containers this proxy manages: state, health, port, volume",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := provision.List(cmd.Context(), m)
			if err != nil {
				return withCode(err)
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(map[string]any{"containers": list})
			}
			if len(list) == 0 {
				fmt.Fprintln(g.stdout, "no managed containers: run 'proxy provision docker'")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tHEALTH\tPORT\tVOLUME\tIMAGE\tID")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t127.0.0.1:%d\t%s\t%s\t%s\n", s.Name, s.State, s.Health, s.Port, s.Volume, s.Image, s.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&m.DockerHost, "docker-host", "", "Docker engine address (default DOCKER_HOST, else the local socket)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newProvisionStopCmd(g *globals, remove bool) *cobra.Command {
	var m provision.ManageOptions
	use, short := "stop", "Stop the managed container (data kept)"
	if remove {
		use, short = "remove", "Remove the managed container; the volume only with --delete-volume"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if remove {
				err = provision.Remove(cmd.Context(), m)
			} else {
				err = provision.Stop(cmd.Context(), m)
			}
			if err != nil {
				return withCode(err)
			}
			what := "stopped"
			if remove {
				what = "removed"
				if m.DeleteVolume {
					what += " (with its volume)"
				} else {
					what += " (volume kept)"
				}
			}
			fmt.Fprintf(g.stdout, "%s %s\n", m.Name, what)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Name, "name", provision.DefaultName, "container name")
	f.StringVar(&m.DockerHost, "docker-host", "", "Docker engine address (default DOCKER_HOST, else the local socket)")
	if remove {
		f.BoolVar(&m.DeleteVolume, "delete-volume", false, "delete the data volume too (irreversible)")
	}
	return cmd
}

// withCode prefixes a provisioning error with its stable code.
func withCode(err error) error {
	var ae *adapters.Error
	if errors.As(err, &ae) && ae.Code != "" {
		return fmt.Errorf("%s: %w", ae.Code, err)
	}
	return err
}

// postgresValidator runs the same connection check as `proxy backend set`
// (the postgres descriptor's Check).
type postgresValidator struct{}

func (postgresValidator) ValidatePostgres(ctx context.Context, dsn string) error {
	entry := registry.Database{Backend: "provision", Resolved: registry.BackendDef{Type: registry.BackendPostgres, DSN: dsn}}
	desc, err := backends.Default(nil).For(entry)
	if err != nil {
		return err
	}
	_, err = desc.Check(ctx, entry, "", backends.CheckOptions{})
	return err
}

// registrar records the provisioned backend and switches --db through the
// switching service: through the proxy serving the registry when one does
// (it counts the data through the backends it has open), else in-process.
// Unless force, a switch that would hide or share data is refused, as
// `proxy backend set` refuses it.
func registrar(cmd *cobra.Command, g *globals, regPath, dataDir string, force bool) provision.RegistryRegistrar {
	return provision.RegistryRegistrar{Path: regPath, Force: force,
		Switch: func(ctx context.Context, req backends.Request) (backends.Info, error) {
			proxyURL, serving, err := registry.Serving(regPath)
			if err != nil {
				return backends.Info{}, err
			}
			if serving {
				return switchThroughProxy(ctx, proxyURL, g.flagOrEnv(cmd, "token", envToken), req)
			}
			res, err := cliSwitcher(regPath, dataDir).Switch(ctx, req)
			return res.Info, err
		}}
}

// provisioner is the server's POST /v1/provision/docker. It switches
// through the server's own switching service and never forces a switch:
// PUT /v1/databases/{db}/backend with force does that.
func provisioner(regPath string, sw func() *backends.Switcher) proxy.ProvisionFunc {
	return func(ctx context.Context, o provision.Options) (provision.Result, error) {
		o.Registrar = provision.RegistryRegistrar{Path: regPath,
			Switch: func(ctx context.Context, req backends.Request) (backends.Info, error) {
				res, err := sw().Switch(ctx, req)
				return res.Info, err
			}}
		o.Validator = postgresValidator{}
		return provision.Docker(ctx, o)
	}
}

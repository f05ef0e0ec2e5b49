package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"
)

// Environment variables; a flag beats its variable.
const (
	envRegistry = "HYBRIDRAG_REGISTRY"
	envData     = "HYBRIDRAG_DATA"
	envListen   = "HYBRIDRAG_LISTEN"
	envToken    = "HYBRIDRAG_TOKEN"
	// envAllowRoots lists folders (separated like PATH) where database
	// paths given through the admin API may lie, besides the data folder.
	envAllowRoots = "HYBRIDRAG_ALLOW_ROOTS"
	// envBodyReadTimeout bounds how long a request body may take to arrive.
	envBodyReadTimeout = "HYBRIDRAG_BODY_READ_TIMEOUT"
	// envPprof is the loopback address of the opt-in profiling endpoint.
	envPprof = "HYBRIDRAG_PPROF"
)

const (
	defaultData   = "data"
	defaultListen = "127.0.0.1:8080"
	registryFile  = "registry.yaml"
)

// globals are the flags every subcommand accepts, resolved against the
// environment.
type globals struct {
	registry, data string
	getenv         func(string) string
	stdout, stderr io.Writer
}

// flagOrEnv returns the flag's value if it was set, else the variable's,
// else the flag's default.
func (g *globals) flagOrEnv(cmd *cobra.Command, flag, env string) string {
	f := cmd.Flag(flag)
	if f != nil && f.Changed {
		return f.Value.String()
	}
	if v := g.getenv(env); v != "" {
		return v
	}
	if f != nil {
		return f.Value.String()
	}
	return ""
}

// dataDir is the data folder as an absolute path.
func (g *globals) dataDir(cmd *cobra.Command) (string, error) {
	d := g.flagOrEnv(cmd, "data", envData)
	abs, err := filepath.Abs(d)
	if err != nil {
		return "", fmt.Errorf("data folder %q: %w", d, err)
	}
	return abs, nil
}

// registryPath is the registry file: --registry, HYBRIDRAG_REGISTRY, or
// registry.yaml in the data folder.
func (g *globals) registryPath(cmd *cobra.Command) (string, error) {
	p := g.flagOrEnv(cmd, "registry", envRegistry)
	if p == "" {
		data, err := g.dataDir(cmd)
		if err != nil {
			return "", err
		}
		return filepath.Join(data, registryFile), nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("registry %q: %w", p, err)
	}
	return abs, nil
}

func newRootCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	g := &globals{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "proxy",
		Short: "HybridRAG storage proxy: LightRAG's storage over HTTP+JSON",
		Long: `proxy serves LightRAG's four storage kinds (KV, vector, graph, doc status) over HTTP+JSON, per
database and namespace. A database is a LightRAG working directory registered in registry.yaml.

Every subcommand accepts --registry FILE (or HYBRIDRAG_REGISTRY; default: registry.yaml in the data
folder) and --data DIR (or HYBRIDRAG_DATA; default ./data). A flag beats its environment variable.

Exit codes: 0 success, 1 failure, 2 bad command line.`,
		Example: `  proxy serve
  proxy db add mydocs --path ./rag_storage
  proxy inspect ./rag_storage`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.registry, "registry", "", "registry file (env "+envRegistry+"; default <data>/"+registryFile+")")
	pf.StringVar(&g.data, "data", defaultData, "data folder for the registry and relative database paths (env "+envData+")")
	root.AddCommand(newServeCmd(g), newDBCmd(g), newInspectCmd(g), newVersionCmd(g), newGenCmd(g), newHealthcheckCmd(g))
	root.AddCommand(newProvisionCmd(g))
	root.AddCommand(newBackendCmd(g))
	root.AddCommand(newStatusCmdFor(g))
	root.AddCommand(newMigrateCmd(g), newExportCmd(g))
	return root
}

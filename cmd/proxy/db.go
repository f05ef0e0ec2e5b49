package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Add, list and remove databases in the registry",
		Long: `db edits registry.yaml. A running proxy picks up the change by itself within a few seconds; no restart
is needed. Files of a database are never created or deleted by these commands.`,
		Example: `  proxy db add mydocs --path ./rag_storage
  proxy db list
  proxy db remove mydocs`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for 'proxy db': use add, list or remove", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDBAddCmd(g), newDBListCmd(g), newDBRemoveCmd(g))
	return cmd
}

type dbAddOptions struct {
	path, workspace string
	force           bool
}

func newDBAddCmd(g *globals) *cobra.Command {
	o := &dbAddOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME --path DIR [--workspace W]",
		Short: "Register a LightRAG working directory as a database",
		Long: `add registers DIR (a LightRAG working directory) as database NAME. A relative DIR is made absolute
from the current folder, so the registry means the same thing wherever the proxy runs. DIR may not
exist yet (the proxy creates it on the first write); it must not be a file. --workspace selects the
LightRAG workspace used when a request names none. An existing NAME is refused unless --force.`,
		Example: `  proxy db add mydocs --path ./rag_storage
  proxy db add tenant_a --path /srv/lightrag --workspace tenant_a
  proxy db add mydocs --path /new/place --force`,
		Args: exactArgs(1, "one database NAME"),
		RunE: func(cmd *cobra.Command, args []string) error { return runDBAdd(cmd, g, o, args[0]) },
	}
	cmd.Flags().StringVar(&o.path, "path", "", "the LightRAG working directory (required)")
	cmd.Flags().StringVar(&o.workspace, "workspace", "", "LightRAG workspace used when a request names none")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace an existing database of the same name")
	return cmd
}

func runDBAdd(cmd *cobra.Command, g *globals, o *dbAddOptions, name string) error {
	if err := adapters.ValidateName("database", name); err != nil {
		return usageError{err}
	}
	if o.path == "" {
		return usagef("--path is required: give the LightRAG working directory, e.g. --path ./rag_storage")
	}
	if err := adapters.ValidateName("workspace", o.workspace); err != nil {
		return usageError{fmt.Errorf("--workspace: %w", err)}
	}
	dir, err := filepath.Abs(o.path)
	if err != nil {
		return fmt.Errorf("path %q: %w", o.path, err)
	}
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("path %s is a file, not a folder: give the LightRAG working directory", dir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("path %s: %w", dir, err)
	case err != nil:
		fmt.Fprintf(g.stderr, "proxy: warning: %s does not exist yet; the proxy creates it on the first write\n", dir)
	default:
		if !hasLightRAGFiles(dir, o.workspace) {
			fmt.Fprintf(g.stderr, "proxy: warning: %s has no LightRAG files (kv_store_*.json, vdb_*.json, graph_*.graphml); "+
				"check the path if you meant an existing working directory\n", filepath.Join(dir, o.workspace))
		}
	}
	regPath, err := g.registryPath(cmd)
	if err != nil {
		return err
	}
	entry := registry.Database{Backend: registry.BackendJSON, Path: dir, Workspace: o.workspace}
	var replaced bool
	err = registry.Update(regPath, func(r *registry.Registry) error {
		if old, ok := r.Databases[name]; ok {
			if !o.force {
				return fmt.Errorf("database %q already exists (path %s): choose another name, or pass --force to replace it", name, old.Path)
			}
			replaced = true
		}
		r.Databases[name] = entry
		return nil
	})
	if err != nil {
		return err
	}
	verb := "added"
	if replaced {
		verb = "replaced"
	}
	fmt.Fprintf(g.stdout, "%s database %s -> %s in %s\n", verb, name, dir, regPath)
	return nil
}

// hasLightRAGFiles reports whether dir (or its workspace folder) holds any
// LightRAG storage file.
func hasLightRAGFiles(dir, workspace string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, workspace))
	if err != nil {
		return false
	}
	for _, e := range entries {
		n := e.Name()
		if (strings.HasPrefix(n, "kv_store_") || strings.HasPrefix(n, "vdb_")) && strings.HasSuffix(n, ".json") ||
			strings.HasPrefix(n, "graph_") && strings.HasSuffix(n, ".graphml") {
			return true
		}
	}
	return false
}

// dbListEntry is one database in `db list --json` (the same fields as GET
// /v1/databases).
type dbListEntry struct {
	Name      string `json:"name"`
	Backend   string `json:"backend"`
	Path      string `json:"path"`
	Workspace string `json:"workspace"`
}

func newDBListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the databases in the registry",
		Long: `list prints the registry's databases with their resolved folders. Without a registry file it shows the
default registry a proxy would start with.`,
		Example: `  proxy db list
  proxy db list --json | jq '.databases[].name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			data, err := g.dataDir(cmd)
			if err != nil {
				return err
			}
			reg, err := registry.LoadOrDefault(regPath)
			if err != nil {
				return fmt.Errorf("%w: fix the file or point --registry at another one", err)
			}
			out := []dbListEntry{}
			cat := backends.Default(nil)
			for _, name := range reg.Names() {
				db := reg.Databases[name]
				// A path only means something for an inline backend (JSON
				// files); a database on a named definition shows its name.
				p := ""
				if d, ok := cat.Get(db.BackendType()); ok && d.Named {
					p = "(backend " + db.Backend + ")"
				} else if p, err = db.ResolvePath(data); err != nil {
					p = db.Path
				}
				out = append(out, dbListEntry{Name: name, Backend: db.BackendType(), Path: p, Workspace: db.Workspace})
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Registry  string        `json:"registry"`
					Databases []dbListEntry `json:"databases"`
				}{regPath, out})
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tBACKEND\tPATH\tWORKSPACE")
			for _, d := range out {
				ws := d.Workspace
				if ws == "" {
					ws = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Backend, d.Path, ws)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {registry, databases: [{name, backend, path, workspace}]}")
	return cmd
}

func newDBRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Unregister a database (its files are kept)",
		Long: `remove deletes database NAME from the registry. Its folder and files are NOT deleted; a running proxy
flushes and closes the database within a few seconds.`,
		Example: `  proxy db remove mydocs`,
		Args:    exactArgs(1, "one database NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			regPath, err := g.registryPath(cmd)
			if err != nil {
				return err
			}
			data, err := g.dataDir(cmd)
			if err != nil {
				return err
			}
			var removed registry.Database
			err = registry.Update(regPath, func(r *registry.Registry) error {
				db, ok := r.Databases[name]
				if !ok {
					return fmt.Errorf("no database %q in %s: run 'proxy db list' to see the names", name, regPath)
				}
				removed = db
				delete(r.Databases, name)
				return nil
			})
			if err != nil {
				return err
			}
			p, err := removed.ResolvePath(data)
			if err != nil {
				p = removed.Path
			}
			fmt.Fprintf(g.stdout, "removed database %s from %s; its files in %s were not deleted\n", name, regPath, p)
			return nil
		},
	}
}

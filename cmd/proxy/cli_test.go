package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/bench/dataset"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
	"github.com/hybridrag/storage-proxy/registry"
)

// cli runs the command line in-process with the given environment and
// returns exit code, stdout and stderr.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestDBAddListRemove(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{envData: data}
	reg := filepath.Join(data, "registry.yaml")

	lightrag := filepath.Join(dir, "rag")
	require.NoError(t, os.MkdirAll(lightrag, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(lightrag, "kv_store_full_docs.json"), []byte("{}"), 0o644))

	code, out, errOut := cli(t, env, "db", "add", "mydocs", "--path", lightrag, "--workspace", "ws1")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "added database mydocs")
	require.Contains(t, errOut, "no LightRAG files", "ws1 sub-folder is empty: warned")

	r, err := registry.Load(reg)
	require.NoError(t, err)
	require.Equal(t, registry.Database{Backend: "json", Path: lightrag, Workspace: "ws1"}, r.Databases["mydocs"])
	require.Contains(t, r.Databases, "default", "the default database stays")
	st, err := os.Stat(reg)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// A duplicate needs --force.
	code, _, errOut = cli(t, env, "db", "add", "mydocs", "--path", lightrag)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "already exists")
	require.Contains(t, errOut, "--force")
	code, out, _ = cli(t, env, "db", "add", "mydocs", "--path", lightrag, "--force")
	require.Equal(t, 0, code)
	require.Contains(t, out, "replaced")

	// A relative path is made absolute from the working directory.
	wd, err := os.Getwd()
	require.NoError(t, err)
	t.Chdir(dir)
	code, _, errOut = cli(t, env, "db", "add", "rel", "--path", "rag")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, errOut, "warning", "rag has LightRAG files")
	t.Chdir(wd)

	code, out, _ = cli(t, env, "db", "list", "--json")
	require.Equal(t, 0, code)
	var listed struct {
		Registry  string
		Databases []dbListEntry
	}
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Equal(t, reg, listed.Registry)
	require.Equal(t, []dbListEntry{
		{Name: "default", Backend: "json", Path: filepath.Join(data, "default")},
		{Name: "mydocs", Backend: "json", Path: lightrag},
		{Name: "rel", Backend: "json", Path: lightrag},
	}, listed.Databases)

	code, out, _ = cli(t, env, "db", "list")
	require.Equal(t, 0, code)
	require.Contains(t, out, "NAME")
	require.Contains(t, out, lightrag)

	code, out, _ = cli(t, env, "db", "remove", "mydocs")
	require.Equal(t, 0, code)
	require.Contains(t, out, "were not deleted")
	require.FileExists(t, filepath.Join(lightrag, "kv_store_full_docs.json"))
	code, _, errOut = cli(t, env, "db", "remove", "mydocs")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "proxy db list")
}

func TestDBAddErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	env := map[string]string{envData: filepath.Join(dir, "data")}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"path is a file", []string{"db", "add", "x", "--path", file}, 1, "is a file"},
		{"no path", []string{"db", "add", "x"}, 2, "--path is required"},
		{"dotdot name", []string{"db", "add", "../x", "--path", dir}, 2, "not allowed"},
		{"slash name", []string{"db", "add", "a/b", "--path", dir}, 2, "not allowed"},
		{"bad workspace", []string{"db", "add", "x", "--path", dir, "--workspace", "../w"}, 2, "--workspace"},
		{"no name", []string{"db", "add", "--path", dir}, 2, "one database NAME"},
		{"unknown subcommand", []string{"db", "frobnicate"}, 2, "unknown command"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", []string{"db", "list", "--nope"}, 2, "unknown flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(t, env, tc.args...)
			require.Equal(t, tc.code, code, errOut)
			require.True(t, strings.HasPrefix(errOut, "proxy: "), errOut)
			require.Contains(t, errOut, tc.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
		})
	}
}

func TestGlobalFlagsBeatEnvironment(t *testing.T) {
	dir := t.TempDir()
	envReg := filepath.Join(dir, "env.yaml")
	flagReg := filepath.Join(dir, "flag.yaml")
	env := map[string]string{envRegistry: envReg, envData: filepath.Join(dir, "data")}
	code, _, errOut := cli(t, env, "db", "add", "a", "--path", dir)
	require.Equal(t, 0, code, errOut)
	require.FileExists(t, envReg)
	code, _, errOut = cli(t, env, "--registry", flagReg, "db", "add", "b", "--path", dir)
	require.Equal(t, 0, code, errOut)
	r, err := registry.Load(flagReg)
	require.NoError(t, err)
	require.Contains(t, r.Databases, "b")
	require.NotContains(t, r.Databases, "a")
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	st, err := dataset.Generate(context.Background(), dir, dataset.Options{Size: 400 << 10, Dim: 32, Seed: 3})
	require.NoError(t, err)

	code, out, errOut := cli(t, nil, "inspect", dir, "--json")
	require.Equal(t, 0, code, errOut)
	var rep struct {
		Dir   string
		Files []struct {
			File, Kind, Namespace string
			Bytes                 int64
			Records, Vectors      *int64
			Dim                   *int
			Nodes, Edges          *int64
			Statuses              map[string]int64
			Error                 string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, dir, rep.Dir)
	require.Len(t, rep.Files, len(dataset.Files()))
	for _, f := range rep.Files {
		require.Empty(t, f.Error)
		switch f.File {
		case "vdb_entities.json":
			require.Equal(t, "vector", f.Kind)
			require.Equal(t, int64(st.Entities), *f.Records)
			require.Equal(t, 32, *f.Dim)
		case "graph_chunk_entity_relation.graphml":
			require.Equal(t, int64(st.Entities), *f.Nodes)
			require.Equal(t, int64(st.Relations), *f.Edges)
		case "kv_store_doc_status.json":
			require.Equal(t, "doc_status", f.Kind)
			require.Equal(t, int64(st.Docs-st.FailedDocs), f.Statuses["processed"])
		}
	}

	code, out, _ = cli(t, nil, "inspect", dir)
	require.Equal(t, 0, code)
	require.Contains(t, out, "RECORDS")
	require.Contains(t, out, "KB")

	// A folder with a broken file: the report still prints, exit code 1.
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "kv_store_full_docs.json"), []byte("[]"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "kv_store_text_chunks.json"), []byte("{}"), 0o644))
	code, out, errOut = cli(t, nil, "inspect", bad)
	require.Equal(t, 1, code)
	require.Contains(t, out, "kv_store_text_chunks.json")
	require.Contains(t, errOut, "1 file(s) could not be read")

	code, _, errOut = cli(t, nil, "inspect", filepath.Join(bad, "missing"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "LightRAG working directory")
}

func TestInspectRealFolders(t *testing.T) {
	root := fixtures.Dir(t)
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			code, out, errOut := cli(t, nil, "inspect", filepath.Join(root, e.Name()), "--json")
			require.True(t, json.Valid([]byte(out)), out)
			if e.Name() == "wachout__AgentTest__root" {
				require.Equal(t, 1, code, "not LightRAG output: per-file errors")
				return
			}
			require.Equal(t, 0, code, errOut)
		})
	}
}

func TestGenVersionAndSizes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gen")
	code, out, errOut := cli(t, nil, "gen", dir, "--size", "300KB", "--dim", "16", "--json")
	require.Equal(t, 0, code, errOut)
	var st dataset.Stats
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Positive(t, st.Chunks)

	code, _, errOut = cli(t, nil, "gen", dir, "--size", "lots")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "100MB")

	code, out, _ = cli(t, nil, "version")
	require.Equal(t, 0, code)
	require.Contains(t, out, "go1.")

	for in, want := range map[string]int64{"100MB": 100 << 20, "1GB": 1 << 30, "512k": 512 << 10, "4096": 4096, "1.5 GiB": 3 << 29} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1MB", "MB", "1XB"} {
		_, err := parseSize(in)
		require.Error(t, err, in)
	}
	require.Equal(t, "1.5 MB", humanSize(3<<19))
	require.Equal(t, "12 B", humanSize(12))
}

func TestServeBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--data", dir, "--log-format", "xml"}, 2, "--log-format"},
		{[]string{"serve", "--data", dir, "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"serve", "--data", dir, "--listen", "256.0.0.1:99999"}, 1, "--listen"},
	}
	for _, tc := range tests {
		code, _, errOut := cli(t, nil, tc.args...)
		require.Equal(t, tc.code, code, errOut)
		require.Contains(t, errOut, tc.want)
	}
}

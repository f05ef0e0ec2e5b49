package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// Every size warning (CLI, log, status JSON) names the migrate command and
// a curl that work as printed once the DSN placeholder is filled in. This
// test takes both from a running proxy's status JSON and runs them exactly
// as printed through sh -c: one JSON database is migrated by the CLI
// command (which drives the running proxy through its admin API), another
// by the curl; both end on PostgreSQL with every record readable.

const dsnPlaceholderPrinted = "postgres://USER:PASSWORD@HOST:5432/DBNAME"

// curlInMessage finds the curl a warning's message prints.
var curlInMessage = regexp.MustCompile(`curl -X POST \S+ -H '[^']*' -d '[^']*'`)

type printedWarning struct {
	Code, Message, Command, Curl string
}

type dbStatusJSON struct {
	Name      string            `json:"name"`
	Backend   string            `json:"backend"`
	Warnings  []monitor.Warning `json:"warnings"`
	Migration map[string]any    `json:"migration"`
}

// sizeWarnings returns a status's size warnings with the curl each prints.
func sizeWarnings(t *testing.T, where string, ws []monitor.Warning) []printedWarning {
	t.Helper()
	var out []printedWarning
	for _, w := range ws {
		if w.Code != monitor.CodeFileOverThreshold && w.Code != monitor.CodeTotalOverThreshold {
			continue
		}
		out = append(out, printedWarning{Code: w.Code, Message: w.Message, Command: w.Command,
			Curl: curlInMessage.FindString(w.Message)})
	}
	return out
}

func freeListenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// runPrinted runs a printed command line through sh -c.
func runPrinted(t *testing.T, dir string, env []string, line string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env = dir, env
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

type nsCount struct {
	Workspace string `json:"workspace"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Records   int64  `json:"records"`
	Edges     int64  `json:"edges"`
	Dim       int    `json:"dim"`
	Error     string `json:"error"`
}

// namespaceCounts lists the namespaces of db's own workspace (listed as
// ""; a PostgreSQL database also lists the server's other workspaces).
func namespaceCounts(t *testing.T, base, db, ws string) []nsCount {
	t.Helper()
	var out struct {
		Namespaces []nsCount `json:"namespaces"`
	}
	require.Equal(t, http.StatusOK, httpJSON(t, "GET", base+"/v1/databases/"+db+"/namespaces", "", nil, &out))
	var own []nsCount
	for _, n := range out.Namespaces {
		if n.Workspace != ws {
			continue
		}
		require.Empty(t, n.Error, "namespace %s of %s", n.Namespace, db)
		n.Workspace = ""
		own = append(own, n)
	}
	slices.SortFunc(own, func(a, b nsCount) int {
		return strings.Compare(a.Kind+"/"+a.Namespace, b.Kind+"/"+b.Namespace)
	})
	return own
}

// readFullDocs reads every full_docs record of db through the proxy.
func readFullDocs(t *testing.T, base, db string, ids []string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var got struct{ Records []map[string]any }
		_, err := post(context.Background(), base+"/v1/databases/"+db+"/kv/full_docs/get", map[string]any{"ids": chunk}, &got)
		require.NoError(t, err)
		require.Len(t, got.Records, len(chunk))
		for i, id := range chunk {
			if got.Records[i] != nil {
				out[id] = got.Records[i]["content"]
			}
		}
	}
	return out
}

func fileKeys(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type migrationJob struct {
	Running  bool           `json:"running"`
	Progress map[string]any `json:"progress"`
	Summary  *struct {
		Verified bool `json:"verified"`
		CutOver  bool `json:"cut_over"`
	} `json:"summary"`
	Error map[string]any `json:"error"`
}

// curlMigration runs a printed curl that starts db's migration, then
// follows it with GET until it ends.
func curlMigration(t *testing.T, dir string, env []string, base, db, line string) migrationJob {
	t.Helper()
	out, errOut, err := runPrinted(t, dir, env, line)
	require.NoError(t, err, "the printed curl failed: %s\n%s", line, errOut)
	var started struct {
		Running  *bool          `json:"running"`
		Progress map[string]any `json:"progress"`
		Code     string         `json:"code"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &started), "curl printed: %s", out)
	require.Empty(t, started.Code, "the printed curl was refused: %s", out)
	require.NotNil(t, started.Running, "the printed curl answers a migration job (202): %s", out)
	require.Contains(t, started.Progress, "phase", out)
	var job migrationJob
	deadline := time.Now().Add(3 * time.Minute)
	for {
		require.Equal(t, http.StatusOK, httpJSON(t, "GET", base+"/v1/databases/"+db+"/migration", "", nil, &job))
		if !job.Running {
			return job
		}
		require.True(t, time.Now().Before(deadline), "the migration started by curl is still running: %v", job.Progress)
		time.Sleep(200 * time.Millisecond)
	}
}

func TestE2EWarningCommandsWorkAsPrinted(t *testing.T) {
	needBinary(t)
	// A database of its own: LightRAG's vector tables without a model
	// suffix hold one dimension for the whole server, as one project's
	// PostgreSQL would.
	dsn := pgtest.FreshDatabase(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	regPath := filepath.Join(data, "registry.yaml")
	env := cleanEnv("HYBRIDRAG_REGISTRY="+regPath, "HYBRIDRAG_DATA="+data)

	// Two JSON databases over the (lowered) size thresholds, with one
	// embedding model, as one project's databases have.
	dbCLI, dbCurl := randWS("warncli"), randWS("warncurl")
	dbs := []string{dbCLI, dbCurl}
	dims := map[string]int{dbCLI: 37, dbCurl: 37}
	for _, db := range dbs {
		folder := filepath.Join(dir, db)
		out, err := exec.Command(proxyBin, "gen", folder, "--size", "1MB", "--dim", strconv.Itoa(dims[db])).CombinedOutput()
		require.NoError(t, err, "%s", out)
		cmd := exec.Command(proxyBin, "db", "add", db, "--path", folder)
		cmd.Env = env
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	require.NoError(t, registry.Update(regPath, func(r *registry.Registry) error {
		r.Monitoring = &registry.Monitoring{Thresholds: registry.Thresholds{
			FileThreshold: 64 << 10, TotalThreshold: 256 << 10, Interval: registry.Duration(time.Second)}}
		return nil
	}))

	// A fixed port, so the address the proxy prints in its curls is the one
	// it listens on.
	addr := freeListenAddr(t)
	p := startProxy(t, dir, env, "--listen", addr)
	base := p.url

	// One acknowledged write per database that is only in the write-ahead
	// log when the migration starts.
	for _, db := range dbs {
		_, err := post(context.Background(), base+"/v1/databases/"+db+"/kv/full_docs/upsert", map[string]any{
			"records": map[string]any{"warn-extra": map[string]any{"content": "written just before " + db + " moved"}}}, nil)
		require.NoError(t, err)
		_, err = post(context.Background(), base+"/v1/databases/"+db+"/graphs/chunk_entity_relation/nodes/upsert", map[string]any{
			"nodes": []any{map[string]any{"id": "Warn Node", "properties": map[string]any{"entity_id": "Warn Node", "description": "extra"}}}}, nil)
		require.NoError(t, err)
	}

	// The warnings as the running proxy's status JSON prints them.
	printed := map[string]printedWarning{}
	for _, db := range dbs {
		var st dbStatusJSON
		require.Equal(t, http.StatusOK, httpJSON(t, "GET", base+"/v1/databases/"+db+"/status", "", nil, &st))
		ws := sizeWarnings(t, "status JSON", st.Warnings)
		require.NotEmpty(t, ws, "no size warning for %s: %+v", db, st.Warnings)
		for _, w := range ws {
			require.True(t, strings.HasPrefix(w.Command, "proxy migrate "+db+" "), "command of %s: %q", w.Code, w.Command)
			require.Contains(t, w.Command, dsnPlaceholderPrinted)
			require.Contains(t, w.Message, w.Command, "the message names the command")
			require.NotEmpty(t, w.Curl, "the message of %s names a curl: %s", w.Code, w.Message)
			require.Contains(t, w.Curl, dsnPlaceholderPrinted)
			require.Equal(t, ws[0].Command, w.Command, "every warning of %s names the same command", db)
			require.Equal(t, ws[0].Curl, w.Curl, "every warning of %s names the same curl", db)
		}
		printed[db] = ws[0]
		t.Logf("%s: %d size warnings; command: %s; curl: %s", db, len(ws), ws[0].Command, ws[0].Curl)
	}

	// The CLI (proxy status --json) and the log print the same command and curl.
	for _, db := range dbs {
		out, errOut, err := runPrinted(t, dir, env, fmt.Sprintf("%q status %s --json", proxyBin, db))
		require.NoError(t, err, "%s", errOut)
		var st dbStatusJSON
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		ws := sizeWarnings(t, "proxy status --json", st.Warnings)
		require.NotEmpty(t, ws, "proxy status --json %s shows no size warning", db)
		for _, w := range ws {
			require.Equal(t, printed[db].Command, w.Command, "proxy status --json %s prints the running proxy's command", db)
			require.Equal(t, printed[db].Curl, w.Curl, "proxy status --json %s prints a curl that reaches the proxy serving the registry (%s)", db, base)
		}
	}
	require.Eventually(t, func() bool {
		logged := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec struct{ Level, DB, Code, Command, Curl string }
			if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Command == "" || !slices.Contains(dbs, rec.DB) {
				continue
			}
			if rec.Code != monitor.CodeFileOverThreshold && rec.Code != monitor.CodeTotalOverThreshold {
				continue
			}
			require.Equal(t, "WARN", rec.Level)
			require.Equal(t, printed[rec.DB].Command, rec.Command, "logged command of %s", rec.DB)
			require.Equal(t, printed[rec.DB].Curl, rec.Curl, "logged curl of %s", rec.DB)
			logged[rec.DB] = true
		}
		return len(logged) == len(dbs)
	}, 20*time.Second, 200*time.Millisecond, "the monitor logs each database's size warning with its command and curl")

	// What each database holds before it moves.
	before := map[string][]nsCount{}
	docs := map[string]map[string]any{}
	docIDs := map[string][]string{}
	for _, db := range dbs {
		before[db] = namespaceCounts(t, base, db, "")
		require.NotEmpty(t, before[db])
		docIDs[db] = append(fileKeys(t, filepath.Join(dir, db, "kv_store_full_docs.json")), "warn-extra")
		docs[db] = readFullDocs(t, base, db, docIDs[db])
		require.Len(t, docs[db], len(docIDs[db]))
	}

	// 1. The CLI command, exactly as printed, with the DSN filled in and the
	// binary's path for "proxy".
	line := strings.Replace(printed[dbCLI].Command, dsnPlaceholderPrinted, dsn, 1)
	require.True(t, strings.HasPrefix(line, "proxy "))
	line = strconv.Quote(proxyBin) + strings.TrimPrefix(line, "proxy")
	out, errOut, err := runPrinted(t, dir, env, line)
	require.NoError(t, err, "the printed command failed: %s\nstdout:\n%s\nstderr:\n%s", line, out, errOut)
	require.Contains(t, errOut, "the migration runs inside it", "the CLI drives the running proxy")
	require.Contains(t, out, "now served by its new backend", out)

	// 2. The curl, exactly as printed, with the DSN filled in.
	line = strings.Replace(printed[dbCurl].Curl, dsnPlaceholderPrinted, dsn, 1)
	job := curlMigration(t, dir, env, base, dbCurl, line)
	require.Nil(t, job.Error, "the migration started by the printed curl failed: %s", line)
	require.NotNil(t, job.Summary)
	require.True(t, job.Summary.Verified)
	require.True(t, job.Summary.CutOver)

	// Both databases are on PostgreSQL now, with every record.
	for _, db := range dbs {
		var be struct {
			Type        string `json:"type"`
			Workspace   string `json:"workspace"`
			Maintenance bool   `json:"maintenance"`
		}
		require.Equal(t, http.StatusOK, httpJSON(t, "GET", base+"/v1/databases/"+db+"/backend", "", nil, &be))
		require.Equal(t, "postgres", be.Type, db)
		require.Equal(t, backends.DeriveWorkspace(db), be.Workspace, db)
		require.False(t, be.Maintenance, db)
		require.Equal(t, before[db], namespaceCounts(t, base, db, ""), "namespaces of %s before and after", db)
		require.Equal(t, docs[db], readFullDocs(t, base, db, docIDs[db]), "full_docs of %s", db)
		var nodes struct{ Nodes []map[string]any }
		_, err := post(context.Background(), base+"/v1/databases/"+db+"/graphs/chunk_entity_relation/nodes/get",
			map[string]any{"ids": []string{"Warn Node"}}, &nodes)
		require.NoError(t, err)
		require.Len(t, nodes.Nodes, 1)
		require.NotNil(t, nodes.Nodes[0], "graph node written before the migration of %s", db)
		var st dbStatusJSON
		require.Equal(t, http.StatusOK, httpJSON(t, "GET", base+"/v1/databases/"+db+"/status", "", nil, &st))
		require.Equal(t, "postgres", st.Backend)
		require.Empty(t, sizeWarnings(t, "status", st.Warnings), "no size warning once on PostgreSQL")
	}
}

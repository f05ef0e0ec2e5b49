package main

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/bench/dataset"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// migrationSetup is a data folder whose registry has database "db" on a
// copy of a generated LightRAG folder.
func migrationSetup(t *testing.T, gen string) (dataDir string, env []string) {
	t.Helper()
	dataDir = t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dataDir, "db"), os.DirFS(gen)))
	reg := filepath.Join(dataDir, "registry.yaml")
	require.NoError(t, registry.Update(reg, func(r *registry.Registry) error {
		r.Databases["db"] = registry.Database{Backend: registry.BackendJSON, Path: "db"}
		return nil
	}))
	return dataDir, cleanEnv("HYBRIDRAG_DATA="+dataDir, "HYBRIDRAG_REGISTRY="+reg)
}

// pgChecksums reads every unit of a workspace's rows.
func pgChecksums(t *testing.T, dsn, ws string) map[string]string {
	t.Helper()
	ctx := context.Background()
	b, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: ws, EmbeddingModel: "e2e"})
	require.NoError(t, err)
	defer b.Close(ctx)
	src := &migration.BackendSource{B: b, Name: "pg", DefaultOnly: true}
	units, err := src.Units(ctx)
	require.NoError(t, err)
	out := map[string]string{}
	for _, u := range units {
		c, err := migration.UnitChecksum(ctx, src, u)
		require.NoError(t, err)
		out[u.Key()] = c
	}
	return out
}

func dropWorkspace(t *testing.T, dsn, ws string) {
	ctx := context.Background()
	b, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: ws, EmbeddingModel: "e2e"})
	require.NoError(t, err)
	defer b.Close(ctx)
	require.NoError(t, migration.Discard(ctx, b))
}

func migrateArgs(dsn, ws string) []string {
	return []string{"migrate", "db", "--to", "postgres", "--dsn", dsn, "--workspace", ws,
		"--embedding-model", "e2e", "--batch-size", "150", "--no-progress"}
}

// TestMigrateKill9Resume kills `proxy migrate` with SIGKILL at random points
// of every phase, then runs the same command until it succeeds: the rows
// equal an uninterrupted run's, nothing duplicated or missing.
func TestMigrateKill9Resume(t *testing.T) {
	needBinary(t)
	dsn := pgtest.MustDSN(t)
	gen := filepath.Join(t.TempDir(), "gen")
	_, err := dataset.Generate(context.Background(), gen, dataset.Options{Size: 6 << 20, Dim: 64, Seed: 11})
	require.NoError(t, err)

	// The reference: one uninterrupted run.
	wsRef := "e2e_ref_" + randomSuffix()
	refDir, refEnv := migrationSetup(t, gen)
	cmd := exec.Command(proxyBin, migrateArgs(dsn, wsRef)...)
	cmd.Dir, cmd.Env = refDir, refEnv
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { dropWorkspace(t, dsn, wsRef) })
	want := pgChecksums(t, dsn, wsRef)
	require.NotEmpty(t, want)

	ws := "e2e_kill_" + randomSuffix()
	dir, env := migrationSetup(t, gen)
	t.Cleanup(func() { dropWorkspace(t, dsn, ws) })
	phases := []string{migration.PhaseGuard, migration.PhaseMaintenance, migration.PhaseFlush,
		migration.PhaseCopy, migration.PhaseCopy, migration.PhaseCopy,
		migration.PhaseGuard, migration.PhaseMaintenance, migration.PhaseFlush,
		migration.PhaseFinish, migration.PhaseVerify, migration.PhaseVerify, migration.PhaseCutover,
		migration.PhaseCopy, migration.PhaseVerify}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, done := 0, false
	for _, phase := range phases {
		killed, finished := runAndKill(t, dir, env, migrateArgs(dsn, ws), phase, time.Duration(rng.IntN(400))*time.Millisecond)
		if killed {
			kills++
		}
		if finished {
			done = true
			break
		}
	}
	t.Logf("%d kills", kills)
	require.GreaterOrEqual(t, kills, 10, "too few kills landed before the migration finished")
	if !done {
		cmd := exec.Command(proxyBin, migrateArgs(dsn, ws)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "resumed")
	}
	reg, err := registry.Load(filepath.Join(dir, "registry.yaml"))
	require.NoError(t, err)
	require.Equal(t, registry.BackendPostgres, reg.Databases["db"].BackendType())
	require.False(t, reg.Databases["db"].Maintenance)
	require.Equal(t, want, pgChecksums(t, dsn, ws))
}

// runAndKill runs the command and SIGKILLs it delay after it reports
// phase. It reports whether it killed it, and whether it finished first.
func runAndKill(t *testing.T, dir string, env, args []string, phase string, delay time.Duration) (killed, finished bool) {
	t.Helper()
	cmd := exec.Command(proxyBin, args...)
	cmd.Dir, cmd.Env = dir, env
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = io.Discard
	require.NoError(t, cmd.Start())
	seen, scanned := make(chan struct{}), make(chan struct{})
	var lines []string
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !signalled && strings.HasSuffix(sc.Text(), ": "+phase) {
				signalled = true
				close(seen)
			}
		}
	}()
	wait := make(chan error, 1)
	go func() { wait <- cmd.Wait() }()
	select {
	case <-seen:
		time.Sleep(delay)
		if cmd.Process.Kill() == nil {
			err := <-wait
			return err != nil, err == nil
		}
		return false, (<-wait) == nil
	case err := <-wait:
		// Finished (or failed) before reaching the phase.
		if err != nil {
			<-scanned
			t.Fatalf("migrate failed before %q: %v\n%s", phase, err, strings.Join(lines, "\n"))
		}
		return false, true
	}
}

func randomSuffix() string {
	return strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
}

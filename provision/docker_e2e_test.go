package provision

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestRealDockerEndToEnd runs against a real engine, opt-in:
// HYBRIDRAG_DOCKER_TEST_HOST names it (e.g. unix:///var/run/docker.sock)
// and HYBRIDRAG_DOCKER_TEST_IMAGE may name an image it already has (default
// pgvector/pgvector:pg16, pulled when missing). It provisions, writes a row,
// stops the container, provisions again (which starts it), reads the row
// back, then removes the container and its volume.
func TestRealDockerEndToEnd(t *testing.T) {
	host := os.Getenv("HYBRIDRAG_DOCKER_TEST_HOST")
	if host == "" {
		t.Skip("set HYBRIDRAG_DOCKER_TEST_HOST to a Docker engine to run the real end-to-end test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	name := fmt.Sprintf("hybridrag-e2e-%d", time.Now().UnixNano()%1_000_000)
	o := Options{Name: name, Port: 55432, Image: os.Getenv("HYBRIDRAG_DOCKER_TEST_IMAGE"), DataDir: t.TempDir(),
		DockerHost: host, Out: testWriter{t}}
	m := ManageOptions{DockerHost: host, Name: name, DeleteVolume: true}
	t.Cleanup(func() { _ = Remove(context.Background(), m) })

	res, err := Docker(ctx, o)
	require.NoError(t, err)
	require.Equal(t, ActionCreated, res.Action)
	t.Logf("first run: %s", res.Duration)

	conn, err := pgx.Connect(ctx, res.DSN)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE e2e (id int primary key, v vector(3)); INSERT INTO e2e VALUES (1, '[1,2,3]')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, Stop(ctx, m))
	res2, err := Docker(ctx, o)
	require.NoError(t, err)
	require.Equal(t, ActionStarted, res2.Action)
	require.Equal(t, res.ContainerID, res2.ContainerID)

	conn, err = pgx.Connect(ctx, res2.DSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v string
	require.NoError(t, conn.QueryRow(ctx, "SELECT v::text FROM e2e WHERE id = 1").Scan(&v))
	require.Equal(t, "[1,2,3]", v)

	res3, err := Docker(ctx, o)
	require.NoError(t, err)
	require.Equal(t, ActionReused, res3.Action)
	t.Logf("reuse run: %s", res3.Duration)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

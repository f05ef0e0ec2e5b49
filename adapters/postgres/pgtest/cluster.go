// Package pgtest runs throwaway PostgreSQL clusters for tests that must stop
// a server or need password authentication (imported only by tests, like
// net/http/httptest). A cluster runs as the postgres user (through runuser
// when the test runs as root) from the installed binaries, so the pgvector
// extension installed for that version is available to it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// DSNEnv names the variable scripts/setup-postgres.sh sets for the shared
// test database; BinDirEnv the folder holding initdb and pg_ctl.
const (
	DSNEnv    = "HYBRIDRAG_TEST_PG"
	BinDirEnv = "HYBRIDRAG_TEST_PG_BINDIR"
)

// MustDSN returns the shared test database's DSN; without one the test
// fails in CI and skips elsewhere.
func MustDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		unavailable(tb, DSNEnv+" is not set (run scripts/setup-postgres.sh)")
	}
	return dsn
}

func unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("PostgreSQL test cannot run in CI: %s", why)
	}
	tb.Skipf("PostgreSQL test skipped: %s", why)
}

// Cluster is one throwaway PostgreSQL server on 127.0.0.1. Its superuser
// "postgres" logs in without a password; every other role needs its
// password (scram-sha-256), so bad-password checks are real.
type Cluster struct {
	tb     testing.TB
	bin    string
	dir    string
	data   string
	Port   int
	asRoot bool
}

// Start initialises and starts a cluster, removed when the test ends.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	MustDSN(tb) // the same gate as every PostgreSQL test
	bin, err := binDir()
	if err != nil {
		unavailable(tb, err.Error())
	}
	c := &Cluster{tb: tb, bin: bin}
	me, err := user.Current()
	require.NoError(tb, err)
	switch me.Username {
	case "root":
		c.asRoot = true
	case "postgres":
	default:
		unavailable(tb, "a throwaway cluster needs root (to run as postgres) or the postgres user")
	}
	c.dir, err = os.MkdirTemp("", "hybridrag-pg-")
	require.NoError(tb, err)
	tb.Cleanup(func() { os.RemoveAll(c.dir) })
	if c.asRoot {
		pg, err := user.Lookup("postgres")
		require.NoError(tb, err)
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		require.NoError(tb, os.Chown(c.dir, uid, gid))
	}
	c.data = filepath.Join(c.dir, "data")
	c.Port = freePort(tb)
	c.run("initdb", "-D", c.data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	c.writeFile("pg_hba.conf", hba)
	c.writeFile("postgresql.auto.conf", fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"shared_buffers = 16MB\nmax_connections = 40\nfsync = on\n", c.Port, c.dir))
	c.StartServer()
	tb.Cleanup(func() { c.pgctl("stop", "-m", "immediate") })
	return c
}

// binDir is BinDirEnv or the newest /usr/lib/postgresql/<v>/bin.
func binDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) < versionOf(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no initdb found: set %s", BinDirEnv)
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// command runs a PostgreSQL binary as the postgres user.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asRoot {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *Cluster) run(name string, args ...string) {
	c.tb.Helper()
	out, err := c.command(name, args...).CombinedOutput()
	require.NoError(c.tb, err, "%s %s: %s", name, strings.Join(args, " "), out)
}

func (c *Cluster) writeFile(name, content string) {
	c.tb.Helper()
	// Owned by the postgres user so the server can read it.
	path := filepath.Join(c.data, name)
	require.NoError(c.tb, os.WriteFile(path, []byte(content), 0o600))
	if c.asRoot {
		pg, err := user.Lookup("postgres")
		require.NoError(c.tb, err)
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		require.NoError(c.tb, os.Chown(path, uid, gid))
	}
}

func (c *Cluster) pgctl(args ...string) error {
	full := append([]string{"-D", c.data, "-w", "-t", "60"}, args...)
	out, err := c.command("pg_ctl", full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// StartServer starts (or restarts) the server and waits until it accepts
// connections.
func (c *Cluster) StartServer() {
	c.tb.Helper()
	require.NoError(c.tb, c.pgctl("-l", filepath.Join(c.dir, "server.log"), "start"))
}

// Stop stops the server with pg_ctl's mode: "fast" (clean shutdown,
// sessions terminated) or "immediate" (no checkpoint, crash recovery on the
// next start).
func (c *Cluster) Stop(mode string) {
	c.tb.Helper()
	require.NoError(c.tb, c.pgctl("stop", "-m", mode))
}

// DSN is a connection string for user (password may be empty) and database.
func (c *Cluster) DSN(usr, password, db string) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + db,
		RawQuery: "sslmode=disable"}
	if password != "" {
		u.User = url.UserPassword(usr, password)
	} else {
		u.User = url.User(usr)
	}
	return u.String()
}

// Exec runs statements as the superuser in db, one at a time.
func (c *Cluster) Exec(db string, stmts ...string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres", "", db))
	require.NoError(c.tb, err)
	defer conn.Close(ctx)
	for _, s := range stmts {
		_, err := conn.Exec(ctx, s)
		require.NoError(c.tb, err, s)
	}
}

// FreshDatabase creates a database on the shared test server (DSNEnv),
// dropped when the test ends, and returns its DSN: for tests that need a
// server nobody else writes to (vector tables without a model suffix hold
// one dimension for the whole database).
func FreshDatabase(tb testing.TB) string {
	tb.Helper()
	base := MustDSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(tb, err)
	defer conn.Close(ctx)
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "hybridrag_test_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(tb, err)
	u.Path = "/" + name
	return u.String()
}

package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// fakePG stands in for the container's PostgreSQL: the fake engine runs no
// server, and the DSN's generated role and password exist only in a real
// container, so the real local PostgreSQL cannot play this part (PGX itself
// is tested against HYBRIDRAG_TEST_PG in pgx_test.go).
type fakePG struct {
	mu         sync.Mutex
	failFirst  int  // Check fails this many times, then succeeds
	never      bool // Check never succeeds
	permanent  bool // Check fails with ErrPermanent
	checks     int
	dsns       []string
	vectorDSNs []string
}

func (p *fakePG) Check(_ context.Context, dsn string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks++
	p.dsns = append(p.dsns, dsn)
	switch {
	case p.permanent:
		return fmt.Errorf("%w: password authentication failed for user \"hybridrag\"", ErrPermanent)
	case p.never || p.checks <= p.failFirst:
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return nil
}

func (p *fakePG) CreateVector(_ context.Context, dsn string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.vectorDSNs = append(p.vectorDSNs, dsn)
	return nil
}

type fakeValidator struct{ dsns []string }

func (v *fakeValidator) ValidatePostgres(_ context.Context, dsn string) error {
	v.dsns = append(v.dsns, dsn)
	return nil
}

type fakeRegistrar struct {
	backends []Backend
	dbs      []string
}

func (r *fakeRegistrar) RegisterPostgres(_ context.Context, b Backend, db string) error {
	r.backends = append(r.backends, b)
	r.dbs = append(r.dbs, db)
	return nil
}

type harness struct {
	eng  *fakeEngine
	pg   *fakePG
	val  *fakeValidator
	reg  *fakeRegistrar
	data string
	out  *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	return &harness{eng: newFakeEngine(t), pg: &fakePG{failFirst: 2}, val: &fakeValidator{}, reg: &fakeRegistrar{},
		data: t.TempDir(), out: &bytes.Buffer{}}
}

// opts returns options for a run against the fake on a free port.
func (h *harness) opts(t *testing.T) Options {
	port, err := freePort()
	require.NoError(t, err)
	return Options{DB: "mydb", Port: port, DataDir: h.data, DockerHost: h.eng.host(), Timeout: 5 * time.Second,
		Out: h.out, Postgres: h.pg, Validator: h.val, Registrar: h.reg, MinFreeBytes: 1, pollInterval: 5 * time.Millisecond}
}

func (h *harness) password(t *testing.T) string {
	pw, err := readPassfile(passfilePath(h.data, DefaultName+"-data"))
	require.NoError(t, err)
	return pw
}

func requireCode(t *testing.T, err error, code string) *adapters.Error {
	t.Helper()
	require.Error(t, err)
	var ae *adapters.Error
	require.True(t, errors.As(err, &ae), "want an *adapters.Error, got %T: %v", err, err)
	require.Equal(t, code, ae.Code, "error: %v (hint: %s)", err, ae.Hint)
	require.NotEmpty(t, ae.Hint)
	return ae
}

func TestFirstRunCreates(t *testing.T) {
	h := newHarness(t)
	o := h.opts(t)
	res, err := Docker(context.Background(), o)
	require.NoError(t, err)

	require.Equal(t, ActionCreated, res.Action)
	require.True(t, res.ImagePulled)
	require.Equal(t, o.Port, res.Port)
	require.Len(t, h.eng.creates, 1)
	req := h.eng.creates[0]
	pw := h.password(t)
	require.Len(t, pw, 32)

	// The exact container spec.
	require.Equal(t, DefaultImage, req.Config.Image)
	require.ElementsMatch(t, []string{"POSTGRES_USER=hybridrag", "POSTGRES_DB=hybridrag", "POSTGRES_PASSWORD=" + pw,
		"PGDATA=/var/lib/postgresql/data"}, req.Config.Env)
	require.Equal(t, []mount.Mount{{Type: mount.TypeVolume, Source: "hybridrag-pg-data", Target: "/var/lib/postgresql/data"}},
		req.HostConfig.Mounts)
	require.Equal(t, container.RestartPolicyUnlessStopped, req.HostConfig.RestartPolicy.Name)
	require.Len(t, req.HostConfig.PortBindings, 1)
	b := portOf(req)
	require.Len(t, b, 1)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), b[0].HostIP)
	require.Equal(t, strconv.Itoa(o.Port), b[0].HostPort)
	require.Contains(t, req.Config.ExposedPorts, pgPort)
	require.Equal(t, ManagedByValue, req.Config.Labels[LabelManagedBy])
	require.Equal(t, DefaultName, req.Config.Labels[LabelInstance])
	require.Equal(t, "hybridrag", req.Config.Labels[LabelDatabase])
	require.Equal(t, "hybridrag-pg-data", req.Config.Labels[LabelVolume])
	require.Len(t, req.Config.Labels[LabelSpecHash], 16)
	require.Equal(t, []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "hybridrag", "-d", "hybridrag"},
		req.Config.Healthcheck.Test)
	require.NotZero(t, req.Config.Healthcheck.Interval)

	// The volume, the secret and the wait.
	require.True(t, h.eng.volumes["hybridrag-pg-data"])
	st, err := os.Stat(res.PasswordFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.Equal(t, 3, h.pg.checks, "two refused attempts, then a query that succeeds")
	require.Equal(t, []string{res.DSN}, h.pg.vectorDSNs)
	require.Equal(t, []string{res.DSN}, h.val.dsns)
	require.Equal(t, []Backend{{Name: "docker-hybridrag-pg", DSN: res.DSN, PasswordFile: res.PasswordFile}}, h.reg.backends)
	require.Equal(t, []string{"mydb"}, h.reg.dbs)
	require.True(t, res.Registered)
	require.True(t, res.Validated)
	require.Equal(t, fmt.Sprintf("postgres://hybridrag@127.0.0.1:%d/hybridrag?passfile=%s&sslmode=disable",
		o.Port, strings.ReplaceAll(res.PasswordFile, "/", "%2F")), res.DSN)

	// The password is nowhere but the env sent to the engine and the file.
	require.Empty(t, res.Password)
	require.NotContains(t, h.out.String(), pw)
	require.NotContains(t, res.DSN, pw)
	require.Contains(t, h.out.String(), "pulling pgvector/pgvector:pg16")
	require.Contains(t, h.out.String(), "downloaded")
	t.Logf("first run against the fake took %s", res.Duration)
	t.Logf("output:\n%s", h.out.String())
}

func TestSecondRunReuses(t *testing.T) {
	h := newHarness(t)
	o := h.opts(t)
	first, err := Docker(context.Background(), o)
	require.NoError(t, err)
	pw := h.password(t)

	h.pg.failFirst = 0
	second, err := Docker(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, ActionReused, second.Action)
	require.Equal(t, first.ContainerID, second.ContainerID)
	require.Equal(t, first.Port, second.Port)
	require.False(t, second.ImagePulled)
	require.Len(t, h.eng.creates, 1, "no second create")
	require.Equal(t, 1, h.eng.callCount("POST /containers/"+first.ContainerID+"/start"))
	require.Equal(t, pw, h.password(t), "the password is kept")

	// --show-password is the one way to see it.
	o.ShowPassword = true
	third, err := Docker(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, pw, third.Password)
	require.NotContains(t, h.out.String(), pw)
}

func TestStoppedContainerIsStarted(t *testing.T) {
	h := newHarness(t)
	o := h.opts(t)
	first, err := Docker(context.Background(), o)
	require.NoError(t, err)
	h.eng.mu.Lock()
	h.eng.containers[first.ContainerID].Running = false
	h.eng.containers[first.ContainerID].Exited = false
	h.eng.mu.Unlock()

	res, err := Docker(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, ActionStarted, res.Action)
	require.Equal(t, first.ContainerID, res.ContainerID)
	require.Equal(t, 2, h.eng.callCount("POST /containers/"+first.ContainerID+"/start"))
	require.Len(t, h.eng.creates, 1)
}

func TestSpecChangeRecreates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Options)
	}{
		{"image changed", func(o *Options) { o.Image = "pgvector/pgvector:pg17" }},
		{"recreate flag", func(o *Options) { o.Recreate = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			o := h.opts(t)
			first, err := Docker(context.Background(), o)
			require.NoError(t, err)
			pw := h.password(t)

			tc.change(&o)
			res, err := Docker(context.Background(), o)
			require.NoError(t, err)
			require.Equal(t, ActionRecreated, res.Action)
			require.NotEqual(t, first.ContainerID, res.ContainerID)
			require.Len(t, h.eng.creates, 2)
			require.Equal(t, o.withDefaults().Image, h.eng.creates[1].Config.Image)
			require.Equal(t, 1, h.eng.callCount("DELETE /containers/"+first.ContainerID))
			require.Zero(t, h.eng.callCount("DELETE /volumes/"), "the volume is never deleted on recreate")
			require.True(t, h.eng.volumes["hybridrag-pg-data"])
			require.Contains(t, h.eng.creates[1].Config.Env, "POSTGRES_PASSWORD="+pw, "same volume, same password")
			require.Len(t, h.eng.containers, 1)
		})
	}
}

func TestDaemonMissing(t *testing.T) {
	dir := t.TempDir()
	t.Run("no socket", func(t *testing.T) {
		o := Options{DataDir: dir, DockerHost: "unix://" + dir + "/nothing.sock", Timeout: time.Second}
		_, err := Docker(context.Background(), o)
		require.Error(t, err)
		var ae *adapters.Error
		require.ErrorAs(t, err, &ae)
		// Which of the two depends on whether this machine has a docker CLI.
		require.Contains(t, []string{CodeDockerNotInstalled, CodeDockerNotRunning}, ae.Code, "%v", err)
		require.ErrorIs(t, err, adapters.ErrUnavailable)
	})
	t.Run("stale socket", func(t *testing.T) {
		path := dir + "/stale.sock"
		ln, err := net.Listen("unix", path)
		require.NoError(t, err)
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		require.NoError(t, ln.Close())
		_, err = Docker(context.Background(), Options{DataDir: dir, DockerHost: "unix://" + path})
		ae := requireCode(t, err, CodeDockerNotRunning)
		require.Contains(t, ae.Hint, "start the Docker daemon")
	})
	t.Run("tcp refused", func(t *testing.T) {
		port, err := freePort()
		require.NoError(t, err)
		_, err = Docker(context.Background(), Options{DataDir: dir, DockerHost: fmt.Sprintf("tcp://127.0.0.1:%d", port)})
		requireCode(t, err, CodeDockerNotRunning)
	})
}

func TestClassifyConnect(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name      string
		err       error
		host      string
		sock, cli bool
		want      string
	}{
		{"no socket no cli", errors.New("failed to connect to the docker API at unix:///var/run/docker.sock"), DefaultDockerHost, false, false, CodeDockerNotInstalled},
		{"no socket with cli", errors.New("failed to connect"), DefaultDockerHost, false, true, CodeDockerNotRunning},
		{"refused", refused, DefaultDockerHost, true, true, CodeDockerNotRunning},
		{"client's permission message", errors.New("permission denied while trying to connect to the docker API at unix:///var/run/docker.sock"), DefaultDockerHost, true, true, CodeDockerPermission},
		{"other", errors.New("tls: bad record"), "tcp://10.0.0.1:2376", true, true, CodeDockerUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, classifyConnect(tc.err, tc.host, tc.sock, tc.cli).Code)
		})
	}
}

func TestPermissionDenied(t *testing.T) {
	t.Run("engine answers 403", func(t *testing.T) {
		h := newHarness(t)
		h.eng.pingStatus = 403
		_, err := Docker(context.Background(), h.opts(t))
		ae := requireCode(t, err, CodeDockerPermission)
		require.Contains(t, ae.Hint, "docker group")
	})
	t.Run("socket mode 000", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores socket permissions; the engine-403 case and TestClassifyConnect cover this as root")
		}
		dir := t.TempDir()
		path := dir + "/docker.sock"
		ln, err := net.Listen("unix", path)
		require.NoError(t, err)
		defer ln.Close()
		require.NoError(t, os.Chmod(path, 0))
		_, err = Docker(context.Background(), Options{DataDir: dir, DockerHost: "unix://" + path})
		requireCode(t, err, CodeDockerPermission)
	})
}

func TestPortTaken(t *testing.T) {
	t.Run("taken before", func(t *testing.T) {
		h := newHarness(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		taken := ln.Addr().(*net.TCPAddr).Port
		o := h.opts(t)
		o.Port = taken
		res, err := Docker(context.Background(), o)
		require.NoError(t, err)
		require.NotEqual(t, taken, res.Port)
		require.Equal(t, strconv.Itoa(res.Port), portOf(h.eng.creates[0])[0].HostPort)
		require.Contains(t, strings.Join(res.Warnings, "\n"), fmt.Sprintf("port %d on 127.0.0.1 is taken; using port %d", taken, res.Port))
		require.Contains(t, res.DSN, fmt.Sprintf("127.0.0.1:%d/", res.Port))

		// The next run reuses the container and its port: same requested
		// port, same spec.
		res2, err := Docker(context.Background(), o)
		require.NoError(t, err)
		require.Equal(t, ActionReused, res2.Action)
		require.Equal(t, res.Port, res2.Port)
	})
	t.Run("taken at the engine's bind", func(t *testing.T) {
		h := newHarness(t)
		h.eng.startErr = "driver failed programming external connectivity on endpoint hybridrag-pg: Bind for 127.0.0.1:5432 failed: port is already allocated"
		o := h.opts(t)
		res, err := Docker(context.Background(), o)
		require.NoError(t, err)
		require.Len(t, h.eng.creates, 2)
		require.Equal(t, ActionCreated, res.Action)
		require.NotEqual(t, o.Port, res.Port)
		require.Len(t, h.eng.containers, 1)
	})
}

func TestPullFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*fakeEngine)
	}{
		{"engine refuses", func(f *fakeEngine) { f.pullStatus = 500 }},
		{"stream error", func(f *fakeEngine) { f.pullStreamEr = "unexpected EOF" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.setup(h.eng)
			_, err := Docker(context.Background(), h.opts(t))
			ae := requireCode(t, err, CodeImagePullFailed)
			require.Contains(t, ae.Hint, "docker load -i")
			require.Contains(t, ae.Hint, "docker save pgvector/pgvector:pg16")
			require.Empty(t, h.eng.creates)
		})
	}
}

func TestNeverReady(t *testing.T) {
	h := newHarness(t)
	h.pg.never = true
	o := h.opts(t)
	o.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := Docker(context.Background(), o)
	ae := requireCode(t, err, CodeNotReady)
	require.Less(t, time.Since(start), 3*time.Second)
	require.Contains(t, err.Error(), fmt.Sprintf("did not accept connections on 127.0.0.1:%d within 200ms", o.Port))
	require.Contains(t, err.Error(), "connection refused")
	require.Contains(t, ae.Hint, "docker logs hybridrag-pg")
	require.Empty(t, h.reg.backends, "nothing is registered")
}

func TestContainerExits(t *testing.T) {
	h := newHarness(t)
	h.eng.exitOnStart = true
	_, err := Docker(context.Background(), h.opts(t))
	ae := requireCode(t, err, CodeContainerExited)
	require.Contains(t, ae.Hint, "docker logs")
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	h := newHarness(t)
	h.pg.permanent = true
	_, err := Docker(context.Background(), h.opts(t))
	requireCode(t, err, CodeSecretMissing)
	require.Equal(t, 1, h.pg.checks, "no retries on a wrong password")
}

func TestVolumeWithoutSecret(t *testing.T) {
	h := newHarness(t)
	h.eng.volumes["hybridrag-pg-data"] = true
	_, err := Docker(context.Background(), h.opts(t))
	ae := requireCode(t, err, CodeSecretMissing)
	require.Contains(t, ae.Hint, "--delete-volume")
	require.Empty(t, h.eng.creates)
}

func TestNameConflict(t *testing.T) {
	h := newHarness(t)
	h.eng.images[DefaultImage] = true
	h.eng.containers["x"] = &fakeContainer{ID: "x", Name: DefaultName, Config: container.Config{Image: "nginx"}}
	_, err := Docker(context.Background(), h.opts(t))
	requireCode(t, err, CodeNameConflict)
}

func TestStatusStopRemove(t *testing.T) {
	h := newHarness(t)
	o := h.opts(t)
	res, err := Docker(context.Background(), o)
	require.NoError(t, err)
	m := ManageOptions{DockerHost: h.eng.host()}

	list, err := List(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, []Status{{Name: DefaultName, ID: res.ContainerID[:12], Image: DefaultImage, State: "running",
		Status: "running", Port: res.Port, Volume: "hybridrag-pg-data"}}, list)

	require.NoError(t, Stop(context.Background(), m))
	list, err = List(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, "exited", list[0].State)

	require.NoError(t, Remove(context.Background(), m))
	require.True(t, h.eng.volumes["hybridrag-pg-data"], "remove keeps the volume")
	require.Empty(t, h.eng.containers)

	_, err = Docker(context.Background(), o)
	require.NoError(t, err, "a new container on the kept volume reuses the stored password")
	m.DeleteVolume = true
	require.NoError(t, Remove(context.Background(), m))
	require.False(t, h.eng.volumes["hybridrag-pg-data"])

	err = Stop(context.Background(), m)
	requireCode(t, err, CodeNotFound)
}

func TestLowDiskWarning(t *testing.T) {
	h := newHarness(t)
	o := h.opts(t)
	o.MinFreeBytes = 1 << 62
	res, err := Docker(context.Background(), o)
	require.NoError(t, err)
	require.Contains(t, strings.Join(res.Warnings, "\n"), "free under "+h.eng.rootDir)
}

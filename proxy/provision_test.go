package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/provision"
	"github.com/hybridrag/storage-proxy/registry"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The route maps the body onto provision.Options, logs progress, answers
// the result in the spec's shape and maps provisioning errors to their
// codes. The provisioning itself is tested against a fake engine in
// provision/.
func TestProvisionDockerRoute(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	var got provision.Options
	fail := error(nil)
	cfg := Config{RegistryPath: filepath.Join(dir, "registry.yaml"), DataDir: filepath.Join(dir, "data"), Token: "tok",
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "test",
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener},
		Provision: func(_ context.Context, o provision.Options) (provision.Result, error) {
			got = o
			if fail != nil {
				return provision.Result{}, fail
			}
			_, _ = io.WriteString(o.Out, "created container hybridrag-pg\n")
			return provision.Result{Action: provision.ActionCreated, Container: "hybridrag-pg", ContainerID: "abc",
				Image: provision.DefaultImage, Volume: "hybridrag-pg-data", Port: 5433, DSN: "postgres://hybridrag@127.0.0.1:5433/hybridrag",
				PasswordFile: "/x", Backend: "docker-hybridrag-pg", Database: o.DB, Registered: true, Validated: true,
				Duration: 1500 * time.Millisecond}, nil
		}}
	s, err := NewServer(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ts := httptest.NewServer(newSpecValidator(t, loadSpec(t), s.Handler()))
	t.Cleanup(ts.Close)

	post := func(token, body string) (*http.Response, map[string]any) {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/provision/docker", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp, out
	}

	resp, _ := post("", `{}`)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "admin routes need the token")

	resp, out := post("tok", `{"db":"mydb","port":5433,"name":"pg1","recreate":true,"timeout_seconds":30}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	require.Equal(t, "created", out["action"])
	require.EqualValues(t, 1500, out["duration_ms"])
	require.Equal(t, "mydb", got.DB)
	require.Equal(t, 5433, got.Port)
	require.Equal(t, "pg1", got.Name)
	require.True(t, got.Recreate)
	require.Equal(t, 30*time.Second, got.Timeout)
	require.Equal(t, cfg.DataDir, got.DataDir)
	require.Contains(t, logs.String(), "created container hybridrag-pg")

	resp, out = post("tok", `{"pot":1}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", out)

	fail = adapters.Errorf(adapters.ErrUnavailable, provision.CodeDockerNotRunning, "start the Docker daemon", "the Docker daemon is not running")
	resp, out = post("tok", `{}`)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "docker_not_running", out["code"])
	require.Equal(t, "start the Docker daemon", out["hint"])
}

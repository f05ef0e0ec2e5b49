package provision

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// fakeEngine is an in-process Docker Engine API: the paths, status codes
// and bodies the real engine uses, for the calls moby/moby/client makes.
type fakeEngine struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	rootDir    string
	images     map[string]bool
	volumes    map[string]bool
	containers map[string]*fakeContainer // by ID
	creates    []container.CreateRequest
	calls      []string
	nextID     int

	pingStatus   int    // non-zero: /_ping answers this status
	pullStatus   int    // non-zero: images/create answers this status
	pullStreamEr string // non-empty: the pull stream ends with this errorDetail
	startErr     string // non-empty: the first start fails with this 500 message
	exitOnStart  bool   // started containers exit at once
}

type fakeContainer struct {
	ID      string
	Name    string
	Config  container.Config
	Host    container.HostConfig
	Running bool
	Exited  bool
}

func newFakeEngine(t *testing.T) *fakeEngine {
	f := &fakeEngine{t: t, rootDir: t.TempDir(), images: map[string]bool{}, volumes: map[string]bool{},
		containers: map[string]*fakeContainer{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// host is the DOCKER_HOST value for the fake.
func (f *fakeEngine) host() string { return "tcp://" + f.srv.Listener.Addr().String() }

var versionPrefix = regexp.MustCompile(`^/v1\.[0-9]+`)

func (f *fakeEngine) errorJSON(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": fmt.Sprintf(format, args...)})
}

func (f *fakeEngine) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeEngine) callCount(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeEngine) lookup(ref string) *fakeContainer {
	if c, ok := f.containers[ref]; ok {
		return c
	}
	for _, c := range f.containers {
		if c.Name == ref {
			return c
		}
	}
	return nil
}

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	f.calls = append(f.calls, r.Method+" "+path)
	w.Header().Set("Api-Version", "1.51")
	switch {
	case path == "/_ping":
		if f.pingStatus != 0 {
			f.errorJSON(w, f.pingStatus, "access to the Docker API is denied by policy")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("OK"))
	case path == "/version":
		f.writeJSON(w, 200, map[string]any{"Version": "fake", "ApiVersion": "1.51"})
	case path == "/info":
		f.writeJSON(w, 200, map[string]any{"ServerVersion": "fake", "DockerRootDir": f.rootDir})
	case r.Method == http.MethodPost && path == "/images/create":
		f.pull(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json")
		if !f.images[name] {
			f.errorJSON(w, 404, "No such image: %s", name)
			return
		}
		f.writeJSON(w, 200, map[string]any{"Id": "sha256:0123", "RepoTags": []string{name}})
	case r.Method == http.MethodPost && path == "/volumes/create":
		var req struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.volumes[req.Name] = true
		f.writeJSON(w, 201, map[string]any{"Name": req.Name, "Driver": "local", "Mountpoint": "/x", "Scope": "local"})
	case strings.HasPrefix(path, "/volumes/"):
		name := strings.TrimPrefix(path, "/volumes/")
		if !f.volumes[name] {
			f.errorJSON(w, 404, "get %s: no such volume", name)
			return
		}
		if r.Method == http.MethodDelete {
			delete(f.volumes, name)
			w.WriteHeader(204)
			return
		}
		f.writeJSON(w, 200, map[string]any{"Name": name, "Driver": "local", "Mountpoint": "/x", "Scope": "local"})
	case r.Method == http.MethodGet && path == "/containers/json":
		f.list(w, r)
	case r.Method == http.MethodPost && path == "/containers/create":
		f.create(w, r)
	case strings.HasPrefix(path, "/containers/"):
		f.containerOp(w, r, strings.TrimPrefix(path, "/containers/"))
	default:
		f.errorJSON(w, 404, "page not found")
	}
}

func (f *fakeEngine) pull(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag")
	ref = strings.TrimPrefix(ref, "docker.io/")
	if f.pullStatus != 0 {
		f.errorJSON(w, f.pullStatus, "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	_ = enc.Encode(map[string]any{"status": "Pulling from " + r.URL.Query().Get("fromImage"), "id": r.URL.Query().Get("tag")})
	for _, id := range []string{"aaa111", "bbb222"} {
		_ = enc.Encode(map[string]any{"status": "Pulling fs layer", "id": id})
		for cur := int64(0); cur <= 100; cur += 50 {
			_ = enc.Encode(map[string]any{"status": "Downloading", "id": id,
				"progressDetail": map[string]int64{"current": cur << 20, "total": 100 << 20}})
		}
		_ = enc.Encode(map[string]any{"status": "Pull complete", "id": id})
	}
	if f.pullStreamEr != "" {
		_ = enc.Encode(map[string]any{"errorDetail": map[string]any{"message": f.pullStreamEr}, "error": f.pullStreamEr})
		return
	}
	_ = enc.Encode(map[string]any{"status": "Status: Downloaded newer image for " + ref})
	f.images[ref] = true
}

func (f *fakeEngine) list(w http.ResponseWriter, r *http.Request) {
	var filters map[string]map[string]bool
	if s := r.URL.Query().Get("filters"); s != "" {
		if err := json.Unmarshal([]byte(s), &filters); err != nil {
			f.errorJSON(w, 400, "invalid filter: %v", err)
			return
		}
	}
	out := []container.Summary{}
	for _, c := range f.containers {
		match := true
		for lbl := range filters["label"] {
			k, v, hasV := strings.Cut(lbl, "=")
			got, ok := c.Config.Labels[k]
			if !ok || (hasV && got != v) {
				match = false
			}
		}
		if !match || (!c.Running && r.URL.Query().Get("all") != "1") {
			continue
		}
		out = append(out, container.Summary{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Config.Image,
			Labels: c.Config.Labels, State: f.state(c), Status: string(f.state(c))})
	}
	f.writeJSON(w, 200, out)
}

func (f *fakeEngine) state(c *fakeContainer) container.ContainerState {
	switch {
	case c.Running:
		return container.StateRunning
	case c.Exited:
		return container.StateExited
	}
	return container.StateCreated
}

func (f *fakeEngine) create(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.errorJSON(w, 400, "decode: %v", err)
		return
	}
	name := r.URL.Query().Get("name")
	if f.lookup(name) != nil {
		f.errorJSON(w, 409, "Conflict. The container name \"/%s\" is already in use by container \"x\"", name)
		return
	}
	if !f.images[req.Config.Image] {
		f.errorJSON(w, 404, "No such image: %s", req.Config.Image)
		return
	}
	f.creates = append(f.creates, req)
	f.nextID++
	id := fmt.Sprintf("%064x", f.nextID)
	f.containers[id] = &fakeContainer{ID: id, Name: name, Config: *req.Config, Host: *req.HostConfig}
	f.writeJSON(w, 201, container.CreateResponse{ID: id, Warnings: []string{}})
}

func (f *fakeEngine) containerOp(w http.ResponseWriter, r *http.Request, rest string) {
	ref, op, _ := strings.Cut(rest, "/")
	c := f.lookup(ref)
	if c == nil {
		f.errorJSON(w, 404, "No such container: %s", ref)
		return
	}
	switch {
	case r.Method == http.MethodGet && op == "json":
		health := &container.Health{Status: container.Starting}
		if c.Running {
			health.Status = container.Healthy
		}
		st := &container.State{Status: f.state(c), Running: c.Running, Health: health}
		if c.Exited {
			st.ExitCode = 1
		}
		cfg, host := c.Config, c.Host
		f.writeJSON(w, 200, container.InspectResponse{ID: c.ID, Name: "/" + c.Name, State: st, Config: &cfg, HostConfig: &host,
			Image: "sha256:0123"})
	case r.Method == http.MethodPost && op == "start":
		if f.startErr != "" {
			msg := f.startErr
			f.startErr = ""
			f.errorJSON(w, 500, "%s", msg)
			return
		}
		if f.exitOnStart {
			c.Exited = true
		} else {
			c.Running = true
		}
		w.WriteHeader(204)
	case r.Method == http.MethodPost && op == "stop":
		if !c.Running {
			w.WriteHeader(304)
			return
		}
		c.Running, c.Exited = false, true
		w.WriteHeader(204)
	case r.Method == http.MethodDelete && op == "":
		delete(f.containers, c.ID)
		w.WriteHeader(204)
	default:
		f.errorJSON(w, 404, "page not found")
	}
}

// portOf returns the host port bound for 5432/tcp in a create request.
func portOf(req container.CreateRequest) []network.PortBinding {
	return req.HostConfig.PortBindings[pgPort]
}

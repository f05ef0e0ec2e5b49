package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/registry"
)

// jsonOpener opens JSON databases, as cmd/proxy does.
func jsonOpener(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error) {
	dir, err := db.ResolvePath(dataDir)
	if err != nil {
		return nil, err
	}
	b, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: dir})
	if err != nil {
		return nil, err
	}
	return b, nil
}

type testServer struct {
	*Server
	URL      string
	Registry string
	DataDir  string
}

type testOptions struct {
	token        string
	maxBody      int64
	reload       time.Duration
	noValidation bool
	// allowRoots are the roots API paths may use besides the data folder;
	// nil allows the system temp folder, where tests make the folders they
	// register (t.TempDir()); an empty slice allows none.
	allowRoots []string
}

// loadSpec parses and validates the embedded openapi.yaml.
func loadSpec(tb testing.TB) *openapi3.T {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPISpec)
	require.NoError(tb, err)
	require.NoError(tb, doc.Validate(context.Background()))
	return doc
}

// startServer runs a proxy over a temp registry with the JSON backend on a
// 127.0.0.1 listener. Every request and response goes through the spec
// validator unless opts.noValidation.
func startServer(tb testing.TB, opts testOptions) *testServer {
	tb.Helper()
	dir := tb.TempDir()
	regPath := filepath.Join(dir, "registry.yaml")
	dataDir := filepath.Join(dir, "data")
	cfg := Config{RegistryPath: regPath, DataDir: dataDir, Token: opts.token, MaxBodyBytes: opts.maxBody,
		Logger: slog.New(slog.DiscardHandler), ReloadInterval: opts.reload, Version: "test",
		Openers: map[string]Opener{registry.BackendJSON: jsonOpener}, AllowedRoots: opts.allowRoots}
	if opts.allowRoots == nil {
		cfg.AllowedRoots = []string{os.TempDir()}
	}
	if os.Getenv("PROXY_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := NewServer(context.Background(), cfg)
	require.NoError(tb, err)
	var h http.Handler = s.Handler()
	if !opts.noValidation {
		h = newSpecValidator(tb, loadSpec(tb), h)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Start()
	tb.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(tb, s.Close(ctx))
	})
	return &testServer{Server: s, URL: ts.URL, Registry: regPath, DataDir: dataDir}
}

// startHandler serves h on a 127.0.0.1 listener and returns its URL.
func startHandler(tb testing.TB, h http.Handler) string {
	ts := httptest.NewServer(h)
	tb.Cleanup(ts.Close)
	return ts.URL
}

// specValidator is the test middleware that checks every request and
// response against openapi.yaml:
//   - a request the spec accepts must get a response the spec declares, with
//     a body matching its schema (error responses included);
//   - a request the spec rejects (or that matches no operation) must get a
//     4xx in the one error shape: the server may never be laxer than the spec.
type specValidator struct {
	tb     errorfer
	router routers.Router
	next   http.Handler
	mu     sync.Mutex
}

// errorfer is the part of testing.TB the validator reports to.
type errorfer interface {
	Errorf(format string, args ...any)
}

func newSpecValidator(tb testing.TB, doc *openapi3.T, next http.Handler) *specValidator {
	return newSpecValidatorTo(tb, tb, doc, next)
}

func newSpecValidatorTo(tb testing.TB, report errorfer, doc *openapi3.T, next http.Handler) *specValidator {
	r, err := legacy.NewRouter(doc)
	require.NoError(tb, err)
	return &specValidator{tb: report, router: r, next: next}
}

func (v *specValidator) fail(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tb.Errorf("openapi drift: "+format, args...)
}

func (v *specValidator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	vr := r.Clone(r.Context())
	vr.URL.Scheme, vr.URL.Host = "http", r.Host
	vr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, findErr := v.router.FindRoute(vr)
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true, MultiError: false}
	var input *openapi3filter.RequestValidationInput
	var reqErr error
	if findErr == nil {
		input = &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
		reqErr = openapi3filter.ValidateRequest(r.Context(), input)
	}

	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	v.next.ServeHTTP(rec, r)
	for k, vals := range rec.Header() {
		w.Header()[k] = vals
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())

	where := r.Method + " " + r.URL.String()
	switch {
	case findErr != nil:
		if rec.Code < 400 || rec.Code >= 500 {
			v.fail("%s matches no operation of the spec (%v) but got %d", where, findErr, rec.Code)
		}
		if rec.Code >= 400 {
			checkErrorShape(v, where, rec)
		}
		return
	case reqErr != nil:
		if rec.Code < 400 || rec.Code >= 500 {
			v.fail("%s: the spec rejects the request (%v) but the server answered %d", where, reqErr, rec.Code)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: input, Status: rec.Code,
		Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts}
	if err := openapi3filter.ValidateResponse(r.Context(), rin); err != nil {
		v.fail("%s: response %d does not match the spec: %v\nbody: %.500s", where, rec.Code, err, rec.Body.String())
	}
	if rec.Code >= 400 {
		checkErrorShape(v, where, rec)
	}
}

// checkErrorShape: every failure is {code, message, hint?, request_id}.
func checkErrorShape(v *specValidator, where string, rec *httptest.ResponseRecorder) {
	if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
		v.fail("%s: 503 without Retry-After", where)
	}
	var eb ErrorBody
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if rec.Code == http.StatusServiceUnavailable && bytes.Contains(rec.Body.Bytes(), []byte(`"databases"`)) {
		return // /readyz's report
	}
	if err := dec.Decode(&eb); err != nil || eb.Code == "" || eb.Message == "" || eb.RequestID == "" {
		v.fail("%s: %d body is not the error shape: %v %.300s", where, rec.Code, err, rec.Body.String())
	}
}

// call sends a request and decodes the JSON answer into out (if not nil).
func (ts *testServer) call(tb testing.TB, method, path string, body any, out any, headers ...string) *http.Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(tb, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	require.NoError(tb, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	if out != nil {
		require.NoError(tb, json.Unmarshal(data, out), "body: %s", data)
	}
	return resp
}

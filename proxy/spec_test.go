package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
)

// The embedded copy must equal the source of truth at the repository root
// (run `go generate ./proxy` after editing openapi.yaml).
func TestSpecCopyInSync(t *testing.T) {
	root, err := os.ReadFile(filepath.Join("..", "openapi.yaml"))
	require.NoError(t, err)
	require.True(t, string(root) == string(OpenAPISpec),
		"proxy/openapi.yaml differs from openapi.yaml: run `go generate ./proxy`")
}

func TestSpecValid(t *testing.T) {
	loadSpec(t)
}

var echoParam = regexp.MustCompile(`:([a-z_]+)`)

// Every echo route is an operation of the spec and every operation is a
// route.
func TestRoutesMatchSpec(t *testing.T) {
	doc := loadSpec(t)
	ts := startServer(t, testOptions{noValidation: true})
	var routes []string
	for _, r := range ts.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		routes = append(routes, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(routes)
	sort.Strings(ops)
	require.Equal(t, ops, routes)
}

type collect struct{ msgs []string }

func (c *collect) Errorf(format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}

// The validator itself must catch drift: a response of the wrong shape, a
// request the spec rejects but the server accepts, and an undeclared route.
func TestSpecValidatorCatchesDrift(t *testing.T) {
	doc := loadSpec(t)
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(echo.HeaderXRequestID, "x")
		_, _ = w.Write([]byte(`{"count":"many"}`))
	})
	cases := []struct{ method, path, body string }{
		{"GET", "/v1/databases/d/kv/ns", ""},                // wrong response type
		{"POST", "/v1/databases/d/kv/ns/get", `{"idz":[]}`}, // bad request accepted
		{"GET", "/v1/nothing-here", ""},                     // route not in the spec
	}
	for _, tc := range cases {
		var c collect
		v := newSpecValidatorTo(t, &c, doc, fake)
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		v.ServeHTTP(httptest.NewRecorder(), req)
		require.NotEmpty(t, c.msgs, "%s %s: no drift reported", tc.method, tc.path)
	}
}

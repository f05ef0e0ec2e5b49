package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Paging limits for the scan routes.
const (
	defaultPageLimit = 100
	maxPageLimit     = 10000
)

// pathParam returns a path parameter, percent-decoded (so "%2F" and "%00"
// reach name validation as what they are).
func pathParam(c echo.Context, name string) string {
	v := c.Param(name)
	if strings.IndexByte(v, '%') >= 0 {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return v
}

// namespaceOf returns the request's database handle (acquired: the caller
// must release it) and namespace. The workspace defaults to the registry
// entry's when the request gives none.
func (s *Server) namespaceOf(c echo.Context) (*dbHandle, adapters.Namespace, error) {
	db := pathParam(c, "db")
	if err := adapters.ValidateName("database", db); err != nil {
		return nil, adapters.Namespace{}, err
	}
	name := pathParam(c, "namespace")
	if err := adapters.ValidateName("namespace", name); err != nil {
		return nil, adapters.Namespace{}, err
	}
	q := c.Request().URL.Query()
	ws, given := q.Get("workspace"), q.Has("workspace")
	if given {
		if err := adapters.ValidateName("workspace", ws); err != nil {
			return nil, adapters.Namespace{}, err
		}
	}
	h, err := s.router.acquire(c.Request().Context(), db)
	if err != nil {
		return nil, adapters.Namespace{}, err
	}
	if !given {
		ws = h.entry.Workspace
	}
	return h, adapters.Namespace{Workspace: ws, Name: name}, nil
}

// database returns the request's acquired database handle.
func (s *Server) database(c echo.Context) (*dbHandle, error) {
	return s.router.acquire(c.Request().Context(), pathParam(c, "db"))
}

func ctxOf(c echo.Context) context.Context { return c.Request().Context() }

// intQuery parses an optional non-negative integer query parameter.
func intQuery(c echo.Context, name string, def, max int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, malformed("pass a non-negative integer", "query parameter %s=%q is not a non-negative integer", name, v)
	}
	if max > 0 && n > max {
		return 0, newAPIError(kindInvalid, "invalid_argument",
			"page through the results with the cursor", "query parameter %s=%d is over the limit of %d", name, n, max)
	}
	return n, nil
}

func pageLimit(c echo.Context) (int, error) {
	n, err := intQuery(c, "limit", defaultPageLimit, maxPageLimit)
	if err == nil && n == 0 {
		n = defaultPageLimit
	}
	return n, err
}

// dropBody is LightRAG's drop() answer.
type dropBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func dropped(c echo.Context) error {
	return writeJSON(c, http.StatusOK, dropBody{Status: "success", Message: "data dropped"})
}

// okBody answers a write.
type okBody struct {
	OK bool `json:"ok"`
}

func ok(c echo.Context) error { return writeJSON(c, http.StatusOK, okBody{OK: true}) }

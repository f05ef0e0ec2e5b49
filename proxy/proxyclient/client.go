// Package proxyclient is a Go client of the storage proxy's HTTP API that
// implements adapters.Backend, so the adapter conformance suite can run
// through HTTP against every route.
package proxyclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Client is one database of a proxy.
type Client struct {
	base  string // ".../v1/databases/<db>"
	token string
	http  *http.Client

	capsOnce sync.Once
	caps     adapters.Capabilities
}

var _ adapters.Backend = (*Client)(nil)

// New returns a client of database db at baseURL (e.g. http://127.0.0.1:8080).
// token may be empty; httpClient nil means http.DefaultClient.
func New(baseURL, db, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	base := strings.TrimSuffix(baseURL, "/") + "/v1/databases/" + url.PathEscape(db)
	return &Client{base: base, token: token, http: httpClient}
}

// errorBody is the API's error shape.
type errorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Hint      string `json:"hint"`
	RequestID string `json:"request_id"`
}

// kindOf maps an HTTP status back to an adapter error kind.
func kindOf(status int, code string) error {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity,
		status == http.StatusRequestEntityTooLarge, status == http.StatusUnauthorized:
		return adapters.ErrInvalid
	case status == http.StatusNotFound:
		return adapters.ErrNotFound
	case status == http.StatusConflict && code == "corrupt_file":
		return adapters.ErrCorrupt
	case status == http.StatusConflict:
		return adapters.ErrConflict
	case status == http.StatusServiceUnavailable, status == http.StatusRequestTimeout:
		// 408: the body did not arrive in time (a slow link): retryable.
		return adapters.ErrUnavailable
	case status == http.StatusNotImplemented:
		return adapters.ErrUnsupported
	}
	return nil
}

// do sends one request. in (if not nil) is sent as JSON; out (if not nil)
// receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "backend_unavailable",
			Message: fmt.Sprintf("%s %s", method, path), Hint: "check that the proxy is running", Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "backend_unavailable",
			Message: fmt.Sprintf("%s %s: read response", method, path), Err: err}
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			eb = errorBody{Code: "http_" + strconv.Itoa(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		kind := kindOf(resp.StatusCode, eb.Code)
		if kind == nil {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, eb.Code, eb.Message)
		}
		return &adapters.Error{Kind: kind, Code: eb.Code, Message: eb.Message, Hint: eb.Hint}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// nsPath is the path of a namespace of a kind ("kv", "vectors", ...).
func nsPath(kind string, ns adapters.Namespace) (string, url.Values) {
	var q url.Values
	if ns.Workspace != "" {
		q = url.Values{"workspace": {ns.Workspace}}
	}
	return "/" + kind + "/" + url.PathEscape(ns.Name), q
}

func (c *Client) KV(ctx context.Context, ns adapters.Namespace) (adapters.KV, error) {
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	p, q := nsPath("kv", ns)
	return &kv{store{c: c, path: p, q: q}}, nil
}

func (c *Client) DocStatus(ctx context.Context, ns adapters.Namespace) (adapters.DocStatus, error) {
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	p, q := nsPath("doc-status", ns)
	return &docStatus{store{c: c, path: p, q: q}}, nil
}

func (c *Client) Graph(ctx context.Context, ns adapters.Namespace) (adapters.Graph, error) {
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	p, q := nsPath("graphs", ns)
	return &graph{c: c, path: p, q: q}, nil
}

// Vector opens a vector namespace, checking dim against the stored one.
func (c *Client) Vector(ctx context.Context, ns adapters.Namespace, dim int) (adapters.Vector, error) {
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	p, q := nsPath("vectors", ns)
	v := &vector{c: c, path: p, q: q}
	qq := v.query()
	if dim > 0 {
		qq.Set("dim", strconv.Itoa(dim))
	}
	var info struct {
		Dim int `json:"dim"`
	}
	if err := c.do(ctx, http.MethodGet, p, qq, nil, &info); err != nil {
		return nil, err
	}
	v.dim = info.Dim
	if v.dim == 0 {
		v.dim = dim
	}
	return v, nil
}

func validateNS(ns adapters.Namespace) error {
	if err := adapters.ValidateName("namespace", ns.Name); err != nil {
		return err
	}
	return adapters.ValidateName("workspace", ns.Workspace)
}

func (c *Client) Namespaces(ctx context.Context) ([]adapters.NamespaceInfo, error) {
	var out struct {
		Namespaces []adapters.NamespaceInfo `json:"namespaces"`
	}
	if err := c.do(ctx, http.MethodGet, "/namespaces", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Namespaces, nil
}

func (c *Client) Flush(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/flush", nil, nil, nil)
}

// Ping opens and pings the database on the proxy (GET /v1/databases/{db}).
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "", nil, nil, nil)
}

// Capabilities are the served backend's, fetched once (the zero value if
// the proxy cannot be reached).
func (c *Client) Capabilities() adapters.Capabilities {
	c.capsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out struct {
			Capabilities adapters.Capabilities `json:"capabilities"`
		}
		if c.do(ctx, http.MethodGet, "", nil, nil, &out) == nil {
			c.caps = out.Capabilities
		}
	})
	return c.caps
}

// Close releases nothing: the proxy owns the backend.
func (c *Client) Close(ctx context.Context) error { return nil }

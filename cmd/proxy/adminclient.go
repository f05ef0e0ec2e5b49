package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
)

// adminClient calls a running proxy's admin API. Calls are retried through
// go-retryablehttp on connection errors and 5xx answers (a proxy restarting
// or briefly busy), with jittered backoff.
type adminClient struct {
	base  string
	token string
	hc    *retryablehttp.Client
}

// adminClient returns a client of the proxy at url with the token from
// --token or HYBRIDRAG_TOKEN.
func (g *globals) adminClient(cmd *cobra.Command, url, token string) *adminClient {
	if token == "" {
		token = g.getenv(envToken)
	}
	hc := retryablehttp.NewClient()
	hc.Logger = nil // our own errors say what failed
	hc.RetryMax = 5
	hc.RetryWaitMin = 200 * time.Millisecond
	hc.RetryWaitMax = 3 * time.Second
	hc.HTTPClient.Timeout = 5 * time.Minute
	return &adminClient{base: strings.TrimRight(url, "/"), token: token, hc: hc}
}

// do sends body as JSON (nil: none) and decodes a 2xx answer into out
// (nil: discarded). An error answer becomes an *adapters.Error with the
// proxy's code, message and hint.
func (c *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s on the running proxy: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
		return nil
	}
	var eb struct {
		Code, Message, Hint string
	}
	if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
		return fmt.Errorf("%s %s: the proxy answered %s", method, path, resp.Status)
	}
	return adapters.Errorf(kindOfStatus(resp.StatusCode), eb.Code, eb.Hint, "%s", eb.Message)
}

func kindOfStatus(status int) error {
	switch status {
	case http.StatusNotFound:
		return adapters.ErrNotFound
	case http.StatusConflict:
		return adapters.ErrConflict
	case http.StatusServiceUnavailable:
		return adapters.ErrUnavailable
	case http.StatusNotImplemented:
		return adapters.ErrUnsupported
	}
	return adapters.ErrInvalid
}

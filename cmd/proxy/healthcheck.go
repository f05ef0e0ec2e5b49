package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Check that a running proxy answers /healthz (for container health checks)",
		Long: `healthcheck calls GET /healthz on the proxy at --listen (or HYBRIDRAG_LISTEN), as the Docker image's
HEALTHCHECK does (a static image has no curl). A wildcard address (0.0.0.0, ::) is checked on loopback.
Exit code 0 when healthy, 1 otherwise.`,
		Example: "  proxy healthcheck\n  proxy healthcheck --listen 127.0.0.1:9000",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr := g.flagOrEnv(cmd, "listen", envListen)
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return usagef("--listen %q: %v: write it as host:port", addr, err)
			}
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				host = "127.0.0.1"
			}
			url := "http://" + net.JoinHostPort(host, port) + "/healthz"
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w", url, err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w: is the proxy running on that address?", url, err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck %s: status %s: see the proxy's log", url, resp.Status)
			}
			fmt.Fprintln(g.stdout, "ok")
			return nil
		},
	}
	cmd.Flags().String("listen", defaultListen, "address of the proxy (env "+envListen+")")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

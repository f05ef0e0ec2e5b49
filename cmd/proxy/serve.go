package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/procs"
	"github.com/hybridrag/storage-proxy/proxy"
	"github.com/hybridrag/storage-proxy/registry"
)

type serveOptions struct {
	listen, token, logFormat, logLevel, maxBody, pprof string
	otelStdout, metrics, adaptiveProcs                 bool
	allowRoots                                         []string
	bodyReadTimeout, memoryReleaseIdle                 time.Duration
}

func newServeCmd(g *globals) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP server",
		Long: `serve runs the storage proxy. With no configuration at all it creates the registry with one database,
"default", stored as LightRAG JSON files in <data>/default, and listens on 127.0.0.1:8080.

Changes to the registry (proxy db add/remove) are picked up while it runs. SIGINT or SIGTERM shut it
down gracefully: in-flight requests finish and every database is flushed to LightRAG's files.

--listen and --token can also come from HYBRIDRAG_LISTEN and HYBRIDRAG_TOKEN. With a token, every route
except /healthz and /readyz needs "Authorization: Bearer <token>". The token is never logged.`,
		Example: `  proxy serve
  proxy serve --listen 127.0.0.1:9000 --data /srv/hybridrag
  HYBRIDRAG_TOKEN=change-me proxy serve --listen 0.0.0.0:8080 --log-format json
  proxy serve --pprof 127.0.0.1:6060   # then: go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", defaultListen, "address to listen on (env "+envListen+")")
	f.StringVar(&o.token, "token", "", "bearer token required on every route except health (env "+envToken+")")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.maxBody, "max-body", "64MB", "largest request body accepted (413 above it)")
	f.DurationVar(&o.bodyReadTimeout, "body-read-timeout", proxy.DefaultBodyReadTimeout,
		"how long a request body may take to arrive (408 request_timeout after it; headers get 10s; env "+envBodyReadTimeout+")")
	f.DurationVar(&o.memoryReleaseIdle, "memory-release-idle", proxy.DefaultMemoryReleaseIdle,
		"after a large request, return freed memory to the system once the proxy has been idle this long")
	f.BoolVar(&o.otelStdout, "otel-stdout", false, "print every OpenTelemetry span to stdout (debugging; OTLP export uses the OTEL_* variables)")
	f.StringArrayVar(&o.allowRoots, "allow-root", nil, "a folder, besides the data folder, where database paths given through the API may lie (repeatable; env "+envAllowRoots+")")
	f.BoolVar(&o.metrics, "metrics", true, "serve Prometheus metrics at GET /metrics")
	f.BoolVar(&o.adaptiveProcs, "adaptive-procs", true, "run Go on one core while requests come one at a time and on every core when they overlap or the proxy is busy (cheaper per request on small machines); off when GOMAXPROCS is set")
	f.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof at http://ADDR/debug/pprof/ on this loopback address, e.g. 127.0.0.1:6060 (off by default; env "+envPprof+")")
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q is not a level: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q is not a format: use text or json", format)
}

func runServe(cmd *cobra.Command, g *globals, o *serveOptions) error {
	log, err := newLogger(g.stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	maxBody, err := parseSize(o.maxBody)
	if err != nil {
		return usagef("--max-body: %v", err)
	}
	data, err := g.dataDir(cmd)
	if err != nil {
		return err
	}
	regPath, err := g.registryPath(cmd)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create data folder %s: %w: check its permissions or choose another with --data", data, err)
	}
	allowRoots := o.allowRoots
	if !cmd.Flag("allow-root").Changed {
		allowRoots = filepath.SplitList(g.getenv(envAllowRoots))
	}
	bodyReadTimeout, err := time.ParseDuration(g.flagOrEnv(cmd, "body-read-timeout", envBodyReadTimeout))
	if err != nil || bodyReadTimeout <= 0 {
		return usagef("--body-read-timeout (or %s): give a positive duration such as 60s", envBodyReadTimeout)
	}
	listen := g.flagOrEnv(cmd, "listen", envListen)
	token := g.flagOrEnv(cmd, "token", envToken)
	pprofAddr := g.flagOrEnv(cmd, "pprof", envPprof)

	ctx := cmd.Context()
	tel, err := setupTelemetry(ctx, g, o)
	if err != nil {
		return err
	}
	defer shutdownTelemetry(tel, log)
	if pprofAddr != "" {
		pln, err := listenPprof(pprofAddr)
		if err != nil {
			return err
		}
		defer servePprof(ctx, pln, log)()
	}
	// Listen first: the warnings' commands name the address really bound
	// (a --listen of port 0 gets one from the system).
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: address already in use: stop the other process or choose another address with --listen", listen)
		}
		return fmt.Errorf("listen on %s: %w: choose another address with --listen", listen, err)
	}
	var srv *proxy.Server
	cfg := proxy.Config{
		Telemetry: tel, PublicURL: serveURL(ln.Addr()),
		RegistryPath: regPath, DataDir: data, Token: token, MaxBodyBytes: maxBody, AllowedRoots: allowRoots,
		BodyReadTimeout: bodyReadTimeout, MemoryReleaseIdle: o.memoryReleaseIdle,
		Logger: log, Backends: backends.Default(log), Version: buildVersion().Version,
		Provision: provisioner(regPath, func() *backends.Switcher { return srv.Switcher() }),
	}
	if sc := procsScaler(g, o, log); sc != nil {
		cfg.Procs = sc
		scaleCtx, stopScaling := context.WithCancel(ctx)
		defer stopScaling()
		go sc.Run(scaleCtx)
	}
	srv, err = proxy.NewServer(ctx, cfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("%w: fix the registry or point --registry at another file", err)
	}
	if token == "" && !isLoopback(ln.Addr()) {
		log.Warn("listening beyond loopback without a token: anyone who can reach this address can read and write; set --token or HYBRIDRAG_TOKEN",
			slog.String("addr", ln.Addr().String()))
	}
	// Record that this process serves the registry, so `proxy backend set`
	// goes through this proxy (which holds the JSON folders' locks).
	release, err := registry.Announce(regPath, serveURL(ln.Addr()))
	switch {
	case errors.Is(err, registry.ErrAlreadyServed):
		log.Warn("another proxy serves this registry too; backend commands go through that one", slog.Any("error", err))
	case err != nil:
		log.Warn("cannot record that this proxy serves the registry; backend commands will not go through it", slog.Any("error", err))
	default:
		defer func() {
			if err := release(); err != nil {
				log.Warn("remove the serving record", slog.Any("error", err))
			}
		}()
	}
	log.Info("starting", slog.String("version", buildVersion().Version), slog.String("registry", regPath),
		slog.String("data", data), slog.String("listen", ln.Addr().String()))
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// procsScaler is serve's GOMAXPROCS scaler (package procs), or nil when
// --adaptive-procs is off, GOMAXPROCS is set, or there is one core.
func procsScaler(g *globals, o *serveOptions, log *slog.Logger) *procs.Scaler {
	if !o.adaptiveProcs || g.getenv("GOMAXPROCS") != "" {
		return nil
	}
	return procs.New(procs.Options{Logger: log})
}

// serveURL is the base URL local commands reach the proxy at: an
// unspecified listen address (0.0.0.0, ::) is reached over loopback.
func serveURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

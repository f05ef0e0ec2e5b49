package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// instrumentationName names the server's tracer and meter.
const instrumentationName = "github.com/hybridrag/storage-proxy/proxy"

// Telemetry is the OpenTelemetry setup a Server uses (Config.Telemetry).
// Providers are injected, never global. A nil Telemetry costs nothing: no
// middleware is installed and /metrics answers 404 metrics_disabled.
type Telemetry struct {
	TracerProvider trace.TracerProvider // nil: no-op
	MeterProvider  metric.MeterProvider // nil: no-op
	// Metrics serves GET /metrics (Prometheus text); nil disables the route.
	Metrics  http.Handler
	shutdown []func(context.Context) error
}

// Shutdown flushes and stops the exporters SetupTelemetry started.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, f := range t.shutdown {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shut down telemetry: %w", err)
	}
	return nil
}

// TelemetryOptions selects the exporters of SetupTelemetry.
type TelemetryOptions struct {
	// Stdout, when set, receives every span as JSON (`--otel-stdout`).
	Stdout io.Writer
	// Prometheus serves the metrics at GET /metrics.
	Prometheus bool
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string
	// Getenv reads OTEL_* settings; nil means os.Getenv.
	Getenv func(string) string
}

// SetupTelemetry builds the providers from the standard OTEL_* environment:
// OTLP over HTTP for traces when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and for metrics when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set
// (the exporters read the other OTEL_EXPORTER_OTLP_* variables themselves);
// OTEL_SDK_DISABLED=true turns everything off. It returns nil when nothing is
// configured, which keeps the server on its zero-cost path.
func SetupTelemetry(ctx context.Context, opts TelemetryOptions) (*Telemetry, error) {
	env := opts.Getenv
	if env == nil {
		env = os.Getenv
	}
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	otlpTraces := env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	otlpMetrics := env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
	if !otlpTraces && !otlpMetrics && opts.Stdout == nil && !opts.Prometheus {
		return nil, nil
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithAttributes(
		attribute.String("service.name", "hybridrag-storage-proxy"),
		attribute.String("service.version", opts.ServiceVersion)))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	t := &Telemetry{}
	fail := func(err error) (*Telemetry, error) {
		_ = t.Shutdown(context.WithoutCancel(ctx))
		return nil, err
	}

	var spanOpts []sdktrace.TracerProviderOption
	if otlpTraces {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return fail(fmt.Errorf("OTLP trace exporter (check OTEL_EXPORTER_OTLP_*): %w", err))
		}
		spanOpts = append(spanOpts, sdktrace.WithBatcher(exp))
	}
	if opts.Stdout != nil {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(opts.Stdout))
		if err != nil {
			return fail(fmt.Errorf("stdout trace exporter: %w", err))
		}
		spanOpts = append(spanOpts, sdktrace.WithSyncer(exp))
	}
	if len(spanOpts) > 0 {
		tp := sdktrace.NewTracerProvider(append(spanOpts, sdktrace.WithResource(res))...)
		t.TracerProvider = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	}

	var readers []sdkmetric.Option
	if otlpMetrics {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return fail(fmt.Errorf("OTLP metric exporter (check OTEL_EXPORTER_OTLP_*): %w", err))
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	if opts.Prometheus {
		reg := prometheus.NewRegistry() // private: no global registry
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return fail(fmt.Errorf("prometheus exporter: %w", err))
		}
		readers = append(readers, sdkmetric.WithReader(exp))
		t.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	if len(readers) > 0 {
		mp := sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(res))...)
		t.MeterProvider = mp
		t.shutdown = append(t.shutdown, mp.Shutdown)
	}
	return t, nil
}

// serverTelemetry is the server's instruments; nil when telemetry is off.
type serverTelemetry struct {
	tracer  trace.Tracer
	latency metric.Float64Histogram
	written metric.Int64Counter
	metrics http.Handler
}

func newServerTelemetry(t *Telemetry) (*serverTelemetry, error) {
	if t == nil {
		return nil, nil
	}
	tp, mp := t.TracerProvider, t.MeterProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	st := &serverTelemetry{tracer: tp.Tracer(instrumentationName), metrics: t.Metrics}
	var err error
	st.latency, err = meter.Float64Histogram("hybridrag.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Storage request latency by operation and backend"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, fmt.Errorf("request latency histogram: %w", err)
	}
	st.written, err = meter.Int64Counter("hybridrag.records.written", metric.WithUnit("{record}"),
		metric.WithDescription("Records written through the proxy"))
	if err != nil {
		return nil, fmt.Errorf("records written counter: %w", err)
	}
	return st, nil
}

// reqTelemetry carries what the handler learns (backend, records) to the
// middleware that ends the server span.
type reqTelemetry struct {
	op      string
	backend string
	records int
}

type reqTelemetryKey struct{}

// telemetryMiddleware opens the server span of each request and records its
// latency. Installed only when telemetry is configured.
func (s *Server) telemetryMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		r, ok := s.routeOf(c)
		if !ok {
			return next(c) // unknown route: echo's 404
		}
		op, path := r.op, r.path
		rt := &reqTelemetry{op: op}
		db, ns := pathParam(c, "db"), pathParam(c, "namespace")
		attrs := []attribute.KeyValue{attribute.String("hybridrag.operation", op),
			attribute.String("http.request.method", req.Method), attribute.String("http.route", path)}
		if db != "" {
			attrs = append(attrs, attribute.String("hybridrag.database", db))
		}
		if ns != "" {
			attrs = append(attrs, attribute.String("hybridrag.namespace", ns))
		}
		ctx, span := s.tel.tracer.Start(context.WithValue(req.Context(), reqTelemetryKey{}, rt), op,
			trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		c.SetRequest(req.WithContext(ctx))
		start := time.Now()
		err := next(c)
		elapsed := time.Since(start)

		status := c.Response().Status
		if err != nil {
			status, _, _ = mapError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		backend := rt.backend
		if backend == "" {
			backend = "none"
		}
		span.SetAttributes(attribute.String("hybridrag.backend", backend),
			attribute.Int("hybridrag.records", rt.records),
			attribute.Int64("hybridrag.request_bytes", max(req.ContentLength, 0)),
			attribute.Int64("hybridrag.response_bytes", c.Response().Size),
			attribute.Int("http.response.status_code", status))
		span.End()
		s.tel.latency.Record(ctx, elapsed.Seconds(), metric.WithAttributes(
			attribute.String("hybridrag.operation", op), attribute.String("hybridrag.backend", backend)))
		return err
	}
}

// dbSystem is OpenTelemetry's db.system.name for a backend type.
func dbSystem(backend string) string {
	switch backend {
	case "postgres":
		return "postgresql"
	case registry.BackendJSON:
		return "hybridrag.json_files"
	}
	return "other_sql"
}

// backendCall runs fn (the adapter call of a handler) in a child span with
// OpenTelemetry's database attributes.
func (s *Server) backendCall(ctx context.Context, h *dbHandle, ns adapters.Namespace, fn func(ctx context.Context) error) error {
	if s.tel == nil {
		return fn(ctx)
	}
	backend := h.entry.BackendType()
	op := "backend"
	if rt, ok := ctx.Value(reqTelemetryKey{}).(*reqTelemetry); ok {
		rt.backend, op = backend, rt.op
	}
	ctx, span := s.tel.tracer.Start(ctx, op+" "+ns.Name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", dbSystem(backend)),
		attribute.String("db.collection.name", ns.Name),
		attribute.String("db.namespace", h.name),
		attribute.String("db.operation.name", op),
		attribute.String("hybridrag.workspace", ns.Workspace)))
	err := fn(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}

// recordWrite reports n records written by this request: to the monitor
// (ingestion rate), the records counter and the server span.
func (s *Server) recordWrite(c echo.Context, n int) {
	db := pathParam(c, "db")
	if s.mon != nil {
		s.mon.RecordWrite(db, n)
	}
	if s.tel == nil {
		return
	}
	ctx := ctxOf(c)
	backend := "none"
	if rt, ok := ctx.Value(reqTelemetryKey{}).(*reqTelemetry); ok {
		rt.records += n
		backend = rt.backend
	}
	s.tel.written.Add(ctx, int64(n), metric.WithAttributes(attribute.String("hybridrag.database", db),
		attribute.String("hybridrag.backend", backend)))
}

// recordRead notes the records a read returned on the server span.
func (s *Server) recordRead(c echo.Context, n int) {
	if s.tel == nil {
		return
	}
	if rt, ok := ctxOf(c).Value(reqTelemetryKey{}).(*reqTelemetry); ok {
		rt.records += n
	}
}

// metricsHandler serves GET /metrics.
func (s *Server) metricsHandler(c echo.Context) error {
	if s.tel == nil || s.tel.metrics == nil {
		return newAPIError(kindNotFound, "metrics_disabled",
			"start the proxy with metrics enabled (proxy serve --metrics)", "metrics are not enabled on this proxy")
	}
	s.tel.metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}

// observeLiveMigrations exports the shadow reads of live migrations:
// hybridrag.migration.shadow.reads (compared, by database and operation)
// and hybridrag.migration.shadow.mismatches.
func observeLiveMigrations(t *Telemetry, tallies func() map[string]migration.ShadowStatus) error {
	if t == nil || t.MeterProvider == nil {
		return nil
	}
	meter := t.MeterProvider.Meter(instrumentationName)
	reads, err := meter.Int64ObservableCounter("hybridrag.migration.shadow.reads", metric.WithUnit("{read}"),
		metric.WithDescription("Reads of a live migration also run on its target and compared"))
	if err != nil {
		return fmt.Errorf("shadow reads counter: %w", err)
	}
	mismatches, err := meter.Int64ObservableCounter("hybridrag.migration.shadow.mismatches", metric.WithUnit("{read}"),
		metric.WithDescription("Shadow reads whose answers differed (confirmed with the records' writes held)"))
	if err != nil {
		return fmt.Errorf("shadow mismatches counter: %w", err)
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for db, st := range tallies() {
			for op, n := range st.ByOp {
				attrs := metric.WithAttributes(attribute.String("db", db), attribute.String("op", op))
				o.ObserveInt64(reads, n.Compared, attrs)
				o.ObserveInt64(mismatches, n.Mismatches, attrs)
			}
		}
		return nil
	}, reads, mismatches)
	return err
}

package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/monitor"
	"github.com/hybridrag/storage-proxy/registry"
)

// startServerWith runs a proxy like startServer, with cfg adjusted by mod;
// validate puts the openapi validator in front.
func startServerWith(tb testing.TB, validate bool, mod func(*Config)) *testServer {
	tb.Helper()
	dir := tb.TempDir()
	cfg := Config{RegistryPath: filepath.Join(dir, "registry.yaml"), DataDir: filepath.Join(dir, "data"),
		Logger: slog.New(slog.DiscardHandler), Version: "test", Openers: map[string]Opener{registry.BackendJSON: jsonOpener}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(context.Background(), cfg)
	require.NoError(tb, err)
	var h http.Handler = s.Handler()
	if validate {
		h = newSpecValidator(tb, loadSpec(tb), h)
	}
	ts := httptest.NewServer(h)
	tb.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(tb, s.Close(ctx))
	})
	return &testServer{Server: s, URL: ts.URL, Registry: cfg.RegistryPath, DataDir: cfg.DataDir}
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes() {
		out[string(a.Key)] = a.Value.Emit()
	}
	return out
}

func TestTelemetrySpansAndMetrics(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	ts := startServerWith(t, true, func(c *Config) {
		c.Telemetry = &Telemetry{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
			MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}
	})
	body := map[string]any{"records": map[string]any{"a": map[string]any{"content": "x"}, "b": map[string]any{}, "c": map[string]any{}}}
	resp := ts.call(t, http.MethodPost, "/v1/databases/default/kv/full_docs/upsert", body, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/kv/full_docs/get", map[string]any{"ids": []string{"a", "b"}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = ts.call(t, http.MethodPost, "/v1/databases/nope/kv/full_docs/get", map[string]any{"ids": []string{"a"}}, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	ended := spans.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range ended {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	require.Len(t, byName["kv.upsert"], 1)
	up := byName["kv.upsert"][0]
	require.Equal(t, "server", up.SpanKind().String())
	a := spanAttrs(up)
	require.Equal(t, "default", a["hybridrag.database"])
	require.Equal(t, "full_docs", a["hybridrag.namespace"])
	require.Equal(t, "kv.upsert", a["hybridrag.operation"])
	require.Equal(t, "json", a["hybridrag.backend"])
	require.Equal(t, "3", a["hybridrag.records"])
	require.NotEqual(t, "0", a["hybridrag.request_bytes"])
	require.NotEqual(t, "0", a["hybridrag.response_bytes"])

	child := byName["kv.upsert full_docs"]
	require.Len(t, child, 1)
	require.Equal(t, up.SpanContext().SpanID(), child[0].Parent().SpanID())
	require.Equal(t, "client", child[0].SpanKind().String())
	ca := spanAttrs(child[0])
	require.Equal(t, "hybridrag.json_files", ca["db.system.name"])
	require.Equal(t, "full_docs", ca["db.collection.name"])
	require.Equal(t, "kv.upsert", ca["db.operation.name"])
	require.Equal(t, "default", ca["db.namespace"])

	require.Equal(t, "2", spanAttrs(byName["kv.get"][0])["hybridrag.records"])
	var failed sdktrace.ReadOnlySpan
	for _, s := range byName["kv.get"] {
		if spanAttrs(s)["hybridrag.database"] == "nope" {
			failed = s
		}
	}
	require.NotNil(t, failed)
	require.Equal(t, "404", spanAttrs(failed)["http.response.status_code"])
	require.Equal(t, "Error", failed.Status().Code.String())

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var written int64
	latency := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == "hybridrag.records.written" {
					for _, p := range d.DataPoints {
						written += p.Value
						db, _ := p.Attributes.Value(attribute.Key("hybridrag.database"))
						require.Equal(t, "default", db.AsString())
					}
				}
			case metricdata.Histogram[float64]:
				require.Equal(t, "hybridrag.request.duration", m.Name)
				for _, p := range d.DataPoints {
					op, _ := p.Attributes.Value("hybridrag.operation")
					be, _ := p.Attributes.Value("hybridrag.backend")
					latency[op.AsString()+"/"+be.AsString()] += p.Count
				}
			}
		}
	}
	require.Equal(t, int64(3), written)
	require.Equal(t, map[string]uint64{"kv.upsert/json": 1, "kv.get/json": 1, "kv.get/none": 1}, latency)
}

// The route table names every route once and says which change data; the
// names are what spans, metrics and logs carry (issue 14 #8).
func TestRouteTable(t *testing.T) {
	ts := startServer(t, testOptions{noValidation: true})
	ops := map[string]bool{}
	var writes []string
	for _, r := range ts.routeTable() {
		require.False(t, ops[r.op], "operation %s named twice", r.op)
		ops[r.op] = true
		if r.write {
			writes = append(writes, r.op)
		}
	}
	for _, want := range []string{"kv.get", "kv.info", "vectors.drop", "graphs.nodes.upsert", "database.flush",
		"database.status", "status", "database.migration.start", "database.migration.cancel", "database.backend.put"} {
		require.True(t, ops[want], want)
	}
	sort.Strings(writes)
	require.Equal(t, []string{"doc-status.delete", "doc-status.drop", "doc-status.upsert",
		"graphs.drop", "graphs.edges.delete", "graphs.edges.upsert", "graphs.nodes.delete", "graphs.nodes.upsert",
		"kv.delete", "kv.drop", "kv.upsert",
		"vectors.delete", "vectors.delete-entity", "vectors.delete-entity-relation", "vectors.drop", "vectors.upsert"}, writes)
}

func TestMetricsPrometheus(t *testing.T) {
	tel, err := SetupTelemetry(context.Background(), TelemetryOptions{Prometheus: true, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	require.NotNil(t, tel.Metrics)
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ts := startServerWith(t, true, func(c *Config) { c.Telemetry = tel })
	ts.call(t, http.MethodPost, "/v1/databases/default/kv/full_docs/upsert",
		map[string]any{"records": map[string]any{"a": map[string]any{}, "b": map[string]any{}}}, nil)

	resp, err := http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	written := families["hybridrag_records_written_total"]
	require.NotNil(t, written, "families: %v", keys(families))
	require.Equal(t, 2.0, written.Metric[0].GetCounter().GetValue())
	require.NotNil(t, families["hybridrag_request_duration_seconds"])
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestMetricsDisabled(t *testing.T) {
	ts := startServerWith(t, true, nil)
	var eb ErrorBody
	resp := ts.call(t, http.MethodGet, "/metrics", nil, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "metrics_disabled", eb.Code)
}

func TestSetupTelemetryNothingConfigured(t *testing.T) {
	tel, err := SetupTelemetry(context.Background(), TelemetryOptions{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	require.Nil(t, tel, "no exporter: the zero-cost path")
}

// TestOTLPExport sends spans to a local OTLP/HTTP receiver configured by the
// standard environment variables.
func TestOTLPExport(t *testing.T) {
	var mu sync.Mutex
	var names []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" {
			var req collectortrace.ExportTraceServiceRequest
			if proto.Unmarshal(data, &req) == nil {
				mu.Lock()
				for _, rs := range req.ResourceSpans {
					for _, ss := range rs.ScopeSpans {
						for _, sp := range ss.Spans {
							names = append(names, sp.Name)
						}
					}
				}
				mu.Unlock()
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000")
	tel, err := SetupTelemetry(context.Background(), TelemetryOptions{ServiceVersion: "test"})
	require.NoError(t, err)
	require.NotNil(t, tel)
	ts := startServerWith(t, false, func(c *Config) { c.Telemetry = tel })
	ts.call(t, http.MethodPost, "/v1/databases/default/kv/full_docs/upsert",
		map[string]any{"records": map[string]any{"a": map[string]any{}}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx)) // flushes the batch
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, names, "kv.upsert")
	require.Contains(t, names, "kv.upsert full_docs")
}

func TestStdoutTraces(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	tel, err := SetupTelemetry(context.Background(), TelemetryOptions{Stdout: w, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	ts := startServerWith(t, false, func(c *Config) { c.Telemetry = tel })
	ts.call(t, http.MethodGet, "/v1/databases/default/kv/full_docs", nil, nil)
	require.NoError(t, tel.Shutdown(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, buf.String(), `"Name":"kv.info"`)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestStatusRoutes(t *testing.T) {
	ts := startServerWith(t, true, nil)
	dir := filepath.Join(ts.DataDir, "default")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := os.Create(filepath.Join(dir, "kv_store_text_chunks.json"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Truncate(f.Name(), 600<<20)) // sparse: writes nothing

	var all statusBody
	resp := ts.call(t, http.MethodGet, "/v1/status", nil, &all)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, all.Healthy)
	require.Len(t, all.Databases, 1)
	st := all.Databases[0]
	require.Equal(t, "default", st.Name)
	require.Equal(t, []monitor.File{{File: "kv_store_text_chunks.json", Bytes: 600 << 20, Human: "600.0 MB", OverThreshold: true}}, st.Files)
	require.Len(t, st.Warnings, 1)
	require.Equal(t, monitor.CodeFileOverThreshold, st.Warnings[0].Code)

	var one map[string]any
	resp = ts.call(t, http.MethodGet, "/v1/databases/default/status", nil, &one)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, k := range []string{"name", "backend", "healthy", "files", "total_bytes", "thresholds", "warnings"} {
		require.Contains(t, one, k)
	}

	var eb ErrorBody
	resp = ts.call(t, http.MethodGet, "/v1/databases/nope/status", nil, &eb)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "unknown_database", eb.Code)
}

// TestServerFeedsMonitor: writes through the proxy reach the monitor, whose
// rate warning then shows in the status route.
func TestServerFeedsMonitor(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ts := startServerWith(t, false, func(c *Config) { c.MonitorNow = clock })
	write := func(n int) {
		recs := map[string]any{}
		for i := range n {
			recs[fmt.Sprintf("r%d", i)] = map[string]any{}
		}
		resp := ts.call(t, http.MethodPost, "/v1/databases/default/kv/full_docs/upsert", map[string]any{"records": recs}, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	for range 5 {
		write(100)
		advance(time.Minute)
	}
	for range 4 {
		write(10)
		advance(time.Minute)
	}
	ts.mon.Check(context.Background())
	var st monitor.Status
	ts.call(t, http.MethodGet, "/v1/databases/default/status", nil, &st)
	require.Len(t, st.Warnings, 1)
	require.Equal(t, monitor.CodeRateDegraded, st.Warnings[0].Code)
	require.Contains(t, st.Warnings[0].Message, "ingestion slowed to 10 records/min, 90% below its baseline of 100 records/min")
	data, _ := json.Marshal(st)
	require.False(t, strings.Contains(string(data), `"postgres"`))
}

// TestLiveMigrationMetrics: the shadow reads of live migrations are
// exported by database and operation.
func TestLiveMigrationMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel := &Telemetry{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}
	require.NoError(t, observeLiveMigrations(tel, func() map[string]migration.ShadowStatus {
		return map[string]migration.ShadowStatus{"big": {ByOp: map[string]migration.OpTally{
			"kv.get": {Compared: 40, Mismatches: 1}, "vector.query": {Compared: 7}}}}
	}))
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range d.DataPoints {
					db, _ := p.Attributes.Value("db")
					op, _ := p.Attributes.Value("op")
					got[m.Name+" "+db.AsString()+" "+op.AsString()] = p.Value
				}
			}
		}
	}
	require.Equal(t, map[string]int64{
		"hybridrag.migration.shadow.reads big kv.get":            40,
		"hybridrag.migration.shadow.mismatches big kv.get":       1,
		"hybridrag.migration.shadow.reads big vector.query":      7,
		"hybridrag.migration.shadow.mismatches big vector.query": 0,
	}, got)
}

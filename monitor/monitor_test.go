package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/registry"
)

const mb = 1 << 20

// sparse makes a file of size bytes without writing them.
func sparse(t testing.TB, path string, size int64) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Truncate(path, size))
}

// clock is an injectable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuf collects WARNING lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

type fixture struct {
	dir   string
	reg   *registry.Registry
	clock *clock
	logs  *logBuf
	mon   *Monitor
	spans *tracetest.InMemoryExporter
	rdr   *sdkmetric.ManualReader
}

func newFixture(t *testing.T, reg *registry.Registry) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), reg: reg, clock: &clock{now: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)},
		logs: &logBuf{}, spans: tracetest.NewInMemoryExporter(), rdr: sdkmetric.NewManualReader()}
	var mu sync.Mutex
	f.mon = New(Config{
		Registry: func() *registry.Registry { mu.Lock(); defer mu.Unlock(); return f.reg },
		DataDir:  f.dir, Now: f.clock.Now,
		Logger:         slog.New(slog.NewTextHandler(f.logs, nil)),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSyncer(f.spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.rdr)),
	})
	return f
}

func jsonRegistry(names ...string) *registry.Registry {
	r := &registry.Registry{Version: registry.CurrentVersion, Databases: map[string]registry.Database{}}
	for _, n := range names {
		r.Databases[n] = registry.Database{Backend: registry.BackendJSON, Path: n}
	}
	return r
}

func codes(ws []Warning) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

func TestScanFolderSparse(t *testing.T) {
	dir := t.TempDir()
	sparse(t, filepath.Join(dir, "kv_store_full_docs.json"), 600*mb)
	sparse(t, filepath.Join(dir, "vdb_chunks.json"), 1234)
	sparse(t, filepath.Join(dir, "ws1", "graph_chunk_entity_relation.graphml"), 10)
	sparse(t, filepath.Join(dir, "notes.txt"), 99)                   // not LightRAG's
	sparse(t, filepath.Join(dir, "bad name!", "kv_store_x.json"), 5) // not a workspace
	files, total, err := ScanFolder(dir)
	require.NoError(t, err)
	require.Equal(t, []FileSize{{"kv_store_full_docs.json", 600 * mb}, {"vdb_chunks.json", 1234},
		{"ws1/graph_chunk_entity_relation.graphml", 10}}, files)
	require.Equal(t, int64(600*mb+1244), total)

	files, total, err = ScanFolder(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Empty(t, files)
	require.Zero(t, total)
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KB"}, {600 * mb, "600.0 MB"}, {2 << 30, "2.0 GB"}, {10 << 40, "10.0 TB"}} {
		require.Equal(t, tc.want, Human(tc.n))
	}
}

func TestStatusJSONShape(t *testing.T) {
	reg := jsonRegistry("big")
	reg.Databases["pg"] = registry.Database{Backend: BackendPostgres}
	reg.Databases["pgdown"] = registry.Database{Backend: BackendPostgres}
	dir := t.TempDir()
	sparse(t, filepath.Join(dir, "big", "kv_store_text_chunks.json"), 600*mb)
	sparse(t, filepath.Join(dir, "big", "vdb_entities.json"), 1600*mb)
	sparse(t, filepath.Join(dir, "big", "kv_store_doc_status.json"), 2*mb)
	coll := Collector{DataDir: dir, ProxyURL: "http://127.0.0.1:9621",
		Postgres: func(name string, _ registry.Database) (PostgresInspector, error) {
			return PostgresInspectorFunc(func(ctx context.Context) (adapters.DBStats, error) {
				if name == "pgdown" {
					return adapters.DBStats{}, errors.New("connect to PostgreSQL: PostgreSQL unavailable: dial tcp 127.0.0.1:1: connection refused")
				}
				return adapters.DBStats{ServerVersion: "16.4", PgvectorVersion: "0.8.0", DatabaseBytes: 12 * mb,
					LatencyMS: 0.42, Tables: []adapters.TableStats{{Name: "lightrag_doc_full", Bytes: 8192, RowsEstimate: 3}}}, nil
			}), nil
		}}
	sts := coll.All(context.Background(), reg)
	require.Len(t, sts, 3)

	data, err := json.Marshal(sts)
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(data, &got))
	big := got[0]
	require.Equal(t, "big", big["name"])
	require.Equal(t, "json", big["backend"])
	require.Equal(t, true, big["healthy"])
	require.Equal(t, float64(2202*mb), big["total_bytes"])
	require.Equal(t, map[string]any{"file_bytes": float64(500 * mb), "total_bytes": float64(2 << 30),
		"interval_seconds": float64(60), "rate_drop_percent": float64(50), "approach_percent": float64(80)}, big["thresholds"])
	require.Equal(t, []any{
		map[string]any{"file": "kv_store_doc_status.json", "bytes": float64(2 * mb), "human": "2.0 MB", "over_threshold": false},
		map[string]any{"file": "kv_store_text_chunks.json", "bytes": float64(600 * mb), "human": "600.0 MB", "over_threshold": true},
		map[string]any{"file": "vdb_entities.json", "bytes": float64(1600 * mb), "human": "1.6 GB", "over_threshold": true},
	}, big["files"])
	require.NotContains(t, big, "postgres")
	require.Equal(t, []string{CodeFileOverThreshold, CodeFileOverThreshold, CodeTotalOverThreshold}, codes(sts[0].Warnings))
	require.Equal(t, "proxy migrate big --to postgres --dsn 'postgres://USER:PASSWORD@HOST:5432/DBNAME'", sts[0].Warnings[0].Command)
	require.Contains(t, sts[0].Warnings[2].Message, "strongly recommended")
	require.Contains(t, sts[0].Warnings[2].Message, "curl -X POST http://127.0.0.1:9621/v1/databases/big/migration")

	pg := got[1]
	require.Equal(t, "postgres", pg["backend"])
	require.Equal(t, true, pg["healthy"])
	require.Equal(t, []any{}, pg["files"])
	require.Equal(t, []any{}, pg["warnings"])
	require.Equal(t, map[string]any{"connected": true, "error": "", "server_version": "16.4", "pgvector_version": "0.8.0",
		"database_bytes": float64(12 * mb), "latency_ms": 0.42,
		"tables": []any{map[string]any{"name": "lightrag_doc_full", "bytes": float64(8192), "rows_estimate": float64(3)}}}, pg["postgres"])

	down := got[2]
	require.Equal(t, false, down["healthy"])
	require.Equal(t, false, down["postgres"].(map[string]any)["connected"])
	require.Contains(t, down["postgres"].(map[string]any)["error"], "connection refused")
	require.Equal(t, []string{CodePostgresDown}, codes(sts[2].Warnings))
}

func TestStatusTable(t *testing.T) {
	reg := jsonRegistry("big", "empty")
	reg.Databases["pgdown"] = registry.Database{Backend: BackendPostgres}
	dir := t.TempDir()
	sparse(t, filepath.Join(dir, "big", "kv_store_text_chunks.json"), 600*mb)
	coll := Collector{DataDir: dir, Postgres: func(string, registry.Database) (PostgresInspector, error) {
		return nil, errors.New("connection refused")
	}}
	sts := coll.All(context.Background(), reg)
	var plain, colored bytes.Buffer
	require.NoError(t, WriteTable(&plain, sts, false))
	require.NoError(t, WriteTable(&colored, sts, true))
	out := plain.String()
	require.NotContains(t, out, "\x1b[")
	require.Contains(t, colored.String(), "\x1b[31m")
	for _, want := range []string{"database big  (json, healthy)", "kv_store_text_chunks.json  600.0 MB            over 500.0 MB",
		"total                      600.0 MB of 2.0 GB", "WARNING file_over_threshold: database big: file kv_store_text_chunks.json is 600.0 MB",
		"run: proxy migrate big --to postgres --dsn", "database empty  (json, healthy)", "(no LightRAG files yet)",
		"database pgdown  (postgres, UNHEALTHY)", "postgres: not connected: connection refused",
		"thresholds: file 500.0 MB, total 2.0 GB, check every 60s, rate drop 50%"} {
		require.Contains(t, out, want)
	}
}

func TestMonitorSizeWarnings(t *testing.T) {
	ctx := context.Background()
	reg := jsonRegistry("big")
	reg.Databases["pg"] = registry.Database{Backend: BackendPostgres}
	f := newFixture(t, reg)
	file := filepath.Join(f.dir, "big", "kv_store_text_chunks.json")

	sparse(t, file, 300*mb)
	require.Empty(t, f.mon.Check(ctx), "under the thresholds")

	// At 80% of the threshold: an early warning with the same command
	// (spec FR-006a), before the threshold is crossed.
	sparse(t, file, 400*mb)
	got := f.mon.Check(ctx)
	require.Equal(t, []string{CodeFileApproaching}, codes(got))
	require.Contains(t, got[0].Message, "database big: file kv_store_text_chunks.json is 400.0 MB, 80% of the per-file threshold of 500.0 MB and approaching it.")
	require.Equal(t, "proxy migrate big --to postgres --dsn 'postgres://USER:PASSWORD@HOST:5432/DBNAME'", got[0].Command)
	require.Contains(t, got[0].Message, "curl -X POST http://127.0.0.1:8080/v1/databases/big/migration")
	f.clock.Add(time.Minute)
	require.Empty(t, f.mon.Check(ctx), "not repeated")

	sparse(t, file, 600*mb)
	got = f.mon.Check(ctx)
	require.Equal(t, []string{CodeFileOverThreshold}, codes(got), "crossing warns again, as over")
	require.Equal(t, "database big: file kv_store_text_chunks.json is 600.0 MB, over the per-file threshold of 500.0 MB. "+
		"JSON storage holds every file in memory and rewrites it whole on each flush; consider moving this database to PostgreSQL. "+
		"Run: proxy migrate big --to postgres --dsn 'postgres://USER:PASSWORD@HOST:5432/DBNAME' (or, against the running proxy: "+
		`curl -X POST http://127.0.0.1:8080/v1/databases/big/migration -H 'Content-Type: application/json' -d '{"to":"postgres","dsn":"postgres://USER:PASSWORD@HOST:5432/DBNAME"}'). `+
		"The DSN names a PostgreSQL database with the pgvector extension. Add --live (\"mode\":\"live\") to move it while HybridRAG keeps writing.", got[0].Message)
	logs := f.logs.String()
	require.Contains(t, logs, "level=WARN")
	require.Contains(t, logs, "db=big")
	require.Contains(t, logs, `curl="curl -X POST http://127.0.0.1:8080/v1/databases/big/migration`)

	// Not repeated at the next intervals, even with a little growth.
	f.clock.Add(time.Minute)
	require.Empty(t, f.mon.Check(ctx))
	sparse(t, file, 650*mb) // +8%
	f.clock.Add(time.Minute)
	require.Empty(t, f.mon.Check(ctx))
	require.Equal(t, []string{CodeFileOverThreshold}, codes(f.mon.Active("big")), "still active for status")

	// Again after +10% growth over the last warning.
	sparse(t, file, 661*mb)
	f.clock.Add(time.Minute)
	require.Equal(t, []string{CodeFileOverThreshold}, codes(f.mon.Check(ctx)))

	// Again after an hour.
	f.clock.Add(59 * time.Minute)
	require.Empty(t, f.mon.Check(ctx))
	f.clock.Add(time.Minute)
	require.Equal(t, []string{CodeFileOverThreshold}, codes(f.mon.Check(ctx)))

	// Past the total threshold: the strong recommendation, once.
	sparse(t, filepath.Join(f.dir, "big", "vdb_entities.json"), 1500*mb)
	f.clock.Add(time.Minute)
	got = f.mon.Check(ctx)
	require.Equal(t, []string{CodeFileOverThreshold, CodeTotalOverThreshold}, codes(got))
	require.Contains(t, got[1].Message, "database big: its JSON files total 2.1 GB, over the total threshold of 2.0 GB. Performance will degrade")
	require.Contains(t, got[1].Message, "PostgreSQL is strongly recommended")
	f.clock.Add(time.Minute)
	require.Empty(t, f.mon.Check(ctx))

	// Dropping under and crossing again warns again.
	require.NoError(t, os.Truncate(file, 100*mb))
	f.clock.Add(time.Minute)
	require.Empty(t, f.mon.Check(ctx), "the vdb file is still over but was warned about")
	sparse(t, file, 600*mb)
	f.clock.Add(time.Minute)
	require.Equal(t, []string{CodeFileOverThreshold, CodeTotalOverThreshold}, codes(f.mon.Check(ctx)))

	require.NotContains(t, f.logs.String(), "db=pg ", "no size warnings for PostgreSQL")
	require.Empty(t, f.mon.Active("pg"))
}

func TestMonitorUsesRegistryThresholds(t *testing.T) {
	ctx := context.Background()
	reg, err := registry.Parse([]byte(`version: 1
databases:
  a: {path: a}
  b: {path: b}
monitoring:
  file_threshold: 100MB
  total_threshold: 10GB
  databases:
    b: {file_threshold: 1GB}
`))
	require.NoError(t, err)
	f := newFixture(t, reg)
	sparse(t, filepath.Join(f.dir, "a", "kv_store_full_docs.json"), 200*mb)
	sparse(t, filepath.Join(f.dir, "b", "kv_store_full_docs.json"), 200*mb)
	got := f.mon.Check(ctx)
	require.Len(t, got, 1)
	require.Contains(t, got[0].Message, "database a: file kv_store_full_docs.json is 200.0 MB, over the per-file threshold of 100.0 MB")

	// A running proxy picks up a change: b's override goes away.
	reg2, err := registry.Parse([]byte("version: 1\ndatabases:\n  a: {path: a}\n  b: {path: b}\nmonitoring:\n  file_threshold: 100MB\n"))
	require.NoError(t, err)
	f.reg = reg2
	f.clock.Add(time.Minute)
	got = f.mon.Check(ctx)
	require.Len(t, got, 1)
	require.Contains(t, got[0].Message, "database b:")
}

func TestThresholdsParse(t *testing.T) {
	for _, tc := range []struct {
		yaml, err string
	}{
		{"monitoring: {file_threshold: 1.5GB, interval: 30s, rate_drop_percent: 40}", ""},
		{"monitoring: {file_threshold: 12345}", ""},
		{"monitoring: {file_threshold: lots}", `size "lots" is not a size such as 500MB or 2GB`},
		{"monitoring: {interval: soon}", `duration "soon" is not a duration`},
		{"monitoring: {interval: 10ms}", "monitoring.interval: must be at least 1s"},
		{"monitoring: {rate_drop_percent: 100}", "monitoring.rate_drop_percent: must be between 1 and 99"},
		{"monitoring: {databases: {a: {rate_drop_percent: 120}}}", "monitoring.databases.a.rate_drop_percent"},
		{"monitoring: {file_treshold: 1GB}", "field file_treshold not found"},
	} {
		_, err := registry.Parse([]byte("version: 1\ndatabases:\n  a: {path: a}\n" + tc.yaml + "\n"))
		if tc.err == "" {
			require.NoError(t, err, tc.yaml)
		} else {
			require.ErrorContains(t, err, tc.err, tc.yaml)
		}
	}
	reg, err := registry.Parse([]byte("version: 1\ndatabases:\n  a: {path: a}\nmonitoring: {file_threshold: 1.5GB, interval: 30s}\n"))
	require.NoError(t, err)
	th := reg.ThresholdsFor("a")
	require.Equal(t, registry.ByteSize(1536*mb), th.FileThreshold)
	require.Equal(t, 30*time.Second, th.Interval.Std())
	require.Equal(t, registry.DefaultTotalThreshold, th.TotalThreshold)
	require.Equal(t, 30*time.Second, reg.MonitorInterval())
}

func TestRateDegradation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, jsonRegistry("db"))
	write := func(perMinute int, minutes int) []Warning {
		var logged []Warning
		for range minutes {
			for range 10 {
				f.mon.RecordWrite("db", perMinute/10)
				f.clock.Add(5 * time.Second)
			}
			f.clock.Add(10 * time.Second)
			logged = append(logged, f.mon.Check(ctx)...)
		}
		return logged
	}
	for range 3 {
		f.mon.RecordFlush("db", 100*time.Millisecond)
	}
	require.Empty(t, write(1000, 6), "baseline: 5 samples of 1000/min")
	f.clock.Add(30 * time.Minute) // idle minutes are neither samples nor degradation
	require.Empty(t, f.mon.Check(ctx))
	require.Empty(t, write(600, 3), "40% below: under the 50% threshold")
	f.mon.RecordFlush("db", 900*time.Millisecond)
	got := write(200, 3)
	require.Equal(t, []string{CodeRateDegraded}, codes(got))
	require.Contains(t, got[0].Message, "database db: ingestion slowed to")
	require.Contains(t, got[0].Message, "below its baseline of 1000 records/min (threshold 50%)")
	require.Contains(t, got[0].Message, "Likely cause: flushing the JSON files now takes 900ms (it took 100ms at first)")
	require.Contains(t, f.logs.String(), "ingestion slowed")
	// Cooldown: still degraded, not logged again within 30 minutes.
	require.Empty(t, write(200, 10))
	require.Equal(t, []string{CodeRateDegraded}, codes(f.mon.Active("db")))
	f.clock.Add(30 * time.Minute)
	require.Equal(t, []string{CodeRateDegraded}, codes(write(200, 1)))
}

func TestMonitorTelemetry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, jsonRegistry("big"))
	sparse(t, filepath.Join(f.dir, "big", "kv_store_text_chunks.json"), 600*mb)
	f.mon.Check(ctx)

	spans := f.spans.GetSpans()
	require.Len(t, spans, 1)
	require.Equal(t, "monitor.check", spans[0].Name)
	attrs := map[attribute.Key]attribute.Value{}
	for _, a := range spans[0].Attributes {
		attrs[a.Key] = a.Value
	}
	require.Equal(t, "big", attrs["hybridrag.database"].AsString())
	require.Equal(t, int64(600*mb), attrs["hybridrag.total_bytes"].AsInt64())
	require.Equal(t, int64(1), attrs["hybridrag.warnings"].AsInt64())

	var rm metricdata.ResourceMetrics
	require.NoError(t, f.rdr.Collect(ctx, &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					file, _ := p.Attributes.Value("hybridrag.file")
					got[m.Name+" "+file.AsString()] = p.Value
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					code, _ := p.Attributes.Value("hybridrag.code")
					got[m.Name+" "+code.AsString()] = p.Value
				}
			}
		}
	}
	require.Equal(t, map[string]int64{
		"hybridrag.storage.file.size kv_store_text_chunks.json": 600 * mb,
		"hybridrag.storage.total.size ":                         600 * mb,
		"hybridrag.monitor.warnings file_over_threshold":        1,
	}, got)
}

func TestRunStopsAndUsesInterval(t *testing.T) {
	reg, err := registry.Parse([]byte("version: 1\ndatabases:\n  a: {path: a}\nmonitoring: {interval: 1s}\n"))
	require.NoError(t, err)
	f := newFixture(t, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.mon.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return len(f.spans.GetSpans()) >= 1 }, 2*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop")
	}
	require.False(t, strings.Contains(f.logs.String(), "level=ERROR"))
}

// The total warns as it approaches its threshold too, at the registry's
// approach_percent; status shows the warning and marks the file.
func TestApproachingTotalAndPercent(t *testing.T) {
	dir := t.TempDir()
	reg := jsonRegistry("big")
	reg.Monitoring = &registry.Monitoring{Thresholds: registry.Thresholds{ApproachPercent: 90}}
	sparse(t, filepath.Join(dir, "big", "vdb_entities.json"), 460*mb) // 92% of 500 MB
	sparse(t, filepath.Join(dir, "big", "kv_store_full_docs.json"), 420*mb)
	sparse(t, filepath.Join(dir, "big", "vdb_chunks.json"), 440*mb)
	sparse(t, filepath.Join(dir, "big", "vdb_relationships.json"), 440*mb)
	sparse(t, filepath.Join(dir, "big", "kv_store_text_chunks.json"), 100*mb) // total 1860 MB: 90.8% of 2 GB
	st := Collector{DataDir: dir}.Database(context.Background(), reg, "big")
	require.Equal(t, []string{CodeFileApproaching, CodeTotalApproaching}, codes(st.Warnings))
	require.Contains(t, st.Warnings[1].Message, "its JSON files total 1.8 GB, 90% of the total threshold of 2.0 GB and approaching it")
	for _, f := range st.Files {
		require.Equal(t, f.File == "vdb_entities.json", f.Approaching, f.File)
		require.False(t, f.OverThreshold)
	}
	require.Equal(t, 90, st.Thresholds.ApproachPercent)
}

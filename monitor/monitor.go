package monitor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hybridrag/storage-proxy/registry"
)

// Warning repetition: a size warning is repeated only after the size grew
// by RepeatGrowth or after RepeatAfter.
const (
	DefaultRepeatAfter  = time.Hour
	DefaultRepeatGrowth = 0.10
)

// instrumentationName names the monitor's tracer and meter.
const instrumentationName = "github.com/hybridrag/storage-proxy/monitor"

// Config configures a Monitor.
type Config struct {
	// Registry returns the current registry (the proxy's hot-reloaded one),
	// so threshold changes apply at the next check.
	Registry func() *registry.Registry
	DataDir  string
	Logger   *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now            func() time.Time
	ProxyURL       string
	TracerProvider trace.TracerProvider // nil: no-op
	MeterProvider  metric.MeterProvider // nil: no-op

	RepeatAfter     time.Duration // default DefaultRepeatAfter
	RateCooldown    time.Duration // default DefaultRateCooldown
	BaselineSamples int           // default DefaultBaselineSamples
	RecentSamples   int           // default DefaultRecentSamples
}

// Monitor watches every database: sizes on each check, write rates from
// RecordWrite. Safe for concurrent use.
type Monitor struct {
	cfg     Config
	log     *slog.Logger
	tracer  trace.Tracer
	coll    Collector
	fileGa  metric.Int64Gauge
	totalGa metric.Int64Gauge
	warnCt  metric.Int64Counter

	mu     sync.Mutex
	warned map[warnKey]warnState
	rates  map[string]*rateState
	active map[string][]Warning // per database, from the last check
}

type warnKey struct{ db, file, code string }

type warnState struct {
	bytes int64
	at    time.Time
}

// New returns a monitor; Run starts its loop, Check runs one pass.
func New(cfg Config) *Monitor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RepeatAfter <= 0 {
		cfg.RepeatAfter = DefaultRepeatAfter
	}
	if cfg.RateCooldown <= 0 {
		cfg.RateCooldown = DefaultRateCooldown
	}
	if cfg.BaselineSamples <= 0 {
		cfg.BaselineSamples = DefaultBaselineSamples
	}
	if cfg.RecentSamples <= 0 {
		cfg.RecentSamples = DefaultRecentSamples
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = tracenoop.NewTracerProvider()
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = metricnoop.NewMeterProvider()
	}
	m := &Monitor{cfg: cfg, log: cfg.Logger, tracer: cfg.TracerProvider.Tracer(instrumentationName),
		coll:   Collector{DataDir: cfg.DataDir, ProxyURL: cfg.ProxyURL},
		warned: map[warnKey]warnState{}, rates: map[string]*rateState{}, active: map[string][]Warning{}}
	meter := cfg.MeterProvider.Meter(instrumentationName)
	// Instrument creation fails only on invalid names; ours are constant.
	m.fileGa, _ = meter.Int64Gauge("hybridrag.storage.file.size", metric.WithUnit("By"),
		metric.WithDescription("Size of each LightRAG JSON file of a database"))
	m.totalGa, _ = meter.Int64Gauge("hybridrag.storage.total.size", metric.WithUnit("By"),
		metric.WithDescription("Total size of a database's LightRAG files"))
	m.warnCt, _ = meter.Int64Counter("hybridrag.monitor.warnings", metric.WithUnit("{warning}"),
		metric.WithDescription("Warnings raised by the storage monitor"))
	return m
}

// RecordWrite counts records written to database db (the proxy's write
// handlers call it after a successful write).
func (m *Monitor) RecordWrite(db string, records int) {
	if records <= 0 {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	m.rate(db).add(now, int64(records))
	m.mu.Unlock()
}

// RecordFlush records how long a flush of database db took.
func (m *Monitor) RecordFlush(db string, d time.Duration) {
	m.mu.Lock()
	m.rate(db).flush(d)
	m.mu.Unlock()
}

func (m *Monitor) rate(db string) *rateState {
	r := m.rates[db]
	if r == nil {
		r = &rateState{minute: m.cfg.Now().Unix() / 60}
		m.rates[db] = r
	}
	return r
}

// Active returns database db's warnings from the last check.
func (m *Monitor) Active(db string) []Warning {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Warning(nil), m.active[db]...)
}

// Run checks at once, then every interval (re-read from the registry
// before each wait) until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	for {
		m.Check(ctx)
		t := time.NewTimer(m.cfg.Registry().MonitorInterval())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Check runs one pass over every database and returns the warnings it
// logged (repeats suppressed).
func (m *Monitor) Check(ctx context.Context) []Warning {
	reg := m.cfg.Registry()
	var logged []Warning
	names := reg.Names()
	m.mu.Lock()
	for db := range m.active {
		if _, ok := reg.Databases[db]; !ok {
			delete(m.active, db)
			delete(m.rates, db)
		}
	}
	m.mu.Unlock()
	for _, name := range names {
		logged = append(logged, m.checkDatabase(ctx, reg, name)...)
	}
	return logged
}

func (m *Monitor) checkDatabase(ctx context.Context, reg *registry.Registry, name string) []Warning {
	backend := reg.Databases[name].BackendType()
	ctx, span := m.tracer.Start(ctx, "monitor.check", trace.WithAttributes(
		attribute.String("hybridrag.database", name), attribute.String("hybridrag.backend", backend)))
	defer span.End()
	th := reg.ThresholdsFor(name)
	now := m.cfg.Now()
	dbAttr := attribute.String("hybridrag.database", name)

	var found []finding
	var total int64
	if backend == registry.BackendJSON {
		// PostgreSQL databases get no size warnings; they only get rate checks.
		var st Status
		st, found = m.coll.database(ctx, reg, name)
		total = st.TotalBytes
		span.SetAttributes(attribute.Int64("hybridrag.total_bytes", st.TotalBytes),
			attribute.Int("hybridrag.files", len(st.Files)))
		for _, f := range st.Files {
			m.fileGa.Record(ctx, f.Bytes, metric.WithAttributes(dbAttr, attribute.String("hybridrag.file", f.File)))
		}
		m.totalGa.Record(ctx, st.TotalBytes, metric.WithAttributes(dbAttr))
		if st.Error != "" {
			span.SetAttributes(attribute.String("hybridrag.error", st.Error))
		}
	}

	m.mu.Lock()
	var toLog, current []Warning
	seen := map[warnKey]bool{}
	for _, f := range found {
		k := warnKey{db: name, file: f.file, code: f.w.Code}
		seen[k] = true
		current = append(current, f.w)
		prev, warned := m.warned[k]
		if !warned || float64(f.bytes) >= float64(prev.bytes)*(1+DefaultRepeatGrowth) || now.Sub(prev.at) >= m.cfg.RepeatAfter {
			m.warned[k] = warnState{bytes: f.bytes, at: now}
			toLog = append(toLog, f.w)
		}
	}
	// A size warning whose condition cleared fires again on the next crossing.
	for k := range m.warned {
		if k.db == name && !seen[k] {
			delete(m.warned, k)
		}
	}
	r := m.rate(name)
	r.roll(now)
	r.flushBytes = total
	if base, recent, bad := r.degraded(m.cfg.BaselineSamples, m.cfg.RecentSamples, th.RateDropPercent); bad {
		w := rateWarning(name, backend, base, recent, th.RateDropPercent, r, m.cfg.ProxyURL)
		current = append(current, w)
		if r.lastWarn.IsZero() || now.Sub(r.lastWarn) >= m.cfg.RateCooldown {
			r.lastWarn = now
			toLog = append(toLog, w)
		}
	}
	m.active[name] = current
	m.mu.Unlock()

	for _, w := range toLog {
		m.log.LogAttrs(ctx, slog.LevelWarn, w.Message, slog.String("db", name), slog.String("code", w.Code),
			slog.String("command", w.Command), slog.String("curl", MigrateCurl(m.cfg.ProxyURL, name)))
		m.warnCt.Add(ctx, 1, metric.WithAttributes(dbAttr, attribute.String("hybridrag.code", w.Code)))
	}
	span.SetAttributes(attribute.Int("hybridrag.warnings", len(current)), attribute.Int("hybridrag.warnings_logged", len(toLog)))
	return toLog
}

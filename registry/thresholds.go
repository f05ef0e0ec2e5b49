package registry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Monitoring defaults (issue 4): a JSON file over 500 MB or a database over
// 2 GB gets a warning; checks run every minute; a write rate 50% below its
// baseline is a degradation.
const (
	DefaultFileThreshold   ByteSize = 500 << 20
	DefaultTotalThreshold  ByteSize = 2 << 30
	DefaultMonitorInterval          = Duration(60 * time.Second)
	DefaultRateDropPercent          = 50
	// DefaultApproachPercent: a file or total at 80% of its threshold gets
	// an early warning (spec FR-006a), before the threshold is crossed.
	DefaultApproachPercent = 80
)

// Monitoring is registry.yaml's optional "monitoring" section: thresholds for
// every database, and per-database overrides. A running proxy re-reads it
// with the rest of the registry. It lives outside the database entries so a
// threshold change never reopens a database.
//
//	monitoring:
//	  file_threshold: 500MB
//	  total_threshold: 2GB
//	  interval: 60s
//	  rate_drop_percent: 50
//	  approach_percent: 80
//	  databases:
//	    big: {total_threshold: 10GB}
type Monitoring struct {
	Thresholds `yaml:",inline"`
	// Databases overrides fields per database name; entries naming no
	// registered database are ignored.
	Databases map[string]Thresholds `yaml:"databases,omitempty"`
}

// Thresholds are the monitor's settings; a zero field means "inherit".
type Thresholds struct {
	FileThreshold   ByteSize `yaml:"file_threshold,omitempty" json:"file_bytes"`
	TotalThreshold  ByteSize `yaml:"total_threshold,omitempty" json:"total_bytes"`
	Interval        Duration `yaml:"interval,omitempty" json:"interval_seconds"`
	RateDropPercent int      `yaml:"rate_drop_percent,omitempty" json:"rate_drop_percent"`
	// ApproachPercent is the share of a threshold at which a size warns
	// that it is approaching it.
	ApproachPercent int `yaml:"approach_percent,omitempty" json:"approach_percent"`
}

// DefaultThresholds are the built-in settings.
func DefaultThresholds() Thresholds {
	return Thresholds{FileThreshold: DefaultFileThreshold, TotalThreshold: DefaultTotalThreshold,
		Interval: DefaultMonitorInterval, RateDropPercent: DefaultRateDropPercent, ApproachPercent: DefaultApproachPercent}
}

// Validate checks that every set field is usable.
func (t Thresholds) Validate() error {
	switch {
	case t.FileThreshold < 0:
		return errors.New("file_threshold: must be positive, such as 500MB")
	case t.TotalThreshold < 0:
		return errors.New("total_threshold: must be positive, such as 2GB")
	case t.Interval < 0 || (t.Interval > 0 && t.Interval.Std() < time.Second):
		return errors.New("interval: must be at least 1s, such as 60s")
	case t.RateDropPercent < 0 || t.RateDropPercent >= 100:
		return errors.New("rate_drop_percent: must be between 1 and 99")
	case t.ApproachPercent < 0 || t.ApproachPercent >= 100:
		return errors.New("approach_percent: must be between 1 and 99, such as 80")
	}
	return nil
}

// over returns t with o's set fields on top.
func (t Thresholds) over(o Thresholds) Thresholds {
	if o.FileThreshold > 0 {
		t.FileThreshold = o.FileThreshold
	}
	if o.TotalThreshold > 0 {
		t.TotalThreshold = o.TotalThreshold
	}
	if o.Interval > 0 {
		t.Interval = o.Interval
	}
	if o.RateDropPercent > 0 {
		t.RateDropPercent = o.RateDropPercent
	}
	if o.ApproachPercent > 0 {
		t.ApproachPercent = o.ApproachPercent
	}
	return t
}

// Validate checks the section; the error names the field.
func (m *Monitoring) Validate() error {
	if m == nil {
		return nil
	}
	if err := m.Thresholds.Validate(); err != nil {
		return fmt.Errorf("monitoring.%w", err)
	}
	for name, t := range m.Databases {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("monitoring.databases.%s.%w", name, err)
		}
	}
	return nil
}

// ThresholdsFor returns database db's effective settings: defaults, then the
// global section, then the database's override.
func (r *Registry) ThresholdsFor(db string) Thresholds {
	t := DefaultThresholds()
	if r == nil || r.Monitoring == nil {
		return t
	}
	t = t.over(r.Monitoring.Thresholds)
	if o, ok := r.Monitoring.Databases[db]; ok {
		t = t.over(o)
	}
	return t
}

// MonitorInterval is the global check interval (per-database intervals
// cannot be shorter than the loop, so the loop uses the shortest).
func (r *Registry) MonitorInterval() time.Duration {
	iv := r.ThresholdsFor("").Interval.Std()
	if r == nil {
		return iv
	}
	for _, name := range r.Names() {
		if d := r.ThresholdsFor(name).Interval.Std(); d < iv {
			iv = d
		}
	}
	return iv
}

// ByteSize is a size in bytes; YAML takes a number or a string with a unit
// (500MB, 2GB, 1.5GiB; KB/MB/GB are powers of 1024, as `proxy status` shows).
type ByteSize int64

// ParseByteSize parses "500MB", "2GB", "1024" (bytes).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10},
		{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"T", 1 << 40}, {"G", 1 << 30},
		{"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q is not a size such as 500MB or 2GB", s)
	}
	return ByteSize(f * mult), nil
}

// UnmarshalYAML accepts a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size must be a number or a string such as 500MB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes the human form when it is exact.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// String is the exact human form: "500MB", "2GB", or a byte count.
func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if b >= ByteSize(u.m) && int64(b)%u.m == 0 {
			return strconv.FormatInt(int64(b)/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Duration is a time.Duration written as "60s", "5m" in YAML and as whole
// seconds in JSON.
type Duration time.Duration

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts "60s", "5m" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string such as 60s", n.Line)
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q is not a duration such as 60s or 5m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go form ("1m0s").
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes whole seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(time.Duration(d)/time.Second), 10), nil
}

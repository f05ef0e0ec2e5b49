// Package procs scales GOMAXPROCS with the proxy's load.
//
// A sidecar mostly serves one small request at a time: HybridRAG asks, the
// proxy asks PostgreSQL, the answer goes back. With more than one P the Go
// scheduler hands every wakeup (the request arriving, PostgreSQL answering,
// net/http's background read) to another thread, and on a small virtual
// machine each handoff is a futex call and a cross-CPU wakeup: on the
// project's 2-core machines the proxy's CPU per KV get from PostgreSQL fell
// from 0.68-0.78 ms to 0.52-0.55 ms with one P (docs/BENCHMARKS.md,
// bench/pgcompare). The Scaler keeps one P while that is all
// the load needs and gives the runtime every P as soon as requests overlap,
// a request asks for several cores (a JSON vector scan), or the process is
// busy on its own (a migration, a large flush).
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultTick     = 100 * time.Millisecond
	DefaultCooldown = time.Second
	// DefaultBusyShare is the share of one core the process must use over a
	// tick, on one P, for the Scaler to give it every P.
	DefaultBusyShare = 0.8
)

// Options configure a Scaler; zero fields take the defaults above.
type Options struct {
	// Max is the P count under load; 0: runtime.GOMAXPROCS(0) when New runs
	// (the machine's cores or the container's CPU limit).
	Max       int
	Tick      time.Duration
	Cooldown  time.Duration // how long load must stay low before one P again
	BusyShare float64
	Logger    *slog.Logger

	// For tests: what sets GOMAXPROCS, the process's CPU time, the clock.
	SetProcs func(n int)
	CPUTime  func() (time.Duration, error)
	Now      func() time.Time
}

// Scaler switches GOMAXPROCS between 1 and Max. Enter and Exit are called
// around every request; Run samples the process's CPU time.
type Scaler struct {
	o Options

	inFlight atomic.Int64
	wide     atomic.Int64 // requests in flight that asked for every core
	busySeen atomic.Bool  // load wanted Max since the last tick
	high     atomic.Bool  // GOMAXPROCS is Max

	mu       sync.Mutex // serialises changes to GOMAXPROCS
	lastBusy time.Time  // Run's goroutine only
	lastCPU  time.Duration
}

// New returns a Scaler that has not changed GOMAXPROCS yet: Run sets one P.
// It returns nil when there is nothing to scale (Max of 1).
func New(o Options) *Scaler {
	if o.Max <= 0 {
		o.Max = runtime.GOMAXPROCS(0)
	}
	if o.Max <= 1 {
		return nil
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.BusyShare <= 0 {
		o.BusyShare = DefaultBusyShare
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SetProcs == nil {
		o.SetProcs = func(n int) { runtime.GOMAXPROCS(n) }
	}
	if o.CPUTime == nil {
		o.CPUTime = processCPU
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Scaler{o: o}
	s.high.Store(true) // the runtime starts with Max
	return s
}

// Enter notes a request starting; wide asks for every P while it runs.
func (s *Scaler) Enter(wide bool) {
	n := s.inFlight.Add(1)
	if wide {
		s.wide.Add(1)
	}
	if n >= 2 || wide {
		s.busySeen.Store(true)
		if !s.high.Load() {
			s.set(true, "requests overlap or one needs every core")
		}
	}
}

// Exit notes the end of a request Enter noted, with the same wide.
func (s *Scaler) Exit(wide bool) {
	if wide {
		s.wide.Add(-1)
	}
	s.inFlight.Add(-1)
}

// Procs is the P count the Scaler last set.
func (s *Scaler) Procs() int {
	if s.high.Load() {
		return s.o.Max
	}
	return 1
}

// Run checks the load every tick until ctx is done, when it gives the
// runtime Max Ps back. The first drop to one P comes after a cooldown.
func (s *Scaler) Run(ctx context.Context) {
	s.lastBusy = s.o.Now()
	s.lastCPU, _ = s.o.CPUTime()
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.set(true, "shutting down")
			return
		case <-t.C:
		}
		s.step()
	}
}

// step is one tick: Max Ps while requests overlapped, one asked for every
// core or the process used most of a core; one P once none of that has
// happened for the cooldown.
func (s *Scaler) step() {
	now := s.o.Now()
	busy := s.busySeen.Swap(false) || s.overlap()
	if cpu, err := s.o.CPUTime(); err == nil {
		busy = busy || float64(cpu-s.lastCPU) >= s.o.BusyShare*float64(s.o.Tick)
		s.lastCPU = cpu
	}
	switch {
	case busy:
		s.lastBusy = now
		s.set(true, "requests overlap or the process is busy")
	case now.Sub(s.lastBusy) >= s.o.Cooldown:
		s.set(false, "one request at a time")
	}
}

// overlap says whether the requests in flight want Max Ps now.
func (s *Scaler) overlap() bool { return s.inFlight.Load() >= 2 || s.wide.Load() > 0 }

func (s *Scaler) set(high bool, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A request that entered after the tick looked keeps Max Ps (one that
	// enters between this check and the store waits a tick at most).
	if s.high.Load() == high || !high && s.overlap() {
		return
	}
	n := 1
	if high {
		n = s.o.Max
	}
	s.o.SetProcs(n)
	s.high.Store(high)
	s.o.Logger.Debug("GOMAXPROCS changed", slog.Int("procs", n), slog.String("why", why))
}

// processCPU is the process's user and system CPU time so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

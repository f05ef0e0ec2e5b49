package procs

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fake is a Scaler's world: the P count it set, the process's CPU time and
// the clock, all moved by the test.
type fake struct {
	mu    sync.Mutex
	procs []int // every value set, in order
	cpu   time.Duration
	now   time.Time
}

func (f *fake) set(n int) { f.mu.Lock(); f.procs = append(f.procs, n); f.mu.Unlock() }

func (f *fake) last() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.procs) == 0 {
		return 0
	}
	return f.procs[len(f.procs)-1]
}

func newFake(t *testing.T) (*Scaler, *fake) {
	t.Helper()
	f := &fake{now: time.Unix(1000, 0)}
	s := New(Options{Max: 4, Tick: 100 * time.Millisecond, Cooldown: time.Second, BusyShare: 0.8,
		SetProcs: f.set, CPUTime: func() (time.Duration, error) { return f.cpu, nil }, Now: func() time.Time { return f.now }})
	require.NotNil(t, s)
	s.lastBusy, s.lastCPU = f.now, f.cpu
	return s, f
}

// tick advances the clock one tick, adding cpu of process CPU time, and
// runs the Scaler's step.
func (f *fake) tick(s *Scaler, cpu time.Duration) {
	f.now = f.now.Add(s.o.Tick)
	f.cpu += cpu
	s.step()
}

func TestScalerPolicy(t *testing.T) {
	const light, heavy = 10 * time.Millisecond, 90 * time.Millisecond // per 100 ms tick
	tests := []struct {
		name string
		run  func(s *Scaler, f *fake)
		want []int // the P counts set, in order
	}{
		{"stays at Max until the cooldown has passed", func(s *Scaler, f *fake) {
			for range 9 {
				f.tick(s, light)
			}
		}, nil},
		{"one P after a cooldown of single requests", func(s *Scaler, f *fake) {
			for range 10 {
				s.Enter(false)
				s.Exit(false)
				f.tick(s, light)
			}
		}, []int{1}},
		{"overlapping requests raise at once", func(s *Scaler, f *fake) {
			for range 10 {
				f.tick(s, light)
			}
			s.Enter(false)
			s.Enter(false)
			s.Exit(false)
			s.Exit(false)
		}, []int{1, 4}},
		{"a wide request raises at once, alone", func(s *Scaler, f *fake) {
			for range 10 {
				f.tick(s, light)
			}
			s.Enter(true)
			s.Exit(true)
		}, []int{1, 4}},
		{"a busy process raises on the next tick", func(s *Scaler, f *fake) {
			for range 10 {
				f.tick(s, light)
			}
			f.tick(s, heavy)
		}, []int{1, 4}},
		{"busy ticks keep Max; one P a cooldown after the last", func(s *Scaler, f *fake) {
			for range 10 {
				f.tick(s, light)
			}
			f.tick(s, heavy) // raise
			for range 5 {
				f.tick(s, heavy)
			}
			for range 9 {
				f.tick(s, light)
			}
			require.Equal(t, 4, s.Procs(), "lowered before the cooldown")
			f.tick(s, light)
		}, []int{1, 4, 1}},
		{"never lowers while requests overlap", func(s *Scaler, f *fake) {
			s.Enter(false)
			s.Enter(false)
			for range 30 {
				f.tick(s, light)
			}
			s.Exit(false)
			s.Exit(false)
			for range 10 {
				f.tick(s, light)
			}
		}, []int{1}},
		{"a wide request in flight keeps Max", func(s *Scaler, f *fake) {
			s.Enter(true)
			for range 30 {
				f.tick(s, light)
			}
			s.Exit(true)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newFake(t)
			tt.run(s, f)
			require.Equal(t, tt.want, f.procs)
			if len(tt.want) > 0 {
				require.Equal(t, tt.want[len(tt.want)-1], s.Procs())
			}
		})
	}
}

// A lower that races with requests entering never leaves two requests in
// flight on one P past the next tick.
func TestScalerRaceRaisesByNextTick(t *testing.T) {
	s, f := newFake(t)
	for range 10 {
		f.tick(s, 0)
	}
	require.Equal(t, 1, f.last())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				s.Enter(false)
				s.Exit(false)
			}
		})
	}
	s.Enter(false)
	s.Enter(false)
	wg.Wait()
	f.tick(s, 0)
	require.Equal(t, 4, s.Procs())
	require.Equal(t, 4, f.last())
	s.Exit(false)
	s.Exit(false)
}

func TestNewNilWithOneCore(t *testing.T) {
	require.Nil(t, New(Options{Max: 1}))
}

// Run with the real runtime: one P once idle, every P back when it stops.
func TestRunSetsGOMAXPROCS(t *testing.T) {
	start := runtime.GOMAXPROCS(0)
	if start < 2 {
		t.Skip("one core: nothing to scale")
	}
	t.Cleanup(func() { runtime.GOMAXPROCS(start) })
	s := New(Options{Tick: 5 * time.Millisecond, Cooldown: 20 * time.Millisecond, BusyShare: 1e9})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return runtime.GOMAXPROCS(0) == 1 }, 10*time.Second, time.Millisecond)
	s.Enter(true)
	require.Equal(t, start, runtime.GOMAXPROCS(0), "a wide request raises before it runs")
	s.Exit(true)
	cancel()
	<-done
	require.Equal(t, start, runtime.GOMAXPROCS(0))
}

func TestProcessCPU(t *testing.T) {
	a, err := processCPU()
	require.NoError(t, err)
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	b, err := processCPU()
	require.NoError(t, err)
	require.Greater(t, b, a, "CPU time grows while the test spins (%d)", x)
}

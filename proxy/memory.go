package proxy

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// Memory give-back. Go returns freed heap to the system slowly (its
// scavenger paces itself to a few percent of CPU), so after a burst of
// large requests the proxy's RSS stays high for minutes while it idles.
// Once the proxy has been idle for a while after a large request, it
// returns the memory at once.
const (
	// DefaultMemoryReleaseIdle is how long the proxy must be idle after a
	// large request before it returns freed memory to the system.
	DefaultMemoryReleaseIdle = 5 * time.Second
	// largeRequestBytes: a request or response at least this large marks
	// memory to give back.
	largeRequestBytes = 4 << 20
	// maxPooledBuffer: larger buffers are left to the garbage collector
	// instead of being kept in the pool (where they would pin their memory).
	maxPooledBuffer = 1 << 20
)

// memReleaser counts requests in flight and notes large ones.
type memReleaser struct {
	inFlight atomic.Int64
	lastEnd  atomic.Int64 // UnixNano of the last request's end
	dirty    atomic.Bool  // a large request ran since the last release
	released atomic.Int64 // releases done (tests)
}

func (m *memReleaser) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m.inFlight.Add(1)
		defer func() {
			if c.Request().ContentLength >= largeRequestBytes || c.Response().Size >= largeRequestBytes {
				m.dirty.Store(true)
			}
			m.lastEnd.Store(time.Now().UnixNano())
			m.inFlight.Add(-1)
		}()
		return next(c)
	}
}

// run releases memory after a large request once no request has run for
// idle; it checks a few times per idle period until ctx is done.
func (m *memReleaser) run(ctx context.Context, idle time.Duration) {
	t := time.NewTicker(max(idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.dirty.Load() || m.inFlight.Load() > 0 || time.Since(time.Unix(0, m.lastEnd.Load())) < idle {
			continue
		}
		m.dirty.Store(false)
		debug.FreeOSMemory()
		m.released.Add(1)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/internal/livemodel"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// livePollLimit bounds every wait of the live migration test: generous,
// so a loaded machine is not a failure, yet a hung migration ends the test.
const livePollLimit = 3 * time.Minute

// liveStatus reads the database's live migration from the proxy; ok is
// false when the proxy has none (it started after the cutover).
func liveStatus(t *testing.T, base string) (st migration.LiveStatus, ok bool) {
	t.Helper()
	resp, err := httpClient.Get(base + "/v1/databases/default/migration")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusNotFound {
		return st, false
	}
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
	require.NoError(t, json.Unmarshal(raw, &st))
	require.NotEqual(t, migration.LiveFailed, st.State, "the migration failed: %+v", st.Error)
	require.NotEqual(t, migration.LiveAborted, st.State, "the migration aborted: %+v", st.Error)
	return st, true
}

// cutOver reports whether the registry has the database on PostgreSQL with
// no live migration left.
func cutOver(t *testing.T, regPath string) bool {
	reg, err := registry.Load(regPath)
	require.NoError(t, err)
	db := reg.Databases["default"]
	return db.Live == nil && db.BackendType() == registry.BackendPostgres
}

// TestLiveMigrationKill9 moves the default JSON database to PostgreSQL
// live while clients write and read, and SIGKILLs the proxy at random
// points of every phase (backfill, verify, shadow, right after the cutover
// request), restarting it each time. The migration resumes after every
// restart and ends cut over, with every record equal to the reference
// model of the writes: its last acknowledged value, or the value of a
// write whose answer never came.
func TestLiveMigrationKill9(t *testing.T) {
	needBinary(t)
	dsn := pgtest.FreshDatabase(t)
	data := t.TempDir()
	regPath := filepath.Join(data, "registry.yaml")
	env := cleanEnv()
	start := func() *proc { return startProxy(t, data, env, "--listen", "127.0.0.1:0", "--data", data) }

	p := start()
	var url atomic.Pointer[string]
	url.Store(&p.url)
	base := func() string { return *url.Load() }
	// A few thousand records (3 writers x 400 keys x 3 kinds), padded, so
	// the backfill takes long enough to be hit.
	const writers = 3
	wl := livemodel.New(base, "default", 400)
	ctx := context.Background()
	require.NoError(t, wl.Seed(ctx, writers))

	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var wg sync.WaitGroup
	pause := func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for w := range writers {
		wg.Go(func() { wl.Writer(trafficCtx, w, seed, pause) })
	}
	wg.Go(func() { wl.Reader(trafficCtx, seed, pause) })

	status, err := post(ctx, base()+"/v1/databases/default/migration", map[string]any{
		"to": "postgres", "dsn": dsn, "embedding_model": "live-e2e", "mode": "live",
		"clean_requests": 100, "clean_minutes": 0.03, "cutover": "manual", "abort_after_seconds": 600}, nil)
	require.Equal(t, http.StatusAccepted, status, "%v", err) // post reports any answer but 200 as an error

	rng := rand.New(rand.NewPCG(seed, 11))
	kills := map[string]int{}
	// killIn waits until the migration is in phase (for the backfill, with
	// at least the share copied of its records; for the cutover, it asks
	// for it), then SIGKILLs the proxy after a random delay up to maxDelay
	// and starts it again. It reports false when the migration was past
	// phase.
	killIn := func(phase string, copied float64, maxDelay time.Duration) bool {
		begin := time.Now()
		for {
			require.Less(t, time.Since(begin), livePollLimit, "waiting for phase %s", phase)
			if cutOver(t, regPath) {
				return false
			}
			st, ok := liveStatus(t, base())
			if !ok {
				return false
			}
			reached := st.Phase == phase
			switch phase {
			case registry.PhaseBackfill:
				if st.Phase != registry.PhaseBackfill {
					return false
				}
				reached = copied == 0 || (st.TotalRecords > 0 && float64(st.Records) >= copied*float64(st.TotalRecords))
			case registry.PhaseVerify:
				if st.Phase == registry.PhaseShadow {
					return false
				}
			case registry.PhaseCutover:
				reached = st.State == migration.LiveWaiting
			}
			if reached {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if phase == registry.PhaseCutover {
			status, err := post(ctx, base()+"/v1/databases/default/migration/cutover", map[string]any{}, nil)
			if status != http.StatusAccepted {
				t.Logf("cutover request: %d %v", status, err)
				return false
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(maxDelay) + 1)))
		st, _ := liveStatus(t, base())
		err := p.stop(t, syscall.SIGKILL)
		require.Error(t, err, "killed")
		kills[phase]++
		t.Logf("killed in %s (then %s/%s, %d/%d records copied, %d verify rounds)", phase, st.Phase, st.State,
			st.Records, st.TotalRecords, st.VerifyRounds)
		p = start()
		url.Store(&p.url)
		if phase == registry.PhaseCutover {
			t.Logf("after the restart: cut over %v", cutOver(t, regPath))
		}
		return true
	}

	plan := []struct {
		phase  string
		copied float64
		delay  time.Duration
	}{
		{registry.PhaseBackfill, 0, 150 * time.Millisecond},
		{registry.PhaseBackfill, 0.3, 100 * time.Millisecond},
		{registry.PhaseBackfill, 0.6, 100 * time.Millisecond},
		{registry.PhaseVerify, 0, 30 * time.Millisecond},
		{registry.PhaseVerify, 0, 30 * time.Millisecond},
		{registry.PhaseShadow, 0, 500 * time.Millisecond},
		{registry.PhaseShadow, 0, 500 * time.Millisecond},
		// Before, during or after the registry switch.
		{registry.PhaseCutover, 0, 20 * time.Millisecond},
		{registry.PhaseCutover, 0, 100 * time.Millisecond},
		{registry.PhaseCutover, 0, 300 * time.Millisecond},
	}
	for _, k := range plan {
		killIn(k.phase, k.copied, k.delay)
	}
	t.Logf("kills by phase: %v", kills)
	// The migration starts in the backfill and waits in the shadow phase
	// for the cutover request, so those kills always land; a verification
	// of a few thousand records may be over before it is seen.
	require.Positive(t, kills[registry.PhaseBackfill], "a kill in the backfill")
	require.Positive(t, kills[registry.PhaseShadow], "a kill in the shadow phase")
	require.Positive(t, kills[registry.PhaseCutover], "a kill right after the cutover request")

	// The last restart resumes; ask for the cutover until it happened.
	begin := time.Now()
	for !cutOver(t, regPath) {
		require.Less(t, time.Since(begin), livePollLimit, "the migration did not finish")
		if st, ok := liveStatus(t, base()); ok && st.State == migration.LiveWaiting {
			_, _ = post(ctx, base()+"/v1/databases/default/migration/cutover", map[string]any{}, nil)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A little traffic on PostgreSQL alone, then stop it.
	time.Sleep(300 * time.Millisecond)
	stopTraffic()
	wg.Wait()

	by, bad, _, ok := wl.Writes.Snapshot()
	t.Logf("writes: %d acknowledged, answers %v", ok, by)
	require.Empty(t, bad, "writes answered with something else than 200, 503 + Retry-After or a dropped connection")
	rby, rbad, _, _ := wl.Reads.Snapshot()
	t.Logf("reads: %v", rby)
	require.Empty(t, rbad)

	diffs, checked, err := wl.Check(ctx)
	require.NoError(t, err)
	require.Empty(t, diffs, "records that differ from the model (of %d)", checked)
	t.Logf("%d records equal the model", checked)

	// And after a clean restart, from PostgreSQL again.
	require.NoError(t, p.stop(t, syscall.SIGTERM))
	p = start()
	url.Store(&p.url)
	diffs, _, err = wl.Check(ctx)
	require.NoError(t, err)
	require.Empty(t, diffs, fmt.Sprintf("after a restart (of %d)", checked))
	require.NoError(t, p.stop(t, syscall.SIGTERM))
}

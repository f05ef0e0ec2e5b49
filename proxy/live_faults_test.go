package proxy

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
	"github.com/hybridrag/storage-proxy/internal/livemodel"
	"github.com/hybridrag/storage-proxy/migration"
	"github.com/hybridrag/storage-proxy/registry"
)

// Fault tests of a live migration inside one proxy: PostgreSQL going away
// during dual-write (and staying away past abort_after_seconds), and a
// record changed in PostgreSQL behind the proxy's back during the shadow
// phase. Each checks the final state against a reference model of the
// writes the clients sent (internal/livemodel).

// pollLimit bounds every wait: generous, so a loaded machine is not a
// failure, yet a hung migration still ends the test.
const pollLimit = 3 * time.Minute

// pollLive polls the database's live migration until cond holds.
func pollLive(t *testing.T, ts *testServer, db, what string, cond func(migration.LiveStatus) bool) migration.LiveStatus {
	t.Helper()
	start := time.Now()
	for {
		var st migration.LiveStatus
		resp := ts.call(t, http.MethodGet, "/v1/databases/"+db+"/migration", nil, &st)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		if cond(st) {
			return st
		}
		require.NotEqual(t, migration.LiveFailed, st.State, "%s: the migration failed: %+v", what, st.Error)
		require.Less(t, time.Since(start), pollLimit, "%s: last status %+v", what, st)
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond (no hard deadline beyond pollLimit).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		require.Less(t, time.Since(start), pollLimit, what)
		time.Sleep(50 * time.Millisecond)
	}
}

// traffic runs writers and readers of wl until stop is called.
func runModel(wl *livemodel.Workload, writers, readers int, seed uint64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// A write that failed waits a little, as a client would before
	// retrying; reads do not pause.
	backoff := func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	for w := range writers {
		wg.Go(func() { wl.Writer(ctx, w, seed, backoff) })
	}
	for r := range readers {
		wg.Go(func() { wl.Reader(ctx, seed+uint64(r), backoff) })
	}
	return func() { cancel(); wg.Wait() }
}

func requireModel(t *testing.T, wl *livemodel.Workload) {
	t.Helper()
	diffs, checked, err := wl.Check(context.Background())
	require.NoError(t, err)
	require.Empty(t, diffs, "records that differ from the model (of %d)", checked)
	t.Logf("%d records equal the model", checked)
}

func startLive(t *testing.T, ts *testServer, db string, body map[string]any) {
	t.Helper()
	body["mode"], body["to"] = "live", registry.BackendPostgres
	var st map[string]any
	resp := ts.call(t, http.MethodPost, "/v1/databases/"+db+"/migration", body, &st)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", st)
}

func writesTally(t *testing.T, wl *livemodel.Workload) (map[string]int, int) {
	by, bad, _, ok := wl.Writes.Snapshot()
	require.Empty(t, bad, "writes answered with something else than 200 or 503 + Retry-After")
	_, bad, _, _ = wl.Reads.Snapshot()
	require.Empty(t, bad, "reads answered with something else than 200 or 503 + Retry-After")
	return by, ok
}

// TestLiveMigrationPostgresOutage stops the target PostgreSQL (a throwaway
// cluster) while clients write during a live migration. While it is down
// writes answer 503 migration_target_unavailable, never a 500, and none is
// acknowledged. Brief outage: the migration goes on, reconciles the
// namespaces the failed writes left dirty and cuts over equal to the model.
// Outage past abort_after_seconds: the migration aborts, the database is
// served from its JSON folder alone and writes succeed again, nothing lost.
func TestLiveMigrationPostgresOutage(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.DSN("postgres", "", "postgres")
	pgOpts := pgServerOptions{pg: postgres.Config{QueryTimeout: 2 * time.Second, ReconnectMax: time.Second}}

	// outage stops PostgreSQL once the migration waits in the shadow phase
	// and returns once writes have failed for a while, with the numbers of
	// writes acknowledged and reads answered when it had stopped.
	outage := func(t *testing.T, ts *testServer, wl *livemodel.Workload) (writesOK, readsOK int) {
		pollLive(t, ts, "default", "shadow phase", func(s migration.LiveStatus) bool { return s.Phase == registry.PhaseShadow })
		c.Stop("immediate")
		_, okAtStop := writesTally(t, wl)
		_, _, _, readsAtStop := wl.Reads.Snapshot()
		eventually(t, "several writes fail", func() bool {
			by, _ := writesTally(t, wl)
			return by["503 migration_target_unavailable"] >= 10
		})
		return okAtStop, readsAtStop
	}

	t.Run("resumes", func(t *testing.T) {
		ts := startPGServer(t, pgRegistry(dsn), pgOpts)
		wl := livemodel.New(func() string { return ts.URL }, "default", 40)
		require.NoError(t, wl.Seed(context.Background(), 2))
		stop := runModel(wl, 2, 1, 1)
		defer stop()
		startLive(t, ts, "default", map[string]any{"dsn": dsn, "workspace": "resumes", "embedding_model": "m",
			"clean_requests": 20, "clean_minutes": 0, "cutover": "manual", "abort_after_seconds": 600})
		okBefore, readsBefore := outage(t, ts, wl)
		st := pollLive(t, ts, "default", "outage shown", func(s migration.LiveStatus) bool {
			return s.TargetUnavailableSince != nil
		})
		t.Logf("during the outage: %d dirty units, target error %q", st.DirtyUnits, st.TargetError)
		_, okDuring := writesTally(t, wl)
		// Only writes already in flight when PostgreSQL had stopped may
		// have been acknowledged since (one per writer).
		require.LessOrEqual(t, okDuring-okBefore, 2, "writes acknowledged while PostgreSQL was down")
		require.Equal(t, registry.PhaseShadow, st.Phase)
		// Reads are answered from the JSON folder meanwhile (the reader may
		// still be in a call that met the outage: wait for its next one).
		eventually(t, "reads answered while PostgreSQL is down", func() bool {
			_, _, _, readsDuring := wl.Reads.Snapshot()
			return readsDuring > readsBefore
		})

		c.StartServer()
		restarted := time.Now()
		eventually(t, "writes succeed again", func() bool {
			_, _, last, _ := wl.Writes.Snapshot()
			return last.After(restarted)
		})
		st = pollLive(t, ts, "default", "reconciled and clean", func(s migration.LiveStatus) bool {
			return s.DirtyUnits == 0 && s.State == migration.LiveWaiting && s.TargetUnavailableSince == nil
		})
		t.Logf("after the outage: repaired %d, shadow %+v", st.Repaired, st.Shadow)
		require.Equal(t, migration.LiveRunning, liveJobState(t, ts), "still the same run")
		resp := ts.call(t, http.MethodPost, "/v1/databases/default/migration/cutover", map[string]any{}, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		pollLive(t, ts, "default", "cut over", func(s migration.LiveStatus) bool { return s.State == migration.LiveDone })
		stop()
		by, ok := writesTally(t, wl)
		t.Logf("writes: %d acknowledged, answers %v", ok, by)
		reg, err := registry.Load(ts.Registry)
		require.NoError(t, err)
		require.Equal(t, registry.BackendPostgres, reg.Databases["default"].BackendType())
		require.Nil(t, reg.Databases["default"].Live)
		requireModel(t, wl) // read from PostgreSQL now
	})

	t.Run("aborts", func(t *testing.T) {
		ts := startPGServer(t, pgRegistry(dsn), pgOpts)
		wl := livemodel.New(func() string { return ts.URL }, "default", 40)
		require.NoError(t, wl.Seed(context.Background(), 2))
		stop := runModel(wl, 2, 1, 2)
		defer stop()
		startLive(t, ts, "default", map[string]any{"dsn": dsn, "workspace": "aborts", "embedding_model": "m",
			"clean_requests": 1 << 40, "clean_minutes": 0, "cutover": "manual", "abort_after_seconds": 2})
		_, _ = outage(t, ts, wl)
		defer c.StartServer()
		st := pollLive(t, ts, "default", "aborted", func(s migration.LiveStatus) bool { return s.State == migration.LiveAborted })
		require.NotNil(t, st.Error)
		require.Equal(t, "migration_aborted", st.Error.Code)
		t.Logf("aborted: %s", st.Error.Message)
		reg, err := registry.Load(ts.Registry)
		require.NoError(t, err)
		require.Nil(t, reg.Databases["default"].Live, "the registry keeps no live migration")
		require.Equal(t, registry.BackendJSON, reg.Databases["default"].BackendType())
		require.Nil(t, reg.Databases["default"].Archive)

		// PostgreSQL is still down; writes succeed from the JSON folder.
		aborted := time.Now()
		eventually(t, "writes succeed again without PostgreSQL", func() bool {
			_, _, last, _ := wl.Writes.Snapshot()
			return last.After(aborted)
		})
		var info BackendInfo
		ts.call(t, http.MethodGet, "/v1/databases/default/backend", nil, &info)
		require.Equal(t, registry.BackendJSON, info.Type)
		require.Nil(t, info.LiveMigration)
		stop()
		by, ok := writesTally(t, wl)
		t.Logf("writes: %d acknowledged, answers %v", ok, by)
		requireModel(t, wl)
	})
}

// liveJobState is the state of the database's live migration as GET shows it.
func liveJobState(t *testing.T, ts *testServer) string {
	var st migration.LiveStatus
	ts.call(t, http.MethodGet, "/v1/databases/default/migration", nil, &st)
	if st.State == migration.LiveWaiting {
		return migration.LiveRunning
	}
	return st.State
}

// TestLiveShadowCatchesTamperedTarget changes a record directly in the
// target's table during the shadow phase: a read of it is compared on both
// backends, the mismatch is counted and listed with the record's id, the
// clean window restarts and the cutover answers 409 cutover_not_ready. The
// namespace is then reconciled from the source and the migration cuts over
// equal to the model.
func TestLiveShadowCatchesTamperedTarget(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn), pgServerOptions{})
	ctx := context.Background()
	wl := livemodel.New(func() string { return ts.URL }, "default", 50)
	require.NoError(t, wl.Seed(ctx, 2))
	stopReads := runModel(wl, 0, 1, 3)
	startLive(t, ts, "default", map[string]any{"dsn": dsn, "embedding_model": "m",
		"clean_requests": 30, "clean_minutes": 0, "cutover": "manual"})
	pollLive(t, ts, "default", "clean window", func(s migration.LiveStatus) bool { return s.State == migration.LiveWaiting })
	// No other reads from now on: the window stays restarted.
	stopReads()

	victim := livemodel.ID(0, 7)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, "UPDATE lightrag_doc_full SET content = 'changed behind the proxy' WHERE id = $1", victim)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())

	// The proxy still answers from the JSON folder; the shadow read sees
	// the target differ.
	got, err := wl.Read(ctx, livemodel.KindKV, []string{victim})
	require.NoError(t, err)
	require.Contains(t, got[0], "seed "+victim)
	st := pollLive(t, ts, "default", "mismatch counted", func(s migration.LiveStatus) bool { return s.Shadow.Mismatches > 0 })
	require.True(t, slices.ContainsFunc(st.Shadow.Recent, func(m migration.Mismatch) bool {
		return m.Op == "kv.get" && m.NS == "full_docs" && slices.Contains(m.IDs, victim)
	}), "the mismatch names the record: %+v", st.Shadow.Recent)
	require.Positive(t, st.Shadow.ByOp["kv.get"].Mismatches)
	require.Less(t, st.Shadow.WindowReads, int64(30), "the clean window restarted")
	require.False(t, st.CleanWindow.Met)

	var eb ErrorBody
	resp := ts.call(t, http.MethodPost, "/v1/databases/default/migration/cutover", map[string]any{}, &eb)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "%+v", eb)
	require.Equal(t, "cutover_not_ready", eb.Code)
	var reg *registry.Registry
	reg, err = registry.Load(ts.Registry)
	require.NoError(t, err)
	require.NotNil(t, reg.Databases["default"].Live, "still migrating")

	// The mismatch sends the namespace to reconciliation: the record is
	// repaired from the source, and the migration cuts over once a new
	// clean window has passed.
	var content string
	eventually(t, "the target's record repaired", func() bool {
		require.NoError(t, conn.QueryRow(ctx, "SELECT content FROM lightrag_doc_full WHERE id = $1", victim).Scan(&content))
		return content != "changed behind the proxy"
	})
	require.Contains(t, content, "seed "+victim)
	stop := runModel(wl, 2, 1, 4)
	defer stop()
	st = pollLive(t, ts, "default", "clean again", func(s migration.LiveStatus) bool { return s.State == migration.LiveWaiting })
	require.Positive(t, st.Repaired)
	resp = ts.call(t, http.MethodPost, "/v1/databases/default/migration/cutover", map[string]any{}, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	pollLive(t, ts, "default", "cut over", func(s migration.LiveStatus) bool { return s.State == migration.LiveDone })
	stop()
	writesTally(t, wl)
	requireModel(t, wl)
}

// TestLiveAbortDropsCopy aborts a live migration started by a request: the
// rows it copied into PostgreSQL are dropped and the database serves from
// its JSON folder alone, equal to the model.
func TestLiveAbortDropsCopy(t *testing.T) {
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn), pgServerOptions{})
	ctx := context.Background()
	wl := livemodel.New(func() string { return ts.URL }, "default", 30)
	require.NoError(t, wl.Seed(ctx, 2))
	stop := runModel(wl, 2, 1, 5)
	defer stop()
	startLive(t, ts, "default", map[string]any{"dsn": dsn, "workspace": "dropped", "embedding_model": "m",
		"clean_requests": 1 << 40, "cutover": "manual"})
	pollLive(t, ts, "default", "shadow phase", func(s migration.LiveStatus) bool { return s.Phase == registry.PhaseShadow })
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows := func() int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM lightrag_doc_full WHERE workspace = 'dropped'").Scan(&n))
		return n
	}
	require.Positive(t, rows(), "the backfill copied")

	var st migration.LiveStatus
	resp := ts.call(t, http.MethodPost, "/v1/databases/default/migration/abort", map[string]any{}, &st)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, migration.LiveAborted, st.State)
	require.Contains(t, st.Target, "(workspace dropped)", "the status names the target's workspace")
	require.Zero(t, rows(), "abort drops the copy")
	reg, err := registry.Load(ts.Registry)
	require.NoError(t, err)
	require.Nil(t, reg.Databases["default"].Live)
	stop()
	writesTally(t, wl)
	requireModel(t, wl)
}

package migration

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/adapterstest"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
)

// TestDualConformance runs the shared adapter suite on the dual backend of
// a live migration (a JSON folder writing through to PostgreSQL) with every
// read shadowed: it answers as the adapters do, and the target never
// answers a read differently.
func TestDualConformance(t *testing.T) {
	dsn := pgtest.FreshDatabase(t)
	var runs []*liveRun
	adapterstest.Run(t, func(t *testing.T) adapters.Backend {
		ctx := context.Background()
		src, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: t.TempDir()})
		require.NoError(t, err)
		tgt, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Workspace: "dual_" + newID(), EmbeddingModel: "dual-test"})
		require.NoError(t, err)
		run := newLiveRun(newID(), "dual")
		run.setShare(1)
		run.shadowing.Store(true)
		runs = append(runs, run)
		d, err := newDualBackend(run, src, tgt, "test target")
		require.NoError(t, err)
		t.Cleanup(func() {
			// Shadow comparisons run in the background: wait for them.
			for i := 0; i < cap(run.shadowSlots); i++ {
				run.shadowSlots <- struct{}{}
			}
			st := run.shadow.status(1)
			require.Zero(t, st.Mismatches, "%+v", st.Recent)
			require.Zero(t, run.dirtyCount())
			require.NoError(t, d.Close(context.Background()))
		})
		return d
	})
	var compared, failed int64
	for _, r := range runs {
		st := r.shadow.status(1)
		compared += st.Compared
		failed += st.Errors
	}
	require.Positive(t, compared, "the suite's reads were shadowed")
	t.Logf("%d shadow reads compared, %d failed on the target", compared, failed)
}

package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// A large write that outlasts the per-query timeout but progresses
// finishes: its deadline follows the rows it writes, so it is not answered
// 503 and retried whole forever (issue 14 #11).
func TestLargeWriteOutlastsQueryTimeout(t *testing.T) {
	ctx := context.Background()
	const dim, n = 1536, 400
	ns := adapters.Namespace{Name: "chunks"}
	vec := func(r *rand.Rand) []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = r.Float32() - 0.5
		}
		return v
	}
	r := rand.New(rand.NewPCG(14, 11))
	// The table and its HNSW index exist first, as in production.
	setup := MustOpen(t)
	vs, err := setup.Vector(ctx, ns, dim)
	require.NoError(t, err)
	require.NoError(t, vs.Upsert(ctx, []adapters.VectorRecord{{ID: "seed", Vector: vec(r), Fields: adapters.Record(`{"content":"s"}`)}}))

	const queryTimeout = 200 * time.Millisecond
	b, err := Open(ctx, Config{DSN: setup.cfg.DSN, Workspace: setup.cfg.Workspace, EmbeddingModel: setup.cfg.EmbeddingModel,
		QueryTimeout: queryTimeout})
	require.NoError(t, err)
	defer b.Close(ctx)
	v, err := b.Vector(ctx, ns, dim)
	require.NoError(t, err)
	recs := make([]adapters.VectorRecord, n)
	for i := range recs {
		recs[i] = adapters.VectorRecord{ID: fmt.Sprintf("v%d", i), Vector: vec(r), Fields: adapters.Record(`{"content":"x"}`)}
	}
	start := time.Now()
	require.NoError(t, v.Upsert(ctx, recs))
	took := time.Since(start)
	t.Logf("%d rows of %d dimensions in %v (query timeout %v)", n, dim, took, queryTimeout)
	count, err := v.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(n+1), count)
}

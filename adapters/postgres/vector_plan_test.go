package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
)

func randVector(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// explain returns the plan of the vector query for q after settings.
func explain(t *testing.T, b *Backend, v *vectorStore, q adapters.VectorQuery, settings string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	sql, qargs := v.querySQL(v.t, q)
	var plan []string
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settings, args...); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, qargs...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	return strings.Join(plan, "\n")
}

// The planner prefers a sequential scan with a sort (it does not cost the
// TOASTed vectors); Query must use the HNSW index anyway, still return only
// its workspace's rows, and fall back to an exact scan when the index
// yields fewer than top k rows. Exact queries never use the index.
func TestVectorQueryUsesIndex(t *testing.T) {
	dsn := pgtest.FreshDatabase(t)
	big := MustOpen(t, func(c *Config) { c.DSN = dsn; c.Workspace = "big" })
	small := MustOpen(t, func(c *Config) { c.DSN = dsn; c.Workspace = "small" })
	ctx := context.Background()
	const dim = 64
	rng := rand.New(rand.NewPCG(1, 2))
	ns := adapters.Namespace{Name: "chunks"}
	vb, err := big.Vector(ctx, ns, dim)
	require.NoError(t, err)
	vs, err := small.Vector(ctx, ns, dim)
	require.NoError(t, err)
	var recs []adapters.VectorRecord
	for i := range 600 {
		recs = append(recs, adapters.VectorRecord{ID: fmt.Sprintf("b%03d", i), Fields: adapters.Record(`{"content":"x"}`), Vector: randVector(rng, dim)})
	}
	require.NoError(t, vb.Upsert(ctx, recs))
	require.NoError(t, vs.Upsert(ctx, []adapters.VectorRecord{
		{ID: "s1", Vector: recs[0].Vector}, {ID: "s2", Vector: recs[1].Vector}, {ID: "s3", Vector: randVector(rng, dim)},
	}))
	_, err = big.pool.Exec(ctx, "ANALYZE "+quoteIdent(vb.(*vectorStore).t.name))
	require.NoError(t, err)

	q := adapters.VectorQuery{Vector: recs[0].Vector, TopK: 10, Threshold: -1}
	iterative, err := big.iterativeScan(ctx)
	require.NoError(t, err)
	require.True(t, iterative, "the test server has pgvector 0.8")
	v := vb.(*vectorStore)
	plan := explain(t, big, v, q, annSettingsSQL(true), "120")
	require.Contains(t, plan, "Index Scan using "+strings.Trim(indexName(v.t.name, "hnsw_cosine"), `"`), plan)
	require.NotContains(t, plan, "Sort", plan)
	plan = explain(t, big, v, q, exactSettingsSQL)
	require.NotContains(t, plan, "hnsw", plan)

	// Approximate against exact on the big workspace: the same workspace,
	// recall close to 1 on 600 rows.
	found, total := 0, 0
	for i := range 20 {
		q := adapters.VectorQuery{Vector: recs[i*7].Vector, TopK: 10, Threshold: -1}
		got, err := vb.Query(ctx, q)
		require.NoError(t, err)
		require.Len(t, got, 10)
		q.Exact = true
		want, err := vb.Query(ctx, q)
		require.NoError(t, err)
		require.Equal(t, recs[i*7].ID, want[0].ID)
		ids := map[string]bool{}
		for _, m := range got {
			require.True(t, strings.HasPrefix(m.ID, "b"), "only the workspace's rows: %s", m.ID)
			ids[m.ID] = true
		}
		for _, m := range want {
			if ids[m.ID] {
				found++
			}
			total++
		}
	}
	require.GreaterOrEqual(t, float64(found)/float64(total), 0.9, "recall@10 %d/%d", found, total)

	// The small workspace has 3 rows among 603: the index scan cannot fill
	// top 10, the exact fallback returns all three, in similarity order.
	got, err := vs.Query(ctx, q)
	require.NoError(t, err)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	require.Len(t, ids, 3)
	require.Equal(t, []string{"s1"}, ids[:1])
	require.ElementsMatch(t, []string{"s1", "s2", "s3"}, ids)

	// Without the HNSW index (another backend, nothing cached) the query
	// scans exactly.
	_, err = big.pool.Exec(ctx, "DROP INDEX "+indexName(v.t.name, "hnsw_cosine"))
	require.NoError(t, err)
	other := MustOpen(t, func(c *Config) { c.DSN = dsn; c.Workspace = "big" })
	has, err := other.hasHNSW(ctx, v.t.name)
	require.NoError(t, err)
	require.False(t, has)
	vo, err := other.Vector(ctx, ns, dim)
	require.NoError(t, err)
	q = adapters.VectorQuery{Vector: recs[3].Vector, TopK: 10, Threshold: -1}
	got, err = vo.Query(ctx, q)
	require.NoError(t, err)
	q.Exact = true
	want, err := vo.Query(ctx, q)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, recs[3].ID, got[0].ID)
}

func TestVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"0.8.0": true, "0.8": true, "0.10.1": true, "1.0.0": true, "0.7.4": false, "0.5": false, "": false, "x.y": false} {
		require.Equal(t, want, versionAtLeast(v, 0, 8), v)
	}
}

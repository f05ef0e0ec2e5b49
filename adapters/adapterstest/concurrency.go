package adapterstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// testConcurrency has many goroutines write and read one namespace of each
// kind at once (run it under -race), then checks nothing was lost.
func testConcurrency(t *testing.T, s *suite) {
	const workers, rounds = 8, 16
	kv := s.kv(t, ns("kv"))
	v := s.vector(t, ns("vdb"), dim)
	g := s.graph(t, ns("graph"))
	d := s.docs(t, ns("doc_status"))

	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			errs <- worker(c, w, rounds, kv, v, g, d)
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	require.NoError(t, errors.Join(all...))

	n, err := kv.Count(ctx(t))
	require.NoError(t, err)
	require.EqualValues(t, workers*rounds, n)
	n, err = v.Count(ctx(t))
	require.NoError(t, err)
	require.EqualValues(t, workers*rounds, n)
	nodes, edges, err := g.Counts(ctx(t))
	require.NoError(t, err)
	require.EqualValues(t, workers*rounds+1, nodes, "every worker's nodes plus the shared hub")
	require.EqualValues(t, workers*rounds, edges)
	deg, err := g.NodeDegrees(ctx(t), []string{"hub"})
	require.NoError(t, err)
	require.Equal(t, []int{workers * rounds}, deg)
	n, err = d.Count(ctx(t))
	require.NoError(t, err)
	require.EqualValues(t, workers*rounds, n)
	counts, err := d.StatusCounts(ctx(t))
	require.NoError(t, err)
	require.EqualValues(t, workers*rounds, counts["processed"])
}

// worker writes its own keys and reads them (and the shared ones) back;
// it returns an error instead of failing, as it runs off the test goroutine.
func worker(ctx context.Context, w, rounds int, kv adapters.KV, v adapters.Vector, g adapters.Graph, d adapters.DocStatus) error {
	for i := range rounds {
		id := fmt.Sprintf("w%d-%03d", w, i)
		data := adapters.Record(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
		if err := kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: data}}); err != nil {
			return fmt.Errorf("kv upsert %s: %w", id, err)
		}
		got, err := kv.GetByIDs(ctx, []string{id})
		if err != nil || got[0] == nil {
			return fmt.Errorf("kv read own write %s: %v, %w", id, got, err)
		}
		if _, err := kv.Scan(ctx, "", 10); err != nil {
			return fmt.Errorf("kv scan: %w", err)
		}
		vec := []float32{float32(w + 1), float32(i + 1), 1, 0}
		if err := v.Upsert(ctx, []adapters.VectorRecord{{ID: id, Fields: data, Vector: vec}}); err != nil {
			return fmt.Errorf("vector upsert %s: %w", id, err)
		}
		if _, err := v.Query(ctx, adapters.VectorQuery{Vector: vec, TopK: 3, Threshold: 0.2}); err != nil {
			return fmt.Errorf("vector query: %w", err)
		}
		if err := g.UpsertNodes(ctx, []adapters.Node{{ID: id, Props: adapters.Props{"w": []byte(fmt.Sprint(w))}}}); err != nil {
			return fmt.Errorf("graph upsert node %s: %w", id, err)
		}
		if err := g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "hub", Tgt: id, Props: adapters.Props{"weight": []byte("1.0")}}}); err != nil {
			return fmt.Errorf("graph upsert edge %s: %w", id, err)
		}
		if _, err := g.NodeDegrees(ctx, []string{"hub", id}); err != nil {
			return fmt.Errorf("graph degrees: %w", err)
		}
		doc := adapters.Record(`{"status":"processed","track_id":"t"}`)
		if err := d.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: doc}}); err != nil {
			return fmt.Errorf("doc upsert %s: %w", id, err)
		}
		if _, err := d.StatusCounts(ctx); err != nil {
			return fmt.Errorf("doc counts: %w", err)
		}
	}
	return nil
}

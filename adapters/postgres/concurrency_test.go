package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// race runs each worker rounds times, all at once, and returns the errors.
func race(rounds int, workers ...func(round int) error) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := w(r); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

// TestOppositeOrderBatches: two writers upserting the same ids in opposite
// order never deadlock (issue 13, item 1): every batch succeeds, in time.
func TestOppositeOrderBatches(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%02d", i)
	}
	kv, err := b.KV(ctx, adapters.Namespace{Name: "text_chunks"})
	require.NoError(t, err)
	ds, err := b.DocStatus(ctx, adapters.Namespace{Name: "doc_status"})
	require.NoError(t, err)
	vec, err := b.Vector(ctx, adapters.Namespace{Name: "entities"}, 4)
	require.NoError(t, err)
	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	str := func(s string) json.RawMessage { return adapters.MarshalString(s) }
	cases := []struct {
		name  string
		write func(ids []string, round int) error
	}{
		{"kv", func(ids []string, r int) error {
			recs := make([]adapters.KVRecord, len(ids))
			for i, id := range ids {
				recs[i] = adapters.KVRecord{ID: id, Data: adapters.Record(fmt.Sprintf(`{"content":"r%d","chunk_order_index":%d}`, r, i))}
			}
			return kv.Upsert(ctx, recs)
		}},
		{"doc_status", func(ids []string, r int) error {
			recs := make([]adapters.KVRecord, len(ids))
			for i, id := range ids {
				recs[i] = adapters.KVRecord{ID: id, Data: adapters.Record(fmt.Sprintf(`{"status":"processed","content_summary":"r%d"}`, r))}
			}
			return ds.Upsert(ctx, recs)
		}},
		{"vector", func(ids []string, r int) error {
			recs := make([]adapters.VectorRecord, len(ids))
			for i, id := range ids {
				recs[i] = adapters.VectorRecord{ID: id, Vector: []float32{1, float32(r), float32(i), 0},
					Fields: adapters.Record(fmt.Sprintf(`{"content":"r%d"}`, r))}
			}
			return vec.Upsert(ctx, recs)
		}},
		{"nodes", func(ids []string, r int) error {
			nodes := make([]adapters.Node, len(ids))
			for i, id := range ids {
				nodes[i] = adapters.Node{ID: id, Props: adapters.Props{"description": str(fmt.Sprint(r))}}
			}
			return g.UpsertNodes(ctx, nodes)
		}},
		{"edges", func(ids []string, r int) error {
			edges := make([]adapters.EdgeData, 0, len(ids))
			for i := range ids {
				edges = append(edges, adapters.EdgeData{Src: ids[i], Tgt: ids[(i+1)%len(ids)], Props: adapters.Props{"weight": json.RawMessage(fmt.Sprint(r))}})
			}
			return g.UpsertEdges(ctx, edges)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			errs := race(20,
				func(r int) error { return tc.write(ids, r) },
				func(r int) error { return tc.write(reversed(ids), r) },
				func(r int) error { return tc.write(ids[10:40], r) },
			)
			require.Empty(t, errs)
			require.Less(t, time.Since(start), 20*time.Second)
		})
	}
}

// TestEdgeUpsertRacesNodeDelete: an edge upsert creates its missing
// endpoints and succeeds however a concurrent delete of an endpoint falls
// (issue 13, item 2).
func TestEdgeUpsertRacesNodeDelete(t *testing.T) {
	b := MustOpen(t)
	ctx := context.Background()
	g, err := b.Graph(ctx, adapters.Namespace{Name: "chunk_entity_relation"})
	require.NoError(t, err)
	errs := race(300,
		func(r int) error {
			return g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "hub", Tgt: fmt.Sprintf("n%d", r%7), Props: adapters.Props{}}})
		},
		func(r int) error {
			return g.UpsertEdges(ctx, []adapters.EdgeData{{Src: fmt.Sprintf("n%d", r%5), Tgt: "hub", Props: adapters.Props{}}})
		},
		func(r int) error { return g.DeleteNodes(ctx, []string{"hub"}) },
		func(r int) error { return g.DeleteNodes(ctx, []string{fmt.Sprintf("n%d", r%7), "hub"}) },
	)
	require.Empty(t, errs)
	// Whatever survived is consistent: every edge has both endpoints.
	edges, err := g.ScanEdges(ctx, adapters.Edge{}, 0)
	require.NoError(t, err)
	for _, e := range edges {
		has, err := g.HasNodes(ctx, []string{e.Src, e.Tgt})
		require.NoError(t, err)
		require.Equal(t, []bool{true, true}, has)
	}
}

// TestFirstWriteDimensionRace: two first upserts of different dimensions
// into an empty namespace, from two backends (two proxies) at once: exactly
// one wins, the other gets dimension_mismatch, and the winner's rows are
// readable (issue 13, item 3).
func TestFirstWriteDimensionRace(t *testing.T) {
	b1 := MustOpen(t)
	b2 := MustOpen(t, func(c *Config) { c.Workspace = b1.cfg.Workspace })
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		for _, name := range []string{"entities", fmt.Sprintf("custom_vdb_%d", round)} {
			ns := adapters.Namespace{Name: name}
			var wins, mismatches int
			var winner int
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i, dim := range []int{8, 16} {
				b := []*Backend{b1, b2}[i]
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := b.Vector(ctx, ns, dim)
					if err == nil {
						vec := make([]float32, dim)
						vec[0] = 1
						err = v.Upsert(ctx, []adapters.VectorRecord{{ID: "x", Vector: vec, Fields: adapters.Record(`{}`)}})
					}
					mu.Lock()
					defer mu.Unlock()
					var ae *adapters.Error
					switch {
					case err == nil:
						wins++
						winner = dim
					case errors.As(err, &ae) && ae.Code == "dimension_mismatch":
						mismatches++
					default:
						t.Errorf("round %d %s dim %d: %v", round, name, dim, err)
					}
				}()
			}
			wg.Wait()
			require.Equal(t, 1, wins, "round %d %s: exactly one first write wins", round, name)
			require.Equal(t, 1, mismatches, "round %d %s", round, name)
			v, err := b1.Vector(ctx, ns, 0)
			require.NoError(t, err)
			require.Equal(t, winner, v.Dim())
			got, err := v.GetVectorsByIDs(ctx, []string{"x"})
			require.NoError(t, err)
			require.Len(t, got["x"], winner, "the acknowledged record is readable")
			require.NoError(t, v.Drop(ctx))
		}
	}
}

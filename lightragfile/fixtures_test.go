package lightragfile_test

// These tests compare the streaming readers with adapters/json (which
// imports this package, hence the external test package).

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
	"github.com/hybridrag/storage-proxy/lightragfile"
)

// copyTree copies a fixture folder (files and workspace sub-folders).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	}))
}

func isCorrupt(err error) bool {
	var ae *adapters.Error
	return errors.As(err, &ae) && errors.Is(err, adapters.ErrCorrupt)
}

func canonProps(t *testing.T, p adapters.Props) string {
	if p == nil {
		p = adapters.Props{}
	}
	b, err := stdjson.Marshal(p) // map keys sorted
	require.NoError(t, err)
	return string(b)
}

func pair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// streamed is what one reader yielded, in order.
type streamed struct {
	ids      []string
	problems []lightragfile.Problem
}

func TestFixturesMatchJSONAdapter(t *testing.T) {
	fx := fixtures.Dir(t)
	dirs, err := os.ReadDir(fx)
	require.NoError(t, err)
	ctx := context.Background()
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) { compareFolder(ctx, t, filepath.Join(fx, d.Name())) })
	}
}

// compareFolder checks every file of the LightRAG folder src against what
// adapters/json serves from a copy of it.
func compareFolder(ctx context.Context, t *testing.T, src string) {
	t.Helper()
	{
		{
			tmp := t.TempDir()
			copyTree(t, src, tmp)
			b, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: tmp})
			require.NoError(t, err)
			defer b.Close(ctx)
			files, err := lightragfile.List(src)
			require.NoError(t, err)
			require.NotEmpty(t, files)
			for _, f := range files {
				ns := adapters.Namespace{Workspace: f.Workspace, Name: f.Namespace}
				var got streamed
				opt := lightragfile.Options{OnProblem: func(p lightragfile.Problem) { got.problems = append(got.problems, p) }}
				switch f.Kind {
				case adapters.KindKV, adapters.KindDocStatus:
					kv, err := b.KV(ctx, ns)
					require.NoError(t, err)
					want, wantErr := kv.Scan(ctx, "", 0)
					gotRecs := map[string]string{}
					err = lightragfile.ReadKV(ctx, f, opt, func(r adapters.KVRecord) error {
						require.NotContains(t, gotRecs, r.ID, "%s: id yielded twice", f.Path)
						gotRecs[r.ID] = string(adapters.KVView(r.ID, r.Data))
						got.ids = append(got.ids, r.ID)
						return nil
					})
					if wantErr != nil {
						require.True(t, isCorrupt(wantErr), wantErr)
						require.True(t, isCorrupt(err), "%s: want corrupt_file like the adapter (%v), got %v", f.Path, wantErr, err)
						continue
					}
					require.NoError(t, err, f.Path)
					require.Len(t, gotRecs, len(want), f.Path)
					for _, r := range want {
						require.Equal(t, string(r.Data), gotRecs[r.ID], "%s: record %q", f.Path, r.ID)
					}
				case adapters.KindVector:
					vs, err := b.Vector(ctx, ns, 0)
					require.NoError(t, err)
					want, wantErr := vs.Scan(ctx, "", 0)
					gotRecs := map[string]adapters.VectorRecord{}
					dim, err := lightragfile.ReadVectors(ctx, f, opt, func(r adapters.VectorRecord) error {
						require.NotContains(t, gotRecs, r.ID, "%s: id yielded twice", f.Path)
						gotRecs[r.ID] = r
						got.ids = append(got.ids, r.ID)
						return nil
					})
					if wantErr != nil {
						require.True(t, isCorrupt(wantErr), wantErr)
						require.True(t, isCorrupt(err), "%s: want corrupt_file like the adapter (%v), got %v", f.Path, wantErr, err)
						continue
					}
					require.NoError(t, err, f.Path)
					require.Equal(t, vs.Dim(), dim, f.Path)
					require.Len(t, gotRecs, len(want), f.Path)
					for _, w := range want {
						g, ok := gotRecs[w.ID]
						require.True(t, ok, "%s: %q missing", f.Path, w.ID)
						require.Equal(t, string(w.Fields), string(g.Fields), "%s: %q fields", f.Path, w.ID)
						require.JSONEq(t, string(w.Fields), string(g.Fields))
						require.Equal(t, w.CreatedAt, g.CreatedAt, "%s: %q created_at", f.Path, w.ID)
						require.Len(t, g.Vector, len(w.Vector), "%s: %q", f.Path, w.ID)
						for k := range w.Vector {
							if math.Float32bits(w.Vector[k]) != math.Float32bits(g.Vector[k]) {
								t.Fatalf("%s: %q vector[%d] = %v, adapter %v", f.Path, w.ID, k, g.Vector[k], w.Vector[k])
							}
						}
					}
				case adapters.KindGraph:
					gs, err := b.Graph(ctx, ns)
					require.NoError(t, err)
					wantNodes, wantErr := gs.ScanNodes(ctx, "", 0)
					gotNodes := map[string]string{}
					gotEdges := map[[2]string]string{}
					edgesStarted := false
					err = lightragfile.ReadGraph(ctx, f, opt, func(n adapters.Node) error {
						require.False(t, edgesStarted, "node after an edge")
						require.NotContains(t, gotNodes, n.ID)
						gotNodes[n.ID] = canonProps(t, n.Props)
						got.ids = append(got.ids, "n:"+n.ID)
						return nil
					}, func(e adapters.EdgeData) error {
						edgesStarted = true
						k := pair(e.Src, e.Tgt)
						require.NotContains(t, gotEdges, k)
						gotEdges[k] = canonProps(t, e.Props)
						got.ids = append(got.ids, "e:"+k[0]+"\x00"+k[1])
						return nil
					})
					if wantErr != nil {
						require.True(t, isCorrupt(wantErr), wantErr)
						require.True(t, isCorrupt(err), "%s: want corrupt_file like the adapter (%v), got %v", f.Path, wantErr, err)
						continue
					}
					require.NoError(t, err, f.Path)
					require.Len(t, gotNodes, len(wantNodes), f.Path)
					for _, n := range wantNodes {
						require.Equal(t, canonProps(t, n.Props), gotNodes[n.ID], "%s: node %q", f.Path, n.ID)
					}
					wantEdges, err := gs.ScanEdges(ctx, adapters.Edge{}, 0)
					require.NoError(t, err)
					require.Len(t, gotEdges, len(wantEdges), f.Path)
					for _, e := range wantEdges {
						require.Equal(t, canonProps(t, e.Props), gotEdges[pair(e.Src, e.Tgt)], "%s: edge %q-%q", f.Path, e.Src, e.Tgt)
					}
				}
				require.Empty(t, got.problems, f.Path)
				checkSkip(ctx, t, f, got.ids)
			}
		}
	}
}

// checkSkip checks that Skip=k yields the suffix from k, for a few k.
func checkSkip(ctx context.Context, t *testing.T, f lightragfile.File, all []string) {
	t.Helper()
	for _, k := range []int{1, len(all) / 2, len(all) - 1, len(all)} {
		if k < 0 || k > len(all) || len(all) == 0 {
			continue
		}
		var ids []string
		opt := lightragfile.Options{Skip: int64(k)}
		var err error
		switch f.Kind {
		case adapters.KindKV, adapters.KindDocStatus:
			err = lightragfile.ReadKV(ctx, f, opt, func(r adapters.KVRecord) error { ids = append(ids, r.ID); return nil })
		case adapters.KindVector:
			_, err = lightragfile.ReadVectors(ctx, f, opt, func(r adapters.VectorRecord) error { ids = append(ids, r.ID); return nil })
		case adapters.KindGraph:
			err = lightragfile.ReadGraph(ctx, f, opt, func(n adapters.Node) error { ids = append(ids, "n:"+n.ID); return nil },
				func(e adapters.EdgeData) error {
					p := pair(e.Src, e.Tgt)
					ids = append(ids, "e:"+p[0]+"\x00"+p[1])
					return nil
				})
		}
		require.NoError(t, err)
		want := all[k:]
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, ids, "%s: Skip=%d", f.Path, k)
	}
}

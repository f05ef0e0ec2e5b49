package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
)

// copyTree copies a fixture folder so the JSON adapter (which keeps a log
// and a lock in its folder) never touches the shared fixtures.
func copyTree(t *testing.T, src, dst string) {
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	}))
}

// TestFixturesIntoPostgres loads every real LightRAG folder into PostgreSQL
// through the HTTP API (read with the JSON adapter, written with
// proxyclient) and reads everything back through the API: every record,
// field, vector, node and edge equal.
func TestFixturesIntoPostgres(t *testing.T) {
	root := fixtures.Dir(t)
	dsn := freshDatabase(t)
	ts := startPGServer(t, pgRegistry(dsn, [3]string{"fx", "pg", "default"}), pgServerOptions{})
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	n := 0
	for i, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			copyTree(t, filepath.Join(root, e.Name()), dir)
			ctx := context.Background()
			src, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: dir})
			require.NoError(t, err)
			defer src.Close(ctx)
			dst := proxyclient.New(ts.URL, "fx", "", nil)
			infos, err := src.Namespaces(ctx)
			require.NoError(t, err)
			for _, in := range infos {
				if in.Error != "" {
					t.Logf("skip %s: the JSON adapter cannot read it: %s", in.Namespace, in.Error)
					continue
				}
				to := in.Namespace
				to.Workspace = fmt.Sprintf("fx%02d", i)
				if in.Workspace != "" {
					to.Workspace += "_" + in.Workspace
				}
				switch in.Kind {
				case adapters.KindKV:
					copyKV(t, src, dst, in.Namespace, to, false)
				case adapters.KindDocStatus:
					copyKV(t, src, dst, in.Namespace, to, true)
				case adapters.KindVector:
					copyVectors(t, src, dst, in.Namespace, to, in.Dim)
				case adapters.KindGraph:
					copyGraph(t, src, dst, in.Namespace, to)
				}
			}
		})
	}
	require.Positive(t, n)
}

const pageSize = 1000

// kvLike is the part KV and DocStatus share.
type kvLike interface {
	Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error)
	Upsert(ctx context.Context, records []adapters.KVRecord) error
	GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error)
}

func openKVLike(t *testing.T, b adapters.Backend, ns adapters.Namespace, doc bool) kvLike {
	ctx := context.Background()
	if doc {
		d, err := b.DocStatus(ctx, ns)
		require.NoError(t, err)
		return d
	}
	k, err := b.KV(ctx, ns)
	require.NoError(t, err)
	return k
}

func copyKV(t *testing.T, src, dst adapters.Backend, from, to adapters.Namespace, doc bool) {
	ctx := context.Background()
	s, d := openKVLike(t, src, from, doc), openKVLike(t, dst, to, doc)
	total := 0
	for after := ""; ; {
		page, err := s.Scan(ctx, after, pageSize)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.NoError(t, d.Upsert(ctx, page), "%s", from)
		ids := make([]string, len(page))
		for i, r := range page {
			ids[i] = r.ID
		}
		want, err := s.GetByIDs(ctx, ids)
		require.NoError(t, err)
		got, err := d.GetByIDs(ctx, ids)
		require.NoError(t, err)
		for i := range ids {
			require.NotNil(t, got[i], "%s %s missing", from, ids[i])
			// What an upsert stores: LightRAG's upsert semantics add
			// llm_cache_list to text chunks and chunks_list to doc status.
			var exp adapters.Record
			if doc {
				exp, err = adapters.StampDoc(ids[i], want[i])
			} else {
				exp, err = adapters.StampKV(from.Name, ids[i], want[i], nil, 0)
			}
			require.NoError(t, err)
			requireSameRecord(t, exp, got[i], fmt.Sprintf("%s %s", from, ids[i]))
		}
		total += len(page)
		after = page[len(page)-1].ID
	}
	t.Logf("%s: %d records", from, total)
}

// requireSameRecord compares two records field by field (numbers by their
// text). update_time is LightRAG's write time, restamped by every upsert.
func requireSameRecord(t *testing.T, want, got []byte, what string) {
	w, g := decodeObject(t, want), decodeObject(t, got)
	delete(w, "update_time")
	delete(g, "update_time")
	if diff := diffKeys(w, g); diff != "" {
		t.Errorf("%s: %s", what, diff)
	}
}

// diffKeys names the keys whose values differ (short, unlike a full dump of
// a chunk's content).
func diffKeys(w, g map[string]any) string {
	var out []string
	for k, wv := range w {
		gv, ok := g[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s lost", k))
		case fmt.Sprint(wv) != fmt.Sprint(gv):
			out = append(out, fmt.Sprintf("%s: want %.80v got %.80v", k, wv, gv))
		}
	}
	for k, gv := range g {
		if _, ok := w[k]; !ok {
			out = append(out, fmt.Sprintf("%s added (%.80v)", k, gv))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func decodeObject(t *testing.T, data []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "%.200s", data)
	return m
}

func copyVectors(t *testing.T, src, dst adapters.Backend, from, to adapters.Namespace, dim int) {
	ctx := context.Background()
	s, err := src.Vector(ctx, from, dim)
	require.NoError(t, err)
	d, err := dst.Vector(ctx, to, dim)
	require.NoError(t, err)
	total := 0
	for after := ""; ; {
		page, err := s.Scan(ctx, after, pageSize)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.NoError(t, d.Upsert(ctx, page), "%s", from)
		ids := make([]string, len(page))
		for i, r := range page {
			ids[i] = r.ID
		}
		got, err := d.GetByIDs(ctx, ids)
		require.NoError(t, err)
		vecs, err := d.GetVectorsByIDs(ctx, ids)
		require.NoError(t, err)
		for i, r := range page {
			require.NotNil(t, got[i], "%s %s missing", from, r.ID)
			require.Equal(t, decodeObject(t, r.Fields), decodeObject(t, got[i].Fields), "%s %s", from, r.ID)
			require.Equal(t, r.Vector, vecs[r.ID], "%s %s vector", from, r.ID)
		}
		total += len(page)
		after = page[len(page)-1].ID
	}
	t.Logf("%s: %d vectors of %d dimensions", from, total, dim)
}

func copyGraph(t *testing.T, src, dst adapters.Backend, from, to adapters.Namespace) {
	ctx := context.Background()
	s, err := src.Graph(ctx, from)
	require.NoError(t, err)
	d, err := dst.Graph(ctx, to)
	require.NoError(t, err)
	nodes, edges := 0, 0
	for after := ""; ; {
		page, err := s.ScanNodes(ctx, after, pageSize)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.NoError(t, d.UpsertNodes(ctx, page))
		ids := make([]string, len(page))
		for i, n := range page {
			ids[i] = n.ID
		}
		got, err := d.GetNodes(ctx, ids)
		require.NoError(t, err)
		for i, n := range page {
			require.Equal(t, propsValue(t, n.Props), propsValue(t, got[i]), "%s node %q", from, n.ID)
		}
		nodes += len(page)
		after = page[len(page)-1].ID
	}
	for after := (adapters.Edge{}); ; {
		page, err := s.ScanEdges(ctx, after, pageSize)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.NoError(t, d.UpsertEdges(ctx, page))
		pairs := make([]adapters.Edge, len(page))
		for i, e := range page {
			pairs[i] = adapters.Edge{Src: e.Src, Tgt: e.Tgt}
		}
		got, err := d.GetEdges(ctx, pairs)
		require.NoError(t, err)
		for i, e := range page {
			require.Equal(t, propsValue(t, e.Props), propsValue(t, got[i]), "%s edge %q-%q", from, e.Src, e.Tgt)
		}
		edges += len(page)
		after = pairs[len(pairs)-1]
	}
	wn, we, err := s.Counts(ctx)
	require.NoError(t, err)
	gn, ge, err := d.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{wn, we}, []int64{gn, ge}, "%s counts", from)
	t.Logf("%s: %d nodes, %d edges", from, nodes, edges)
}

func propsValue(t *testing.T, p adapters.Props) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var x any
		require.NoError(t, dec.Decode(&x), "%s: %s", k, strings.TrimSpace(string(v)))
		out[k] = x
	}
	return out
}

package json

import (
	"context"
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/internal/fixtures"
)

var testNow = time.Unix(1700000000, 0)

func mustOpen(tb testing.TB, dir string) *Backend {
	tb.Helper()
	b, err := Open(context.Background(), Config{Dir: dir, Now: func() time.Time { return testNow }})
	require.NoError(tb, err)
	return b
}

// crash abandons b as kill -9 would: no flush, the log file and lock are
// just dropped.
func crash(tb testing.TB, b *Backend) {
	tb.Helper()
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.loopDone
		b.closed.Store(true)
		b.wal.mu.Lock()
		b.wal.waitSpare() // the test's folder is reused or removed next
		_ = b.wal.f.Close()
		b.wal.err = errors.New("crashed")
		b.wal.mu.Unlock()
		require.NoError(tb, b.lock.Unlock())
	})
}

func ns(name string) adapters.Namespace { return adapters.Namespace{Name: name} }

func mustKV(tb testing.TB, b *Backend, n adapters.Namespace) adapters.KV {
	tb.Helper()
	kv, err := b.KV(context.Background(), n)
	require.NoError(tb, err)
	return kv
}

func rec(s string) adapters.Record { return adapters.Record(s) }

// readDir returns every regular file but ours's bytes under dir (relative paths).
func readDir(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	require.NoError(tb, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !strings.HasPrefix(d.Name(), ".hybridrag-proxy.") { // our log and lock change on every open
			out[rel] = b
		}
		return nil
	}))
	return out
}

func requireCode(tb testing.TB, err error, kind error, code string) {
	tb.Helper()
	require.Error(tb, err)
	require.ErrorIs(tb, err, kind)
	var ae *adapters.Error
	require.ErrorAs(tb, err, &ae)
	require.Equal(tb, code, ae.Code, "error: %v", err)
}

func TestLockHeld(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	_, err := Open(context.Background(), Config{Dir: dir})
	requireCode(t, err, adapters.ErrUnavailable, "database_locked")
	var ae *adapters.Error
	require.ErrorAs(t, err, &ae)
	require.Contains(t, ae.Message, dir)
	require.NotEmpty(t, ae.Hint)
	require.NoError(t, b.Close(context.Background()))
	b2 := mustOpen(t, dir)
	require.NoError(t, b2.Close(context.Background()))
}

func TestWriteCloseReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	require.NoError(t, mustKV(t, b, ns("full_docs")).Upsert(ctx, []adapters.KVRecord{{ID: "doc-1", Data: rec(`{"content":"héllo <SEP> \"q\""}`)}}))
	ws := adapters.Namespace{Workspace: "ws1", Name: "full_docs"}
	require.NoError(t, mustKV(t, b, ws).Upsert(ctx, []adapters.KVRecord{{ID: "doc-2", Data: rec(`{"content":"other"}`)}}))
	require.NoError(t, b.Close(ctx))

	require.FileExists(t, filepath.Join(dir, "kv_store_full_docs.json"))
	require.FileExists(t, filepath.Join(dir, "ws1", "kv_store_full_docs.json"))
	require.NoFileExists(t, segmentPath(dir, 0))

	b = mustOpen(t, dir)
	defer b.Close(ctx)
	got, err := mustKV(t, b, ns("full_docs")).GetByIDs(ctx, []string{"doc-1", "doc-2"})
	require.NoError(t, err)
	require.JSONEq(t, `{"content":"héllo <SEP> \"q\"","_id":"doc-1","create_time":1700000000,"update_time":1700000000}`, string(got[0]))
	require.Nil(t, got[1])
	got, err = mustKV(t, b, ws).GetByIDs(ctx, []string{"doc-2"})
	require.NoError(t, err)
	require.NotNil(t, got[0])

	infos, err := b.Namespaces(ctx)
	require.NoError(t, err)
	require.Equal(t, []adapters.NamespaceInfo{
		{Namespace: ns("full_docs"), Kind: adapters.KindKV, Records: 1},
		{Namespace: ws, Kind: adapters.KindKV, Records: 1},
	}, infos)
}

func TestCrashReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	kv := mustKV(t, b, ns("text_chunks"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{"content":"A"}`)}, {ID: "b", Data: rec(`{"content":"B"}`)}}))
	require.NoError(t, kv.Delete(ctx, []string{"a"}))
	g, err := b.Graph(ctx, ns("chunk_entity_relation"))
	require.NoError(t, err)
	require.NoError(t, g.UpsertEdges(ctx, []adapters.EdgeData{{Src: "X", Tgt: "Y", Props: adapters.Props{"weight": []byte("1.0")}}}))
	crash(t, b)
	require.NoFileExists(t, filepath.Join(dir, "kv_store_text_chunks.json"), "nothing is flushed before the crash")

	// Replaying twice (crash again before any flush) gives the same state.
	for range 2 {
		b = mustOpen(t, dir)
		got, err := mustKV(t, b, ns("text_chunks")).GetByIDs(ctx, []string{"a", "b"})
		require.NoError(t, err)
		require.Nil(t, got[0])
		require.JSONEq(t, `{"content":"B","_id":"b","update_time":1700000000,"create_time":1700000000,"llm_cache_list":[]}`, string(got[1]))
		g, err := b.Graph(ctx, ns("chunk_entity_relation"))
		require.NoError(t, err)
		props, err := g.GetEdges(ctx, []adapters.Edge{{Src: "Y", Tgt: "X"}})
		require.NoError(t, err)
		require.Equal(t, adapters.Props{"weight": []byte("1.0")}, props[0])
		crash(t, b)
	}
}

func TestTornTailIgnored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "kept", Data: rec(`{"x":1}`)}}))
	size := b.wal.bytes()
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "torn", Data: rec(`{"x":2}`)}}))
	crash(t, b)

	path := walPath(dir)
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	tests := map[string][]byte{
		"half a frame":     full[:size+(int64(len(full))-size)/2],
		"header only":      full[:size+4],
		"flipped byte":     append(append([]byte{}, full[:len(full)-3]...), full[len(full)-3]^0xff, full[len(full)-2], full[len(full)-1]),
		"garbage appended": append(append([]byte{}, full[:size]...), 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, content, 0o600))
			b := mustOpen(t, dir)
			got, err := mustKV(t, b, ns("full_docs")).GetByIDs(ctx, []string{"kept", "torn"})
			require.NoError(t, err)
			require.NotNil(t, got[0])
			require.Nil(t, got[1])
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, size, info.Size(), "the torn tail is truncated")
			crash(t, b)
		})
	}
}

// Damage before the last complete frame is not a torn tail: the folder stops
// with corrupt_log and the log stays byte for byte as it was (issue 14 #3).
func TestDamagedLogMiddleRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	kv := mustKV(t, b, ns("full_docs"))
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: rec(`{"x":"` + strings.Repeat(id, 40) + `"}`)}}))
	}
	crash(t, b)
	path := walPath(dir)
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	first := len(walMagic)
	damage := func(at int, with []byte) []byte {
		out := append([]byte{}, full...)
		copy(out[at:], with)
		return out
	}
	tests := map[string][]byte{
		"payload bytes of the first frame": damage(first+frameHeader+20, []byte("XXXX")),
		"length of the first frame":        damage(first, []byte{0xff, 0xff, 0xff, 0x7f}),
		"zeroed first frame":               damage(first, make([]byte, 40)),
		"checksum of the second frame":     damage(first+frameHeader+int(binary.LittleEndian.Uint32(full[first:]))+5, []byte{0x55}),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, content, 0o600))
			_, err := Open(ctx, Config{Dir: dir})
			requireCode(t, err, adapters.ErrCorrupt, "corrupt_log")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, content, after, "the damaged log is left untouched")
		})
	}
}

func TestReplayAfterFlushThenCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{"v":1}`)}, {ID: "b", Data: rec(`{"v":1}`)}}))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{"v":2}`)}}))
	require.NoError(t, kv.Delete(ctx, []string{"b"}))
	logged, err := os.ReadFile(walPath(dir))
	require.NoError(t, err)
	require.NoError(t, b.Flush(ctx))
	want, err := os.ReadFile(filepath.Join(dir, "kv_store_full_docs.json"))
	require.NoError(t, err)
	crash(t, b)

	// The files are written but the process died before removing the log
	// segment: replaying it over the new files changes nothing.
	require.NoError(t, os.WriteFile(segmentPath(dir, 0), logged, 0o600))
	b = mustOpen(t, dir)
	got, err := mustKV(t, b, ns("full_docs")).Scan(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.JSONEq(t, `{"v":2,"_id":"a","update_time":1700000000,"create_time":1700000000}`, string(got[0].Data))
	require.NoError(t, b.Close(ctx))
	after, err := os.ReadFile(filepath.Join(dir, "kv_store_full_docs.json"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(after))
	require.NoFileExists(t, segmentPath(dir, 0))
}

func TestGroupCommitConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	var wg sync.WaitGroup
	const writers, each = 8, 25
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kv := mustKV(t, b, ns("full_docs"))
			for i := range each {
				id := string(rune('a'+w)) + "-" + string(rune('A'+i))
				if err := kv.Upsert(ctx, []adapters.KVRecord{{ID: id, Data: rec(`{}`)}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	// A flush racing with the writers must not lose any of them.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Flush(ctx); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	crash(t, b)
	b = mustOpen(t, dir)
	defer b.Close(ctx)
	n, err := mustKV(t, b, ns("full_docs")).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(writers*each), n)
}

func TestBackgroundFlushWhenLogGrows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(ctx, Config{Dir: dir, MaxLogBytes: 1})
	require.NoError(t, err)
	defer b.Close(ctx)
	require.NoError(t, mustKV(t, b, ns("full_docs")).Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}))
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "kv_store_full_docs.json"))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
}

func TestCorruptFileIsolated(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bad := filepath.Join(dir, "kv_store_bad.json")
	content := []byte(`{"a": {"x": 1}, oops`)
	require.NoError(t, os.WriteFile(bad, content, 0o644))
	b := mustOpen(t, dir)

	kv := mustKV(t, b, ns("bad"))
	_, err := kv.GetByIDs(ctx, []string{"a"})
	require.ErrorIs(t, err, adapters.ErrCorrupt)
	require.Contains(t, err.Error(), "kv_store_bad.json")
	require.ErrorIs(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}), adapters.ErrCorrupt)
	require.ErrorIs(t, kv.Drop(ctx), adapters.ErrCorrupt)
	_, err = b.DocStatus(ctx, ns("bad"))
	require.NoError(t, err, "opening works; every call fails")

	good := mustKV(t, b, ns("good"))
	require.NoError(t, good.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}))
	infos, err := b.Namespaces(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 2)
	require.Equal(t, "bad", infos[0].Name)
	require.NotEmpty(t, infos[0].Error)
	require.Equal(t, int64(1), infos[1].Records)

	require.NoError(t, b.Flush(ctx))
	require.NoError(t, b.Close(ctx))
	after, err := os.ReadFile(bad)
	require.NoError(t, err)
	require.Equal(t, content, after)
}

func TestInvalidNames(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	for _, n := range []adapters.Namespace{
		{Name: "../x"}, {Name: "a/b"}, {Name: ""}, {Workspace: "..", Name: "x"}, {Workspace: "a/b", Name: "x"}, {Name: "x\x00"},
	} {
		_, err := b.KV(ctx, n)
		requireCode(t, err, adapters.ErrInvalid, "invalid_name")
	}
}

func TestUnchangedFilesByteIdentical(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Write files in LightRAG's layout, then serve them: reading, a write
	// to one namespace and a flush leave the others untouched.
	b := mustOpen(t, dir)
	require.NoError(t, mustKV(t, b, ns("full_docs")).Upsert(ctx, []adapters.KVRecord{{ID: "d", Data: rec(`{"content":"x"}`)}}))
	v, err := b.Vector(ctx, ns("chunks"), 0)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "c", Fields: rec(`{"content":"x"}`), Vector: []float32{1, 2, 3}}}))
	require.NoError(t, b.Close(ctx))
	before := readDir(t, dir)
	stats := map[string]time.Time{}
	for name := range before {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		stats[name] = st.ModTime()
	}

	b = mustOpen(t, dir)
	_, err = mustKV(t, b, ns("full_docs")).GetByIDs(ctx, []string{"d"})
	require.NoError(t, err)
	v, err = b.Vector(ctx, ns("chunks"), 3)
	require.NoError(t, err)
	_, err = v.Query(ctx, adapters.VectorQuery{Vector: []float32{1, 0, 0}, TopK: 3})
	require.NoError(t, err)
	require.NoError(t, mustKV(t, b, ns("other")).Upsert(ctx, []adapters.KVRecord{{ID: "o", Data: rec(`{}`)}}))
	require.NoError(t, b.Flush(ctx))
	require.NoError(t, b.Close(ctx))
	after := readDir(t, dir)
	for name, content := range before {
		require.Equal(t, string(content), string(after[name]), name)
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, stats[name], st.ModTime(), "%s was rewritten", name)
	}
	require.Contains(t, after, "kv_store_other.json")
}

func TestRealFixturesFlushUnchanged(t *testing.T) {
	root := fixtures.Dir(t)
	ctx := context.Background()
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(root, e.Name()))))
			before := readDir(t, dir)
			b := mustOpen(t, dir)
			_, err := b.Namespaces(ctx) // loads every namespace
			require.NoError(t, err)
			require.NoError(t, b.Flush(ctx))
			require.NoError(t, b.Close(ctx))
			after := readDir(t, dir)
			for name, content := range before {
				require.Equal(t, content, after[name], name)
			}
		})
	}
}

func TestDropPersistsAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	defer b.Close(ctx)
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}))
	v, err := b.Vector(ctx, ns("chunks"), 2)
	require.NoError(t, err)
	require.NoError(t, v.Upsert(ctx, []adapters.VectorRecord{{ID: "c", Vector: []float32{1, 0}}}))
	require.NoError(t, b.Flush(ctx))
	require.FileExists(t, filepath.Join(dir, "vdb_chunks.json"))

	require.NoError(t, kv.Drop(ctx))
	require.NoError(t, v.Drop(ctx))
	content, err := os.ReadFile(filepath.Join(dir, "kv_store_full_docs.json"))
	require.NoError(t, err)
	require.Equal(t, "{}", string(content))
	require.NoFileExists(t, filepath.Join(dir, "vdb_chunks.json"))
	require.Equal(t, 2, v.Dim(), "the caller's dimension stays")
}

func TestClosedBackend(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, b.Close(ctx))
	require.NoError(t, b.Close(ctx), "close twice is fine")
	requireCode(t, b.Flush(ctx), adapters.ErrUnavailable, "backend_closed")
	requireCode(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}), adapters.ErrUnavailable, "backend_closed")
	requireCode(t, b.Ping(ctx), adapters.ErrUnavailable, "backend_closed")
	_, err := b.KV(ctx, ns("x"))
	requireCode(t, err, adapters.ErrUnavailable, "backend_closed")
}

func TestKVSemantics(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close(ctx)
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{
		{ID: "b", Data: rec(`{"v":1,"create_time":5}`)},
		{ID: "a", Data: rec(`{"v":1}`)},
	}))
	// Whole-record replace; the stored create_time survives a record without one.
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "b", Data: rec(`{"w":2}`)}}))
	got, err := kv.GetByIDs(ctx, []string{"b", "zz"})
	require.NoError(t, err)
	require.JSONEq(t, `{"w":2,"_id":"b","update_time":1700000000,"create_time":5}`, string(got[0]))
	require.Nil(t, got[1])

	missing, err := kv.FilterKeys(ctx, []string{"x", "a", "y", "x"})
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, missing)

	page, err := kv.Scan(ctx, "", 1)
	require.NoError(t, err)
	require.Equal(t, "a", page[0].ID)
	page, err = kv.Scan(ctx, "a", 10)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "b", page[0].ID)

	err = kv.Upsert(ctx, []adapters.KVRecord{{ID: "bad", Data: rec(`[1]`)}})
	require.ErrorIs(t, err, adapters.ErrInvalid)
	n, err := kv.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = kv.GetByIDs(cancelled, []string{"a"})
	require.ErrorIs(t, err, context.Canceled)
}

func TestWALEntryKeepsHTMLChars(t *testing.T) {
	frame, err := encodeEntry(&walEntry{Op: opKVPut, Namespace: "x", Records: []walRecord{{ID: "<a>", Data: stdjson.RawMessage(`{"s":"<SEP>&"}`)}}})
	require.NoError(t, err)
	require.Contains(t, string(frame), `"<SEP>&"`)
}

// Flushes racing upserts and drops of the same namespace: after a last
// flush the file holds exactly what the namespace holds. A flush prepares
// a file under the namespace's lock and renames it after; a drop's file
// write must not come between the two, or the flush's older content would
// land over the drop's empty file and stay there (the namespace is clean).
func TestFlushRacingDrops(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	defer b.Close(ctx)
	kv := mustKV(t, b, ns("full_docs"))
	path := filepath.Join(dir, "kv_store_full_docs.json")
	// Larger namespaces, changed in every round, keep each flush's files
	// prepared for a while before they are renamed: the window a drop
	// must not fall into.
	var others []adapters.KV
	for i := range 4 {
		o := mustKV(t, b, ns(fmt.Sprintf("other_%d", i)))
		recs := make([]adapters.KVRecord, 1500)
		for j := range recs {
			recs[j] = adapters.KVRecord{ID: fmt.Sprintf("r%05d", j), Data: rec(`{"content":"` + strings.Repeat("x", 200) + `"}`)}
		}
		require.NoError(t, o.Upsert(ctx, recs))
		others = append(others, o)
	}
	for round := range 10 {
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			for i := range 20 {
				for _, o := range others {
					require.NoError(t, o.Upsert(ctx, []adapters.KVRecord{{ID: "touch", Data: rec(fmt.Sprintf(`{"i":%d}`, i))}}))
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 20 {
				require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "k", Data: rec(`{"i":1}`)}}))
				if i%2 == 1 || round%2 == 1 {
					require.NoError(t, kv.Drop(ctx))
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				require.NoError(t, b.Flush(ctx))
			}
		}()
		wg.Wait()
		require.NoError(t, b.Flush(ctx))
		n, err := kv.Count(ctx)
		require.NoError(t, err)
		content, err := os.ReadFile(path)
		require.NoError(t, err)
		var onDisk map[string]any
		require.NoError(t, stdjson.Unmarshal(content, &onDisk))
		require.Len(t, onDisk, int(n), "round %d: the file holds what the namespace holds", round)
	}
}

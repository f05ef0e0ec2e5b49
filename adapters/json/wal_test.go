package json

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// waitSpareReady waits until b's log has a spare ready to be renamed in.
func waitSpareReady(t *testing.T, b *Backend) {
	t.Helper()
	b.wal.mu.Lock()
	defer b.wal.mu.Unlock()
	b.wal.waitSpare()
	require.True(t, b.wal.spareReady, "a spare log is prepared after a rotation")
}

func logSize(t *testing.T, dir string) int64 {
	t.Helper()
	info, err := os.Stat(walPath(dir))
	require.NoError(t, err)
	return info.Size()
}

// After a flush the next active log is a spare written ahead as zeros;
// writes acknowledged into it survive a crash, and replay stops at the zeros.
func TestSpareLogKeepsAcknowledgedWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{"x":1}`)}}))
	require.NoError(t, b.Flush(ctx))
	waitSpareReady(t, b)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "b", Data: rec(`{"x":2}`)}}))
	require.NoError(t, b.Flush(ctx))
	require.GreaterOrEqual(t, logSize(t, dir), int64(minSpare), "the active log is the pre-written spare")
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "c", Data: rec(`{"x":3}`)}}))
	require.NoError(t, kv.Delete(ctx, []string{"a"}))
	crash(t, b)

	b = mustOpen(t, dir)
	defer b.Close(ctx)
	got, err := mustKV(t, b, ns("full_docs")).GetByIDs(ctx, []string{"a", "b", "c"})
	require.NoError(t, err)
	require.Nil(t, got[0], "the delete logged after the flush was replayed")
	require.NotNil(t, got[1])
	require.NotNil(t, got[2], "the write acknowledged into the spare was replayed")
	require.Less(t, logSize(t, dir), int64(minSpare), "the zeros after the last entry are cut on open")
}

// The end of a log made from a spare, read directly: zeros after the frames
// are a clean end; anything else after them is judged as any bad frame is.
func TestReadLogZeroFilledTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, dir)
	kv := mustKV(t, b, ns("full_docs"))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{"x":1}`)}}))
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "b", Data: rec(`{"x":2}`)}}))
	crash(t, b)
	frames, err := os.ReadFile(walPath(dir))
	require.NoError(t, err)
	bare := frames[len(walMagic):] // both frames without the magic, valid wherever they are placed
	zeros := make([]byte, 8192)
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		content []byte
		entries int
		torn    bool
		corrupt bool
	}{
		{name: "zeros after the frames", content: cat(frames, zeros), entries: 2},
		{name: "zeros right after the magic", content: cat([]byte(walMagic), zeros), entries: 0},
		{name: "no zeros", content: frames, entries: 2},
		{name: "garbage after the zeros", content: cat(frames, zeros, []byte{1, 2, 3}), entries: 2, torn: true},
		{name: "a torn frame over the zeros", content: cat(frames, bare[:11], zeros), entries: 2, torn: true},
		{name: "a valid frame after the zeros", content: cat(frames, zeros, bare), corrupt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), walFileName)
			require.NoError(t, os.WriteFile(path, tc.content, 0o600))
			entries := 0
			good, torn, err := readLog(path, func(*walEntry) error { entries++; return nil })
			if tc.corrupt {
				requireCode(t, err, adapters.ErrCorrupt, "corrupt_log")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.entries, entries)
			require.Equal(t, tc.torn, torn)
			if tc.entries == 2 {
				require.Equal(t, int64(len(frames)), good, "replay ends after the last frame")
			}
		})
	}
}

// A symlink planted where the spare goes is replaced, never written through.
// A torn frame header can hold any length. Replay must see that the file
// ends first and not allocate the length it claims (up to maxFrame, 1 GiB).
func TestReadLogLengthPastEndOfFile(t *testing.T) {
	hdr := make([]byte, frameHeader)
	binary.LittleEndian.PutUint32(hdr[0:4], maxFrame)
	binary.LittleEndian.PutUint32(hdr[4:8], 0xdeadbeef)
	path := filepath.Join(t.TempDir(), walFileName)
	require.NoError(t, os.WriteFile(path, append([]byte(walMagic), append(hdr, '{')...), 0o600))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	good, torn, err := readLog(path, func(*walEntry) error { return nil })
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.True(t, torn, "a frame longer than the file is a torn tail")
	require.Equal(t, int64(len(walMagic)), good)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20),
		"replay allocated for the claimed length instead of checking the file size")
}

func TestSpareDoesNotFollowSymlink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "precious")
	require.NoError(t, os.WriteFile(target, []byte("keep me"), 0o600))
	require.NoError(t, os.Symlink(target, sparePath(dir)))
	b := mustOpen(t, dir)
	require.NoError(t, mustKV(t, b, ns("full_docs")).Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}))
	require.NoError(t, b.Flush(ctx))
	waitSpareReady(t, b)
	info, err := os.Lstat(sparePath(dir))
	require.NoError(t, err)
	require.True(t, info.Mode().IsRegular(), "the spare is a file of the proxy's own")
	require.NoError(t, b.Close(ctx))
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "keep me", string(got))
}

// Detach (proxy export) goes by the entries a log holds, not its size: a
// pre-written log with no entries and the spare are removed, a log with an
// entry is refused.
func TestDetachWithSpareLogs(t *testing.T) {
	ctx := context.Background()
	for _, withEntry := range []bool{false, true} {
		dir := t.TempDir()
		b := mustOpen(t, dir)
		kv := mustKV(t, b, ns("full_docs"))
		for range 2 { // the second flush renames the spare in
			require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "a", Data: rec(`{}`)}}))
			require.NoError(t, b.Flush(ctx))
			waitSpareReady(t, b)
		}
		require.GreaterOrEqual(t, logSize(t, dir), int64(minSpare))
		if withEntry {
			require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "b", Data: rec(`{}`)}}))
			crash(t, b)
			err := Detach(dir)
			require.ErrorContains(t, err, "still holds writes")
			require.FileExists(t, walPath(dir))
			continue
		}
		require.NoError(t, b.Close(ctx))
		require.NoFileExists(t, sparePath(dir), "Close removes the spare")
		require.Equal(t, int64(len(walMagic)), logSize(t, dir), "and cuts an empty log's zeros")
		require.NoError(t, os.WriteFile(sparePath(dir), make([]byte, minSpare), 0o600)) // one a crash left
		require.NoError(t, Detach(dir))
		for _, p := range []string{walPath(dir), sparePath(dir), filepath.Join(dir, lockFileName)} {
			require.NoFileExists(t, p)
		}
		require.FileExists(t, filepath.Join(dir, "kv_store_full_docs.json"))
	}
}

// FuzzReadLog: whatever follows the magic, replay never panics, ends within
// the file, and reports a clean end only where nothing but zeros is left.
func FuzzReadLog(f *testing.F) {
	frame := func(payload string) []byte {
		e, err := encodeEntry(&walEntry{Op: opKVPut, Namespace: "full_docs",
			Records: []walRecord{{ID: payload, Data: []byte(`{}`)}}})
		require.NoError(f, err)
		return e
	}
	two := append(frame("a"), frame("b")...)
	f.Add(two)
	f.Add(append(append([]byte{}, two...), make([]byte, 64)...))
	f.Add(append(append(append([]byte{}, two...), make([]byte, 16)...), frame("c")...))
	f.Add(append(append([]byte{}, two[:11]...), make([]byte, 32)...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1})
	// One file rewritten per input: a fresh t.TempDir per input costs more
	// than the replay it tests. Each fuzz worker is its own process.
	path := filepath.Join(f.TempDir(), walFileName)
	f.Fuzz(func(t *testing.T, body []byte) {
		content := append([]byte(walMagic), body...)
		require.NoError(t, os.WriteFile(path, content, 0o600))
		good, torn, err := readLog(path, func(*walEntry) error { return nil })
		if err != nil {
			require.ErrorIs(t, err, adapters.ErrCorrupt)
			return
		}
		require.GreaterOrEqual(t, good, int64(len(walMagic)))
		require.LessOrEqual(t, good, int64(len(content)))
		if !torn {
			for _, b := range content[good:] {
				require.Zero(t, b, "a clean end is followed by zeros only")
			}
		}
	})
}

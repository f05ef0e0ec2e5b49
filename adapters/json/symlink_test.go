package json

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// A link inside a database folder is refused (symlink_refused) for reads,
// writes and flushes; what it points to is neither read nor changed, and
// the link stays a link (issue 14 #5).
func TestSymlinksInsideFolderRefused(t *testing.T) {
	ctx := context.Background()
	const outsideKV = `{"secret": {"content": "outside"}}`
	cases := []struct {
		name string
		link func(t *testing.T, dir, outside string) (adapters.Namespace, string)
	}{
		{"workspace folder", func(t *testing.T, dir, outside string) (adapters.Namespace, string) {
			link := filepath.Join(dir, "ws")
			require.NoError(t, os.Symlink(outside, link))
			return adapters.Namespace{Workspace: "ws", Name: "full_docs"}, link
		}},
		{"storage file", func(t *testing.T, dir, outside string) (adapters.Namespace, string) {
			link := filepath.Join(dir, "kv_store_full_docs.json")
			require.NoError(t, os.Symlink(filepath.Join(outside, "kv_store_full_docs.json"), link))
			return ns("full_docs"), link
		}},
		{"storage file in a workspace", func(t *testing.T, dir, outside string) (adapters.Namespace, string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "ws"), 0o755))
			link := filepath.Join(dir, "ws", "kv_store_full_docs.json")
			require.NoError(t, os.Symlink(filepath.Join(outside, "kv_store_full_docs.json"), link))
			return adapters.Namespace{Workspace: "ws", Name: "full_docs"}, link
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			outFile := filepath.Join(outside, "kv_store_full_docs.json")
			require.NoError(t, os.WriteFile(outFile, []byte(outsideKV), 0o644))
			n, link := tc.link(t, dir, outside)
			b := mustOpen(t, dir)
			defer b.Close(ctx)
			kv, err := b.KV(ctx, n)
			if err == nil {
				_, err = kv.GetByIDs(ctx, []string{"secret"})
			}
			requireCode(t, err, adapters.ErrConflict, "symlink_refused")
			if kv != nil {
				err = kv.Upsert(ctx, []adapters.KVRecord{{ID: "x", Data: rec(`{"a":1}`)}})
				requireCode(t, err, adapters.ErrConflict, "symlink_refused")
			}
			_ = b.Flush(ctx)
			got, err := os.ReadFile(outFile)
			require.NoError(t, err)
			require.Equal(t, outsideKV, string(got), "the file outside is unchanged")
			entries, err := os.ReadDir(outside)
			require.NoError(t, err)
			require.Len(t, entries, 1, "nothing is created outside")
			st, err := os.Lstat(link)
			require.NoError(t, err)
			require.NotZero(t, st.Mode()&os.ModeSymlink, "the link is still a link")
		})
	}
	for _, own := range []string{lockFileName, walFileName} {
		t.Run("link as "+own, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			require.NoError(t, os.Symlink(filepath.Join(outside, "target"), filepath.Join(dir, own)))
			_, err := Open(ctx, Config{Dir: dir})
			requireCode(t, err, adapters.ErrConflict, "symlink_refused")
			require.NoFileExists(t, filepath.Join(outside, "target"))
		})
	}
}

// A link appearing after a namespace was loaded is refused at the flush:
// the file is not replaced through it.
func TestSymlinkAppearingBeforeFlush(t *testing.T) {
	ctx := context.Background()
	dir, outside := t.TempDir(), t.TempDir()
	b := mustOpen(t, dir)
	defer b.Close(ctx)
	kv := mustKV(t, b, adapters.Namespace{Workspace: "ws", Name: "full_docs"})
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "x", Data: rec(`{"a":1}`)}}))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "ws")))
	err := b.Flush(ctx)
	requireCode(t, err, adapters.ErrConflict, "symlink_refused")
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries)
}

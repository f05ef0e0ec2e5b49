package json

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kv_store_x.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o640))

	// A failing writer leaves the old file and no temp file.
	boom := errors.New("boom")
	err := writeFileAtomic(path, func(w io.Writer) error {
		_, _ = io.WriteString(w, strings.Repeat("partial", 100000))
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "old", string(got))
	require.Equal(t, []string{"kv_store_x.json"}, dirNames(t, dir))

	// A good writer replaces it and keeps its mode.
	require.NoError(t, writeFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "new")
		return err
	}))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "new", string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	require.Equal(t, []string{"kv_store_x.json"}, dirNames(t, dir))

	// A new file is created.
	require.NoError(t, writeFileAtomic(filepath.Join(dir, "vdb_y.json"), func(w io.Writer) error { return nil }))
	require.Equal(t, []string{"kv_store_x.json", "vdb_y.json"}, dirNames(t, dir))

	// A missing folder is an error, not a panic.
	require.Error(t, writeFileAtomic(filepath.Join(dir, "nope", "f.json"), func(w io.Writer) error { return nil }))
}

func TestSweepTempFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".hybridrag-tmp-kv_store_x.json-123", "kv_store_x.json", ".other"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	require.NoError(t, sweepTempFiles(dir))
	require.Equal(t, []string{".other", "kv_store_x.json"}, dirNames(t, dir))
	require.NoError(t, sweepTempFiles(filepath.Join(dir, "missing")))
}

package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/require"
)

// Temp files of registry writes interrupted by kill -9 are swept by the
// next write; other files are left alone (issue 14 #13).
func TestUpdateSweepsLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.yaml")
	require.NoError(t, Update(path, func(*Registry) error { return nil }))
	leftovers := []string{".registry.yaml.tmp-123", ".registry.yaml.tmp-abc"}
	kept := []string{"registry.yaml", "registry.yaml.lock", ".other.yaml.tmp-1", "notes.txt"}
	for _, f := range append(leftovers, "notes.txt", ".other.yaml.tmp-1") {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("partial"), 0o600))
	}
	require.NoError(t, Update(path, func(r *Registry) error {
		r.Databases["x"] = Database{Path: "x"}
		return nil
	}))
	for _, f := range leftovers {
		require.NoFileExists(t, filepath.Join(dir, f))
	}
	for _, f := range kept {
		require.FileExists(t, filepath.Join(dir, f))
	}
}

// Sweep (run by the proxy on start) removes them without a registry write,
// and skips while another writer holds the lock.
func TestSweepOnStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.yaml")
	require.NoError(t, Update(path, func(*Registry) error { return nil }))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	left := filepath.Join(dir, ".registry.yaml.tmp-42")
	require.NoError(t, os.WriteFile(left, []byte("partial"), 0o600))

	held := flock.New(path + ".lock")
	require.NoError(t, held.Lock())
	swept, err := Sweep(path)
	require.NoError(t, err)
	require.False(t, swept)
	require.FileExists(t, left)
	require.NoError(t, held.Unlock())

	swept, err = Sweep(path)
	require.NoError(t, err)
	require.True(t, swept)
	require.NoFileExists(t, left)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

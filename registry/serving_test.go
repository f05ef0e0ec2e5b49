package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.yaml")
	_, ok, err := Serving(path)
	require.NoError(t, err)
	require.False(t, ok, "nobody announced")

	release, err := Announce(path, "http://127.0.0.1:1234")
	require.NoError(t, err)
	url, ok, err := Serving(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "http://127.0.0.1:1234", url)

	_, err = Announce(path, "http://127.0.0.1:9999")
	require.ErrorIs(t, err, ErrAlreadyServed)
	url, _, _ = Serving(path)
	require.Equal(t, "http://127.0.0.1:1234", url, "the second proxy records nothing")

	require.NoError(t, release())
	_, ok, err = Serving(path)
	require.NoError(t, err)
	require.False(t, ok)

	// A crashed proxy leaves its URL file but not its lock.
	require.NoError(t, os.WriteFile(path+servingSuffix, []byte("http://127.0.0.1:1\n"), 0o600))
	_, ok, err = Serving(path)
	require.NoError(t, err)
	require.False(t, ok, "a URL nobody holds the lock for is stale")
}

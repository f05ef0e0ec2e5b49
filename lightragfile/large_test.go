package lightragfile_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/bench/dataset"
)

// TestGeneratedFolderMatchesJSONAdapter reads a generated folder whose
// files are many times the readers' buffers (a GraphML file of several MB
// once lost every node past the first buffer refill) and compares every
// record with the JSON adapter's.
func TestGeneratedFolderMatchesJSONAdapter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gen")
	_, err := dataset.Generate(context.Background(), dir, dataset.Options{Size: 6 << 20, Dim: 64, Seed: 11})
	require.NoError(t, err)
	compareFolder(context.Background(), t, dir)
}

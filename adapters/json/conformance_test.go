package json

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/adapterstest"
)

// TestConformance runs the shared adapter suite on a fresh folder per group.
func TestConformance(t *testing.T) {
	adapterstest.Run(t, func(t *testing.T) adapters.Backend {
		b, err := Open(context.Background(), Config{Dir: t.TempDir()})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })
		return b
	})
}

package postgres

import (
	"testing"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/adapterstest"
)

// TestConformance runs the shared suite; each group gets its own backend in
// a fresh random workspace.
func TestConformance(t *testing.T) {
	adapterstest.Run(t, func(t *testing.T) adapters.Backend {
		return MustOpen(t)
	})
}

package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/registry"
)

func TestRegistryRegistrar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.yaml")
	r := RegistryRegistrar{Path: path}
	b := Backend{Name: "docker-hybridrag-pg", DSN: DSN(5433, "/data/secrets/hybridrag-pg-data.pgpass")}

	require.NoError(t, r.RegisterPostgres(context.Background(), b, ""))
	reg, err := registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, registry.BackendPostgres, reg.Backends[b.Name].Type)
	require.Equal(t, b.DSN, reg.Backends[b.Name].DSN)
	require.Equal(t, registry.BackendJSON, reg.Databases[registry.DefaultDatabase].BackendType(), "no --db: no switch")

	require.NoError(t, r.RegisterPostgres(context.Background(), b, "default"))
	reg, err = registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, b.Name, reg.Databases["default"].Backend)
	require.Equal(t, "default", reg.Databases["default"].Path, "the JSON path is kept for switching back")
	require.Equal(t, registry.BackendPostgres, reg.Databases["default"].BackendType())

	require.NoError(t, r.RegisterPostgres(context.Background(), b, "mydb"), "a new database")
	reg, err = registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, b.Name, reg.Databases["mydb"].Backend)
}

// TestRegistryRegistrarSwitchRefused: a refused switch (the database holds
// data, the new server is empty) leaves the registry as it was.
func TestRegistryRegistrarSwitchRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.yaml")
	refused := errors.New("switch_refused")
	var sawCur, sawNext registry.Database
	r := RegistryRegistrar{Path: path, CheckSwitch: func(_ context.Context, db string, cur, next registry.Database) error {
		require.Equal(t, "default", db)
		sawCur, sawNext = cur, next
		return refused
	}}
	b := Backend{Name: "docker-hybridrag-pg", DSN: DSN(5433, "/data/secrets/hybridrag-pg-data.pgpass")}
	require.ErrorIs(t, r.RegisterPostgres(context.Background(), b, "default"), refused)
	require.Equal(t, registry.BackendJSON, sawCur.BackendType())
	require.Equal(t, registry.BackendPostgres, sawNext.BackendType())
	require.Equal(t, b.DSN, sawNext.Resolved.DSN)

	reg, err := registry.Load(path)
	if err == nil {
		require.Equal(t, registry.BackendJSON, reg.Databases["default"].BackendType(), "not switched")
	} else {
		require.ErrorIs(t, err, os.ErrNotExist, "nothing written")
	}
}

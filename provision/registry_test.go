package provision

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// fakeCatalog is the real catalog whose PostgreSQL descriptor reports the
// given rows for every workspace instead of connecting: the provisioned
// server of these tests does not exist.
func fakeCatalog(rows map[string][]backends.TableRows) *backends.Catalog {
	pg := backends.Postgres(backends.PostgresSettings{})
	pg.WorkspaceRows = func(_ context.Context, db registry.Database, _ string) ([]backends.TableRows, error) {
		return rows[db.PostgresWorkspace()], nil
	}
	return backends.NewCatalog(backends.JSON(nil), pg)
}

// inProcess is a registrar switching through an in-process Switcher.
func inProcess(path string, cat *backends.Catalog, force bool) RegistryRegistrar {
	sw := &backends.Switcher{RegistryPath: path, DataDir: filepath.Dir(path), Catalog: cat}
	return RegistryRegistrar{Path: path, Force: force, Switch: func(ctx context.Context, req backends.Request) (backends.Info, error) {
		res, err := sw.Switch(ctx, req)
		return res.Info, err
	}}
}

func TestRegistryRegistrar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.yaml")
	cat := fakeCatalog(nil)
	r := inProcess(path, cat, false)
	b := Backend{Name: "docker-hybridrag-pg", DSN: DSN(5433, "/data/secrets/hybridrag-pg-data.pgpass")}

	require.NoError(t, r.RegisterPostgres(context.Background(), b, ""))
	reg, err := registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, registry.BackendPostgres, reg.Backends[b.Name].Type)
	require.Equal(t, b.DSN, reg.Backends[b.Name].DSN)
	require.Empty(t, reg.Backends[b.Name].Workspace, "no database: nothing to derive a workspace from")
	require.Equal(t, registry.BackendJSON, reg.Databases[registry.DefaultDatabase].BackendType(), "no --db: no switch")

	require.NoError(t, r.RegisterPostgres(context.Background(), b, "default"))
	reg, err = registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, b.Name, reg.Databases["default"].Backend)
	require.Equal(t, "default", reg.Databases["default"].Path, "the JSON path is kept for switching back")
	require.Equal(t, registry.BackendPostgres, reg.Databases["default"].BackendType())
	require.Equal(t, "default", reg.Databases["default"].PostgresWorkspace(), "an existing definition keeps its workspace")

	// A second database on the same definition and workspace would share
	// the first one's rows: refused, naming it, unless forced.
	err = r.RegisterPostgres(context.Background(), b, "mydb")
	ae := requireCode(t, err, backends.CodeSwitchRefused)
	require.Contains(t, ae.Message, "database default")
	require.NoError(t, inProcess(path, cat, true).RegisterPostgres(context.Background(), b, "mydb"), "forced")
	reg, err = registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, b.Name, reg.Databases["mydb"].Backend)
}

// A definition first written for a database gets a workspace derived from
// the database's name.
func TestRegistryRegistrarDerivesWorkspace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.yaml")
	b := Backend{Name: "docker-rag", DSN: DSN(5433, "/data/secrets/rag-data.pgpass")}
	require.NoError(t, inProcess(path, fakeCatalog(nil), false).RegisterPostgres(context.Background(), b, "Team-A"))
	reg, err := registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, "team_a", reg.Backends[b.Name].Workspace)
	require.Equal(t, "team_a", reg.Databases["Team-A"].PostgresWorkspace())
}

// TestRegistryRegistrarSwitchRefused: a refused switch (the database holds
// data, the new server is empty) leaves the registry as it was.
func TestRegistryRegistrarSwitchRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.yaml")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "default"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "default", "kv_store_full_docs.json"),
		[]byte(`{"doc-1": {"content": "hello"}}`), 0o644))
	b := Backend{Name: "docker-hybridrag-pg", DSN: DSN(5433, "/data/secrets/hybridrag-pg-data.pgpass")}
	err := inProcess(path, fakeCatalog(nil), false).RegisterPostgres(context.Background(), b, "default")
	ae := requireCode(t, err, backends.CodeSwitchRefused)
	require.Contains(t, ae.Message, "holds 1 records")

	reg, err := registry.Load(path)
	if err == nil {
		require.Equal(t, registry.BackendJSON, reg.Databases["default"].BackendType(), "not switched")
	} else {
		require.ErrorIs(t, err, os.ErrNotExist, "nothing written")
	}
}

// Provisioning with --db switches through the switching service: the
// switch_refused of a database holding data comes back from Docker, and the
// registry is not switched.
func TestDockerSwitchesThroughSwitcher(t *testing.T) {
	h := newHarness(t)
	o := h.opts(t)
	path := filepath.Join(h.data, "registry.yaml")
	require.NoError(t, os.MkdirAll(filepath.Join(h.data, "mydb"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.data, "mydb", "kv_store_full_docs.json"),
		[]byte(`{"doc-1": {"content": "hello"}}`), 0o644))
	require.NoError(t, registry.Update(path, func(r *registry.Registry) error {
		r.Databases["mydb"] = registry.Database{Backend: registry.BackendJSON, Path: "mydb"}
		return nil
	}))
	var reqs []backends.Request
	sw := &backends.Switcher{RegistryPath: path, DataDir: h.data, Catalog: fakeCatalog(nil)}
	o.Registrar = RegistryRegistrar{Path: path, Switch: func(ctx context.Context, req backends.Request) (backends.Info, error) {
		reqs = append(reqs, req)
		res, err := sw.Switch(ctx, req)
		return res.Info, err
	}}
	_, err := Docker(context.Background(), o)
	require.Error(t, err)
	requireCode(t, err, backends.CodeSwitchRefused)
	require.Len(t, reqs, 1)
	require.Equal(t, "mydb", reqs[0].Database)
	require.Equal(t, BackendName(DefaultName), reqs[0].Name)
	reg, err := registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, registry.BackendJSON, reg.Databases["mydb"].BackendType(), "not switched")

	o.Registrar = RegistryRegistrar{Path: path, Force: true, Switch: func(ctx context.Context, req backends.Request) (backends.Info, error) {
		res, err := sw.Switch(ctx, req)
		return res.Info, err
	}}
	res, err := Docker(context.Background(), o)
	require.NoError(t, err)
	require.True(t, res.Registered)
	reg, err = registry.Load(path)
	require.NoError(t, err)
	require.Equal(t, BackendName(DefaultName), reg.Databases["mydb"].Backend)
	require.Equal(t, "mydb", reg.Databases["mydb"].PostgresWorkspace(), "derived from the database's name")
}

package provision

import (
	"context"
	"path/filepath"

	"github.com/hybridrag/storage-proxy/backends"
	"github.com/hybridrag/storage-proxy/registry"
)

// SwitchFunc switches a database through the switching service
// (backends.Switcher.Switch, or a running proxy's PUT
// /v1/databases/{db}/backend).
type SwitchFunc func(ctx context.Context, req backends.Request) (backends.Info, error)

// RegistryRegistrar records the backend in registry.yaml as a named
// postgres definition (registry/backends.go) and, with a database, switches
// it to that definition through the switching service, with the same checks
// and codes as `proxy backend set` (switch_refused unless Force).
type RegistryRegistrar struct {
	Path string // registry.yaml
	// Switch switches the database; nil: an in-process backends.Switcher on
	// Path, with the registry's folder as the data folder.
	Switch SwitchFunc
	// Force switches even when the switch would hide or share data.
	Force bool
}

// RegisterPostgres writes backends.<b.Name> and, with db, switches db to it.
// A new definition switched to by a database gets a workspace derived from
// the database's name; an existing one keeps its workspace and settings. A
// switched database keeps its JSON path, so switching back is `backend: json`.
func (r RegistryRegistrar) RegisterPostgres(ctx context.Context, b Backend, db string) error {
	if db == "" {
		return registry.Update(r.Path, func(reg *registry.Registry) error {
			if reg.Backends == nil {
				reg.Backends = map[string]registry.BackendDef{}
			}
			def := reg.Backends[b.Name]
			def.Type, def.DSN = registry.BackendPostgres, b.DSN
			reg.Backends[b.Name] = def
			return nil
		})
	}
	reg, err := registry.LoadOrDefault(r.Path)
	if err != nil {
		return err
	}
	old := reg.Backends[b.Name]
	st := backends.Settings{Type: registry.BackendPostgres, Name: b.Name, DSN: b.DSN, Workspace: old.Workspace,
		EmbeddingModel: old.EmbeddingModel, VectorTableNaming: old.VectorTableNaming}
	// The provisioner validated the server just before.
	req := backends.Request{Database: db, Settings: st, Force: r.Force, NoConnectionCheck: true}
	sw := r.Switch
	if sw == nil {
		s := &backends.Switcher{RegistryPath: r.Path, DataDir: filepath.Dir(r.Path), Catalog: backends.Default(nil)}
		sw = func(ctx context.Context, req backends.Request) (backends.Info, error) {
			res, err := s.Switch(ctx, req)
			return res.Info, err
		}
	}
	_, err = sw(ctx, req)
	return err
}

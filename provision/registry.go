package provision

import (
	"context"

	"github.com/hybridrag/storage-proxy/registry"
)

// RegistryRegistrar records the backend in registry.yaml as a named
// postgres definition (registry/backends.go) and points the database at it.
type RegistryRegistrar struct {
	Path string // registry.yaml
}

// RegisterPostgres writes backends.<b.Name> and, with db, switches db to it.
// A switched database keeps its workspace and its JSON path, so switching
// back is `backend: json`.
func (r RegistryRegistrar) RegisterPostgres(_ context.Context, b Backend, db string) error {
	return registry.Update(r.Path, func(reg *registry.Registry) error {
		if reg.Backends == nil {
			reg.Backends = map[string]registry.BackendDef{}
		}
		def := reg.Backends[b.Name]
		def.Type, def.DSN = registry.BackendPostgres, b.DSN
		reg.Backends[b.Name] = def
		if db == "" {
			return nil
		}
		entry := reg.Databases[db]
		entry.Backend = b.Name
		reg.Databases[db] = entry
		return nil
	})
}

package provision

import (
	"context"

	"github.com/hybridrag/storage-proxy/registry"
)

// RegistryRegistrar records the backend in registry.yaml as a named
// postgres definition (registry/backends.go) and points the database at it.
type RegistryRegistrar struct {
	Path string // registry.yaml
	// CheckSwitch, when set, may refuse to switch db from cur to next (the
	// rule of `proxy backend set`: a database holding data is not switched
	// to an empty backend unless forced).
	CheckSwitch func(ctx context.Context, db string, cur, next registry.Database) error
}

// RegisterPostgres writes backends.<b.Name> and, with db, switches db to it.
// A switched database keeps its workspace and its JSON path, so switching
// back is `backend: json`.
func (r RegistryRegistrar) RegisterPostgres(ctx context.Context, b Backend, db string) error {
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
		cur, exists := reg.Databases[db]
		next := cur
		next.Backend = b.Name
		next.Resolved = def
		if exists && r.CheckSwitch != nil {
			if err := r.CheckSwitch(ctx, db, cur, next); err != nil {
				return err
			}
		}
		next.Resolved = registry.BackendDef{}
		reg.Databases[db] = next
		return nil
	})
}

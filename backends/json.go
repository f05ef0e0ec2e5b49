package backends

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hybridrag/storage-proxy/adapters"
	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
	"github.com/hybridrag/storage-proxy/registry"
)

// JSONReport is the connection check of a JSON database: its folder.
type JSONReport struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"` // false: created on the first write
}

// JSON describes LightRAG's working-directory files (adapters/json).
func JSON(log *slog.Logger) Descriptor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Descriptor{
		Type:         registry.BackendJSON,
		Capabilities: adapters.Capabilities{Durable: true, NeedsFlush: true, InsertionOrder: true},
		Inline: func(name string, cur registry.Database, s Settings) (registry.Database, error) {
			if s.DSN != "" {
				return registry.Database{}, adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
					"drop the dsn for a JSON backend", "a JSON backend takes no dsn")
			}
			next := cur
			next.Backend, next.Resolved = registry.BackendJSON, registry.BackendDef{}
			if s.Path != "" {
				next.Path = s.Path
			}
			if next.Path == "" {
				next.Path = name
			}
			if s.Workspace != "" {
				next.Workspace = s.Workspace
			}
			return next, nil
		},
		Check: func(_ context.Context, db registry.Database, dataDir string, _ CheckOptions) (any, error) {
			dir, err := db.ResolvePath(dataDir)
			if err != nil {
				return nil, adapters.Errorf(adapters.ErrInvalid, "invalid_argument", "fix the database's path", "%v", err)
			}
			rep := JSONReport{Path: dir}
			st, err := os.Stat(dir)
			switch {
			case err == nil && !st.IsDir():
				return rep, adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
					"give the LightRAG working directory, not a file", "path %s is a file, not a folder", dir)
			case err == nil:
				rep.Exists = true
				if unix.Access(dir, unix.W_OK|unix.X_OK) != nil {
					return rep, adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
						"make the folder writable by the proxy's user, or choose another path", "folder %s is not writable", dir)
				}
				return rep, nil
			case !errors.Is(err, os.ErrNotExist):
				return rep, adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
					"fix the folder's permissions or choose another path", "folder %s: %v", dir, err)
			}
			// Created on the first write: its nearest existing parent must
			// let the proxy create it.
			parent := filepath.Dir(dir)
			for {
				if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
					break
				}
				parent = filepath.Dir(parent)
			}
			if unix.Access(parent, unix.W_OK|unix.X_OK) != nil {
				return rep, adapters.Errorf(adapters.ErrInvalid, "invalid_argument",
					"create the folder, or make its parent writable by the proxy's user",
					"folder %s does not exist and %s is not writable", dir, parent)
			}
			return rep, nil
		},
		Open: func(ctx context.Context, name string, db registry.Database, dataDir string) (adapters.Backend, error) {
			dir, err := db.ResolvePath(dataDir)
			if err != nil {
				return nil, err
			}
			b, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: dir, Logger: log.With(slog.String("db", name))})
			if err != nil {
				return nil, err
			}
			return b, nil
		},
		Location: func(db registry.Database, dataDir string) (string, error) {
			// The adapter locks the whole folder: two entries on one folder
			// share it whatever their workspaces.
			dir, err := db.ResolvePath(dataDir)
			if err != nil {
				return "", err
			}
			return "json:" + dir, nil
		},
		Probe: func(db registry.Database, dataDir string) error {
			dir, err := db.ResolvePath(dataDir)
			if err != nil {
				return err
			}
			return jsonadapter.Held(dir)
		},
		Empty: func(db registry.Database, dataDir string) (bool, error) {
			dir, err := db.ResolvePath(dataDir)
			if err != nil {
				return false, err
			}
			_, err = os.Stat(dir)
			if errors.Is(err, os.ErrNotExist) {
				return true, nil // created on the first write: nothing in it yet
			}
			return false, err
		},
		Describe: func(db registry.Database, info *Info) {
			info.Path, info.Workspace = db.Path, db.Workspace
		},
		LightRAGEnv: func(db registry.Database) []string {
			if db.Workspace == "" {
				return nil
			}
			return []string{"WORKSPACE=" + db.Workspace}
		},
	}
}

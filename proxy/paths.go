package proxy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridrag/storage-proxy/registry"
)

// checkAPIPath enforces where a folder given through the API may be: strictly
// under the data folder, or inside a root the operator allowed
// (Config.AllowedRoots, `serve --allow-root`). Otherwise any API client
// could make the proxy create its lock and log files anywhere it may write.
// Links are resolved first, so a link under the data folder does not lead
// out of it. The CLI, run by the operator, writes the registry itself and
// may register any folder.
func (s *Server) checkAPIPath(field, p string) error {
	if p == "" {
		return nil
	}
	// Check the folder the registry will really use: ${VAR} is expanded on
	// load, so "${HOME}" must not pass as a relative name.
	abs, err := registry.Expand(p)
	if err != nil {
		return newAPIError(kindInvalid, "invalid_argument",
			"set the variable in the proxy's environment or write the folder itself", "%s %q: %v", field, p, err)
	}
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(s.cfg.DataDir, abs)
	}
	abs, err = resolveExisting(abs)
	if err != nil {
		return fmt.Errorf("resolve %s %q: %w", field, p, err)
	}
	data, err := resolveExisting(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("resolve the data folder: %w", err)
	}
	if within(data, abs) && abs != data {
		return nil
	}
	for _, root := range s.cfg.AllowedRoots {
		r, err := resolveExisting(root)
		if err == nil && within(r, abs) {
			return nil
		}
	}
	return newAPIError(kindInvalid, "path_not_allowed",
		"use a folder under the proxy's data folder (a relative path is taken from it), start the proxy with --allow-root DIR "+
			"to allow another root, or register the folder with the CLI (proxy db add NAME --path DIR)",
		"%s %q is outside the folders the API may use", field, p)
}

// resolveExisting makes p absolute and clean, resolving links in the part
// of it that exists (the rest is created later, as plain folders).
func resolveExisting(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for cur := p; ; {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether p is root or inside it (both clean and absolute).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

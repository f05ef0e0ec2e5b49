package json

import (
	"errors"
	"fmt"
	"os"

	"github.com/hybridrag/storage-proxy/adapters"
)

// refuseSymlink fails when path is a symbolic link. The database folder is
// the one configured; a link inside it (a workspace folder, a LightRAG file,
// the log or the lock) would let requests read and write outside it, and a
// flush would replace the link with a regular file.
func refuseSymlink(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("check %s: %w", path, err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return adapters.Errorf(adapters.ErrConflict, "symlink_refused",
			"replace the link with the real folder or file (or register the folder it points to as its own database); "+
				"the proxy reads and writes only inside the database folder",
			"%s is a symbolic link; the proxy does not follow links inside a database folder", path)
	}
	return nil
}

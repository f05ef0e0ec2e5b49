package json

import (
	"fmt"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/hybridrag/storage-proxy/adapters"
)

const lockFileName = ".hybridrag-proxy.lock"

// lockFolder takes the folder's exclusive writer lock without waiting. One
// proxy (or other process using this adapter) may write a folder at a time.
func lockFolder(dir string) (*flock.Flock, error) {
	path := filepath.Join(dir, lockFileName)
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, &adapters.Error{Kind: adapters.ErrUnavailable, Code: "lock_failed",
			Message: fmt.Sprintf("lock database folder %s", dir),
			Hint:    "check that the folder exists and is writable by the proxy's user",
			Err:     err}
	}
	if !ok {
		return nil, adapters.Errorf(adapters.ErrUnavailable, "database_locked",
			"another proxy or process is using this folder: stop it, or point this database at another folder",
			"database folder %s is locked by another process (%s)", dir, path)
	}
	return fl, nil
}

package json

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"

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

// Detach removes this adapter's own files (the write-ahead log and the lock
// file) from a folder no proxy uses any more, leaving a plain LightRAG
// working directory (proxy export). It refuses while another process holds
// the folder, and leaves a log that still holds writes.
func Detach(dir string) error {
	fl, err := lockFolder(dir)
	if err != nil {
		return err
	}
	defer fl.Close()
	logs, err := filepath.Glob(filepath.Join(dir, walFileName+"*"))
	if err != nil {
		return err
	}
	for _, p := range logs {
		if p != sparePath(dir) {
			entries := 0
			if _, _, err := readLog(p, func(*walEntry) error { entries++; return nil }); err != nil {
				return fmt.Errorf("detach %s: %w", dir, err)
			}
			if entries > 0 {
				return fmt.Errorf("detach %s: its write-ahead log %s still holds writes: open the folder with the proxy once to write them into LightRAG's files", dir, p)
			}
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return os.Remove(filepath.Join(dir, lockFileName))
}

// Held reports, without creating or changing anything, whether another
// process holds the folder's lock: database_locked if so, nil if not (or if
// the folder or its lock file does not exist). Status reads use it instead
// of opening a folder, which would create the lock and log files.
func Held(dir string) error {
	path := filepath.Join(dir, lockFileName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "lock_failed",
			Message: fmt.Sprintf("check the lock of database folder %s", dir),
			Hint:    "check that the folder is readable by the proxy's user", Err: err}
	}
	defer f.Close()
	// flock locks belong to the open file: this probe conflicts with any
	// holder, this process's own included, and is released on Close.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return adapters.Errorf(adapters.ErrUnavailable, "database_locked",
				"another proxy or process is using this folder: stop it, or point this database at another folder",
				"database folder %s is locked by another process (%s)", dir, path)
		}
		return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "lock_failed",
			Message: fmt.Sprintf("check the lock of database folder %s", dir), Err: err}
	}
	return nil
}

package registry

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gofrs/flock"
)

// A proxy serving a registry records it next to registry.yaml while it runs:
// registry.yaml.serving holds its base URL, and registry.yaml.serving.lock
// is held under an exclusive flock for as long as it serves. The kernel
// drops the lock when the process dies, so a crashed proxy leaves a URL file
// nobody holds and is not mistaken for a running one. Commands that must not
// race the proxy (`proxy backend set`) ask Serving and go through the
// proxy's API instead of opening databases themselves.

// servingSuffix and servingLockSuffix name the files next to the registry.
const (
	servingSuffix     = ".serving"
	servingLockSuffix = ".serving.lock"
)

// ErrAlreadyServed is returned by Announce when another live process already
// records itself as serving the registry.
var ErrAlreadyServed = errors.New("another proxy already serves this registry")

// Announce records that the calling process serves the registry at path,
// reachable at url, until release is called (or the process exits). When
// another live process holds the record, it returns ErrAlreadyServed wrapped
// with that process's URL and records nothing.
func Announce(path, url string) (release func() error, err error) {
	lock := flock.New(path + servingLockSuffix)
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("record the serving proxy: %w", err)
	}
	if !ok {
		other, _ := os.ReadFile(path + servingSuffix)
		return nil, fmt.Errorf("%w (%s)", ErrAlreadyServed, strings.TrimSpace(string(other)))
	}
	if err := writeAtomic(path+servingSuffix, []byte(url+"\n"), 0o600); err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("record the serving proxy: %w", err)
	}
	return func() error {
		// Remove the URL first: a reader that sees the lock free ignores
		// the file anyway.
		rmErr := os.Remove(path + servingSuffix)
		if errors.Is(rmErr, os.ErrNotExist) {
			rmErr = nil
		}
		return errors.Join(rmErr, lock.Unlock())
	}, nil
}

// Serving reports whether a live proxy serves the registry at path, and its
// base URL. A URL file left by a crashed proxy is ignored (its lock is free).
func Serving(path string) (url string, ok bool, err error) {
	lockPath := path + servingLockSuffix
	if _, err := os.Stat(lockPath); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	lock := flock.New(lockPath)
	free, err := lock.TryRLock()
	if err != nil {
		return "", false, fmt.Errorf("check for a proxy serving %s: %w", path, err)
	}
	if free {
		_ = lock.Unlock()
		return "", false, nil
	}
	data, err := os.ReadFile(path + servingSuffix)
	if err != nil {
		return "", false, fmt.Errorf("a proxy serves %s but its address cannot be read (%w): retry in a moment", path, err)
	}
	url = strings.TrimSpace(string(data))
	if url == "" {
		return "", false, fmt.Errorf("a proxy serves %s but has not written its address yet: retry in a moment", path)
	}
	return url, true, nil
}

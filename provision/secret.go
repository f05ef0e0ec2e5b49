package provision

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// secretsDir is the folder under the data folder that holds secrets.
const secretsDir = "secrets"

// passfilePath is the libpq password file (host:port:db:user:password) for
// a volume's cluster. The password belongs to the volume (the image sets it
// once, when it initializes an empty volume), so the file is named for it.
func passfilePath(dataDir, volume string) string {
	return filepath.Join(dataDir, secretsDir, volume+".pgpass")
}

// newPassword returns 32 hex characters from crypto/rand: no character that
// needs escaping in a URL, an environment variable or a pgpass line.
func newPassword() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// readPassfile returns the password stored for the cluster, or
// os.ErrNotExist.
func readPassfile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) == 5 && parts[4] != "" {
			return parts[4], nil
		}
	}
	return "", fmt.Errorf("password file %s has no host:port:database:user:password line", path)
}

// writePassfile writes the password file with mode 0600 (libpq ignores a
// password file others can read), atomically.
func writePassfile(path, password string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create secrets folder: %w", err)
	}
	content := fmt.Sprintf("# written by `proxy provision docker`; keep this file private\n*:*:%s:%s:%s\n", PGDatabase, PGUser, password)
	f, err := os.CreateTemp(filepath.Dir(path), ".pgpass-*")
	if err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write password file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write password file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write password file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	return nil
}

// loadOrCreatePassword returns the cluster's password: the stored one, or a
// new one (written before the container is created, so a crash in between
// never leaves a cluster whose password nobody knows).
func loadOrCreatePassword(path string) (pw string, created bool, err error) {
	pw, err = readPassfile(path)
	if err == nil {
		return pw, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	if pw, err = newPassword(); err != nil {
		return "", false, err
	}
	if err := writePassfile(path, pw); err != nil {
		return "", false, err
	}
	return pw, true, nil
}

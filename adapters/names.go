package adapters

import (
	"fmt"
	"regexp"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// Name limits. Namespaces become parts of file names (kv_store_<ns>.json) and
// table rows, workspaces become folder names.
const (
	MaxDatabaseName  = 64
	MaxNamespaceName = 128
	MaxWorkspaceName = 128
)

// ValidateName checks a database, workspace or namespace name: letters,
// digits, '_', '.', '-', not starting with '.' or '-', no "..", bounded
// length. what is "database", "workspace" or "namespace" (for the message).
// An empty workspace is valid (LightRAG's default workspace).
func ValidateName(what, name string) error {
	max := MaxNamespaceName
	switch what {
	case "database":
		max = MaxDatabaseName
	case "workspace":
		if name == "" {
			return nil
		}
		max = MaxWorkspaceName
	}
	hint := fmt.Sprintf("use 1-%d letters, digits, '_', '.' or '-', starting with a letter, digit or '_'", max)
	switch {
	case name == "":
		return Errorf(ErrInvalid, "invalid_name", hint, "%s name is empty", what)
	case len(name) > max:
		return Errorf(ErrInvalid, "invalid_name", hint, "%s name is %d bytes long, the limit is %d", what, len(name), max)
	case !nameRE.MatchString(name) || containsDotDot(name):
		return Errorf(ErrInvalid, "invalid_name", hint, "%s name %q has characters that are not allowed", what, name)
	}
	return nil
}

func containsDotDot(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == '.' {
			return true
		}
	}
	return false
}

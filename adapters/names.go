package adapters

import "fmt"

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
	// Checked on every request: the hint is only formatted for an error.
	hint := func() string {
		return fmt.Sprintf("use 1-%d letters, digits, '_', '.' or '-', starting with a letter, digit or '_'", max)
	}
	switch {
	case name == "":
		return Errorf(ErrInvalid, "invalid_name", hint(), "%s name is empty", what)
	case len(name) > max:
		return Errorf(ErrInvalid, "invalid_name", hint(), "%s name is %d bytes long, the limit is %d", what, len(name), max)
	case !nameChars(name) || containsDotDot(name):
		return Errorf(ErrInvalid, "invalid_name", hint(), "%s name %q has characters that are not allowed", what, name)
	}
	return nil
}

// nameChars reports whether name matches ^[A-Za-z0-9_][A-Za-z0-9_.-]*$.
func nameChars(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return len(name) > 0
}

func containsDotDot(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == '.' {
			return true
		}
	}
	return false
}

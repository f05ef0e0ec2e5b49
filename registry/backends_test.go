package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const withBackends = `version: 1
backends:
  pg:
    type: postgres
    dsn: postgres://rag:${HR_TEST_PW}@db:5432/rag
    workspace: ws
    embedding_model: m
databases:
  default: {backend: json, path: default}
  mydb: {backend: pg, maintenance: true}
`

func TestBackendsResolve(t *testing.T) {
	r, err := Parse([]byte(withBackends))
	require.NoError(t, err, "an unset ${VAR} in a DSN is not expanded at parse time")
	db := r.Databases["mydb"]
	require.Equal(t, BackendPostgres, db.BackendType())
	require.Equal(t, "postgres://rag:${HR_TEST_PW}@db:5432/rag", db.Resolved.DSN)
	require.Equal(t, "ws", db.PostgresWorkspace())
	require.True(t, db.Maintenance)
	_, err = db.Resolved.ExpandDSN()
	require.ErrorContains(t, err, "HR_TEST_PW")
	t.Setenv("HR_TEST_PW", "s3cret")
	dsn, err := db.Resolved.ExpandDSN()
	require.NoError(t, err)
	require.Equal(t, "postgres://rag:s3cret@db:5432/rag", dsn)
	require.Equal(t, BackendJSON, r.Databases["default"].BackendType())

	other := db
	other.Maintenance = false
	require.True(t, db.SameBackend(other), "maintenance does not reopen a backend")
	other.Resolved.DSN += "?sslmode=disable"
	require.False(t, db.SameBackend(other), "a changed definition reopens it")
}

func TestBackendsInvalid(t *testing.T) {
	cases := map[string]string{
		"unknown ref": "version: 1\ndatabases:\n  a: {backend: nope}\n",
		"reserved":    "version: 1\nbackends:\n  json: {type: postgres, dsn: x}\ndatabases: {}\n",
		"no dsn":      "version: 1\nbackends:\n  pg: {type: postgres}\ndatabases: {}\n",
		"bad type":    "version: 1\nbackends:\n  pg: {type: mysql, dsn: x}\ndatabases: {}\n",
		"bad naming":  "version: 1\nbackends:\n  pg: {type: postgres, dsn: x, vector_table_naming: odd}\ndatabases: {}\n",
	}
	want := map[string]string{"unknown ref": "no backend named \"nope\"", "reserved": "reserved", "no dsn": "dsn",
		"bad type": "unknown backend type", "bad naming": "vector_table_naming"}
	for name, y := range cases {
		_, err := Parse([]byte(y))
		require.ErrorContains(t, err, want[name], name)
	}
}

func TestUpdateKeepsDSNReference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.yaml")
	require.NoError(t, os.WriteFile(path, []byte(withBackends), 0o600))
	t.Setenv("HR_TEST_PW", "s3cret")
	require.NoError(t, Update(path, func(r *Registry) error {
		db := r.Databases["mydb"]
		db.Maintenance = false
		r.Databases["mydb"] = db
		return nil
	}))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(raw), "${HR_TEST_PW}")
	require.NotContains(t, string(raw), "s3cret")
	require.NotContains(t, string(raw), "resolved")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestRedactDSN(t *testing.T) {
	cases := map[string]string{
		"postgres://u:p%40ss@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u:${PGPASSWORD}@h/db":               "postgres://u:${PGPASSWORD}@h/db",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"host=h user=u password=secret dbname=d":        "host=h user=u password=xxxxx dbname=d",
		"host=h password='se cret' dbname=d":            "host=h password=xxxxx dbname=d",
		"postgres://h/db?user=u&password=secret&x=1":    "postgres://h/db?user=u&password=xxxxx&x=1",
		"postgresql://u:secret@h1:5432,h2:5432/db":      "postgresql://u:xxxxx@h1:5432,h2:5432/db",
	}
	for in, want := range cases {
		require.Equal(t, want, RedactDSN(in), in)
	}
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres/pgtest"
)

// requireCode checks Validate's error: an ErrInvalid with the exact code,
// a hint, and never the password.
func requireCode(t *testing.T, err error, code, password string) {
	t.Helper()
	require.Error(t, err)
	var ae *adapters.Error
	require.True(t, errors.As(err, &ae), "not an adapters.Error: %v", err)
	require.Equal(t, code, ae.Code, "error: %v", err)
	require.ErrorIs(t, err, adapters.ErrInvalid)
	require.NotEmpty(t, ae.Hint)
	if password != "" {
		require.NotContains(t, err.Error(), password)
		require.NotContains(t, ae.Hint, password)
	}
}

// TestValidateFailures: one case per failure kind with its exact code. Role
// and password cases run on a throwaway cluster with scram authentication.
func TestValidateFailures(t *testing.T) {
	c := pgtest.Start(t)
	const pw = "Corr3ct-Horse-pw"
	c.Exec("postgres",
		"CREATE ROLE hr_owner LOGIN PASSWORD '"+pw+"'",
		"CREATE DATABASE hr_ok OWNER hr_owner",
		"CREATE DATABASE hr_novector",
		"CREATE ROLE hr_nocreate LOGIN PASSWORD '"+pw+"'",
		"CREATE ROLE hr_novec LOGIN PASSWORD '"+pw+"'",
	)
	// hr_ok: pgvector enabled; hr_nocreate may connect but not create tables
	// (PostgreSQL 15: public is not writable by everyone).
	c.Exec("hr_ok", "CREATE EXTENSION vector", "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
	// hr_novector: pgvector not enabled and hr_novec may create tables but
	// not enable the extension (no CREATE on the database).
	c.Exec("hr_novector", "GRANT CREATE ON SCHEMA public TO hr_novec", "REVOKE CREATE ON DATABASE hr_novector FROM PUBLIC")

	refused := closedPort(t)
	silent := silentListener(t)
	ctx := context.Background()
	fast := ValidateOptions{Timeout: 2 * time.Second}
	cases := []struct {
		name string
		dsn  string
		opts ValidateOptions
		code string
	}{
		{"invalid dsn", "postgres://bad host:port/x", fast, CodeInvalidDSN},
		{"empty dsn", "", fast, CodeInvalidDSN},
		{"connection refused", fmt.Sprintf("postgres://u:%s@127.0.0.1:%d/db?sslmode=disable", pw, refused), fast, CodeConnRefused},
		{"timeout", fmt.Sprintf("postgres://u:%s@%s/db?sslmode=disable", pw, silent), ValidateOptions{Timeout: time.Second}, CodeTimeout},
		{"bad password", c.DSN("hr_owner", "wrong-"+pw, "hr_ok"), fast, CodeAuthFailed},
		{"unknown role", c.DSN("hr_nobody", pw, "hr_ok"), fast, CodeAuthFailed},
		{"missing database", c.DSN("postgres", "", "hr_missing"), fast, CodeDatabaseMissing},
		{"no create privilege", c.DSN("hr_nocreate", pw, "hr_ok"), fast, CodeNoCreatePrivilege},
		{"pgvector not creatable", c.DSN("hr_novec", pw, "hr_novector"), fast, CodePgvectorMissing},
		{"version too old", c.DSN("hr_owner", pw, "hr_ok"), ValidateOptions{MinServerVersion: 990000}, CodeVersionTooOld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rep, err := Validate(ctx, tc.dsn, tc.opts)
			requireCode(t, err, tc.code, pw)
			require.NotContains(t, rep.DSN, pw)
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}

	t.Run("ok", func(t *testing.T) {
		rep, err := Validate(ctx, c.DSN("hr_owner", pw, "hr_ok"), ValidateOptions{})
		require.NoError(t, err)
		require.True(t, rep.PgvectorInstalled)
		require.True(t, rep.CanCreateTables)
		require.GreaterOrEqual(t, rep.ServerVersionNum, MinServerVersion)
		require.NotContains(t, rep.DSN, pw)
		require.Equal(t, "hr_ok", rep.Database)
	})
	t.Run("ok, pgvector creatable", func(t *testing.T) {
		rep, err := Validate(ctx, c.DSN("postgres", "", "hr_novector"), ValidateOptions{})
		require.NoError(t, err)
		require.False(t, rep.PgvectorInstalled)
		require.NotEmpty(t, rep.PgvectorVersion)
		require.True(t, rep.CanCreateTables)
	})
	t.Run("open maps a bad password to 503, not 500", func(t *testing.T) {
		_, err := Open(ctx, Config{DSN: c.DSN("hr_owner", "wrong-"+pw, "hr_ok"), QueryTimeout: 2 * time.Second})
		require.ErrorIs(t, err, adapters.ErrUnavailable)
		require.NotContains(t, err.Error(), pw)
	})
}

// The pgvector-not-installed case, for servers without the package, and the
// unreachable-host case cannot be produced on loopback alone: their
// classification is checked on the errors the Go runtime returns.
func TestClassifyConnect(t *testing.T) {
	ctx := context.Background()
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	cases := []struct {
		err  error
		code string
	}{
		{&net.DNSError{Err: "no such host", Name: "db.invalid", IsNotFound: true}, CodeHostUnreachable},
		{op(syscall.EHOSTUNREACH), CodeHostUnreachable},
		{op(syscall.ENETUNREACH), CodeHostUnreachable},
		{op(syscall.ECONNREFUSED), CodeConnRefused},
		{context.DeadlineExceeded, CodeTimeout},
		{errors.New("something else"), CodeConnectFailed},
	}
	for _, tc := range cases {
		code, hint := classifyConnect(ctx, fmt.Errorf("connect: %w", tc.err))
		require.Equal(t, tc.code, code, "%v", tc.err)
		require.NotEmpty(t, hint)
	}
	err := checkVersion("13.9", 130009, MinServerVersion)
	requireCode(t, err, CodeVersionTooOld, "")
	require.Contains(t, err.Error(), "13.9")
	require.NoError(t, checkVersion("14.0", 140000, MinServerVersion))
}

func TestRedactDSNHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:s3cr3t-pw@127.0.0.1:5432/db",
		"host=127.0.0.1 user=u password=s3cr3t-pw dbname=db",
	} {
		require.False(t, strings.Contains(RedactDSN(dsn), "s3cr3t-pw"), dsn)
	}
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

package provision

import (
	"context"
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// testPG returns HYBRIDRAG_TEST_PG: CI must have it, elsewhere the test skips.
func testPG(t *testing.T) string {
	dsn := os.Getenv("HYBRIDRAG_TEST_PG")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HYBRIDRAG_TEST_PG is not set (run scripts/setup-postgres.sh)")
		}
		t.Skip("set HYBRIDRAG_TEST_PG to run against PostgreSQL")
	}
	return dsn
}

// The real readiness check and extension step, against the local server as
// if it were the container's published port.
func TestPGXAgainstLocalPostgres(t *testing.T) {
	dsn := testPG(t)
	ctx := context.Background()
	require.NoError(t, PGX{}.Check(ctx, dsn))
	require.NoError(t, PGX{}.CreateVector(ctx, dsn))
	require.NoError(t, PGX{}.CreateVector(ctx, dsn), "idempotent")

	// Nothing listening: an ordinary, retryable error.
	port, err := freePort()
	require.NoError(t, err)
	err = PGX{}.Check(ctx, DSN(port, "/nonexistent"))
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrPermanent))
}

// A wrong password is permanent (the volume holds another cluster); needs a
// server that checks passwords, so it only runs where the DSN has one.
func TestPGXWrongPasswordIsPermanent(t *testing.T) {
	dsn := testPG(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	if _, ok := u.User.Password(); !ok {
		t.Skip("HYBRIDRAG_TEST_PG has no password: the server may trust local connections")
	}
	u.User = url.UserPassword(u.User.Username(), "wrong-password")
	err = PGX{}.Check(context.Background(), u.String())
	require.ErrorIs(t, err, ErrPermanent)
}

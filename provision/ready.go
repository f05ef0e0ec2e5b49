package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres is how provisioning talks to the new server; tests replace it.
type Postgres interface {
	// Check makes one attempt to connect over TCP and run a query. An error
	// wrapping ErrPermanent stops the wait (retrying cannot help).
	Check(ctx context.Context, dsn string) error
	// CreateVector runs CREATE EXTENSION IF NOT EXISTS vector.
	CreateVector(ctx context.Context, dsn string) error
}

// ErrPermanent marks a readiness failure that waiting does not fix.
var ErrPermanent = errors.New("permanent")

// PGX is the Postgres implementation over pgx.
type PGX struct{}

// Check connects and runs SELECT 1. A wrong password is permanent: the
// volume holds a cluster initialized with another password.
func (PGX) Check(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000") {
			return fmt.Errorf("%w: %s", ErrPermanent, pe.Message)
		}
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	return nil
}

// CreateVector creates the pgvector extension (idempotent).
func (PGX) CreateVector(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		return fmt.Errorf("create extension vector: %w", err)
	}
	return nil
}

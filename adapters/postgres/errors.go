package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hybridrag/storage-proxy/adapters"
)

const hintUnavailable = "PostgreSQL is unreachable or overloaded; retry shortly"

// mapError converts a pgx/PostgreSQL error into an adapters error kind with a
// stable code. op names the operation ("kv get lightrag_doc_full"). Errors
// that are already adapter errors pass through. secrets are scrubbed from
// every message (the DSN's password).
func (b *Backend) mapError(op string, err error) error {
	mapped := b.mapErrorKind(op, err)
	var ae *adapters.Error
	if errors.As(mapped, &ae) && ae.Err != nil && (ae.Code == "backend_unavailable" || ae.Code == "backend_timeout") {
		b.kick() // the connection may be gone: let the reconnect loop check
	}
	return mapped
}

func (b *Backend) mapErrorKind(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return err
	}
	for _, k := range []error{adapters.ErrNotFound, adapters.ErrConflict, adapters.ErrInvalid,
		adapters.ErrUnavailable, adapters.ErrCorrupt, adapters.ErrUnsupported} {
		if errors.Is(err, k) {
			return err
		}
	}
	cause := redactErr{err: err, secrets: b.secrets}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return mapSQLState(op, pgErr, cause)
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "backend_timeout",
			Hint:    "PostgreSQL did not answer within the query timeout; retry, or raise query_timeout",
			Message: op + ": timed out", Err: cause}
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if pgconn.SafeToRetry(err) || errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "closed pool") || strings.Contains(err.Error(), "conn closed") {
		return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "backend_unavailable", Hint: hintUnavailable,
			Message: op + ": PostgreSQL unavailable", Err: cause}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &adapters.Error{Kind: adapters.ErrNotFound, Code: "not_found", Message: op, Err: cause}
	}
	return &redactedOp{op: op, err: cause}
}

// mapSQLState maps SQLSTATE classes to kinds.
func mapSQLState(op string, pgErr *pgconn.PgError, cause error) error {
	mk := func(kind error, code, hint string) error {
		return &adapters.Error{Kind: kind, Code: code, Hint: hint, Message: op, Err: cause}
	}
	code := pgErr.Code
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"),                     // insufficient resources
		code == "57P01", code == "57P02", code == "57P03", // shutdown, cannot connect now
		code == "57014": // query canceled (statement timeout)
		return mk(adapters.ErrUnavailable, "backend_unavailable", hintUnavailable)
	case strings.HasPrefix(code, "28"): // invalid authorization: bad password, unknown role, pg_hba
		return mk(adapters.ErrUnavailable, CodeAuthFailed, hintAuthFailed)
	case code == "3D000": // invalid_catalog_name
		return mk(adapters.ErrUnavailable, CodeDatabaseMissing, hintDatabaseMissing)
	case code == "40001", code == "40P01": // serialization failure, deadlock
		return mk(adapters.ErrUnavailable, "backend_busy", "a concurrent write conflicted; retry the request")
	case code == "22001": // string_data_right_truncation
		return mk(adapters.ErrInvalid, "value_too_long", "a value is longer than LightRAG's column allows (ids: 255 characters)")
	case code == "22021", code == "22P05": // bad UTF-8, untranslatable character
		return mk(adapters.ErrInvalid, "invalid_text", "send valid UTF-8 text without NUL characters")
	case strings.HasPrefix(code, "22"):
		return mk(adapters.ErrInvalid, "invalid_value", "a value does not fit its PostgreSQL column; check the record's field types")
	case strings.HasPrefix(code, "23"):
		return mk(adapters.ErrConflict, "constraint_violation", "the write conflicts with stored data")
	case code == "42501":
		return mk(adapters.ErrUnavailable, "permission_denied",
			"grant the proxy's PostgreSQL role the rights to create and write tables in this database")
	case code == "42P01", code == "42703": // undefined table / column
		return mk(adapters.ErrCorrupt, "schema_mismatch",
			"the database's tables do not have the expected layout; restart the proxy to recreate them")
	case code == "54000": // program_limit_exceeded (e.g. index row too big)
		return mk(adapters.ErrInvalid, "value_too_large", "a value exceeds a PostgreSQL limit; shorten it")
	}
	return &redactedOp{op: op, err: cause}
}

// redactedOp is an unmapped error ("op: cause"), which the proxy reports as
// an internal error.
type redactedOp struct {
	op  string
	err error
}

func (e *redactedOp) Error() string { return e.op + ": " + e.err.Error() }
func (e *redactedOp) Unwrap() error { return e.err }

// redactErr hides secrets (the password) in a wrapped error's message.
type redactErr struct {
	err     error
	secrets []string
}

func (e redactErr) Error() string { return redact(e.err.Error(), e.secrets) }
func (e redactErr) Unwrap() error { return e.err }

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

// RedactDSN returns the connection string with its password replaced, for
// logs and status.
func RedactDSN(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(unparseable connection string)"
	}
	if cfg.Password == "" {
		return dsn
	}
	return redact(dsn, []string{cfg.Password})
}

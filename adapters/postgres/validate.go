package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Validation error codes: one per way a connection string can be unusable
// (part of the API; `proxy backend test` and POST /v1/backends/test report
// them with a hint).
const (
	CodeInvalidDSN        = "invalid_dsn"
	CodeHostUnreachable   = "host_unreachable"
	CodeConnRefused       = "connection_refused"
	CodeAuthFailed        = "authentication_failed"
	CodeDatabaseMissing   = "database_not_found"
	CodePgvectorMissing   = "pgvector_missing"
	CodeNoCreatePrivilege = "insufficient_privilege"
	CodeTimeout           = "connection_timeout"
	CodeVersionTooOld     = "server_version_too_old"
	CodeConnectFailed     = "connection_failed" // anything else on connect
)

const (
	hintInvalidDSN      = "use a connection string such as postgres://user:pass@host:5432/db?sslmode=disable"
	hintHostUnreachable = "check the host name and that this machine has a route to it (DNS, VPN, firewall)"
	hintConnRefused     = "nothing listens at that host and port: start PostgreSQL, or fix the port (default 5432) and listen_addresses"
	hintAuthFailed      = "check the user and password (an ${ENV} reference must be set in the proxy's environment) and pg_hba.conf"
	hintDatabaseMissing = "create the database (CREATE DATABASE name) or fix the name in the connection string"
	hintPgvectorInstall = "install pgvector on the server (package postgresql-<version>-pgvector), then retry"
	hintPgvectorCreate  = "pgvector is installed but this role cannot enable it: have a superuser run CREATE EXTENSION vector in this database"
	hintNoCreate        = "grant the role the right to create tables: GRANT CREATE ON SCHEMA public TO <role> (or make it the schema's owner)"
	hintTimeout         = "the server did not answer in time: check that the host and port are those of PostgreSQL and that no firewall drops packets"
	hintVersionTooOld   = "upgrade PostgreSQL to version 14 or newer"
	hintConnectFailed   = "see the message; check the connection string and the server's log"
)

// MinServerVersion is the oldest PostgreSQL this proxy supports (14).
const MinServerVersion = 140000

// DefaultValidateTimeout bounds Validate as a whole.
const DefaultValidateTimeout = 10 * time.Second

// ValidateOptions tune Validate; the zero value is the default.
type ValidateOptions struct {
	Timeout time.Duration // default 10s
	// MinServerVersion in server_version_num form (default 140000).
	MinServerVersion int
}

// Report is what Validate found on a usable server. It holds no secret.
type Report struct {
	DSN               string  `json:"dsn"` // redacted
	Host              string  `json:"host"`
	Port              int     `json:"port"`
	Database          string  `json:"database"`
	User              string  `json:"user"`
	ServerVersion     string  `json:"server_version"`
	ServerVersionNum  int     `json:"server_version_num"`
	PgvectorVersion   string  `json:"pgvector_version"`
	PgvectorInstalled bool    `json:"pgvector_installed"` // false: available, created on first use
	CanCreateTables   bool    `json:"can_create_tables"`
	LatencyMS         float64 `json:"latency_ms"`
}

// Validate checks, before a configuration is saved, that the proxy can use
// dsn: it connects within the timeout, then checks PostgreSQL >= 14, that
// pgvector is installed or creatable, and that the role may create tables
// (both tried in a transaction that is rolled back). A failure is an
// *adapters.Error (kind ErrInvalid) whose Code is one of the Code*
// constants, with a hint; no message contains the password.
func Validate(ctx context.Context, dsn string, opts ValidateOptions) (Report, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultValidateTimeout
	}
	if opts.MinServerVersion <= 0 {
		opts.MinServerVersion = MinServerVersion
	}
	rep := Report{DSN: RedactDSN(dsn)}
	if strings.TrimSpace(dsn) == "" {
		return rep, validationError(CodeInvalidDSN, hintInvalidDSN, "the PostgreSQL connection string is empty", nil)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return rep, validationError(CodeInvalidDSN, hintInvalidDSN, "parse the PostgreSQL connection string",
			errors.New(redactParseError(err)))
	}
	var secrets []string
	if cfg.Password != "" {
		secrets = []string{cfg.Password}
	}
	rep.Host, rep.Port, rep.Database, rep.User = cfg.Host, int(cfg.Port), cfg.Database, cfg.User
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > opts.Timeout {
		cfg.ConnectTimeout = opts.Timeout
	}
	where := fmt.Sprintf("%s:%d/%s as %s", cfg.Host, cfg.Port, cfg.Database, cfg.User)

	start := time.Now()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		code, hint := classifyConnect(ctx, err)
		return rep, validationError(code, hint, "connect to PostgreSQL at "+where, redactErr{err: err, secrets: secrets})
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rep.LatencyMS = float64(time.Since(start).Microseconds()) / 1000

	fail := func(what string, err error) error {
		code, hint := classifyConnect(ctx, err)
		return validationError(code, hint, what+" on "+where, redactErr{err: err, secrets: secrets})
	}
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int`).
		Scan(&rep.ServerVersion, &rep.ServerVersionNum); err != nil {
		return rep, fail("read the server version", err)
	}
	if err := checkVersion(rep.ServerVersion, rep.ServerVersionNum, opts.MinServerVersion); err != nil {
		return rep, err
	}
	err = conn.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'vector'`).Scan(&rep.PgvectorVersion)
	switch {
	case err == nil:
		rep.PgvectorInstalled = true
	case errors.Is(err, pgx.ErrNoRows):
		err = conn.QueryRow(ctx, `SELECT default_version FROM pg_available_extensions WHERE name = 'vector'`).Scan(&rep.PgvectorVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return rep, validationError(CodePgvectorMissing, hintPgvectorInstall,
				"the pgvector extension is not installed on the server at "+where, nil)
		}
		if err != nil {
			return rep, fail("look up the pgvector extension", err)
		}
	default:
		return rep, fail("look up the pgvector extension", err)
	}
	if err := probeCreate(ctx, conn, rep.PgvectorInstalled); err != nil {
		var ve *adapters.Error
		if errors.As(err, &ve) {
			ve.Message += " on " + where
			ve.Err = redactErr{err: ve.Err, secrets: secrets}
			return rep, ve
		}
		return rep, fail("try creating a table", err)
	}
	rep.CanCreateTables = true
	return rep, nil
}

// checkVersion refuses servers older than min (server_version_num form).
func checkVersion(version string, num, min int) error {
	if num >= min {
		return nil
	}
	return validationError(CodeVersionTooOld, hintVersionTooOld,
		fmt.Sprintf("PostgreSQL %s is too old: this proxy needs %d or newer", version, min/10000), nil)
}

// probeCreate enables pgvector (if needed) and creates a table with a vector
// column inside a transaction it rolls back, so it proves the rights the
// schema needs and leaves nothing behind.
func probeCreate(ctx context.Context, conn *pgx.Conn, installed bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Serialise with proxies creating the schema right now (ensureSchema
	// takes the same lock), so a concurrent CREATE EXTENSION cannot collide.
	if _, err := tx.Exec(ctx, schemaLockSQL); err != nil {
		return err
	}
	if !installed {
		if _, err := tx.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
			if isPrivilegeError(err) {
				return validationError(CodePgvectorMissing, hintPgvectorCreate,
					"pgvector is not enabled in this database and this role may not enable it", err)
			}
			return err
		}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hybridrag_probe_" + hex.EncodeToString(b[:])
	if _, err := tx.Exec(ctx, "CREATE TABLE "+name+" (id TEXT PRIMARY KEY, v vector(3))"); err != nil {
		if isPrivilegeError(err) {
			return validationError(CodeNoCreatePrivilege, hintNoCreate, "this role may not create tables in the current schema", err)
		}
		return err
	}
	return nil
}

func isPrivilegeError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

func validationError(code, hint, msg string, cause error) *adapters.Error {
	return &adapters.Error{Kind: adapters.ErrInvalid, Code: code, Hint: hint, Message: msg, Err: cause}
}

// classifyConnect names the way a connection attempt failed.
func classifyConnect(ctx context.Context, err error) (code, hint string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "28"):
			return CodeAuthFailed, hintAuthFailed
		case pgErr.Code == "3D000":
			return CodeDatabaseMissing, hintDatabaseMissing
		case pgErr.Code == "42501":
			return CodeNoCreatePrivilege, hintNoCreate
		}
		return CodeConnectFailed, hintConnectFailed
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return CodeConnRefused, hintConnRefused
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout,
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CodeHostUnreachable, hintHostUnreachable
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), ctx.Err() != nil:
		return CodeTimeout, hintTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return CodeTimeout, hintTimeout
	}
	if msg := err.Error(); strings.Contains(msg, "password") || strings.Contains(msg, "SASL") {
		return CodeAuthFailed, hintAuthFailed
	}
	return CodeConnectFailed, hintConnectFailed
}

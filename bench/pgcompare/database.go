package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchDB is the bench's own database, created next to the one --dsn names
// so its size is the loaded data alone.
type benchDB struct {
	admin string // the --dsn database, to create and drop from
	name  string
	dsn   string
}

// withDatabase returns dsn (a postgres:// URL) pointing at database name.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--dsn must be a postgres:// URL (key=value strings are not supported)")
	}
	u.Path = "/" + name
	return u.String(), nil
}

func createBenchDB(ctx context.Context, adminDSN string) (*benchDB, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("random database name: %w", err)
	}
	name := "hybridrag_bench_" + hex.EncodeToString(b[:])
	dsn, err := withDatabase(adminDSN, name)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("connect to --dsn: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return &benchDB{admin: adminDSN, name: name, dsn: dsn}, nil
}

// drop removes the bench database, ending any session still on it.
func (d *benchDB) drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("connect to drop %s: %w", d.name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

// redact hides a DSN's password for printing.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return strings.Replace(u.String(), "xxxxx", "***", 1)
}

// Package postgres opens Ordem's connection pools with the types it needs
// registered (NUMERIC as shopspring decimal).
package postgres

import (
	"context"
	"errors"
	"fmt"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Connect opens a pool on url and checks that the server answers.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	return ConnectConfig(ctx, cfg)
}

// ConnectConfig opens a pool from a parsed configuration.
func ConnectConfig(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxdecimal.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, nil
}

// InTx runs fn in a transaction, committing when it returns nil and
// rolling back otherwise.
// Functions given to AfterCommit run once the commit succeeded.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	raw, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &hookTx{Tx: raw}
	defer func() { _ = raw.Rollback(ctx) }() // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := raw.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

// hookTx is InTx's transaction: it keeps what must run after the commit.
type hookTx struct {
	pgx.Tx
	after []func()
}

// AfterCommit runs f once the write made through db is durable: after
// the commit when db is a transaction of InTx, at once otherwise (a pool
// or a connection writes in autocommit, so the write already is). It is
// for side effects that must not claim a change a rollback undid, such
// as the audit log file's line.
func AfterCommit(db DBTX, f func()) {
	if tx, ok := db.(*hookTx); ok {
		tx.after = append(tx.after, f)
		return
	}
	f()
}

// IsConstraint reports whether err is a violation of the named constraint.
func IsConstraint(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.ConstraintName == name
}

// IsUniqueViolation reports whether err is a unique-key violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// DBTX is what every table-owner package's functions take: a pool, a
// connection or a transaction, so the caller decides the transaction a
// write belongs to (the way ledger.Post takes the transition's).
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Beginner starts transactions: a pool or a connection, for a function
// that needs its own transaction (a snapshot read, say).
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Ensure the three kinds of handle satisfy DBTX.
var (
	_ DBTX = (*pgxpool.Pool)(nil)
	_ DBTX = (*pgx.Conn)(nil)
	_ DBTX = pgx.Tx(nil)
)

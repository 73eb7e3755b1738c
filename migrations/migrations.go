// Package migrations holds Ordem's versioned SQL schema, embedded in the
// binary and applied by goose, each migration in its own transaction.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() embed.FS { return files }

// Provider returns a goose provider over db for the embedded migrations.
func Provider(db *sql.DB) (*goose.Provider, error) {
	// An advisory lock serialises concurrent `migrate up` runs (two
	// replicas of a deploy job, say): the second waits, then finds nothing
	// to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 900)) // poll every second, give up after 15 min
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

// OpenDB opens a database/sql handle over a pgx pool, for goose.
func OpenDB(pool *pgxpool.Pool) *sql.DB { return stdlib.OpenDBFromPool(pool) }

// Up applies every pending migration.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]*goose.MigrationResult, error) {
	db := OpenDB(pool)
	defer db.Close()
	p, err := Provider(db)
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate up: %w", err)
	}
	return res, nil
}

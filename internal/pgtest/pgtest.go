// Package pgtest gives tests real Postgres databases: a fresh database per
// test cloned from a migrated template (fast, isolated, may commit), or a
// transaction on a shared one that is rolled back at the end of the test.
//
// TEST_DATABASE_URL names the server (any database on it); the default is
// the local server as the postgres user.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/migrations"
)

// DefaultURL is used when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the test server.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URLFor returns the server URL pointed at database name.
func URLFor(tb testing.TB, name string) string {
	skipShort(tb)
	tb.Helper()
	cfg, err := pgx.ParseConfig(ServerURL())
	require.NoError(tb, err)
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// template returns the name of a database with every migration applied,
// creating it the first time any test process asks. Its name hashes the
// migrations, so a changed schema gets a new template.
func template(tb testing.TB) string {
	tb.Helper()
	name, err := ensureTemplateOnce()
	require.NoError(tb, err, "prepare migrated template database")
	return name
}

func ensureTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "ordem_tpl_" + hex.EncodeToString(h.Sum(nil))[:16]

	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return "", fmt.Errorf("connect to test server %s: %w", ServerURL(), err)
	}
	defer admin.Close(ctx)
	// Test packages run in parallel processes: one creates, the others wait.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(727274)`); err != nil {
		return "", err
	}
	defer func() { _, _ = admin.Exec(context.Background(), `SELECT pg_advisory_unlock(727274)`) }()

	var ready bool
	err = admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&ready)
	if err != nil || ready {
		return name, err
	}
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	cfg, err := pgxpool.ParseConfig(ServerURL())
	if err != nil {
		return "", err
	}
	cfg.ConnConfig.Database = name
	pool, err := postgres.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	_, err = migrations.Up(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	// Marked only once complete, so a crashed run never leaves a half-made
	// template that later runs would trust.
	_, err = admin.Exec(ctx, `ALTER DATABASE `+name+` WITH IS_TEMPLATE true`)
	return name, err
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// createDB creates a database (from template when not empty) and drops it
// when the test ends. It returns its URL.
func createDB(tb testing.TB, fromTemplate string) string {
	tb.Helper()
	ctx := context.Background()
	name := randomName("ordem_test_")
	admin, err := pgx.Connect(ctx, ServerURL())
	require.NoError(tb, err, "connect to test server")
	defer admin.Close(ctx)
	stmt := `CREATE DATABASE ` + name
	if fromTemplate != "" {
		stmt += ` TEMPLATE ` + fromTemplate
	}
	_, err = admin.Exec(ctx, stmt)
	require.NoError(tb, err, "create test database")
	tb.Cleanup(func() {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, ServerURL()); err == nil {
			_, _ = c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			_ = c.Close(ctx)
		}
	})
	return URLFor(tb, name)
}

// CreateMigrated creates a fresh migrated database outside any single test
// (for a TestMain that shares one database across a package) and returns
// its URL and a function that drops it.
func CreateMigrated() (string, func(), error) {
	tpl, err := ensureTemplateOnce()
	if err != nil {
		return "", nil, err
	}
	ctx := context.Background()
	name := randomName("ordem_pkg_")
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return "", nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tpl); err != nil {
		return "", nil, err
	}
	cfg, err := pgx.ParseConfig(ServerURL())
	if err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	drop := func() {
		if c, err := pgx.Connect(context.Background(), ServerURL()); err == nil {
			_, _ = c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			_ = c.Close(context.Background())
		}
	}
	return url, drop, nil
}

func ensureTemplateOnce() (string, error) {
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate() })
	return templateName, templateErr
}

// NewDB returns a pool on a fresh, migrated database of this test's own.
func NewDB(tb testing.TB) *pgxpool.Pool {
	skipShort(tb)
	tb.Helper()
	return Connect(tb, NewDBURL(tb))
}

// NewDBURL creates a fresh migrated database and returns its URL.
func NewDBURL(tb testing.TB) string {
	skipShort(tb)
	tb.Helper()
	return createDB(tb, template(tb))
}

// NewEmptyDBURL creates a fresh database with no schema and returns its URL.
func NewEmptyDBURL(tb testing.TB) string {
	skipShort(tb)
	tb.Helper()
	return createDB(tb, "")
}

// Connect opens a pool on url, closed when the test ends.
func Connect(tb testing.TB, url string) *pgxpool.Pool {
	skipShort(tb)
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(tb, err)
	cfg.MaxConns = 40
	pool, err := postgres.ConnectConfig(context.Background(), cfg)
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return pool
}

var (
	sharedOnce sync.Once
	sharedPool *pgxpool.Pool
)

// Tx returns a transaction on a migrated database shared by the tests of
// this process; it is rolled back when the test ends, so tests see only
// their own writes.
func Tx(tb testing.TB) pgx.Tx {
	skipShort(tb)
	tb.Helper()
	sharedOnce.Do(func() {
		// The shared database outlives any single test, so it is created
		// and dropped outside the testing cleanup of the first caller.
		name := randomName("ordem_shared_")
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, ServerURL())
		require.NoError(tb, err)
		defer admin.Close(ctx)
		_, err = admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+template(tb))
		require.NoError(tb, err)
		cfg, err := pgxpool.ParseConfig(URLFor(tb, name))
		require.NoError(tb, err)
		sharedPool, err = postgres.ConnectConfig(ctx, cfg)
		require.NoError(tb, err)
		sharedName = name
	})
	require.NotNil(tb, sharedPool, "shared test database")
	tx, err := sharedPool.Begin(context.Background())
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

var sharedName string

// DropShared drops the database behind Tx; call it from TestMain after
// m.Run.
func DropShared() {
	if sharedPool == nil {
		return
	}
	sharedPool.Close()
	ctx := context.Background()
	if c, err := pgx.Connect(ctx, ServerURL()); err == nil {
		_, _ = c.Exec(ctx, `DROP DATABASE IF EXISTS `+sharedName+` WITH (FORCE)`)
		_ = c.Close(ctx)
	}
}

// skipShort skips a test that needs Postgres under -short, so that
// `go test -short ./...` runs on a machine with no database server.
func skipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs Postgres: skipped under -short")
	}
}

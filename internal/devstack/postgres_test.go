package devstack_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/devstack"
	"github.com/ordem/ordem/internal/pgtest"
)

func TestEnsureDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()

	t.Run("Ensure a missing database is created on a server that answers", func(t *testing.T) {
		name := fmt.Sprintf("ordem_devstack_%d", rand.Int64N(1e12))
		url := pgtest.URLFor(t, name)
		t.Cleanup(func() { dropDatabase(t, name) })
		ok, err := devstack.EnsureDatabase(ctx, url)
		require.NoError(t, err)
		require.True(t, ok)
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err, "the database exists now")
		require.NoError(t, conn.Close(ctx))

		ok, err = devstack.EnsureDatabase(ctx, url)
		require.NoError(t, err)
		require.True(t, ok, "an existing database is used as it is")
	})

	t.Run("Ensure no server answering is reported as such, not as an error", func(t *testing.T) {
		ok, err := devstack.EnsureDatabase(ctx, "postgres://postgres@127.0.0.1:1/ordem?sslmode=disable")
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestPrivateCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb and a Postgres server")
	}
	ctx := context.Background()
	// As root the server runs as the postgres user, which must be able to
	// enter the directories above the cluster.
	parent, err := os.MkdirTemp("", "ordem-devstack-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(parent) })
	require.NoError(t, os.Chmod(parent, 0o755))
	dir := filepath.Join(parent, "postgres")
	port := freePort(t)

	c, err := devstack.StartCluster(ctx, dir, port)
	if err == devstack.ErrNoPostgres {
		t.Skip("no PostgreSQL server binaries on this machine")
	}
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop()
		}
	})
	url := c.URL("ordem")
	ok, err := devstack.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	require.True(t, ok)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, c.Stop())
	stopped = true

	t.Run("Ensure a restart keeps the data", func(t *testing.T) {
		c, err := devstack.StartCluster(ctx, dir, port)
		require.NoError(t, err)
		defer func() { require.NoError(t, c.Stop()) }()
		conn, err := pgx.Connect(ctx, c.URL("ordem"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var v string
		require.NoError(t, conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v))
		require.Equal(t, "still here", v)
	})
}

func dropDatabase(t *testing.T, name string) {
	conn, err := pgx.Connect(context.Background(), pgtest.ServerURL())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)
}

package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/migrations"
)

// Ensure the schema goes up from empty, down to empty and up again, so
// every down migration really undoes its up.
func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Connect(t, pgtest.NewEmptyDBURL(t))
	db := migrations.OpenDB(pool)
	defer db.Close()
	p, err := migrations.Provider(db)
	require.NoError(t, err)

	tables := func() []string {
		rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY 1`)
		require.NoError(t, err)
		var out []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		return out
	}

	res, err := p.Up(ctx)
	require.NoError(t, err)
	require.Len(t, res, len(p.ListSources()))
	schema := tables()
	require.Contains(t, schema, "ledger_entries")
	require.Contains(t, schema, "orders")

	_, err = p.DownTo(ctx, 0)
	require.NoError(t, err)
	require.Empty(t, tables())

	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, schema, tables())
}

// Ensure two `migrate up` at once (two replicas of a deploy job) both
// succeed: the advisory lock makes the second wait and find nothing to do,
// instead of both applying the same migration.
func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewEmptyDBURL(t)
	const runs = 6
	applied := make(chan int, runs)
	errs := make(chan error, runs)
	start := make(chan struct{})
	for i := 0; i < runs; i++ {
		pool := pgtest.Connect(t, url)
		go func() {
			<-start
			res, err := migrations.Up(ctx, pool)
			applied <- len(res)
			errs <- err
		}()
	}
	close(start)
	total := 0
	for i := 0; i < runs; i++ {
		total += <-applied
		require.NoError(t, <-errs)
	}
	pool := pgtest.Connect(t, url)
	db := migrations.OpenDB(pool)
	defer db.Close()
	p, err := migrations.Provider(db)
	require.NoError(t, err)
	require.Equal(t, len(p.ListSources()), total, "every migration applied exactly once across the runs")
	v, err := p.GetDBVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, p.ListSources()[len(p.ListSources())-1].Version, v)
}

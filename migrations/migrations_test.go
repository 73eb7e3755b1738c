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

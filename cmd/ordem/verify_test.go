package main_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
)

// Ensure ordem ledger verify also recounts the maintained order counters:
// a tampered counter makes it exit 1 naming it, while the ledger part
// still says OK.
func TestLedgerVerifyRecountsOrderStats(t *testing.T) {
	url := pgtest.NewEmptyDBURL(t)
	out, code := ordem(t, url, nil, "migrate", "up")
	require.Equal(t, 0, code, out)
	out, code = ordem(t, url, nil, "ledger", "verify")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "order stats: OK")

	pool := pgtest.Connect(t, url)
	_, err := pool.Exec(context.Background(), `UPDATE order_stats SET orders = orders + 1
		WHERE ctid = (SELECT ctid FROM order_stats WHERE status = 'completed' LIMIT 1)`)
	require.NoError(t, err)
	out, code = ordem(t, url, nil, "ledger", "verify")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "ledger verify: OK")
	require.Contains(t, out, "MISMATCH order_stats: status completed")
}

package metrics_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
)

func counter(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if s.Histogram != nil {
				return float64(s.GetHistogram().GetSampleCount())
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// Ensure every ledger.Post is counted by kind and outcome (posted,
// replayed, refused, error) with its latency, against real Postgres.
func TestLedgerPostings(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	m := metrics.New()
	pool := pgtest.NewDB(t)
	var uid int64
	require.NoError(t, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		if err := ledger.EnsurePlatformAccounts(ctx, tx); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO users (name, email, phone, password_hash, role) VALUES ('M', 'm@x.test', '', 'x', 'client') RETURNING id`).Scan(&uid); err != nil {
			return err
		}
		_, err := ledger.OpenUserAccounts(ctx, tx, uid)
		return err
	}))
	deposit := func(key, amount string) error {
		return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			d := decimal.RequireFromString(amount)
			_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: key, Kind: "metrics_test",
				Legs: []ledger.Leg{{Account: ledger.WorldAccount, Amount: d.Neg()}, {Account: ledger.UserAccount(uid, ledger.Available), Amount: d}}})
			return err
		})
	}
	require.NoError(t, deposit("m1", "10.00"))
	require.NoError(t, deposit("m1", "10.00")) // replay
	// Withdrawing more than the balance: insufficient funds, a refusal.
	err := deposit("m2", "-50.00")
	require.Equal(t, ordem.EInsufficientFunds, ordem.ErrorCode(err))
	// A posting in an aborted transaction: an error.
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, _ = tx.Exec(ctx, `SELECT 1/0`)
		_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "m3", Kind: "metrics_test",
			Legs: []ledger.Leg{{Account: ledger.WorldAccount, Amount: decimal.NewFromInt(-1)}, {Account: ledger.UserAccount(uid, ledger.Available), Amount: decimal.NewFromInt(1)}}})
		return err
	})
	require.Error(t, err)

	for outcome, want := range map[string]float64{"posted": 1, "replayed": 1, "refused": 1, "error": 1} {
		require.Equal(t, want, counter(t, m, "ordem_ledger_postings_total", map[string]string{"kind": "metrics_test", "outcome": outcome}), outcome)
	}
	require.GreaterOrEqual(t, counter(t, m, "ordem_ledger_posting_duration_seconds", map[string]string{"outcome": "posted"}), 1.0)
}

// Ensure the pool tracer counts failed statements by SQLSTATE class and
// lost connections, and not integrity violations (the code's refusals).
func TestDBErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	m := metrics.New()
	cfg, err := metrics.InstrumentPool(pgtest.NewDBURL(t))
	require.NoError(t, err)
	pool, err := postgres.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	syntax := func() float64 {
		return counter(t, m, "ordem_db_errors_total", map[string]string{"kind": "sqlstate_42"})
	}
	integrity := func() float64 {
		return counter(t, m, "ordem_db_errors_total", map[string]string{"kind": "sqlstate_23"})
	}
	before := syntax()

	_, err = pool.Exec(ctx, `SELEC 1`)
	require.Error(t, err)
	rows, err := pool.Query(ctx, `SELECT * FROM no_such_table`)
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	require.Error(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO users (name, email, phone, password_hash, role) VALUES ('a', 'dup@x.test', '', 'x', 'client'), ('b', 'dup@x.test', '', 'x', 'client')`)
	require.True(t, postgres.IsUniqueViolation(err), "%v", err)

	require.Equal(t, before+2, syntax())
	require.Zero(t, integrity())
}

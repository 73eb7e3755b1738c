// Package ordertest builds the fixtures order tests share: users with
// wallets, deposits, system config, and balance and ledger assertions, all
// on a real Postgres database.
package ordertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/sysconfig"
)

// Fixture is a seeded database with a client, a second client, a provider,
// a second provider and an admin.
type Fixture struct {
	Pool *pgxpool.Pool
	// Client and Provider are the parties of the orders under test; Other*
	// are strangers to them.
	Client, OtherClient, Provider, OtherProvider, Admin int64
}

// New creates a fresh database with default system config, platform
// accounts and the five users.
func New(t testing.TB) *Fixture {
	t.Helper()
	f := &Fixture{Pool: pgtest.NewDB(t)}
	ctx := context.Background()
	require.NoError(t, postgres.InTx(ctx, f.Pool, func(tx pgx.Tx) error {
		if _, err := sysconfig.Seed(ctx, tx); err != nil {
			return err
		}
		return ledger.EnsurePlatformAccounts(ctx, tx)
	}))
	f.Client = f.User(t, ordem.RoleClient)
	f.OtherClient = f.User(t, ordem.RoleClient)
	f.Provider = f.User(t, ordem.RoleProvider)
	f.OtherProvider = f.User(t, ordem.RoleProvider)
	f.Admin = f.User(t, ordem.RoleAdmin)
	return f
}

// User creates a user of role with a wallet and returns its id.
func (f *Fixture) User(t testing.TB, role ordem.Role) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	require.NoError(t, postgres.InTx(ctx, f.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (name, email, password_hash, role) VALUES ($1, $2, 'x', $3) RETURNING id`,
			string(role)+" user", fmt.Sprintf("%s-%d@example.com", role, rand.Int64()), string(role)).Scan(&id)
		if err != nil {
			return err
		}
		_, err = ledger.OpenUserAccounts(ctx, tx, id)
		return err
	}))
	return id
}

// Deposit credits amount to the user's available balance from world.
func (f *Fixture) Deposit(t testing.TB, user int64, amount string) {
	t.Helper()
	ctx := context.Background()
	d := decimal.RequireFromString(amount)
	require.NoError(t, postgres.InTx(ctx, f.Pool, func(tx pgx.Tx) error {
		_, err := ledger.Post(ctx, tx, ledger.Posting{
			IdempotencyKey: fmt.Sprintf("test-deposit:%d:%d", user, rand.Int64()), Kind: "deposit",
			Legs: []ledger.Leg{{Account: ledger.WorldAccount, Amount: d.Neg()}, {Account: ledger.UserAccount(user, ledger.Available), Amount: d}},
		})
		return err
	}))
}

// SetConfig changes a system config value directly.
func (f *Fixture) SetConfig(t testing.TB, key, value string) {
	t.Helper()
	_, err := f.Pool.Exec(context.Background(), `UPDATE system_config SET value = $2 WHERE key = $1`, key, value)
	require.NoError(t, err)
}

// NextOrderID allocates an order id as the API does.
func (f *Fixture) NextOrderID(t testing.TB) int64 {
	t.Helper()
	var id int64
	require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT nextval('orders_id_seq')`).Scan(&id))
	return id
}

// Balance returns an account's balance as a fixed two-decimal string.
func (f *Fixture) Balance(t testing.TB, user int64, kind ledger.AccountKind) string {
	t.Helper()
	b, err := ledger.AccountBalance(context.Background(), f.Pool, ledger.UserAccount(user, kind))
	require.NoError(t, err)
	return b.StringFixed(2)
}

// Revenue returns the platform revenue balance.
func (f *Fixture) Revenue(t testing.TB) string {
	t.Helper()
	b, err := ledger.AccountBalance(context.Background(), f.Pool, ledger.RevenueAccount)
	require.NoError(t, err)
	return b.StringFixed(2)
}

// Wallets returns "available/blocked" for each user, for compact asserts.
func (f *Fixture) Wallets(t testing.TB, users ...int64) []string {
	t.Helper()
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = f.Balance(t, u, ledger.Available) + "/" + f.Balance(t, u, ledger.Blocked)
	}
	return out
}

// RequireLedgerClean fails the test unless every ledger invariant holds
// (zero-sum, cached balances, holds match open orders, order postings).
func (f *Fixture) RequireLedgerClean(t testing.TB) {
	t.Helper()
	rep, err := ledger.VerifySnapshot(context.Background(), f.Pool)
	require.NoError(t, err)
	require.Empty(t, rep.Violations, "ledger verify")
	require.True(t, rep.Total.IsZero(), "ledger sums to zero")
}

// OrderRow reads a few read-model columns of an order.
type OrderRow struct {
	Status          string
	Amount          string
	PlatformRevenue string
	ProviderNet     string
	ContestFeeHeld  string
	AutoConfirmed   bool
	AutoConfirmHeld bool
	ProposalVersion int
	EvidenceCount   int
}

// Order reads the order's read-model row.
func (f *Fixture) Order(t testing.TB, id int64) OrderRow {
	t.Helper()
	var r OrderRow
	var amount, rev, net, fee decimal.Decimal
	err := f.Pool.QueryRow(context.Background(), `
		SELECT status, amount, platform_revenue, provider_net, contest_fee_held, auto_confirmed, auto_confirm_held,
		       proposal_version, evidence_count
		FROM orders WHERE id = $1`, id).Scan(&r.Status, &amount, &rev, &net, &fee, &r.AutoConfirmed, &r.AutoConfirmHeld,
		&r.ProposalVersion, &r.EvidenceCount)
	require.NoError(t, err)
	r.Amount, r.PlatformRevenue, r.ProviderNet, r.ContestFeeHeld = amount.StringFixed(2), rev.StringFixed(2), net.StringFixed(2), fee.StringFixed(2)
	return r
}

// OrderVersion reads the order's version (its committed transitions) from
// the read model.
func (f *Fixture) OrderVersion(t testing.TB, id int64) int {
	t.Helper()
	var v int
	require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT version FROM orders WHERE id = $1`, id).Scan(&v))
	return v
}

// Events returns the order's timeline as "action:from>to" (refused events
// end in "!refused").
func (f *Fixture) Events(t testing.TB, id int64) []string {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(), `
		SELECT action || ':' || coalesce(from_status, '') || '>' || coalesce(to_status, '') || CASE WHEN refused THEN '!refused' ELSE '' END
		FROM order_events WHERE order_id = $1 ORDER BY id`, id)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// Notifications counts the notifications of kind for the order per user.
func (f *Fixture) Notifications(t testing.TB, orderID int64, kind string) map[int64]int {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(), `SELECT user_id, count(*) FROM notifications WHERE order_id = $1 AND kind = $2 GROUP BY user_id`, orderID, kind)
	require.NoError(t, err)
	out := map[int64]int{}
	for rows.Next() {
		var u int64
		var n int
		require.NoError(t, rows.Scan(&u, &n))
		out[u] = n
	}
	return out
}

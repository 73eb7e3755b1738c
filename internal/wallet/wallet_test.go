package wallet_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/wallet"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// inTx runs fn in a committed transaction, as the handlers do, and
// returns its results.
func inTx[T any](t *testing.T, f *ordertest.Fixture, fn func(ctx context.Context, tx pgx.Tx) (T, bool, error)) (T, bool, error) {
	t.Helper()
	var (
		v    T
		flag bool
	)
	err := postgres.InTx(context.Background(), f.Pool, func(tx pgx.Tx) (err error) {
		v, flag, err = fn(context.Background(), tx)
		return err
	})
	return v, flag, err
}

func credit(t *testing.T, f *ordertest.Fixture, c wallet.Credit) (wallet.Deposit, bool, error) {
	t.Helper()
	return inTx(t, f, func(ctx context.Context, tx pgx.Tx) (wallet.Deposit, bool, error) {
		return wallet.CreditDeposit(ctx, tx, c)
	})
}

func requireCode(t *testing.T, code string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, ordem.ErrorCode(err), "%v", err)
}

func pending(t *testing.T, f *ordertest.Fixture) string {
	t.Helper()
	b, err := ledger.AccountBalance(context.Background(), f.Pool, ledger.PayoutsPendingAccount)
	require.NoError(t, err)
	return b.StringFixed(2)
}

// Ensure an admin deposit credits world → the user's available balance
// once per reference: the same reference again is a replay, with another
// user or amount a conflict; admins and deleted users cannot be credited.
func TestCreditDeposit(t *testing.T) {
	f := ordertest.New(t)
	c := wallet.Credit{Source: wallet.SourceAdmin, Reference: "pix-1", UserID: f.Client, Amount: dec("150.00"), CreditedBy: f.Admin}
	dep, again, err := credit(t, f, c)
	require.NoError(t, err)
	require.False(t, again)
	require.Equal(t, f.Client, dep.UserID)
	require.Equal(t, f.Admin, dep.CreditedBy)
	require.True(t, dep.Amount.Equal(dec("150")))
	require.Positive(t, dep.TransactionID)
	require.Equal(t, []string{"150.00/0.00"}, f.Wallets(t, f.Client))
	f.RequireLedgerClean(t)

	replay, again, err := credit(t, f, c)
	require.NoError(t, err)
	require.True(t, again, "the same reference credits once")
	require.Equal(t, dep.ID, replay.ID)
	require.Equal(t, []string{"150.00/0.00"}, f.Wallets(t, f.Client))

	other := c
	other.Amount = dec("151.00")
	_, _, err = credit(t, f, other)
	require.ErrorIs(t, err, wallet.ErrDepositConflict)
	other = c
	other.UserID = f.Provider
	_, _, err = credit(t, f, other)
	require.ErrorIs(t, err, wallet.ErrDepositConflict)

	// The same reference from another source is another deposit.
	hook := c
	hook.Source, hook.CreditedBy = wallet.SourceWebhook, 0
	_, again, err = credit(t, f, hook)
	require.NoError(t, err)
	require.False(t, again)
	require.Equal(t, []string{"300.00/0.00"}, f.Wallets(t, f.Client))

	admin := wallet.Credit{Source: wallet.SourceAdmin, Reference: "pix-2", UserID: f.Admin, Amount: dec("1")}
	_, _, err = credit(t, f, admin)
	requireCode(t, ordem.EValidation, err)
	_, err = f.Pool.Exec(context.Background(), `UPDATE users SET deleted_at = now() WHERE id = $1`, f.Provider)
	require.NoError(t, err)
	gone := wallet.Credit{Source: wallet.SourceAdmin, Reference: "pix-3", UserID: f.Provider, Amount: dec("1")}
	_, _, err = credit(t, f, gone)
	requireCode(t, ordem.EValidation, err)
	f.RequireLedgerClean(t)
}

// Ensure a provider's announced deposit credits once per event id: a
// redelivery answers the first deposit, another content under the same id
// is refused, and nothing is credited twice.
func TestReceiveDeposit(t *testing.T) {
	f := ordertest.New(t)
	ctx := context.Background()
	a := wallet.Announced{EventID: "evt_1", UserID: f.Provider, Amount: dec("80.00"), Reference: "E2E-1"}
	receive := func(a wallet.Announced) (wallet.Deposit, bool, error) {
		return inTx(t, f, func(ctx context.Context, tx pgx.Tx) (wallet.Deposit, bool, error) {
			return wallet.ReceiveDeposit(ctx, tx, a)
		})
	}
	dep, replayed, err := receive(a)
	require.NoError(t, err)
	require.False(t, replayed)
	require.Equal(t, wallet.SourceWebhook, dep.Source)
	require.Equal(t, "evt_1", dep.Reference)
	require.Equal(t, "E2E-1", dep.ExternalReference)
	require.Zero(t, dep.CreditedBy)
	require.Equal(t, []string{"80.00/0.00"}, f.Wallets(t, f.Provider))
	f.RequireLedgerClean(t)

	again, replayed, err := receive(a)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, dep.ID, again.ID)

	changed := a
	changed.Amount = dec("81.00")
	_, _, err = receive(changed)
	require.ErrorIs(t, err, wallet.ErrEventReused)
	require.Equal(t, []string{"80.00/0.00"}, f.Wallets(t, f.Provider))

	// A refused credit leaves no receipt behind: the event may come again.
	bad := wallet.Announced{EventID: "evt_2", UserID: f.Admin, Amount: dec("5.00")}
	_, _, err = receive(bad)
	requireCode(t, ordem.EValidation, err)
	bad.UserID = f.Client
	_, replayed, err = receive(bad)
	require.NoError(t, err)
	require.False(t, replayed)

	list, err := wallet.ListDeposits(ctx, f.Pool, 0, wallet.SourceWebhook, wallet.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "evt_2", list[0].Reference, "newest first")
	list, err = wallet.ListDeposits(ctx, f.Pool, f.Provider, "", wallet.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, err = wallet.ListDeposits(ctx, f.Pool, 0, wallet.SourceAdmin, wallet.Page{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list)
	f.RequireLedgerClean(t)
}

func requestPayout(t *testing.T, f *ordertest.Fixture, r wallet.PayoutRequest) (wallet.Payout, bool, error) {
	t.Helper()
	return inTx(t, f, func(ctx context.Context, tx pgx.Tx) (wallet.Payout, bool, error) {
		return wallet.RequestPayout(ctx, tx, r)
	})
}

func decide(t *testing.T, f *ordertest.Fixture, d wallet.Decision) (wallet.Decided, error) {
	t.Helper()
	out, _, err := inTx(t, f, func(ctx context.Context, tx pgx.Tx) (wallet.Decided, bool, error) {
		d, err := wallet.DecidePayout(ctx, tx, d)
		return d, d.Replayed, err
	})
	return out, err
}

// Ensure a payout request moves available → payouts_pending with its
// pending row, once per idempotency key, and refuses more than the
// available balance.
func TestRequestPayout(t *testing.T) {
	f := ordertest.New(t)
	f.Deposit(t, f.Provider, "100.00")
	key := "k-1"
	r := wallet.PayoutRequest{UserID: f.Provider, Amount: dec("30.00"), Gateway: "manual", IdempotencyKey: &key}
	p, made, err := requestPayout(t, f, r)
	require.NoError(t, err)
	require.True(t, made)
	require.Equal(t, wallet.PayoutPending, p.Status)
	require.Equal(t, "manual", p.Gateway)
	require.Equal(t, []string{"70.00/0.00"}, f.Wallets(t, f.Provider))
	require.Equal(t, "30.00", pending(t, f))
	f.RequireLedgerClean(t)

	again, made, err := requestPayout(t, f, r)
	require.NoError(t, err)
	require.False(t, made, "a retry with the key finds the payout made")
	require.Equal(t, p.ID, again.ID)
	require.Equal(t, []string{"70.00/0.00"}, f.Wallets(t, f.Provider))

	// Without a key every request is a payout of its own.
	_, made, err = requestPayout(t, f, wallet.PayoutRequest{UserID: f.Provider, Amount: dec("20.00"), Gateway: "manual"})
	require.NoError(t, err)
	require.True(t, made)
	require.Equal(t, []string{"50.00/0.00"}, f.Wallets(t, f.Provider))

	_, _, err = requestPayout(t, f, wallet.PayoutRequest{UserID: f.Provider, Amount: dec("50.01"), Gateway: "manual"})
	requireCode(t, ordem.EInsufficientFunds, err)
	require.Contains(t, err.Error(), "50.01")
	require.Equal(t, []string{"50.00/0.00"}, f.Wallets(t, f.Provider))
	require.Equal(t, "50.00", pending(t, f))

	ref, err := wallet.SetGatewayRef(context.Background(), f.Pool, p.ID, "gw-123")
	require.NoError(t, err)
	require.Equal(t, "gw-123", ref.GatewayRef)
	f.RequireLedgerClean(t)
}

// Ensure deciding a payout moves payouts_pending to world (paid) or back
// to the user (failed) once, queues payout.paid only for a paid one, and
// refuses a payout that is no longer pending unless the request is a
// retry of the decision that made it so.
func TestDecidePayout(t *testing.T) {
	f := ordertest.New(t)
	ctx := context.Background()
	f.Deposit(t, f.Provider, "100.00")
	_, err := f.Pool.Exec(ctx, `INSERT INTO webhook_endpoints (url, secret_legacy, event_types) VALUES ('https://example.com/h', repeat('x', 40), ARRAY['payout.paid'])`)
	require.NoError(t, err)
	paid, _, err := requestPayout(t, f, wallet.PayoutRequest{UserID: f.Provider, Amount: dec("30.00"), Gateway: "manual"})
	require.NoError(t, err)
	failed, _, err := requestPayout(t, f, wallet.PayoutRequest{UserID: f.Provider, Amount: dec("20.00"), Gateway: "manual"})
	require.NoError(t, err)
	require.Equal(t, []string{"50.00/0.00"}, f.Wallets(t, f.Provider))
	require.Equal(t, "50.00", pending(t, f))

	d, err := decide(t, f, wallet.Decision{PayoutID: paid.ID, Outcome: wallet.PayoutPaid, GatewayRef: "E2E-9",
		Reason: "paid by PIX", DecidedBy: f.Admin, Currency: "BRL"})
	require.NoError(t, err)
	require.False(t, d.Replayed)
	require.Equal(t, wallet.PayoutPending, d.Before.Status)
	require.Equal(t, wallet.PayoutPaid, d.After.Status)
	require.Equal(t, "E2E-9", d.After.GatewayRef)
	require.Equal(t, f.Admin, d.After.DecidedBy)
	require.NotNil(t, d.After.DecidedAt)
	require.Equal(t, "20.00", pending(t, f))
	require.Equal(t, []string{"50.00/0.00"}, f.Wallets(t, f.Provider), "paid money leaves Ordem")
	var events int
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE event_type = 'payout.paid'
		AND payload->'data'->>'amount' = '30.00' AND payload->'data'->>'currency' = 'BRL'`).Scan(&events))
	require.Equal(t, 1, events)
	f.RequireLedgerClean(t)

	_, err = decide(t, f, wallet.Decision{PayoutID: paid.ID, Outcome: wallet.PayoutFailed, Reason: "x", DecidedBy: f.Admin})
	requireCode(t, ordem.EInvalidTransition, err)
	_, err = decide(t, f, wallet.Decision{PayoutID: paid.ID, Outcome: wallet.PayoutPaid, Reason: "again", DecidedBy: f.Admin})
	requireCode(t, ordem.EInvalidTransition, err)
	d, err = decide(t, f, wallet.Decision{PayoutID: paid.ID, Outcome: wallet.PayoutPaid, Reason: "again", DecidedBy: f.Admin, Retry: true})
	require.NoError(t, err)
	require.True(t, d.Replayed, "a retry finds its own earlier decision")
	require.Equal(t, "E2E-9", d.After.GatewayRef)

	d, err = decide(t, f, wallet.Decision{PayoutID: failed.ID, Outcome: wallet.PayoutFailed, Reason: "bank refused", DecidedBy: f.Admin})
	require.NoError(t, err)
	require.Equal(t, "bank refused", d.After.FailureReason)
	require.Equal(t, "0.00", pending(t, f))
	require.Equal(t, []string{"70.00/0.00"}, f.Wallets(t, f.Provider), "a failed payout comes back")
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&events))
	require.Equal(t, 1, events, "no event for a failed payout")

	_, err = decide(t, f, wallet.Decision{PayoutID: failed.ID + 1000, Outcome: wallet.PayoutPaid, Reason: "x", DecidedBy: f.Admin})
	require.ErrorIs(t, err, wallet.ErrNoSuchPayout)

	got, err := wallet.GetPayout(ctx, f.Pool, failed.ID, f.Provider)
	require.NoError(t, err)
	require.Equal(t, wallet.PayoutFailed, got.Status)
	_, err = wallet.GetPayout(ctx, f.Pool, failed.ID, f.OtherProvider)
	require.ErrorIs(t, err, wallet.ErrNoSuchPayout, "another user's payout is not found")
	list, err := wallet.ListPayouts(ctx, f.Pool, f.Provider, wallet.PayoutPaid, wallet.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, paid.ID, list[0].ID)
	list, err = wallet.ListPayouts(ctx, f.Pool, 0, "", wallet.Page{Limit: 1})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, failed.ID, list[0].ID, "newest first")
	f.RequireLedgerClean(t)
}

// Ensure the statement lists a user's movements newest first with the
// balance after each, per account or both, paged by entry id.
func TestStatement(t *testing.T) {
	f := ordertest.New(t)
	ctx := context.Background()
	_, _, err := credit(t, f, wallet.Credit{Source: wallet.SourceAdmin, Reference: "r1", UserID: f.Client, Amount: dec("100.00"), CreditedBy: f.Admin})
	require.NoError(t, err)
	_, _, err = requestPayout(t, f, wallet.PayoutRequest{UserID: f.Client, Amount: dec("40.00"), Gateway: "manual"})
	require.NoError(t, err)

	all, err := wallet.Statement(ctx, f.Pool, f.Client, "", 0, 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, wallet.KindPayoutRequest, all[0].Kind)
	require.Equal(t, "-40.00", all[0].Amount.StringFixed(2))
	require.Equal(t, "60.00", all[0].BalanceAfter.StringFixed(2))
	require.Equal(t, string(ledger.Available), all[0].Account)
	require.Equal(t, wallet.KindDeposit, all[1].Kind)
	require.Equal(t, "deposit by admin, reference r1", all[1].Memo)
	require.Zero(t, all[1].OrderID)

	older, err := wallet.Statement(ctx, f.Pool, f.Client, "", all[0].ID, 10)
	require.NoError(t, err)
	require.Len(t, older, 1)
	require.Equal(t, all[1].ID, older[0].ID)
	blocked, err := wallet.Statement(ctx, f.Pool, f.Client, ledger.Blocked, 0, 10)
	require.NoError(t, err)
	require.Empty(t, blocked)
	f.RequireLedgerClean(t)
}

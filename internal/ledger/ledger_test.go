package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.DropShared()
	os.Exit(code)
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// newUsers creates n users with wallets and the platform accounts.
func newUsers(t testing.TB, ctx context.Context, db postgres.DBTX, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		err := db.QueryRow(ctx, `INSERT INTO users (name, email, password_hash, role) VALUES ($1, $2, 'x', 'client') RETURNING id`,
			fmt.Sprintf("user %d", i), fmt.Sprintf("u%d-%d@example.com", i, rand.Int())).Scan(&ids[i])
		require.NoError(t, err)
	}
	_, err := ledger.OpenUserAccounts(ctx, db, 0)
	require.NoError(t, err)
	require.NoError(t, ledger.EnsurePlatformAccounts(ctx, db))
	return ids
}

func deposit(t testing.TB, ctx context.Context, db postgres.DBTX, user int64, amount string) {
	t.Helper()
	_, err := ledger.Post(ctx, db, ledger.Posting{
		IdempotencyKey: fmt.Sprintf("deposit:%d:%d", user, rand.Int()),
		Kind:           "deposit",
		Legs: []ledger.Leg{
			{Account: ledger.WorldAccount, Amount: d(amount).Neg()},
			{Account: ledger.UserAccount(user, ledger.Available), Amount: d(amount)},
		},
	})
	require.NoError(t, err)
}

func balance(t testing.TB, ctx context.Context, db postgres.DBTX, code string) string {
	t.Helper()
	b, err := ledger.AccountBalance(ctx, db, code)
	require.NoError(t, err)
	return b.StringFixed(2)
}

func requireClean(t testing.TB, ctx context.Context, q postgres.DBTX) {
	t.Helper()
	rep, err := ledger.Verify(ctx, q)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
	require.True(t, rep.Total.IsZero())
}

func TestPost(t *testing.T) {
	ctx := context.Background()

	t.Run("Ensure a hold moves money and records balances after each entry", func(t *testing.T) {
		tx := pgtest.Tx(t)
		ids := newUsers(t, ctx, tx, 2)
		u := ids[0]
		deposit(t, ctx, tx, u, "200.00")
		// The hold belongs to an order in progress, or verify would flag it.
		var orderID int64
		require.NoError(t, tx.QueryRow(ctx, `
			INSERT INTO orders (id, client_id, provider_id, title, status, amount, last_proposed_by,
			    proposal_expires_at, platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
			    confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours, dispute_sla_hours,
			    created_at, updated_at)
			VALUES (nextval('orders_id_seq'), $1, $2, 'job', 'in_progress', 150, $1, now(), 5, 10, 10, 36, 72, 12, 48, now(), now())
			RETURNING id`, u, ids[1]).Scan(&orderID))
		res, err := ledger.Post(ctx, tx, ledger.Posting{
			IdempotencyKey: "order:1:hold", Kind: "hold", OrderID: orderID,
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(u, ledger.Available), Amount: d("-150.00")},
				{Account: ledger.UserAccount(u, ledger.Blocked), Amount: d("150.00")},
			},
		})
		require.NoError(t, err)
		require.False(t, res.Replayed)
		require.Len(t, res.Entries, 2)
		avail, ok := res.Balance(ledger.UserAccount(u, ledger.Available))
		require.True(t, ok)
		require.Equal(t, "50.00", avail.StringFixed(2))
		require.Equal(t, "50.00", balance(t, ctx, tx, ledger.UserAccount(u, ledger.Available)))
		require.Equal(t, "150.00", balance(t, ctx, tx, ledger.UserAccount(u, ledger.Blocked)))
		require.Equal(t, "-200.00", balance(t, ctx, tx, ledger.WorldAccount))
		requireClean(t, ctx, tx)
	})

	t.Run("Ensure legs that do not sum to zero are refused and nothing is written", func(t *testing.T) {
		tx := pgtest.Tx(t)
		u := newUsers(t, ctx, tx, 1)[0]
		_, err := ledger.Post(ctx, tx, ledger.Posting{
			IdempotencyKey: "bad", Kind: "deposit",
			Legs: []ledger.Leg{
				{Account: ledger.WorldAccount, Amount: d("-10.00")},
				{Account: ledger.UserAccount(u, ledger.Available), Amount: d("10.01")},
			},
		})
		require.ErrorIs(t, err, ledger.ErrInvalidPosting)
		require.Equal(t, ordem.EInternal, ordem.ErrorCode(err), "a malformed posting is a bug, never a client's refusal")
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM ledger_transactions`).Scan(&n))
		require.Zero(t, n)
	})

	t.Run("Ensure malformed postings are refused", func(t *testing.T) {
		tx := pgtest.Tx(t)
		u := newUsers(t, ctx, tx, 1)[0]
		a := ledger.UserAccount(u, ledger.Available)
		for name, p := range map[string]ledger.Posting{
			"no key":        {Kind: "x", Legs: []ledger.Leg{{a, d("1")}, {ledger.WorldAccount, d("-1")}}},
			"one leg":       {IdempotencyKey: "k", Kind: "x", Legs: []ledger.Leg{{a, d("0")}}},
			"zero leg":      {IdempotencyKey: "k", Kind: "x", Legs: []ledger.Leg{{a, d("0")}, {ledger.WorldAccount, d("0")}}},
			"three decimal": {IdempotencyKey: "k", Kind: "x", Legs: []ledger.Leg{{a, d("1.001")}, {ledger.WorldAccount, d("-1.001")}}},
			"same account":  {IdempotencyKey: "k", Kind: "x", Legs: []ledger.Leg{{a, d("1")}, {a, d("-1")}}},
		} {
			_, err := ledger.Post(ctx, tx, p)
			require.ErrorIs(t, err, ledger.ErrInvalidPosting, name)
		}
	})

	t.Run("Ensure an unknown account is refused", func(t *testing.T) {
		err := postgres.InTx(ctx, pool(t), func(tx pgx.Tx) error {
			_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "k", Kind: "x",
				Legs: []ledger.Leg{{"user:999999:available", d("1")}, {ledger.WorldAccount, d("-1")}}})
			return err
		})
		require.ErrorIs(t, err, ledger.ErrInvalidPosting)
	})
}

var (
	poolOnce sync.Once
	shared   *pgxpool.Pool
)

// pool is a committed database shared by the tests that need commits.
func pool(t *testing.T) *pgxpool.Pool {
	poolOnce.Do(func() { shared = pgtest.Connect(t, pgtest.NewDBURL(t)) })
	return shared
}

func TestIdempotency(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var u, v int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		ids := newUsers(t, ctx, tx, 2)
		u, v = ids[0], ids[1]
		deposit(t, ctx, tx, u, "100.00")
		return nil
	}))
	hold := func(amount string) ledger.Posting {
		return ledger.Posting{IdempotencyKey: "transfer:7", Kind: "transfer",
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(u, ledger.Available), Amount: d(amount).Neg()},
				{Account: ledger.UserAccount(v, ledger.Available), Amount: d(amount)},
			}}
	}
	post := func(p ledger.Posting) (ledger.Result, error) {
		var res ledger.Result
		err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
			var err error
			res, err = ledger.Post(ctx, tx, p)
			return err
		})
		return res, err
	}

	first, err := post(hold("60.00"))
	require.NoError(t, err)

	t.Run("Ensure the same key and request returns the first result and posts nothing", func(t *testing.T) {
		again, err := post(hold("60.00"))
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.TransactionID, again.TransactionID)
		require.Len(t, again.Entries, 2)
		require.Equal(t, "40.00", balance(t, ctx, db, ledger.UserAccount(u, ledger.Available)))
		require.Equal(t, "60.00", balance(t, ctx, db, ledger.UserAccount(v, ledger.Available)))
	})

	t.Run("Ensure the same key with another request is an idempotency conflict", func(t *testing.T) {
		_, err := post(hold("61.00"))
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		require.Equal(t, ordem.EIdempotencyConflict, ordem.ErrorCode(err))
		require.Equal(t, "40.00", balance(t, ctx, db, ledger.UserAccount(u, ledger.Available)))
	})

	t.Run("Ensure concurrent posts of one key post exactly once", func(t *testing.T) {
		p := hold("1.00")
		p.IdempotencyKey = "transfer:8"
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := post(p)
				require.NoError(t, err)
				ids[i] = res.TransactionID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			require.Equal(t, ids[0], id)
		}
		require.Equal(t, "39.00", balance(t, ctx, db, ledger.UserAccount(u, ledger.Available)))
	})
	requireClean(t, ctx, db)
}

func TestInsufficientFunds(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var a, b int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		ids := newUsers(t, ctx, tx, 2)
		a, b = ids[0], ids[1]
		deposit(t, ctx, tx, a, "50.00")
		return nil
	}))
	snapshot := func() string {
		var s string
		require.NoError(t, db.QueryRow(ctx, `
			SELECT (SELECT string_agg(code || '=' || balance, ',' ORDER BY code) FROM ledger_accounts) || '|' ||
			       (SELECT count(*) FROM ledger_transactions) || '|' || (SELECT count(*) FROM ledger_entries)`).Scan(&s))
		return s
	}
	before := snapshot()

	// The credit leg sorts first, so it is written before the debit fails:
	// the refusal must still leave nothing behind.
	err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "t1", Kind: "transfer",
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(a, ledger.Available), Amount: d("-50.01")},
				{Account: ledger.UserAccount(b, ledger.Available), Amount: d("50.01")},
			}})
		return err
	})
	require.ErrorIs(t, err, ledger.ErrInsufficientFunds)
	require.Equal(t, ordem.EInsufficientFunds, ordem.ErrorCode(err))
	var ife *ledger.InsufficientFundsError
	require.True(t, errors.As(err, &ife))
	require.Equal(t, ledger.UserAccount(a, ledger.Available), ife.Account)
	require.Equal(t, before, snapshot())

	// A blocked balance cannot go negative either.
	err = postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "t2", Kind: "release",
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(a, ledger.Blocked), Amount: d("-1.00")},
				{Account: ledger.UserAccount(b, ledger.Available), Amount: d("1.00")},
			}})
		return err
	})
	require.ErrorIs(t, err, ledger.ErrInsufficientFunds)
	require.Equal(t, before, snapshot())

	// The refused key was never claimed: it can be used once funds exist.
	err = postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "t1", Kind: "transfer",
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(a, ledger.Available), Amount: d("-50.00")},
				{Account: ledger.UserAccount(b, ledger.Available), Amount: d("50.00")},
			}})
		return err
	})
	require.NoError(t, err)
	requireClean(t, ctx, db)
}

func TestAppendOnly(t *testing.T) {
	ctx := context.Background()
	tx := pgtest.Tx(t)
	u := newUsers(t, ctx, tx, 1)[0]
	deposit(t, ctx, tx, u, "10.00")
	_, err := tx.Exec(ctx, `SAVEPOINT s`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `UPDATE ledger_entries SET amount = amount + 1`)
	require.ErrorContains(t, err, "append-only")
	_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `DELETE FROM ledger_transactions`)
	require.ErrorContains(t, err, "append-only")
}

// Ensure Verify finds every kind of corruption it promises to, naming the
// account or transaction.
func TestVerifyFindsCorruption(t *testing.T) {
	ctx := context.Background()
	tx := pgtest.Tx(t)
	u := newUsers(t, ctx, tx, 1)[0]
	deposit(t, ctx, tx, u, "10.00")
	requireClean(t, ctx, tx)

	code := ledger.UserAccount(u, ledger.Available)
	_, err := tx.Exec(ctx, `UPDATE ledger_accounts SET balance = balance + 1 WHERE code = $1`, code)
	require.NoError(t, err)
	// Altering an entry needs the append-only trigger off, as an attacker
	// or a careless script with superuser rights would do.
	_, err = tx.Exec(ctx, `ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `UPDATE ledger_entries SET amount = amount + 2 WHERE account_id = (SELECT id FROM ledger_accounts WHERE code = $1)`, code)
	require.NoError(t, err)

	rep, err := ledger.Verify(ctx, tx)
	require.NoError(t, err)
	found := map[string]string{}
	for _, v := range rep.Violations {
		found[v.Check] = v.Subject
	}
	require.Equal(t, "account "+code, found["cached_balance"])
	require.Contains(t, found["entry_altered"], code)
	require.Contains(t, found["zero_sum"], "transaction deposit:")
	require.Equal(t, "table ledger_entries", found["append_only"])
	require.Contains(t, found, "grand_total")
}

// Ensure at least 32 writers posting random transfers through one hot
// platform account never deadlock, fail only with insufficient funds,
// conserve the total and leave Verify clean.
func TestConcurrentTransfers(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var users []int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		users = newUsers(t, ctx, tx, 10)
		for _, u := range users {
			deposit(t, ctx, tx, u, "1000.00")
		}
		return nil
	}))

	const writers, perWriter = 32, 100
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		ok, refused int
		unexpected  []error
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for i := 0; i < perWriter; i++ {
				from := users[rng.IntN(len(users))]
				to := users[rng.IntN(len(users))]
				for to == from {
					to = users[rng.IntN(len(users))]
				}
				amount := decimal.New(rng.Int64N(20000)+2, -2)
				fee := decimal.New(1, -2)
				err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
					_, err := ledger.Post(ctx, tx, ledger.Posting{
						IdempotencyKey: fmt.Sprintf("transfer:%d:%d", w, i), Kind: "transfer",
						Legs: []ledger.Leg{
							{Account: ledger.UserAccount(from, ledger.Available), Amount: amount.Neg()},
							{Account: ledger.UserAccount(to, ledger.Available), Amount: amount.Sub(fee)},
							{Account: ledger.RevenueAccount, Amount: fee},
						},
					})
					return err
				})
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ledger.ErrInsufficientFunds):
					refused++
				default:
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, unexpected)
	require.Equal(t, writers*perWriter, ok+refused)
	t.Logf("%d postings, %d refused for insufficient funds", ok, refused)

	// Platform revenue is sharded: its balance is read from
	// ledger_account_balances (row plus shards), not ledger_accounts.
	var total, revenue decimal.Decimal
	require.NoError(t, db.QueryRow(ctx, `SELECT sum(balance) FROM ledger_account_balances WHERE user_id IS NOT NULL`).Scan(&total))
	require.NoError(t, db.QueryRow(ctx, `SELECT balance FROM ledger_account_balances WHERE code = $1`, ledger.RevenueAccount).Scan(&revenue))
	require.Equal(t, "10000.00", total.Add(revenue).StringFixed(2), "money inside the system is conserved")
	require.Equal(t, decimal.New(int64(ok), -2).StringFixed(2), revenue.StringFixed(2), "one cent of revenue per posting")
	var negative int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM ledger_account_balances WHERE NOT allow_negative AND balance < 0`).Scan(&negative))
	require.Zero(t, negative)
	rep, err := ledger.VerifySnapshot(ctx, db)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
}

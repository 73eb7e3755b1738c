package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/migrations"
)

// postIn posts p in a transaction of its own on db.
func postIn(ctx context.Context, db *pgxpool.Pool, p ledger.Posting) (ledger.Result, error) {
	var res ledger.Result
	err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		var err error
		res, err = ledger.Post(ctx, tx, p)
		return err
	})
	return res, err
}

// shardBalances returns the balance of each shard of account code, shard 0
// being the account's own row.
func shardBalances(t testing.TB, ctx context.Context, q postgres.DBTX, code string) map[int]string {
	t.Helper()
	rows, err := q.Query(ctx, `
		SELECT 0, balance::text FROM ledger_accounts WHERE code = $1
		UNION ALL
		SELECT s.shard, s.balance::text FROM ledger_account_shards s JOIN ledger_accounts a ON a.id = s.account_id WHERE a.code = $1`, code)
	require.NoError(t, err)
	out := map[int]string{}
	for rows.Next() {
		var (
			shard int
			b     string
		)
		require.NoError(t, rows.Scan(&shard, &b))
		out[shard] = b
	}
	require.NoError(t, rows.Err())
	return out
}

func TestEnsurePlatformAccountsShardsThem(t *testing.T) {
	ctx := context.Background()
	tx := pgtest.Tx(t)
	require.NoError(t, ledger.EnsurePlatformAccounts(ctx, tx))
	require.NoError(t, ledger.EnsurePlatformAccounts(ctx, tx), "a second run changes nothing")
	for _, code := range []string{ledger.RevenueAccount, ledger.WorldAccount, ledger.PayoutsPendingAccount} {
		var shards, rows int
		require.NoError(t, tx.QueryRow(ctx, `
			SELECT a.shards, (SELECT count(*) FROM ledger_account_shards s WHERE s.account_id = a.id)
			FROM ledger_accounts a WHERE a.code = $1`, code).Scan(&shards, &rows))
		require.Equal(t, ledger.PlatformShards, shards, code)
		require.Equal(t, ledger.PlatformShards, rows, code)
		require.Equal(t, "0.00", balance(t, ctx, tx, code))
	}
	requireClean(t, ctx, tx)
}

// Ensure postings that all credit platform revenue from many writers land
// on several shards, never wait on one another in a cycle, and add up to
// exactly the revenue AccountBalance and Balances report.
func TestConcurrentHotPostingsExactTotal(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var users []int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		users = newUsers(t, ctx, tx, 20)
		for _, u := range users {
			deposit(t, ctx, tx, u, "500.00")
		}
		return nil
	}))

	const writers, perWriter = 32, 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		fees    = decimal.Zero
		failed  []error
		touched = map[int]bool{}
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < perWriter; i++ {
				from := users[rng.IntN(len(users))]
				to := users[(rng.IntN(len(users)-1)+1+indexOf(users, from))%len(users)]
				amount := decimal.New(rng.Int64N(500)+100, -2)
				fee := decimal.New(rng.Int64N(9)+1, -2)
				res, err := postIn(ctx, db, ledger.Posting{
					IdempotencyKey: fmt.Sprintf("hot:%d:%d", w, i), Kind: "release",
					Legs: []ledger.Leg{
						{Account: ledger.UserAccount(from, ledger.Available), Amount: amount.Neg()},
						{Account: ledger.UserAccount(to, ledger.Available), Amount: amount.Sub(fee)},
						{Account: ledger.RevenueAccount, Amount: fee},
					},
				})
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					fees = fees.Add(fee)
					for _, e := range res.Entries {
						if e.Account == ledger.RevenueAccount {
							touched[e.Shard] = true
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, failed)

	revenue, err := ledger.AccountBalance(ctx, db, ledger.RevenueAccount)
	require.NoError(t, err)
	require.Equal(t, fees.StringFixed(2), revenue.StringFixed(2), "revenue is exactly the fees posted")
	all, err := ledger.Balances(ctx, db, ledger.RevenueAccount, ledger.WorldAccount, ledger.UserAccount(users[0], ledger.Available), "user:0:nobody")
	require.NoError(t, err)
	require.Len(t, all, 3, "an account that does not exist is left out")
	require.Equal(t, revenue.StringFixed(2), all[ledger.RevenueAccount].StringFixed(2))
	require.Equal(t, "-10000.00", all[ledger.WorldAccount].StringFixed(2))

	var users0 decimal.Decimal
	require.NoError(t, db.QueryRow(ctx, `SELECT sum(balance) FROM ledger_account_balances WHERE user_id IS NOT NULL`).Scan(&users0))
	require.Equal(t, "10000.00", users0.Add(revenue).StringFixed(2), "money inside the system is conserved")

	require.NotContains(t, touched, 0, "postings never move a sharded account's own row")
	require.Greater(t, len(touched), 4, "concurrent postings spread over the shards")
	shards := shardBalances(t, ctx, db, ledger.RevenueAccount)
	require.Len(t, shards, ledger.PlatformShards+1)
	require.Equal(t, "0.00", shards[0])
	rep, err := ledger.VerifySnapshot(ctx, db)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
	require.True(t, rep.Total.IsZero())
}

func indexOf(ids []int64, id int64) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

// Ensure an entry on a sharded account reports its shard and that shard's
// balance, and a replay returns the very same entries.
func TestShardedEntryAndReplay(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var u, v int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		ids := newUsers(t, ctx, tx, 2)
		u, v = ids[0], ids[1]
		deposit(t, ctx, tx, u, "100.00")
		return nil
	}))
	p := ledger.Posting{IdempotencyKey: "release:1", Kind: "release", OrderID: 0,
		Legs: []ledger.Leg{
			{Account: ledger.RevenueAccount, Amount: d("5.00")},
			{Account: ledger.UserAccount(u, ledger.Available), Amount: d("-60.00")},
			{Account: ledger.UserAccount(v, ledger.Available), Amount: d("55.00")},
		}}
	first, err := postIn(ctx, db, p)
	require.NoError(t, err)
	require.False(t, first.Replayed)
	require.Len(t, first.Entries, 3)
	// Entries come in lock order: descending account code.
	require.Equal(t, []string{ledger.UserAccount(v, ledger.Available), ledger.UserAccount(u, ledger.Available), ledger.RevenueAccount},
		[]string{first.Entries[0].Account, first.Entries[1].Account, first.Entries[2].Account})
	rev := first.Entries[2]
	require.GreaterOrEqual(t, rev.Shard, 1)
	require.LessOrEqual(t, rev.Shard, ledger.PlatformShards)
	require.Equal(t, "5.00", rev.BalanceAfter.StringFixed(2), "the shard's balance right after the entry")
	require.Equal(t, "5.00", shardBalances(t, ctx, db, ledger.RevenueAccount)[rev.Shard])
	bal, ok := first.Balance(ledger.UserAccount(u, ledger.Available))
	require.True(t, ok)
	require.Equal(t, "40.00", bal.StringFixed(2))
	require.Zero(t, first.Entries[0].Shard)

	again, err := postIn(ctx, db, p)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.TransactionID, again.TransactionID)
	require.True(t, first.CreatedAt.Equal(again.CreatedAt))
	require.Len(t, again.Entries, 3)
	for i, e := range again.Entries {
		f := first.Entries[i]
		require.Equal(t, f.ID, e.ID)
		require.Equal(t, f.AccountID, e.AccountID)
		require.Equal(t, f.Account, e.Account)
		require.Equal(t, f.Shard, e.Shard)
		require.Equal(t, f.Amount.StringFixed(2), e.Amount.StringFixed(2))
		require.Equal(t, f.BalanceAfter.StringFixed(2), e.BalanceAfter.StringFixed(2))
	}
	require.Equal(t, "5.00", balance(t, ctx, db, ledger.RevenueAccount), "a replay moves nothing")
	requireClean(t, ctx, db)
}

// Ensure a debit of a sharded account that must stay non-negative is
// checked against the account's total, not one shard: it may empty the
// account across shards, and one cent more is refused naming the account
// with nothing written.
func TestShardedDebitChecksTotal(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var u int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		u = newUsers(t, ctx, tx, 1)[0]
		deposit(t, ctx, tx, u, "1000.00")
		return nil
	}))
	// Payout requests from concurrent transactions land on several shards
	// of payouts_pending.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := postIn(ctx, db, ledger.Posting{IdempotencyKey: fmt.Sprintf("payout:%d:request", i), Kind: "payout_request",
				Legs: []ledger.Leg{
					{Account: ledger.UserAccount(u, ledger.Available), Amount: d("-25.00")},
					{Account: ledger.PayoutsPendingAccount, Amount: d("25.00")},
				}})
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	require.Equal(t, "200.00", balance(t, ctx, db, ledger.PayoutsPendingAccount))

	snapshot := func() string {
		var s string
		require.NoError(t, db.QueryRow(ctx, `
			SELECT (SELECT string_agg(code || '=' || balance, ',' ORDER BY code) FROM ledger_account_balances) || '|' ||
			       (SELECT string_agg(account_id || ':' || shard || '=' || balance, ',' ORDER BY account_id, shard) FROM ledger_account_shards) || '|' ||
			       (SELECT count(*) FROM ledger_transactions) || '|' || (SELECT count(*) FROM ledger_entries)`).Scan(&s))
		return s
	}
	before := snapshot()
	_, err := postIn(ctx, db, ledger.Posting{IdempotencyKey: "payout:all:paid", Kind: "payout_paid",
		Legs: []ledger.Leg{
			{Account: ledger.PayoutsPendingAccount, Amount: d("-200.01")},
			{Account: ledger.WorldAccount, Amount: d("200.01")},
		}})
	var ife *ledger.InsufficientFundsError
	require.True(t, errors.As(err, &ife), "%v", err)
	require.Equal(t, ledger.PayoutsPendingAccount, ife.Account)
	require.ErrorIs(t, err, ledger.ErrInsufficientFunds)
	require.Equal(t, before, snapshot(), "a refused debit writes nothing")

	res, err := postIn(ctx, db, ledger.Posting{IdempotencyKey: "payout:all:paid", Kind: "payout_paid",
		Legs: []ledger.Leg{
			{Account: ledger.PayoutsPendingAccount, Amount: d("-200.00")},
			{Account: ledger.WorldAccount, Amount: d("200.00")},
		}})
	require.NoError(t, err, "the total covers a debit larger than any one shard")
	require.Equal(t, "0.00", balance(t, ctx, db, ledger.PayoutsPendingAccount))
	pending, ok := res.Balance(ledger.PayoutsPendingAccount)
	require.True(t, ok)
	require.True(t, pending.IsNegative(), "the shard debited went below zero; the account did not")
	require.Equal(t, "-800.00", balance(t, ctx, db, ledger.WorldAccount))
	requireClean(t, ctx, db)
}

// Ensure a debit that waits for another transaction's lock on the account
// sees the balance that transaction committed: a credit committed while it
// waited makes it succeed, not fail for the balance it read before waiting.
func TestDebitWaitingOnLockSeesCommittedCredit(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	var u, v int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		ids := newUsers(t, ctx, tx, 2)
		u, v = ids[0], ids[1]
		return nil
	}))
	credit, err := db.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = credit.Rollback(ctx) }()
	_, err = ledger.Post(ctx, credit, ledger.Posting{IdempotencyKey: "deposit:late", Kind: "deposit",
		Legs: []ledger.Leg{
			{Account: ledger.WorldAccount, Amount: d("-100.00")},
			{Account: ledger.UserAccount(u, ledger.Available), Amount: d("100.00")},
		}})
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := postIn(ctx, db, ledger.Posting{IdempotencyKey: "transfer:waits", Kind: "transfer",
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(u, ledger.Available), Amount: d("-60.00")},
				{Account: ledger.UserAccount(v, ledger.Available), Amount: d("60.00")},
			}})
		done <- err
	}()
	// The transfer reads u's balance (0.00 before the credit commits) and
	// then waits on u's row, locked by the credit.
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, db.QueryRow(ctx, `
			SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND a.datname = current_database()`).Scan(&waiting))
		return waiting > 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, credit.Commit(ctx))
	require.NoError(t, <-done)
	require.Equal(t, "40.00", balance(t, ctx, db, ledger.UserAccount(u, ledger.Available)))
	require.Equal(t, "60.00", balance(t, ctx, db, ledger.UserAccount(v, ledger.Available)))
	requireClean(t, ctx, db)
}

// Ensure ledger_post, the database's own entry point, refuses a malformed
// posting even from a caller that skips ledger.Post's checks.
func TestPostFunctionRefusesMalformed(t *testing.T) {
	ctx := context.Background()
	tx := pgtest.Tx(t)
	u := newUsers(t, ctx, tx, 1)[0]
	a := ledger.UserAccount(u, ledger.Available)
	for name, c := range map[string]struct {
		accounts []string
		amounts  []string
		code     string
	}{
		"ascending order": {[]string{ledger.WorldAccount, a}, []string{"-1", "1"}, "OL000"},
		"same account":    {[]string{a, a}, []string{"-1", "1"}, "OL000"},
		"not zero":        {[]string{a, ledger.WorldAccount}, []string{"1", "-2"}, "OL000"},
		"three decimals":  {[]string{a, ledger.WorldAccount}, []string{"1.001", "-1.001"}, "OL000"},
		"one leg":         {[]string{a}, []string{"1"}, "OL000"},
		"unknown account": {[]string{"user:0:available", ledger.WorldAccount}, []string{"1", "-1"}, "OL002"},
		"insufficient":    {[]string{a, ledger.WorldAccount}, []string{"-1", "1"}, "OL003"},
	} {
		_, err := tx.Exec(ctx, `SAVEPOINT s`)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `SELECT * FROM ledger_post('k', sha256('k'), 'x', NULL, '', $1, $2::numeric[])`, c.accounts, c.amounts)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: %v", name, err)
		require.Equal(t, c.code, pgErr.Code, name)
		_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM ledger_transactions`).Scan(&n))
	require.Zero(t, n)
}

// Ensure Verify checks a sharded account shard by shard: a tampered shard
// balance, an entry on a shard that does not exist, a missing shard and an
// edited entry on a shard are each named.
func TestVerifyFindsShardCorruption(t *testing.T) {
	ctx := context.Background()
	tx := pgtest.Tx(t)
	ids := newUsers(t, ctx, tx, 2)
	deposit(t, ctx, tx, ids[0], "50.00")
	res, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "fee", Kind: "release",
		Legs: []ledger.Leg{
			{Account: ledger.UserAccount(ids[0], ledger.Available), Amount: d("-10.00")},
			{Account: ledger.UserAccount(ids[1], ledger.Available), Amount: d("7.00")},
			{Account: ledger.RevenueAccount, Amount: d("3.00")},
		}})
	require.NoError(t, err)
	requireClean(t, ctx, tx)
	shard := res.Entries[2].Shard
	require.Positive(t, shard)
	violations := func() map[string][]string {
		rep, err := ledger.Verify(ctx, tx)
		require.NoError(t, err)
		found := map[string][]string{}
		for _, v := range rep.Violations {
			found[v.Check] = append(found[v.Check], v.Subject+": "+v.Detail)
		}
		return found
	}
	step := func(name string, sql string, args ...any) map[string][]string {
		t.Helper()
		_, err := tx.Exec(ctx, `SAVEPOINT s`)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, sql, args...)
		require.NoError(t, err, name)
		found := violations()
		_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
		require.NoError(t, err)
		return found
	}

	found := step("tampered shard", `UPDATE ledger_account_shards SET balance = balance + 1
		WHERE shard = $1 AND account_id = (SELECT id FROM ledger_accounts WHERE code = $2)`, shard, ledger.RevenueAccount)
	require.Equal(t, []string{fmt.Sprintf("account %s shard %d: shard balance 4.00 but entries sum to 3.00", ledger.RevenueAccount, shard)},
		found["shard_balance"])
	require.Contains(t, found, "grand_total")
	require.NotContains(t, found, "cached_balance", "the row is untouched")

	found = step("tampered row", `UPDATE ledger_accounts SET balance = balance + 5 WHERE code = $1`, ledger.RevenueAccount)
	require.Equal(t, []string{"account " + ledger.RevenueAccount + ": cached balance 5.00 but entries sum to 0"}, found["cached_balance"])

	found = step("entry on a missing shard", `
		INSERT INTO ledger_entries (transaction_id, account_id, shard, amount, balance_after)
		SELECT $1, id, 99, 1, 1 FROM ledger_accounts WHERE code = $2`, res.TransactionID, ledger.RevenueAccount)
	require.Equal(t, []string{"account " + ledger.RevenueAccount + " shard 99: entries sum to 1.00 on a shard that does not exist"}, found["shard_balance"])

	// The deposit landed on a random world shard; delete one it did not
	// touch, so the only finding is the missing shard itself.
	found = step("missing shard", `DELETE FROM ledger_account_shards s
		USING ledger_accounts a
		WHERE s.account_id = a.id AND a.code = $1
		  AND s.shard = (SELECT max(x.shard) FROM ledger_account_shards x WHERE x.account_id = a.id
		                 AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.account_id = a.id AND e.shard = x.shard))`,
		ledger.WorldAccount)
	require.Equal(t, []string{fmt.Sprintf("account %s: has %d of its %d shards", ledger.WorldAccount, ledger.PlatformShards-1, ledger.PlatformShards)},
		found["shard_balance"])

	_, err = tx.Exec(ctx, `ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`)
	require.NoError(t, err)
	found = step("edited entry", `UPDATE ledger_entries SET amount = amount + 1 WHERE id = $1`, res.Entries[2].ID)
	require.Len(t, found["entry_altered"], 1)
	require.Contains(t, found["entry_altered"][0], fmt.Sprintf("on account %s shard %d", ledger.RevenueAccount, shard))
	require.Contains(t, found, "zero_sum")
	require.Contains(t, found, "shard_balance")
}

// legacyPost writes a posting the way Post did before migration 00019
// (one UPDATE of the account row and one entry per leg), for a database
// still at the version before 00019.
func legacyPost(t *testing.T, ctx context.Context, tx pgx.Tx, key string, legs ...ledger.Leg) {
	t.Helper()
	var id int64
	require.NoError(t, tx.QueryRow(ctx, `
		INSERT INTO ledger_transactions (idempotency_key, request_hash, kind) VALUES ($1, sha256(convert_to($1, 'UTF8')), 'legacy') RETURNING id`,
		key).Scan(&id))
	for _, l := range legs {
		tag, err := tx.Exec(ctx, `
			WITH moved AS (
			    UPDATE ledger_accounts SET balance = balance + $3, updated_at = now() WHERE code = $2 RETURNING id, balance
			)
			INSERT INTO ledger_entries (transaction_id, account_id, amount, balance_after)
			SELECT $1, id, $3, balance FROM moved`, id, l.Account, l.Amount)
		require.NoError(t, err)
		require.EqualValues(t, 1, tag.RowsAffected(), l.Account)
	}
}

// fastPostMigration is the version of migrations/00019_ledger_fast_post.sql.
const fastPostMigration = 19

// Ensure migration 00019 shards the platform accounts of a database that
// already has money in them, keeping every balance exact and the ledger
// verifiable, and that its down migration folds the shards back.
func TestMigrationShardsExistingPlatformAccounts(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewEmptyDBURL(t)
	db := pgtest.Connect(t, url)
	sqlDB := migrations.OpenDB(db)
	defer sqlDB.Close()
	goose, err := migrations.Provider(sqlDB)
	require.NoError(t, err)
	_, err = goose.UpTo(ctx, fastPostMigration-1)
	require.NoError(t, err)

	var u, v int64
	require.NoError(t, postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		for _, id := range []*int64{&u, &v} {
			require.NoError(t, tx.QueryRow(ctx, `INSERT INTO users (name, email, password_hash, role) VALUES ('u', $1, 'x', 'client') RETURNING id`,
				fmt.Sprintf("m%d@example.com", rand.Int())).Scan(id))
		}
		_, err := ledger.OpenUserAccounts(ctx, tx, 0)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `INSERT INTO ledger_accounts (code, kind, allow_negative) VALUES
			('platform:revenue', 'revenue', false), ('platform:world', 'world', true), ('platform:payouts_pending', 'payouts_pending', false)`)
		require.NoError(t, err)
		ua, va := ledger.UserAccount(u, ledger.Available), ledger.UserAccount(v, ledger.Available)
		legacyPost(t, ctx, tx, "deposit", ledger.Leg{Account: ledger.WorldAccount, Amount: d("-300.00")}, ledger.Leg{Account: ua, Amount: d("300.00")})
		legacyPost(t, ctx, tx, "release", ledger.Leg{Account: ua, Amount: d("-100.00")}, ledger.Leg{Account: va, Amount: d("95.00")},
			ledger.Leg{Account: ledger.RevenueAccount, Amount: d("5.00")})
		legacyPost(t, ctx, tx, "payout", ledger.Leg{Account: va, Amount: d("-80.00")}, ledger.Leg{Account: ledger.PayoutsPendingAccount, Amount: d("80.00")})
		return nil
	}))
	want := map[string]string{
		ledger.UserAccount(u, ledger.Available): "200.00", ledger.UserAccount(v, ledger.Available): "15.00",
		ledger.RevenueAccount: "5.00", ledger.WorldAccount: "-300.00", ledger.PayoutsPendingAccount: "80.00",
	}

	_, err = goose.UpTo(ctx, fastPostMigration)
	require.NoError(t, err)
	db.Reset() // connections planned against the version before
	for code, b := range want {
		require.Equal(t, b, balance(t, ctx, db, code), code)
	}
	for _, code := range []string{ledger.RevenueAccount, ledger.WorldAccount, ledger.PayoutsPendingAccount} {
		shards := shardBalances(t, ctx, db, code)
		require.Len(t, shards, ledger.PlatformShards+1, code)
		require.Equal(t, want[code], shards[0], "the balance stays on the row, shard 0")
	}
	rep, err := ledger.VerifySnapshot(ctx, db)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
	require.True(t, rep.Total.IsZero())

	// New postings go to the shards; paying the payout debits 80.00 that
	// sits on the row, from a shard, because the account's total covers it.
	_, err = postIn(ctx, db, ledger.Posting{IdempotencyKey: "release:2", Kind: "release",
		Legs: []ledger.Leg{
			{Account: ledger.UserAccount(u, ledger.Available), Amount: d("-50.00")},
			{Account: ledger.UserAccount(v, ledger.Available), Amount: d("47.50")},
			{Account: ledger.RevenueAccount, Amount: d("2.50")},
		}})
	require.NoError(t, err)
	_, err = postIn(ctx, db, ledger.Posting{IdempotencyKey: "payout:paid", Kind: "payout_paid",
		Legs: []ledger.Leg{
			{Account: ledger.PayoutsPendingAccount, Amount: d("-80.00")},
			{Account: ledger.WorldAccount, Amount: d("80.00")},
		}})
	require.NoError(t, err)
	want[ledger.UserAccount(u, ledger.Available)] = "150.00"
	want[ledger.UserAccount(v, ledger.Available)] = "62.50"
	want[ledger.RevenueAccount] = "7.50"
	want[ledger.WorldAccount] = "-220.00"
	want[ledger.PayoutsPendingAccount] = "0.00"
	for code, b := range want {
		require.Equal(t, b, balance(t, ctx, db, code), code)
	}
	require.Equal(t, "5.00", shardBalances(t, ctx, db, ledger.RevenueAccount)[0], "postings never move the row")
	rep, err = ledger.VerifySnapshot(ctx, db)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)

	// Down: each account is one row again holding its whole balance, and
	// every entry's balance_after is its account's running sum.
	_, err = goose.DownTo(ctx, fastPostMigration-1)
	require.NoError(t, err)
	db.Reset()
	for code, b := range want {
		var got string
		require.NoError(t, db.QueryRow(ctx, `SELECT balance::text FROM ledger_accounts WHERE code = $1`, code).Scan(&got))
		require.Equal(t, b, got, code)
	}
	var broken int
	require.NoError(t, db.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM ledger_accounts a
		        WHERE a.balance <> (SELECT coalesce(sum(amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)) +
		       (SELECT count(*) FROM (SELECT balance_after, sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
		                              FROM ledger_entries) r WHERE r.running <> r.balance_after)`).Scan(&broken))
	require.Zero(t, broken)

	_, err = goose.UpTo(ctx, fastPostMigration)
	require.NoError(t, err)
	db.Reset()
	rep, err = ledger.VerifySnapshot(ctx, db)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
	for code, b := range want {
		require.Equal(t, b, balance(t, ctx, db, code), code)
	}
}

// Ensure a platform account that is not sharded (created before migration
// 00019 by hand, or by an older binary) still takes postings, on its row.
func TestUnshardedPlatformAccountPostsOnItsRow(t *testing.T) {
	ctx := context.Background()
	tx := pgtest.Tx(t)
	var u int64
	require.NoError(t, tx.QueryRow(ctx, `INSERT INTO users (name, email, password_hash, role) VALUES ('u', $1, 'x', 'client') RETURNING id`,
		fmt.Sprintf("unsharded%d@example.com", rand.Int())).Scan(&u))
	_, err := ledger.OpenUserAccounts(ctx, tx, u)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO ledger_accounts (code, kind, allow_negative) VALUES
		('platform:world', 'world', true), ('platform:revenue', 'revenue', false)`)
	require.NoError(t, err)

	res, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "deposit", Kind: "deposit",
		Legs: []ledger.Leg{
			{Account: ledger.WorldAccount, Amount: d("-30.00")},
			{Account: ledger.UserAccount(u, ledger.Available), Amount: d("30.00")},
		}})
	require.NoError(t, err)
	world, ok := res.Balance(ledger.WorldAccount)
	require.True(t, ok)
	require.Equal(t, "-30.00", world.StringFixed(2))
	_, err = ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "fee", Kind: "release",
		Legs: []ledger.Leg{
			{Account: ledger.UserAccount(u, ledger.Available), Amount: d("-2.00")},
			{Account: ledger.RevenueAccount, Amount: d("2.00")},
		}})
	require.NoError(t, err)
	for _, e := range res.Entries {
		require.Zero(t, e.Shard)
	}
	require.Equal(t, map[int]string{0: "2.00"}, shardBalances(t, ctx, tx, ledger.RevenueAccount))
	require.Equal(t, "-30.00", balance(t, ctx, tx, ledger.WorldAccount))
	require.Equal(t, "28.00", balance(t, ctx, tx, ledger.UserAccount(u, ledger.Available)))
	requireClean(t, ctx, tx)
}

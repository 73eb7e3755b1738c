package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
)

// benchUsers is how many funded users the postings move money between;
// with this many, two uniform postings rarely share an account.
const benchUsers = 1000

// benchFunding is each user's opening balance: far more than any run can
// move out, so a posting never fails for insufficient funds.
var benchFunding = decimal.RequireFromString("1000000.00")

// BenchmarkPost measures committed postings per second with exactly N
// concurrent writers, each posting in its own transaction (InTx + Post,
// as every production caller does) with a unique idempotency key.
//
//   - uniform: a transfer between two random users' available accounts.
//   - hot: the same transfer, but 0.01 of it goes to platform:revenue, so
//     every posting credits that one account, like a platform fee does.
//     The account is sharded as in production (EnsurePlatformAccounts):
//     each posting locks one of its PlatformShards shards until commit.
//
// Each round gets a fresh database, and the ledger is verified after it.
// Run with: go test -run '^$' -bench BenchmarkPost -benchtime=10s ./internal/ledger/
func BenchmarkPost(b *testing.B) {
	for _, writers := range []int{8, 32} {
		for _, workload := range []string{"uniform", "hot"} {
			b.Run(fmt.Sprintf("writers=%d/%s", writers, workload), func(b *testing.B) { benchPost(b, writers, workload) })
		}
	}
}

func benchPost(b *testing.B, writers int, workload string) {
	ctx := context.Background()
	db := benchDB(b, ctx)
	require.GreaterOrEqual(b, int(db.Config().MaxConns), writers, "pool must have a connection per writer")
	users := benchSetupUsers(b, ctx, db)
	benchWarmPool(b, ctx, db, writers)

	var (
		next     atomic.Int64 // postings handed out so far
		failures atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	latencies := make([][]time.Duration, writers)
	cent := decimal.New(1, -2)

	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			lat := make([]time.Duration, 0, b.N/writers+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				from := users[rng.IntN(len(users))]
				to := users[rng.IntN(len(users)-1)]
				if to == from {
					to = users[len(users)-1]
				}
				// 1.00 to 10.00, whole cents.
				amount := decimal.New(int64(100+rng.IntN(901)), -2)
				legs := []ledger.Leg{{Account: ledger.UserAccount(from, ledger.Available), Amount: amount.Neg()}}
				switch workload {
				case "hot":
					legs = append(legs,
						ledger.Leg{Account: ledger.UserAccount(to, ledger.Available), Amount: amount.Sub(cent)},
						ledger.Leg{Account: ledger.RevenueAccount, Amount: cent})
				default:
					legs = append(legs, ledger.Leg{Account: ledger.UserAccount(to, ledger.Available), Amount: amount})
				}
				p := ledger.Posting{
					IdempotencyKey: fmt.Sprintf("bench:%d:%d", w, i),
					Kind:           "transfer",
					Legs:           legs,
				}
				t0 := time.Now()
				err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
					_, err := ledger.Post(ctx, tx, p)
					return err
				})
				lat = append(lat, time.Since(t0))
				if err != nil {
					failures.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
			latencies[w] = lat
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d postings failed; first: %v", n, b.N, firstErr)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "postings/s")
	all := make([]time.Duration, 0, b.N)
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}

	rep, err := ledger.VerifySnapshot(ctx, db)
	require.NoError(b, err)
	require.Empty(b, rep.Violations, "ledger violations after the benchmark")
	require.True(b, rep.Total.IsZero(), "ledger total %s", rep.Total)
	require.Equal(b, int64(b.N+benchUsers*benchHistory), rep.Transactions, "one transaction per posting plus the history")
}

// benchHistory is how many deposits each user has in the ledger before
// the clock starts. A ledger with history is the steady state worth
// measuring, and ANALYZE must see it: on a near-empty, analyzed
// ledger_transactions, each connection caches a sequential-scan plan for the
// ledger_entries -> ledger_transactions foreign-key check, and every posting
// then scans the whole (growing) table until autovacuum re-analyzes it.
const benchHistory = 20

// benchSetupUsers creates benchUsers users with wallets and the platform
// accounts, funds each with benchHistory deposits from the world account
// (written in bulk, with the balances and running balance_after that
// postings would have produced), analyzes, and returns the user ids.
func benchSetupUsers(b *testing.B, ctx context.Context, db *pgxpool.Pool) []int64 {
	b.Helper()
	var ids []int64
	err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			INSERT INTO users (name, email, password_hash, role)
			SELECT 'bench ' || g, 'bench' || g || '@example.com', 'x', 'client'
			FROM generate_series(1, $1) g
			RETURNING id`, benchUsers)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		if _, err := ledger.OpenUserAccounts(ctx, tx, 0); err != nil {
			return err
		}
		if err := ledger.EnsurePlatformAccounts(ctx, tx); err != nil {
			return err
		}
		// Deposit t (1..n*history) moves $3 from the world account to the
		// available account of user number (t-1)%n+1. Ids are explicit so
		// that balance_after is the running sum in id order, as verify
		// checks: the world's t-th entry is -$3*t, a user's k-th is $3*k.
		batch := &pgx.Batch{}
		batch.Queue(`
			INSERT INTO ledger_transactions (id, idempotency_key, request_hash, kind, memo)
			SELECT t, 'bench:history:' || t, sha256(('bench:history:' || t)::bytea), 'deposit', 'benchmark history'
			FROM generate_series(1, $1::bigint * $2) t`, benchUsers, benchHistory)
		batch.Queue(`
			INSERT INTO ledger_entries (id, transaction_id, account_id, amount, balance_after)
			SELECT 2 * t - 1, t, (SELECT id FROM ledger_accounts WHERE code = $4), -$3::numeric, -$3::numeric * t
			FROM generate_series(1, $1::bigint * $2) t
			UNION ALL
			SELECT 2 * t, t, w.id, $3::numeric, $3::numeric * ((t - 1) / $1 + 1)
			FROM generate_series(1, $1::bigint * $2) t
			JOIN (SELECT row_number() OVER (ORDER BY id) AS n, id
			      FROM ledger_accounts WHERE kind = 'available') w ON w.n = (t - 1) % $1 + 1`,
			benchUsers, benchHistory, benchFunding.Div(decimal.NewFromInt(benchHistory)), ledger.WorldAccount)
		batch.Queue(`
			UPDATE ledger_accounts a SET balance = s.total
			FROM (SELECT account_id, sum(amount) AS total FROM ledger_entries GROUP BY account_id) s
			WHERE a.id = s.account_id`)
		batch.Queue(`SELECT setval('ledger_transactions_id_seq', $1::bigint * $2)`, benchUsers, benchHistory)
		batch.Queue(`SELECT setval('ledger_entries_id_seq', 2 * $1::bigint * $2)`, benchUsers, benchHistory)
		return tx.SendBatch(ctx, batch).Close()
	})
	require.NoError(b, err, "set up benchmark users")
	require.Len(b, ids, benchUsers)
	_, err = db.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	return ids
}

// benchDB returns a pool on a fresh migrated database. With BENCH_PGHOST
// set (a Unix-socket directory, as scripts/bench.sh sets it), the pool
// connects through it instead of TEST_DATABASE_URL's host: pgbench, the
// ceiling the ledger is compared with, talks to the server that way, and
// TCP loopback costs every round trip more CPU on both ends. Connections
// are named benchApplicationName, so scripts/bench.sh can tell the
// benchmark's backends from other clients of a shared server.
func benchDB(b *testing.B, ctx context.Context) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDBURL(b))
	require.NoError(b, err)
	if host := os.Getenv("BENCH_PGHOST"); host != "" {
		cfg.ConnConfig.Host = host
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = benchApplicationName
	cfg.MaxConns = 40
	db, err := postgres.ConnectConfig(ctx, cfg)
	require.NoError(b, err)
	b.Cleanup(db.Close)
	return db
}

// benchApplicationName is the application_name of the benchmark's
// connections.
const benchApplicationName = "ordem-ledger-bench"

// benchWarmPool opens n connections before the clock starts, so the run
// measures postings, not connection setup.
func benchWarmPool(b *testing.B, ctx context.Context, db *pgxpool.Pool, n int) {
	b.Helper()
	conns := make([]*pgxpool.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := db.Acquire(ctx)
		require.NoError(b, err)
		require.NoError(b, c.Ping(ctx))
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}

package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
// concurrent writers, each posting in its own transaction (InTx + Post)
// with a unique idempotency key.
//
//   - uniform: a transfer between two random users' available accounts.
//   - hot: the same transfer, but 0.01 of it goes to platform:revenue, so
//     every posting updates (and row-locks until commit) that one account,
//     like a platform fee does.
//
// Each round gets a fresh database, and the ledger is verified after it.
// Run with: go test -run '^$' -bench BenchmarkPost -benchtime=10s ./internal/ledger/
func BenchmarkPost(b *testing.B) {
	for _, writers := range []int{8, 32} {
		for _, hot := range []bool{false, true} {
			name := fmt.Sprintf("writers=%d/uniform", writers)
			if hot {
				name = fmt.Sprintf("writers=%d/hot", writers)
			}
			b.Run(name, func(b *testing.B) { benchPost(b, writers, hot) })
		}
	}
}

func benchPost(b *testing.B, writers int, hot bool) {
	ctx := context.Background()
	db := pgtest.NewDB(b)
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
				if hot {
					legs = append(legs,
						ledger.Leg{Account: ledger.UserAccount(to, ledger.Available), Amount: amount.Sub(cent)},
						ledger.Leg{Account: ledger.RevenueAccount, Amount: cent})
				} else {
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
	require.Equal(b, int64(b.N+1), rep.Transactions, "one transaction per posting plus the funding")
}

// benchSetupUsers creates benchUsers users with wallets and the platform
// accounts, funds each from the world account in one posting, and returns
// their ids.
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
		legs := make([]ledger.Leg, 0, len(ids)+1)
		legs = append(legs, ledger.Leg{Account: ledger.WorldAccount, Amount: benchFunding.Mul(decimal.NewFromInt(int64(len(ids)))).Neg()})
		for _, id := range ids {
			legs = append(legs, ledger.Leg{Account: ledger.UserAccount(id, ledger.Available), Amount: benchFunding})
		}
		_, err = ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "bench:funding", Kind: "deposit", Legs: legs})
		return err
	})
	require.NoError(b, err, "set up benchmark users")
	_, err = db.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	return ids
}

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

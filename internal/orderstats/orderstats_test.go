package orderstats_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/orderstats"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/migrations"
)

// market is a database with a client and a provider to hang orders on.
type market struct {
	pool             *pgxpool.Pool
	client, provider int64
	next             int64
}

func newMarket(t *testing.T, pool *pgxpool.Pool) *market {
	t.Helper()
	m := &market{pool: pool, next: 1000}
	ctx := context.Background()
	for _, u := range []struct {
		role string
		dst  *int64
	}{{"client", &m.client}, {"provider", &m.provider}} {
		require.NoError(t, pool.QueryRow(ctx, `
			INSERT INTO users (name, email, password_hash, role) VALUES ($1, $1 || '@stats.test', 'x', $1) RETURNING id`,
			u.role).Scan(u.dst))
	}
	return m
}

// execer runs statements; pools and transactions have it.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// create inserts a negotiating order of amount, as the create activity
// does, and returns its id.
func (m *market) create(t *testing.T, q execer, amount string) int64 {
	t.Helper()
	m.next++
	_, err := q.Exec(context.Background(), `
		INSERT INTO orders (id, client_id, provider_id, title, status, amount, last_proposed_by, proposal_expires_at,
		                    platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
		                    confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours,
		                    dispute_sla_hours, created_at, updated_at)
		VALUES ($1, $2, $3, 'Order', 'negotiating', $4, $2, now() + interval '3 days', 5, 10, 10, 36, 72, 12, 48, now(), now())`,
		m.next, m.client, m.provider, amount)
	require.NoError(t, err)
	return m.next
}

// set updates an order's columns as a transition's orders.Update does.
func set(t *testing.T, pool *pgxpool.Pool, id int64, assignments string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `UPDATE orders SET `+assignments+`, updated_at = now() WHERE id = $1`,
		append([]any{id}, args...)...)
	require.NoError(t, err)
}

func requireConsistent(t *testing.T, pool *pgxpool.Pool) orderstats.Stats {
	t.Helper()
	rep, err := orderstats.Check(context.Background(), pool)
	require.NoError(t, err)
	require.Empty(t, rep.Mismatches)
	s, err := orderstats.Read(context.Background(), pool)
	require.NoError(t, err)
	return s
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// Ensure the counters follow every kind of write of an order, in the
// writing transaction: creation, a counter-proposal changing the amount,
// each status change with its milestones, an auto-confirmation, a
// deletion; that an update touching nothing counted leaves them alone;
// and that they equal a recount after each step.
func TestCountersFollowEveryWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	m := newMarket(t, pool)
	empty := requireConsistent(t, pool)
	for st, tot := range empty {
		require.Zero(t, tot.Orders, st)
	}

	a := m.create(t, pool, "100.00")
	b := m.create(t, pool, "300.00")
	c := m.create(t, pool, "50.00")
	s := requireConsistent(t, pool)
	require.Equal(t, int64(3), s["negotiating"].Orders)
	require.True(t, dec("450.00").Equal(s["negotiating"].Amount))

	// A counter-proposal moves the amount within the status.
	set(t, pool, a, `amount = 120`)
	s = requireConsistent(t, pool)
	require.True(t, dec("470.00").Equal(s["negotiating"].Amount))

	// A: accepted, delivered, confirmed by the client 90 s later.
	set(t, pool, a, `status = 'in_progress', accepted_at = now()`)
	set(t, pool, a, `status = 'delivered', delivered_at = now() - interval '90 seconds', confirm_deadline = now() + interval '36 hours'`)
	set(t, pool, a, `status = 'completed', closed_at = delivered_at + interval '90 seconds'`)
	// B: delivered, contested 30 s after delivery, resolved.
	set(t, pool, b, `status = 'in_progress', accepted_at = now()`)
	set(t, pool, b, `status = 'delivered', delivered_at = now() - interval '30 seconds'`)
	set(t, pool, b, `status = 'disputed', contested_at = delivered_at + interval '30 seconds'`)
	s = requireConsistent(t, pool)
	require.Equal(t, int64(1), s["disputed"].Answered)
	require.True(t, dec("30").Equal(s["disputed"].AnswerSeconds))
	set(t, pool, b, `status = 'resolved', closed_at = now()`)
	// C: auto-confirmed: no client answer.
	set(t, pool, c, `status = 'in_progress', accepted_at = now()`)
	set(t, pool, c, `status = 'delivered', delivered_at = now()`)
	set(t, pool, c, `status = 'completed', auto_confirmed = true, closed_at = now()`)

	s = requireConsistent(t, pool)
	require.Equal(t, orderstats.Totals{Orders: 2, AutoConfirmed: 1, Delivered: 2, Answered: 1,
		AnswerSeconds: s["completed"].AnswerSeconds, Amount: s["completed"].Amount}, s["completed"])
	require.True(t, dec("90").Equal(s["completed"].AnswerSeconds), s["completed"].AnswerSeconds.String())
	require.True(t, dec("170.00").Equal(s["completed"].Amount))
	require.Equal(t, orderstats.Totals{Orders: 1, Delivered: 1, Contested: 1, Answered: 1,
		AnswerSeconds: s["resolved"].AnswerSeconds, Amount: s["resolved"].Amount}, s["resolved"])
	for _, st := range []string{"negotiating", "in_progress", "delivered", "disputed"} {
		require.Zero(t, s[st].Orders, st)
		require.True(t, s[st].Amount.IsZero(), st)
		require.True(t, s[st].AnswerSeconds.IsZero(), st)
	}

	// Nothing counted changes: the trigger does not run, no counter row
	// gets a new version.
	versions := func() string {
		var v string
		require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(xmin::text, ',' ORDER BY status, slot) FROM order_stats`).Scan(&v))
		return v
	}
	before := versions()
	set(t, pool, a, `evidence_count = evidence_count + 1, extensions = 1, title = 'Renamed'`)
	require.Equal(t, before, versions())

	_, err := pool.Exec(ctx, `DELETE FROM orders WHERE id = $1`, c)
	require.NoError(t, err)
	s = requireConsistent(t, pool)
	require.Equal(t, int64(1), s["completed"].Orders)
	require.Zero(t, s["completed"].AutoConfirmed)
}

// Ensure Check names a tampered counter (status and field, both values),
// a counting trigger that was disabled, and orders loaded with the
// trigger bypassed, and that AddOrders, the bulk loaders' way, repairs
// the latter.
func TestCheckNamesEachMismatch(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	m := newMarket(t, pool)
	a := m.create(t, pool, "100.00")
	set(t, pool, a, `status = 'in_progress', accepted_at = now()`)
	requireConsistent(t, pool)

	_, err := pool.Exec(ctx, `UPDATE order_stats SET amount = amount + 5, orders = orders + 1 WHERE status = 'in_progress' AND slot = 7`)
	require.NoError(t, err)
	rep, err := orderstats.Check(ctx, pool)
	require.NoError(t, err)
	require.False(t, rep.OK())
	require.Equal(t, []orderstats.Mismatch{
		{Status: "in_progress", Field: "orders", Maintained: "2", Recounted: "1"},
		{Status: "in_progress", Field: "amount", Maintained: "105", Recounted: "100"},
	}, rep.Mismatches)
	require.Equal(t, "order_stats: status in_progress: orders maintained 2 but orders recount 1", rep.Mismatches[0].String())
	_, err = pool.Exec(ctx, `UPDATE order_stats SET amount = amount - 5, orders = orders - 1 WHERE status = 'in_progress' AND slot = 7`)
	require.NoError(t, err)
	requireConsistent(t, pool)

	_, err = pool.Exec(ctx, `ALTER TABLE orders DISABLE TRIGGER order_stats_update`)
	require.NoError(t, err)
	rep, err = orderstats.Check(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, []string{"order_stats: trigger order_stats_update: is disabled"}, strs(rep.Mismatches))
	_, err = pool.Exec(ctx, `ALTER TABLE orders ENABLE TRIGGER order_stats_update`)
	require.NoError(t, err)

	// A bulk load with the triggers off, then its counters added in the
	// same transaction.
	var first, last int64
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		first = m.create(t, tx, "10.00")
		last = m.create(t, tx, "20.00")
		return nil
	}))
	rep, err = orderstats.Check(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, []string{
		"order_stats: status negotiating: orders maintained 0 but orders recount 2",
		"order_stats: status negotiating: amount maintained 0 but orders recount 30",
	}, strs(rep.Mismatches))
	require.NoError(t, orderstats.AddOrders(ctx, pool, first, last))
	requireConsistent(t, pool)
}

func strs(ms []orderstats.Mismatch) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.String())
	}
	return out
}

// Ensure concurrent transitions of different orders never wait on each
// other for the counters: 16 transactions each move one order into and
// out of the same statuses and stay open, holding their counter rows;
// every one completes its transition under a lock_timeout, which fails a
// statement the moment it would have to wait for a lock. The orders are
// chosen with ids in one residue class modulo the slot count, so even
// the fallback slot would be shared. Then all commit and the counters
// equal a recount.
func TestConcurrentTransitionsDoNotWait(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	m := newMarket(t, pool)
	const n = 16
	ids := make([]int64, n)
	for i := range ids {
		m.next = int64(64*(i+1)) - 1 // create uses next+1: ids ≡ 0 mod 64
		ids[i] = m.create(t, pool, "10.00")
		set(t, pool, ids[i], `status = 'in_progress', accepted_at = now()`)
		set(t, pool, ids[i], `status = 'delivered', delivered_at = now()`)
	}
	txs := make([]pgx.Tx, n)
	for i, id := range ids {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		txs[i] = tx
		t.Cleanup(func() { _ = tx.Rollback(ctx) })
		_, err = tx.Exec(ctx, `SET LOCAL lock_timeout = '200ms'`)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE orders SET status = 'completed', closed_at = now() WHERE id = $1`, id)
		require.NoError(t, err, "transition %d of %d had to wait for a lock", i+1, n)
	}
	for _, tx := range txs {
		require.NoError(t, tx.Commit(ctx))
	}
	s := requireConsistent(t, pool)
	require.Equal(t, int64(n), s["completed"].Orders)
	require.Zero(t, s["delivered"].Orders)
	var slots int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM order_stats WHERE status = 'completed' AND orders <> 0`).Scan(&slots))
	require.Equal(t, n, slots, "each concurrent transition took a slot of its own")
}

// Ensure the migration counts the orders that exist before it: a
// database at the previous schema with orders in every status, migrated
// up, has counters equal to a recount.
func TestMigrationBackfillsExistingOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	url := pgtest.NewEmptyDBURL(t)
	pool := pgtest.Connect(t, url)
	db := migrations.OpenDB(pool)
	t.Cleanup(func() { _ = db.Close() })
	p, err := migrations.Provider(db)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 11)
	require.NoError(t, err)
	installed, err := orderstats.Installed(ctx, pool)
	require.NoError(t, err)
	require.False(t, installed)

	m := newMarket(t, pool)
	statuses := map[string]string{
		"negotiating": ``,
		"in_progress": `accepted_at = now()`,
		"delivered":   `accepted_at = now(), delivered_at = now()`,
		"completed":   `delivered_at = now() - interval '1 hour', closed_at = now()`,
		"disputed":    `delivered_at = now() - interval '2 hours', contested_at = now()`,
		"resolved":    `delivered_at = now() - interval '3 hours', contested_at = now() - interval '1 hour', closed_at = now()`,
		"cancelled":   `closed_at = now()`,
		"expired":     `closed_at = now()`,
	}
	for st, extra := range statuses {
		for i := range 3 {
			id := m.create(t, pool, fmt.Sprintf("%d.25", 10*(i+1)))
			assign := `status = '` + st + `'`
			if extra != "" {
				assign += ", " + extra
			}
			if st == "completed" && i == 0 {
				assign += ", auto_confirmed = true"
			}
			set(t, pool, id, assign)
		}
	}
	_, err = p.Up(ctx)
	require.NoError(t, err)
	s := requireConsistent(t, pool)
	for st := range statuses {
		require.Equal(t, int64(3), s[st].Orders, st)
		require.True(t, dec("60.75").Equal(s[st].Amount), st)
	}
	require.Equal(t, int64(1), s["completed"].AutoConfirmed)
	require.Equal(t, int64(2), s["completed"].Answered)
	require.True(t, dec("7200").Equal(s["completed"].AnswerSeconds))

	// And down again leaves nothing behind.
	_, err = p.DownTo(ctx, 11)
	require.NoError(t, err)
	installed, err = orderstats.Installed(ctx, pool)
	require.NoError(t, err)
	require.False(t, installed)
	var leftovers int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM pg_proc WHERE proname LIKE 'order_stats%') +
		       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'order_stats%')`).Scan(&leftovers))
	require.Zero(t, leftovers)
}

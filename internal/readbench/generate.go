package readbench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordem/ordem/internal/auth"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/orderstats"
)

// UserPassword is the password of every generated user: the benchmark
// logs in as some of them.
const UserPassword = "readbench-password"

// userEmail is the address of the n-th (from 1) generated user of role.
func userEmail(role string, n int) string {
	return fmt.Sprintf("readbench-%s-%d@readbench.invalid", role, n)
}

// GenOptions size the generated marketplace.
type GenOptions struct {
	// Orders is the number of orders to add.
	Orders int
	// Clients and Providers are the generated users (created once, reused
	// by later runs).
	Clients, Providers int
	// BatchSize is the number of orders per transaction.
	BatchSize int
	// Seed makes the data reproducible.
	Seed int64
	// Now is when the newest order is created; zero is the current time.
	Now time.Time
	// WebhookEndpointID, when not 0, receives a delivery log entry for
	// every tenth order.
	WebhookEndpointID int64
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Generated is what Generate added.
type Generated struct {
	Orders                    int
	FirstOrderID, LastOrderID int64
	// Clients and Providers are the generated users' ids, in draw order:
	// low indexes are the power users.
	Clients, Providers []int64
	// Counters says how the order counters were kept: "trigger", "added
	// per batch" (trigger bypassed for the bulk load) or "none" (no
	// counters in this schema).
	Counters string
	Took     time.Duration
}

// Generate adds o.Orders orders directly in SQL, with what a live
// marketplace has around them: clients and providers (user index drawn
// with u², so low indexes are power users; every tenth client from the
// second has churned: no recent orders), wallets, the ledger postings of
// every order that moved money (deposits, holds, contestation fees,
// releases, rulings, payouts) with consistent cached balances, deposits
// and payouts rows, notifications, timeline events and webhook delivery
// logs. Statuses follow scripts/explain-orders.sh: the newest 5% of
// orders hold the open ones, older ones are finished.
//
// Each batch is one transaction. As a superuser it runs with
// session_replication_role = replica (no per-row triggers: foreign keys
// and the counting trigger) and adds the batch to the order counters
// itself, in the same transaction; otherwise the triggers do the work,
// more slowly. Afterwards the touched tables are vacuumed and analyzed,
// as autovacuum would in a live database. Run it on an idle stack: ids
// are reserved from the sequences in blocks.
func Generate(ctx context.Context, pool *pgxpool.Pool, o GenOptions) (*Generated, error) {
	if o.Clients < 10 || o.Providers < 1 {
		return nil, fmt.Errorf("generate: need at least 10 clients and 1 provider")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100_000
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "readbench: "+format+"\n", args...)
		}
	}
	start := time.Now()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	g := &gen{conn: conn.Conn(), o: o, out: &Generated{Orders: o.Orders}}
	if err := g.prepare(ctx); err != nil {
		return nil, err
	}
	logf("%d clients, %d providers ready; counters: %s", len(g.out.Clients), len(g.out.Providers), g.out.Counters)
	if o.Orders > 0 {
		var base int64
		if err := g.conn.QueryRow(ctx, `SELECT nextval('orders_id_seq')`).Scan(&base); err != nil {
			return nil, fmt.Errorf("reserve order ids: %w", err)
		}
		if _, err := g.conn.Exec(ctx, `SELECT setval('orders_id_seq', $1)`, base+int64(o.Orders)-1); err != nil {
			return nil, fmt.Errorf("reserve order ids: %w", err)
		}
		g.out.FirstOrderID, g.out.LastOrderID = base, base+int64(o.Orders)-1
		for lo := 1; lo <= o.Orders; lo += o.BatchSize {
			hi := min(lo+o.BatchSize-1, o.Orders)
			t := time.Now()
			if err := pgx.BeginFunc(ctx, g.conn, func(tx pgx.Tx) error { return g.batch(ctx, tx, base, lo, hi) }); err != nil {
				return nil, err
			}
			logf("orders %d..%d of %d written in %s", lo, hi, o.Orders, time.Since(t).Round(time.Millisecond))
		}
	}
	if o.Orders == 0 {
		g.out.Took = time.Since(start)
		return g.out, nil
	}
	t := time.Now()
	for _, table := range []string{"users", "orders", "order_events", "ledger_accounts", "ledger_transactions", "ledger_entries",
		"deposits", "payouts", "notifications", "webhook_deliveries"} {
		if _, err := g.conn.Exec(ctx, `VACUUM (ANALYZE) `+table); err != nil {
			return nil, fmt.Errorf("vacuum %s: %w", table, err)
		}
	}
	logf("vacuumed and analyzed in %s", time.Since(t).Round(time.Millisecond))
	g.out.Took = time.Since(start)
	return g.out, nil
}

type gen struct {
	conn *pgx.Conn
	o    GenOptions
	out  *Generated
	// bypass: triggers are off in the batches (superuser), so the batch
	// adds itself to the counters.
	bypass, counters bool
	// The INSERT column and SELECT lists, from the schema.
	orderCols, orderVals, txCols, txVals, entryCols, entryVals, depCols, depVals,
	payCols, payVals, noteCols, noteVals, evCols, evVals, whCols, whVals string
}

func (g *gen) prepare(ctx context.Context) error {
	if err := g.conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&g.bypass); err != nil {
		return fmt.Errorf("read role: %w", err)
	}
	var err error
	if g.counters, err = orderstats.Installed(ctx, g.conn); err != nil {
		return err
	}
	switch {
	case !g.counters:
		g.out.Counters = "none"
	case g.bypass:
		g.out.Counters = "added per batch"
	default:
		g.out.Counters = "trigger"
	}
	lists := []struct {
		table      string
		known      map[string]string
		cols, vals *string
	}{
		{"orders", orderExprs, &g.orderCols, &g.orderVals},
		{"ledger_transactions", txExprs, &g.txCols, &g.txVals},
		{"ledger_entries", entryExprs, &g.entryCols, &g.entryVals},
		{"deposits", depositExprs, &g.depCols, &g.depVals},
		{"payouts", payoutExprs, &g.payCols, &g.payVals},
		{"notifications", notificationExprs, &g.noteCols, &g.noteVals},
		{"order_events", eventExprs, &g.evCols, &g.evVals},
		{"webhook_deliveries", deliveryExprs, &g.whCols, &g.whVals},
	}
	for _, l := range lists {
		if *l.cols, *l.vals, err = selectList(ctx, g.conn, l.table, l.known); err != nil {
			return err
		}
	}
	if _, err := g.conn.Exec(ctx, `
		CREATE TEMP TABLE IF NOT EXISTS readbench_legs (
		    txkey TEXT NOT NULL, kind TEXT NOT NULL, order_id BIGINT, memo TEXT NOT NULL,
		    at TIMESTAMPTZ NOT NULL, leg INT NOT NULL, user_id BIGINT, code TEXT NOT NULL, amount NUMERIC NOT NULL
		) ON COMMIT DELETE ROWS;
		CREATE TEMP TABLE IF NOT EXISTS readbench_payouts (
		    user_id BIGINT NOT NULL, amount NUMERIC NOT NULL, at TIMESTAMPTZ NOT NULL, paid BOOLEAN NOT NULL
		) ON COMMIT DELETE ROWS`); err != nil {
		return fmt.Errorf("create scratch tables: %w", err)
	}
	return pgx.BeginFunc(ctx, g.conn, func(tx pgx.Tx) error { return g.users(ctx, tx) })
}

// users creates the generated users missing (earlier runs' are reused),
// their wallets, and reads their ids.
func (g *gen) users(ctx context.Context, tx pgx.Tx) error {
	hash, err := auth.HashPassword(UserPassword)
	if err != nil {
		return err
	}
	cols, vals, err := selectList(ctx, tx, "users", map[string]string{
		"name":          "initcap(role) || ' ' || n",
		"email":         "'readbench-' || role || '-' || n || '@readbench.invalid'",
		"phone":         "''",
		"password_hash": "$3",
		"role":          "role",
		// Spread over the last two years, so the admin's user list has an
		// order to page through.
		"created_at": "$4::timestamptz - interval '800 days' + (n + CASE role WHEN 'client' THEN 0 ELSE $1 END) * interval '1 minute'",
		"updated_at": "$4::timestamptz - interval '800 days'",
	})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO users (`+cols+`)
		SELECT `+vals+`
		FROM (SELECT 'client' AS role, n FROM generate_series(1, $1::int) n
		      UNION ALL SELECT 'provider', n FROM generate_series(1, $2::int) n) u
		WHERE NOT EXISTS (SELECT 1 FROM users x
		                  WHERE lower(x.email) = 'readbench-' || u.role || '-' || u.n || '@readbench.invalid'
		                    AND x.deleted_at IS NULL)`, g.o.Clients, g.o.Providers, hash, g.o.Now)
	if err != nil {
		return fmt.Errorf("create users: %w", err)
	}
	if _, err := ledger.OpenUserAccounts(ctx, tx, 0); err != nil {
		return err
	}
	for _, r := range []struct {
		role string
		n    int
		dst  *[]int64
	}{{"client", g.o.Clients, &g.out.Clients}, {"provider", g.o.Providers, &g.out.Providers}} {
		rows, err := tx.Query(ctx, `
			SELECT (SELECT id FROM users WHERE lower(email) = 'readbench-' || $1 || '-' || n || '@readbench.invalid'
			          AND deleted_at IS NULL AND role = $1)
			FROM generate_series(1, $2::int) n ORDER BY n`, r.role, r.n)
		if err != nil {
			return fmt.Errorf("read user ids: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[*int64])
		if err != nil {
			return fmt.Errorf("read user ids: %w", err)
		}
		for i, id := range ids {
			if id == nil {
				return fmt.Errorf("user %s exists with another role", userEmail(r.role, i+1))
			}
			*r.dst = append(*r.dst, *id)
		}
	}
	return nil
}

// The orders generator's columns: raw draws, then the status (the newest
// 5% are the open ones), then milestones, then the closing time.
const ordersSource = `(
  SELECT t.*,
         CASE st WHEN 'completed' THEN CASE WHEN auto THEN delivered + interval '36 hours'
                                            ELSE delivered + r4 * interval '30 hours' END
                 WHEN 'resolved' THEN ts + interval '6 days'
                 WHEN 'cancelled' THEN ts + interval '2 hours'
                 WHEN 'expired' THEN ts + interval '72 hours' END AS closed
  FROM (
    SELECT s.*, round(amt * 0.05, 2) AS fee, st = 'completed' AND r2 < 0.3 AS auto,
           CASE WHEN st NOT IN ('negotiating', 'cancelled', 'expired') THEN ts + interval '1 hour' END AS accepted,
           CASE WHEN st IN ('delivered', 'completed', 'disputed', 'resolved') THEN ts + interval '3 days' END AS delivered,
           CASE WHEN st IN ('disputed', 'resolved') THEN ts + interval '3 days 12 hours' END AS contested
    FROM (
      SELECT $4::bigint + g - 1 AS id, r2, r3, r4, amt, ts,
             ($5::bigint[])[CASE WHEN recent AND ci % 10 = 2 THEN ci - 1 ELSE ci END] AS c,
             ($6::bigint[])[pi] AS p,
             CASE WHEN recent THEN
                      CASE WHEN r < 0.25 THEN 'negotiating' WHEN r < 0.60 THEN 'in_progress'
                           WHEN r < 0.80 THEN 'delivered'   WHEN r < 0.85 THEN 'disputed'
                           WHEN r < 0.95 THEN 'completed'   ELSE 'cancelled' END
                  ELSE
                      CASE WHEN r < 0.800 THEN 'completed' WHEN r < 0.900 THEN 'cancelled'
                           WHEN r < 0.950 THEN 'expired'   WHEN r < 0.999 THEN 'resolved'
                           ELSE 'disputed' END
             END AS st
      FROM (
        SELECT g, g > $3::int * 0.95 AS recent, random() AS r, random() AS r2, random() AS r3, random() AS r4,
               1 + floor(cardinality($5::bigint[]) * power(random(), 2))::int AS ci,
               1 + floor(cardinality($6::bigint[]) * power(random(), 2))::int AS pi,
               round((10 + random() * 990)::numeric, 2) AS amt,
               $7::timestamptz - ($3::int - g) * interval '1 minute' + random() * interval '50 seconds' AS ts
        FROM generate_series($1::int, $2::int) g
        OFFSET 0 -- each draw once: keep the planner from inlining random()
      ) raw
    ) s
  ) t
) u`

var orderExprs = map[string]string{
	"id": "id", "client_id": "c", "provider_id": "p", "title": "'Order #' || id", "description": "''",
	"status": "st", "amount": "amt", "due_date": "ts + interval '14 days'", "proposal_version": "1",
	// Half the open negotiations wait on the client, half on the provider.
	"last_proposed_by":            "CASE WHEN st = 'negotiating' AND r3 < 0.5 THEN p ELSE c END",
	"proposal_expires_at":         "ts + interval '72 hours'",
	"platform_fee_percentage":     "5.0000",
	"contestation_fee":            "10.00",
	"cancellation_fee_percentage": "10.0000",
	"confirmation_deadline_hours": "36",
	"proposal_expiry_hours":       "72",
	"confirmation_reminder_hours": "12",
	"dispute_sla_hours":           "48",
	// A resolved dispute here rules for the provider: the platform keeps
	// its fee and the forfeited contestation fee.
	"platform_revenue":  "CASE st WHEN 'completed' THEN fee WHEN 'resolved' THEN fee + 10.00 ELSE 0 END",
	"provider_net":      "CASE WHEN st IN ('completed', 'resolved') THEN amt - fee ELSE 0 END",
	"contest_fee_held":  "CASE WHEN st = 'disputed' THEN 10.00 ELSE 0 END",
	"accepted_at":       "accepted",
	"delivered_at":      "delivered",
	"confirm_deadline":  "delivered + interval '36 hours'",
	"auto_confirm_held": "false",
	"auto_confirmed":    "auto",
	"contested_at":      "contested",
	"contest_reason":    "CASE WHEN contested IS NOT NULL THEN 'not as agreed' END",
	"evidence_count":    "0",
	"extensions":        "0",
	"cancelled_by":      "CASE WHEN st = 'cancelled' THEN c END",
	"cancelled_by_role": "CASE WHEN st = 'cancelled' THEN 'client' END",
	"cancel_reason":     "CASE WHEN st = 'cancelled' THEN 'changed my mind' END",
	"resolution_reason": "CASE WHEN st = 'resolved' THEN 'delivered as agreed' END",
	"closed_at":         "closed",
	"created_at":        "ts",
	"updated_at":        "coalesce(closed, contested, delivered, accepted, ts)",
	"version": `CASE st WHEN 'negotiating' THEN 1 WHEN 'in_progress' THEN 2 WHEN 'delivered' THEN 3
	              WHEN 'completed' THEN 4 WHEN 'disputed' THEN 4 WHEN 'resolved' THEN 5 ELSE 2 END`,
}

var txExprs = map[string]string{
	"id": "id", "idempotency_key": "txkey", "request_hash": "sha256(convert_to(txkey, 'UTF8'))",
	"kind": "kind", "order_id": "order_id", "memo": "memo", "created_at": "at",
}

var entryExprs = map[string]string{
	"id": "id", "transaction_id": "transaction_id", "account_id": "account_id", "amount": "amount",
	"balance_after": "balance_after", "created_at": "at",
}

var depositExprs = map[string]string{
	"user_id": "user_id", "amount": "amount", "source": "'admin'", "reference": "reference",
	"transaction_id": "transaction_id", "created_at": "at",
}

var payoutExprs = map[string]string{
	"user_id": "user_id", "amount": "amount", "status": "CASE WHEN paid THEN 'paid' ELSE 'pending' END",
	"gateway": "'manual'", "created_at": "at",
	"updated_at": "CASE WHEN paid THEN at + interval '1 day' ELSE at END",
	"decided_at": "CASE WHEN paid THEN at + interval '1 day' END",
}

var notificationExprs = map[string]string{
	"user_id": "user_id", "order_id": "order_id", "kind": "kind", "title": "title", "body": "''",
	"data": "'{}'", "created_at": "at",
	// The last two weeks' are unread, as in a live inbox.
	"read_at": "CASE WHEN at < $3::timestamptz - interval '14 days' THEN at + interval '1 day' END",
}

var eventExprs = map[string]string{
	"order_id": "order_id", "step_key": "step_key", "action": "action", "actor_id": "actor_id",
	"actor_role": "actor_role", "from_status": "from_status", "to_status": "to_status", "refused": "false",
	"data": "'{}'", "created_at": "at",
}

var deliveryExprs = map[string]string{
	"endpoint_id": "endpoint_id", "event_id": "gen_random_uuid()", "event_type": "event_type", "order_id": "order_id",
	"payload": "jsonb_build_object('order_id', order_id::text)", "status": "'succeeded'", "attempts": "1",
	"response_code": "200", "created_at": "at", "updated_at": "at", "dispatched_at": "at", "delivered_at": "at",
}

// batch writes orders lo..hi (1-based, of o.Orders) and what goes with
// them, in tx.
func (g *gen) batch(ctx context.Context, tx pgx.Tx, base int64, lo, hi int) error {
	if g.bypass {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return fmt.Errorf("bypass triggers: %w", err)
		}
	}
	seed := float64((g.o.Seed+int64(lo))%2000)/1000 - 1 // setseed takes [-1, 1]
	if _, err := tx.Exec(ctx, `SELECT setseed($1)`, seed); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	loID, hiID := base+int64(lo)-1, base+int64(hi)-1
	if _, err := tx.Exec(ctx, `INSERT INTO orders (`+g.orderCols+`) SELECT `+g.orderVals+` FROM `+ordersSource,
		lo, hi, g.o.Orders, base, g.out.Clients, g.out.Providers, g.o.Now); err != nil {
		return fmt.Errorf("insert orders: %w", err)
	}
	if g.counters && g.bypass {
		if err := orderstats.AddOrders(ctx, tx, loID, hiID); err != nil {
			return err
		}
	}
	if err := g.ledger(ctx, tx, loID, hiID, hi == g.o.Orders); err != nil {
		return err
	}
	steps := []struct {
		what, sql string
		args      []any
	}{
		{"notifications", `INSERT INTO notifications (` + g.noteCols + `) SELECT ` + g.noteVals + ` FROM (
			SELECT provider_id AS user_id, id AS order_id, 'order_created' AS kind, 'New order: ' || title AS title,
			       created_at AS at
			FROM orders WHERE id BETWEEN $1 AND $2
			UNION ALL
			SELECT client_id, id, 'order_' || status, 'Order ' || title || ': ' || replace(status, '_', ' '), updated_at
			FROM orders WHERE id BETWEEN $1 AND $2 AND status <> 'negotiating'
			ORDER BY at) n`, []any{loID, hiID, g.o.Now}},
		{"order events", `INSERT INTO order_events (` + g.evCols + `) SELECT ` + g.evVals + ` FROM (
			SELECT id AS order_id, 'readbench:' || id || ':create' AS step_key, 'create' AS action, client_id AS actor_id,
			       'client' AS actor_role, NULL AS from_status, 'negotiating' AS to_status, created_at AS at
			FROM orders WHERE id BETWEEN $1 AND $2
			UNION ALL
			SELECT id, 'readbench:' || id || ':' || status,
			       CASE status WHEN 'in_progress' THEN 'accept' WHEN 'delivered' THEN 'deliver'
			                   WHEN 'completed' THEN CASE WHEN auto_confirmed THEN 'auto_confirm' ELSE 'confirm' END
			                   WHEN 'disputed' THEN 'contest' WHEN 'resolved' THEN 'resolve'
			                   WHEN 'cancelled' THEN 'cancel' ELSE 'expire' END,
			       CASE WHEN status IN ('in_progress', 'delivered') THEN provider_id
			            WHEN status IN ('disputed', 'cancelled') OR (status = 'completed' AND NOT auto_confirmed) THEN client_id END,
			       CASE WHEN status IN ('in_progress', 'delivered') THEN 'provider'
			            WHEN status IN ('disputed', 'cancelled') OR (status = 'completed' AND NOT auto_confirmed) THEN 'client'
			            WHEN status = 'resolved' THEN 'admin' ELSE 'system' END,
			       CASE status WHEN 'in_progress' THEN 'negotiating' WHEN 'delivered' THEN 'in_progress'
			                   WHEN 'completed' THEN 'delivered' WHEN 'disputed' THEN 'delivered'
			                   WHEN 'resolved' THEN 'disputed' ELSE 'negotiating' END,
			       status, updated_at
			FROM orders WHERE id BETWEEN $1 AND $2 AND status <> 'negotiating'
			ORDER BY 1, 8) e`, []any{loID, hiID}},
	}
	if g.o.WebhookEndpointID != 0 {
		steps = append(steps, struct {
			what, sql string
			args      []any
		}{"webhook deliveries", `INSERT INTO webhook_deliveries (` + g.whCols + `) SELECT ` + g.whVals + ` FROM (
			SELECT $3::bigint AS endpoint_id, 'order.' || CASE status WHEN 'negotiating' THEN 'created' ELSE status END AS event_type,
			       id AS order_id, updated_at AS at
			FROM orders WHERE id BETWEEN $1 AND $2 AND id % 10 = 0 ORDER BY updated_at) d`,
			[]any{loID, hiID, g.o.WebhookEndpointID}})
	}
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("insert %s: %w", s.what, err)
		}
	}
	return nil
}

// ledger posts the batch's money: per client a deposit covering the
// batch's holds, then per order its hold, contestation fee, release or
// ruling, then per provider a payout of half the batch's earnings (paid,
// but pending for some providers in the last batch). Entries get ids in
// time order and balance_after running from the cached balance; the
// cached balances are then moved by the batch's sums.
func (g *gen) ledger(ctx context.Context, tx pgx.Tx, loID, hiID int64, last bool) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO readbench_payouts (user_id, amount, at, paid)
		SELECT provider_id, floor(sum(provider_net) / 2), max(closed_at) + interval '1 hour', NOT ($3 AND provider_id % 40 = 0)
		FROM orders WHERE id BETWEEN $1 AND $2 AND status IN ('completed', 'resolved')
		GROUP BY provider_id HAVING floor(sum(provider_net) / 2) >= 1`, loID, hiID, last); err != nil {
		return fmt.Errorf("plan payouts: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO readbench_legs (txkey, kind, order_id, memo, at, leg, user_id, code, amount)
		SELECT 'readbench:deposit:' || d.client_id || ':' || $1::bigint, 'deposit', NULL::bigint,
		       'deposit by admin, reference readbench-' || d.client_id || '-' || $1::bigint, d.at, v.leg, v.uid, v.code, v.amount
		FROM (SELECT client_id, min(accepted_at) - interval '1 hour' AS at,
		             sum(amount + CASE WHEN contested_at IS NOT NULL THEN contestation_fee ELSE 0 END) AS need
		      FROM orders WHERE id BETWEEN $1 AND $2 AND accepted_at IS NOT NULL GROUP BY client_id) d,
		     LATERAL (VALUES (1, NULL::bigint, 'platform:world', -d.need),
		                     (2, d.client_id, 'user:' || d.client_id || ':available', d.need)) v(leg, uid, code, amount)
		UNION ALL
		SELECT 'readbench:order:' || o.id || ':hold', 'hold', o.id, 'hold of order ' || o.id, o.accepted_at, v.leg, o.client_id, v.code, v.amount
		FROM orders o,
		     LATERAL (VALUES (1, 'user:' || o.client_id || ':available', -o.amount),
		                     (2, 'user:' || o.client_id || ':blocked', o.amount)) v(leg, code, amount)
		WHERE o.id BETWEEN $1 AND $2 AND o.accepted_at IS NOT NULL
		UNION ALL
		SELECT 'readbench:order:' || o.id || ':contest_fee', 'contest_fee_hold', o.id, 'contestation fee of order ' || o.id,
		       o.contested_at, v.leg, o.client_id, v.code, v.amount
		FROM orders o,
		     LATERAL (VALUES (1, 'user:' || o.client_id || ':available', -o.contestation_fee),
		                     (2, 'user:' || o.client_id || ':blocked', o.contestation_fee)) v(leg, code, amount)
		WHERE o.id BETWEEN $1 AND $2 AND o.contested_at IS NOT NULL
		UNION ALL
		SELECT 'readbench:order:' || o.id || ':' || o.status, CASE o.status WHEN 'completed' THEN 'release' ELSE 'resolve' END,
		       o.id, o.status || ' order ' || o.id, o.closed_at, v.leg, v.uid, v.code, v.amount
		FROM orders o,
		     LATERAL (VALUES (1, o.client_id, 'user:' || o.client_id || ':blocked', -(o.provider_net + o.platform_revenue)),
		                     (2, o.provider_id, 'user:' || o.provider_id || ':available', o.provider_net),
		                     (3, NULL::bigint, 'platform:revenue', o.platform_revenue)) v(leg, uid, code, amount)
		WHERE o.id BETWEEN $1 AND $2 AND o.status IN ('completed', 'resolved')
		UNION ALL
		SELECT 'readbench:payout:' || p.user_id || ':' || $1::bigint, 'payout_request', NULL, 'payout request', p.at, v.leg, v.uid, v.code, v.amount
		FROM readbench_payouts p,
		     LATERAL (VALUES (1, p.user_id, 'user:' || p.user_id || ':available', -p.amount),
		                     (2, NULL::bigint, 'platform:payouts_pending', p.amount)) v(leg, uid, code, amount)
		UNION ALL
		SELECT 'readbench:payout:' || p.user_id || ':' || $1::bigint || ':paid', 'payout_paid', NULL, 'payout paid',
		       p.at + interval '1 day', v.leg, NULL, v.code, v.amount
		FROM readbench_payouts p,
		     LATERAL (VALUES (1, 'platform:payouts_pending', -p.amount), (2, 'platform:world', p.amount)) v(leg, code, amount)
		WHERE p.paid`, loID, hiID); err != nil {
		return fmt.Errorf("plan postings: %w", err)
	}
	var txs, legs, missing int64
	if err := tx.QueryRow(ctx, `
		SELECT count(DISTINCT txkey), count(*),
		       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.code = l.code))
		FROM readbench_legs l`).Scan(&txs, &legs, &missing); err != nil {
		return fmt.Errorf("count postings: %w", err)
	}
	if missing > 0 {
		return fmt.Errorf("plan postings: %d legs name accounts that do not exist (platform accounts seeded? run ordem seed)", missing)
	}
	if legs == 0 {
		return nil
	}
	txBase, err := reserve(ctx, tx, "ledger_transactions", txs)
	if err != nil {
		return err
	}
	entryBase, err := reserve(ctx, tx, "ledger_entries", legs)
	if err != nil {
		return err
	}
	const order = `ORDER BY l.at, l.txkey, l.leg`
	steps := []struct {
		what, sql string
		args      []any
	}{
		{"ledger transactions", `INSERT INTO ledger_transactions (` + g.txCols + `) SELECT ` + g.txVals + ` FROM (
			SELECT $1::bigint + row_number() OVER (ORDER BY at, txkey) - 1 AS id, txkey, kind, order_id, memo, at
			FROM (SELECT DISTINCT ON (txkey) txkey, kind, order_id, memo, at FROM readbench_legs ORDER BY txkey) t) t`,
			[]any{txBase}},
		{"ledger entries", `INSERT INTO ledger_entries (` + g.entryCols + `) SELECT ` + g.entryVals + ` FROM (
			SELECT $1::bigint + row_number() OVER (` + order + `) - 1 AS id, t.id AS transaction_id, a.id AS account_id,
			       l.amount, a.balance + sum(l.amount) OVER (PARTITION BY a.id ` + order + `) AS balance_after, l.at
			FROM readbench_legs l
			JOIN ledger_transactions t ON t.idempotency_key = l.txkey
			JOIN ledger_accounts a ON a.code = l.code) e`, []any{entryBase}},
		{"balances", `UPDATE ledger_accounts a SET balance = a.balance + s.amount, updated_at = greatest(a.updated_at, s.at)
			FROM (SELECT code, sum(amount) AS amount, max(at) AS at FROM readbench_legs GROUP BY code) s
			WHERE a.code = s.code`, nil},
		{"deposits", `INSERT INTO deposits (` + g.depCols + `) SELECT ` + g.depVals + ` FROM (
			SELECT l.user_id, l.amount, 'readbench-' || l.user_id || '-' || $1::bigint AS reference, t.id AS transaction_id, l.at
			FROM readbench_legs l JOIN ledger_transactions t ON t.idempotency_key = l.txkey
			WHERE l.kind = 'deposit' AND l.leg = 2 ORDER BY l.at) d`, []any{loID}},
		{"payouts", `INSERT INTO payouts (` + g.payCols + `) SELECT ` + g.payVals + ` FROM (
			SELECT * FROM readbench_payouts ORDER BY at) p`, nil},
	}
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("insert %s: %w", s.what, err)
		}
	}
	return nil
}

// reserve takes n consecutive ids of table's id sequence and returns the
// first.
func reserve(ctx context.Context, tx pgx.Tx, table string, n int64) (int64, error) {
	var first int64
	err := tx.QueryRow(ctx, `
		WITH s AS (SELECT pg_get_serial_sequence($1, 'id') AS seq)
		SELECT setval(s.seq::regclass, nextval(s.seq::regclass) + $2::bigint - 1) - $2::bigint + 1 FROM s`, table, n).Scan(&first)
	if err != nil {
		return 0, fmt.Errorf("reserve %d %s ids: %w", n, strings.TrimPrefix(table, "ledger_"), err)
	}
	return first, nil
}

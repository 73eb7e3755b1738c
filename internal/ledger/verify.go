package ledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/shopspring/decimal"
)

// Violation is one broken invariant.
type Violation struct {
	// Check names the invariant, e.g. "cached_balance".
	Check string
	// Subject names what broke it, e.g. "account user:42:available".
	Subject string
	Detail  string
}

func (v Violation) String() string { return v.Check + ": " + v.Subject + ": " + v.Detail }

// Report is the outcome of Verify.
type Report struct {
	Accounts     int64
	Transactions int64
	Entries      int64
	// Total is the sum of every account's balance (rows and shards): zero
	// in a sound ledger.
	Total      decimal.Decimal
	Violations []Violation
}

// OK reports whether no invariant is broken.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// check is one invariant as a query returning (subject, detail) per breach.
type check struct {
	name  string
	query string
}

// The orders read model stores, per order, what its postings must add up
// to: the client's blocked hold while open, the provider's net gain
// (provider_net) and the platform's revenue (platform_revenue).
const expectedBlockedSQL = `
    CASE o.status
        WHEN 'in_progress' THEN o.amount
        WHEN 'delivered'   THEN o.amount
        WHEN 'disputed'    THEN o.amount + o.contest_fee_held
        ELSE 0
    END`

var checks = []check{
	{"zero_sum", `
		SELECT 'transaction ' || t.idempotency_key,
		       'entries sum to ' || coalesce(sum(e.amount), 0) || ' over ' || count(e.id) || ' entries'
		FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
		GROUP BY t.id
		HAVING coalesce(sum(e.amount), 0) <> 0 OR count(e.id) < 2
		ORDER BY t.id`},
	// An account's own row is its shard 0: its cached balance is the sum
	// of the entries on shard 0 (all of them, for an unsharded account).
	{"cached_balance", `
		SELECT 'account ' || a.code,
		       'cached balance ' || a.balance || ' but entries sum to ' || coalesce(sum(e.amount), 0)
		FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id AND e.shard = 0
		GROUP BY a.id
		HAVING a.balance <> coalesce(sum(e.amount), 0)
		ORDER BY a.code`},
	// Each further shard's balance is the sum of the entries on it, and a
	// sharded account has exactly the shards 1..shards: an entry on a shard
	// that does not exist, or a shard beyond the count, is money verify
	// could not place.
	{"shard_balance", `
		WITH moved AS (
		    SELECT account_id, shard, sum(amount) AS total
		    FROM ledger_entries WHERE shard <> 0
		    GROUP BY account_id, shard
		)
		SELECT 'account ' || a.code || ' shard ' || coalesce(s.shard, m.shard),
		       CASE WHEN s.shard IS NULL THEN 'entries sum to ' || m.total || ' on a shard that does not exist'
		            WHEN s.shard > a.shards THEN 'shard beyond the account''s ' || a.shards || ' shards'
		            ELSE 'shard balance ' || s.balance || ' but entries sum to ' || coalesce(m.total, 0)
		       END
		FROM ledger_account_shards s
		FULL JOIN moved m ON m.account_id = s.account_id AND m.shard = s.shard
		JOIN ledger_accounts a ON a.id = coalesce(s.account_id, m.account_id)
		WHERE s.shard IS NULL OR s.shard > a.shards OR s.balance <> coalesce(m.total, 0)
		UNION ALL
		SELECT 'account ' || a.code, 'has ' || count(s.shard) || ' of its ' || a.shards || ' shards'
		FROM ledger_accounts a LEFT JOIN ledger_account_shards s ON s.account_id = a.id AND s.shard <= a.shards
		WHERE a.shards > 0
		GROUP BY a.id
		HAVING count(s.shard) <> a.shards
		ORDER BY 1`},
	// An account's balance is its row's plus its shards': a shard may be
	// negative, the account may not (unless it is the world).
	{"negative_balance", `
		SELECT 'account ' || code, 'balance ' || balance || ' is negative'
		FROM ledger_account_balances WHERE NOT allow_negative AND balance < 0
		ORDER BY code`},
	// An entry whose recorded balance_after disagrees with the running sum
	// of its shard's entries (its account's, when unsharded) was edited
	// after it was written.
	{"entry_altered", `
		SELECT 'entry ' || r.id || ' on account ' || a.code || CASE WHEN r.shard <> 0 THEN ' shard ' || r.shard ELSE '' END,
		       'balance_after ' || r.balance_after || ' but running sum is ' || r.running
		FROM (SELECT id, account_id, shard, balance_after,
		             sum(amount) OVER (PARTITION BY account_id, shard ORDER BY id) AS running
		      FROM ledger_entries) r
		JOIN ledger_accounts a ON a.id = r.account_id
		WHERE r.running <> r.balance_after
		ORDER BY r.id`},
	{"append_only", `
		SELECT 'table ' || t.tbl, 'append-only trigger ' || t.trg || ' is missing or disabled'
		FROM (VALUES ('ledger_entries', 'ledger_entries_append_only'),
		             ('ledger_transactions', 'ledger_transactions_append_only')) AS t(tbl, trg)
		WHERE NOT EXISTS (SELECT 1 FROM pg_trigger g
		                  WHERE g.tgrelid = t.tbl::regclass AND g.tgname = t.trg AND g.tgenabled <> 'D')`},
	{"blocked_equals_holds", `
		SELECT 'account ' || a.code,
		       'blocked balance ' || a.balance || ' but open holds total ' || coalesce(h.total, 0)
		FROM ledger_account_balances a
		LEFT JOIN (SELECT o.client_id, sum(` + expectedBlockedSQL + `) AS total
		           FROM orders o GROUP BY o.client_id) h ON h.client_id = a.user_id
		WHERE a.kind = 'blocked' AND a.balance <> coalesce(h.total, 0)
		ORDER BY a.code`},
	// One pass over the order-linked entries, hash-joined to orders: a
	// correlated lookup per order into the aggregated entries was
	// quadratic (over ten minutes at a million orders).
	{"order_postings", `
		WITH got AS (
		    SELECT t.order_id,
		           coalesce(sum(e.amount) FILTER (WHERE a.code = 'user:' || o.client_id || ':blocked'), 0) AS blocked,
		           coalesce(sum(e.amount) FILTER (WHERE a.code = 'user:' || o.provider_id || ':available'), 0) AS provider,
		           coalesce(sum(e.amount) FILTER (WHERE a.code = 'platform:revenue'), 0) AS revenue
		    FROM ledger_transactions t
		    JOIN orders o ON o.id = t.order_id
		    JOIN ledger_entries e ON e.transaction_id = t.id
		    JOIN ledger_accounts a ON a.id = e.account_id
		    GROUP BY t.order_id
		), per_order AS (
		    SELECT o.id, o.status,
		           ` + expectedBlockedSQL + ` AS want_blocked,
		           o.provider_net AS want_provider,
		           o.platform_revenue AS want_revenue,
		           coalesce(g.blocked, 0) AS got_blocked,
		           coalesce(g.provider, 0) AS got_provider,
		           coalesce(g.revenue, 0) AS got_revenue
		    FROM orders o LEFT JOIN got g ON g.order_id = o.id
		)
		SELECT 'order ' || id,
		       'status ' || status || ' expects blocked ' || want_blocked || ', provider ' || want_provider ||
		       ', revenue ' || want_revenue || ' but postings give ' || got_blocked || ', ' || got_provider || ', ' || got_revenue
		FROM per_order
		WHERE want_blocked <> got_blocked OR want_provider <> got_provider OR want_revenue <> got_revenue
		ORDER BY id`},
	{"orphan_order_postings", `
		SELECT 'transaction ' || t.idempotency_key, 'posted for order ' || t.order_id || ' which does not exist'
		FROM ledger_transactions t
		WHERE t.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.order_id)
		ORDER BY t.id`},
}

// Verify checks every ledger invariant and returns all violations found.
// It reads a consistent snapshot when q is a REPEATABLE READ transaction;
// VerifySnapshot opens one.
//
// Sharded accounts are checked shard by shard, exactly: an account's row is
// its shard 0 and must equal the sum of its entries on shard 0
// (cached_balance); every other shard must equal the sum of the entries on
// it, and a sharded account must have exactly its shards 1..N with no
// entry elsewhere (shard_balance); balance_after must be the running sum
// of its shard (entry_altered); the account's balance, row plus shards,
// must not be negative (negative_balance); and every row and shard
// together sum to zero (grand_total). An unsharded account has only
// shard 0, so these are the plain row checks.
func Verify(ctx context.Context, q postgres.DBTX) (Report, error) {
	var r Report
	err := q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM ledger_accounts),
		       (SELECT count(*) FROM ledger_transactions),
		       (SELECT count(*) FROM ledger_entries),
		       (SELECT coalesce(sum(balance), 0) FROM ledger_accounts) +
		       (SELECT coalesce(sum(balance), 0) FROM ledger_account_shards)`).
		Scan(&r.Accounts, &r.Transactions, &r.Entries, &r.Total)
	if err != nil {
		return Report{}, fmt.Errorf("count ledger: %w", err)
	}
	if !r.Total.IsZero() {
		r.Violations = append(r.Violations, Violation{"grand_total", "ledger", "balances sum to " + r.Total.StringFixed(2) + ", not zero"})
	}
	for _, c := range checks {
		rows, err := q.Query(ctx, c.query)
		if err != nil {
			return Report{}, fmt.Errorf("verify %s: %w", c.name, err)
		}
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Violation, error) {
			v := Violation{Check: c.name}
			return v, row.Scan(&v.Subject, &v.Detail)
		})
		if err != nil {
			return Report{}, fmt.Errorf("verify %s: %w", c.name, err)
		}
		r.Violations = append(r.Violations, found...)
	}
	return r, nil
}

// VerifySnapshot runs Verify in a read-only REPEATABLE READ transaction, so
// postings committed while it runs cannot produce false violations.
func VerifySnapshot(ctx context.Context, db postgres.Beginner) (Report, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Report{}, fmt.Errorf("begin verify snapshot: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	return Verify(ctx, tx)
}

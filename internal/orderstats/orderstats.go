// Package orderstats reads the marketplace-wide order counters that
// migration 00012 keeps in order_stats, and checks them against a recount
// of the orders read model.
//
// The counters are maintained by a trigger on orders in the same
// transaction as every write of an order (so they are exactly as
// consistent as the orders rows themselves), spread over slots so that
// concurrent transitions never wait on one counter row: the trigger takes
// the first slot of the status that no other transaction holds (FOR
// UPDATE SKIP LOCKED), and readers sum the slots. What one order
// contributes is defined once, in SQL (order_stats_contribution); Recount
// computes the same numbers independently from the orders table, and
// Check compares the two.
package orderstats

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/shopspring/decimal"
)

// Totals are the counters of one order status.
type Totals struct {
	// Orders in the status.
	Orders int64
	// AutoConfirmed of them were released by the confirmation deadline.
	AutoConfirmed int64
	// Delivered of them were ever delivered (delivered_at set).
	Delivered int64
	// Contested of them were ever contested (contested_at set).
	Contested int64
	// Answered of them carry a client answer to a delivery: contested, or
	// completed by the client's own confirmation.
	Answered int64
	// AnswerSeconds sums the seconds from delivery to that answer.
	AnswerSeconds decimal.Decimal
	// Amount sums the orders' amounts.
	Amount decimal.Decimal
}

// Stats are the totals by status; a status without orders may be absent.
type Stats map[string]Totals

func collect(rows pgx.Rows) (Stats, error) {
	out := Stats{}
	var (
		st string
		t  Totals
	)
	_, err := pgx.ForEachRow(rows, []any{&st, &t.Orders, &t.AutoConfirmed, &t.Delivered, &t.Contested, &t.Answered,
		&t.AnswerSeconds, &t.Amount}, func() error {
		out[st] = t
		return nil
	})
	return out, err
}

// Read sums the maintained counters: a few hundred small rows, whatever
// the number of orders.
func Read(ctx context.Context, q postgres.DBTX) (Stats, error) {
	rows, err := q.Query(ctx, `
		SELECT status, sum(orders)::bigint, sum(auto_confirmed)::bigint, sum(delivered)::bigint,
		       sum(contested)::bigint, sum(answered)::bigint, sum(answer_seconds), sum(amount)
		FROM order_stats GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("read order stats: %w", err)
	}
	s, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("read order stats: %w", err)
	}
	return s, nil
}

// Recount computes the same totals from the orders table itself, written
// independently of the SQL that maintains the counters (this is the
// aggregate the admin dashboard ran before the counters existed). It
// reads every order: a sequential scan, for checks, not for requests.
func Recount(ctx context.Context, q postgres.DBTX) (Stats, error) {
	rows, err := q.Query(ctx, `
		SELECT status, count(*),
		       count(*) FILTER (WHERE auto_confirmed),
		       count(*) FILTER (WHERE delivered_at IS NOT NULL),
		       count(*) FILTER (WHERE contested_at IS NOT NULL),
		       count(answered_at),
		       coalesce(sum(extract(epoch FROM answered_at - delivered_at)), 0),
		       sum(amount)
		FROM (SELECT status, auto_confirmed, delivered_at, contested_at, amount,
		             CASE WHEN contested_at IS NOT NULL THEN contested_at
		                  WHEN status = 'completed' AND NOT auto_confirmed THEN closed_at END AS answered_at
		      FROM orders) o
		GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("recount orders: %w", err)
	}
	s, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("recount orders: %w", err)
	}
	return s, nil
}

// AddOrders adds the orders with ids in [fromID, toID] to the counters,
// for bulk loaders that insert orders with the trigger bypassed
// (session_replication_role = replica). Call it in the transaction that
// inserted them, or the counters and the orders may be seen apart. The
// contribution is the trigger's own (order_stats_contribution), added to
// slot 0.
func AddOrders(ctx context.Context, q postgres.DBTX, fromID, toID int64) error {
	rows, err := q.Query(ctx, `
		UPDATE order_stats s
		SET orders = s.orders + a.orders, auto_confirmed = s.auto_confirmed + a.auto_confirmed,
		    delivered = s.delivered + a.delivered, contested = s.contested + a.contested,
		    answered = s.answered + a.answered, answer_seconds = s.answer_seconds + a.answer_seconds,
		    amount = s.amount + a.amount
		FROM (SELECT o.status, count(*) AS orders, sum(c.auto_confirmed) AS auto_confirmed,
		             sum(c.delivered) AS delivered, sum(c.contested) AS contested, sum(c.answered) AS answered,
		             sum(c.answer_seconds) AS answer_seconds, sum(o.amount) AS amount
		      FROM orders o CROSS JOIN LATERAL order_stats_contribution(o) c
		      WHERE o.id BETWEEN $1 AND $2
		      GROUP BY o.status) a
		WHERE s.status = a.status AND s.slot = 0
		RETURNING s.status`, fromID, toID)
	if err != nil {
		return fmt.Errorf("add orders %d..%d to order stats: %w", fromID, toID, err)
	}
	if _, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return fmt.Errorf("add orders %d..%d to order stats: %w", fromID, toID, err)
	}
	return nil
}

// Installed reports whether the database has the counters (migration
// 00012 applied).
func Installed(ctx context.Context, q postgres.DBTX) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('order_stats') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for order_stats: %w", err)
	}
	return ok, nil
}

// Mismatch is one counter that differs from the recount, or a broken
// piece of the machinery that keeps them (Field "trigger").
type Mismatch struct {
	Status     string
	Field      string
	Maintained string
	Recounted  string
}

func (m Mismatch) String() string {
	if m.Field == "trigger" {
		return "order_stats: trigger " + m.Status + ": " + m.Maintained
	}
	return fmt.Sprintf("order_stats: status %s: %s maintained %s but orders recount %s", m.Status, m.Field, m.Maintained, m.Recounted)
}

// Report is the outcome of Check.
type Report struct {
	// Orders is the number of orders recounted.
	Orders     int64
	Mismatches []Mismatch
}

// OK reports whether the counters equal the recount.
func (r Report) OK() bool { return len(r.Mismatches) == 0 }

// Triggers are the triggers on orders that keep the counters; Check
// reports any that is missing or does not fire in ordinary sessions.
var Triggers = []string{"order_stats_insert_delete", "order_stats_update", "order_stats_truncate"}

// Check reads the counters and recounts the orders in one REPEATABLE READ
// snapshot (so transitions committing meanwhile cannot cause false
// mismatches) and names every counter that differs, and every counting
// trigger that is missing or disabled.
func Check(ctx context.Context, db postgres.Beginner) (Report, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Report{}, fmt.Errorf("begin order stats check: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	return CheckIn(ctx, tx)
}

// CheckIn is Check within a transaction of the caller's.
func CheckIn(ctx context.Context, q postgres.DBTX) (Report, error) {
	var r Report
	rows, err := q.Query(ctx, `
		SELECT t.name, coalesce(g.tgenabled::text, '')
		FROM unnest($1::text[]) AS t(name)
		LEFT JOIN pg_trigger g ON g.tgrelid = 'orders'::regclass AND g.tgname = t.name`, Triggers)
	if err != nil {
		return Report{}, fmt.Errorf("check order stats triggers: %w", err)
	}
	var name, enabled string
	_, err = pgx.ForEachRow(rows, []any{&name, &enabled}, func() error {
		switch enabled {
		case "O", "A": // fires in ordinary sessions
		case "":
			r.Mismatches = append(r.Mismatches, Mismatch{Status: name, Field: "trigger", Maintained: "is missing"})
		default:
			r.Mismatches = append(r.Mismatches, Mismatch{Status: name, Field: "trigger", Maintained: "is disabled"})
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("check order stats triggers: %w", err)
	}
	maintained, err := Read(ctx, q)
	if err != nil {
		return Report{}, err
	}
	recount, err := Recount(ctx, q)
	if err != nil {
		return Report{}, err
	}
	r.Mismatches = append(r.Mismatches, Compare(maintained, recount)...)
	for _, t := range recount {
		r.Orders += t.Orders
	}
	return r, nil
}

// Compare names every counter of maintained that differs from recount,
// by status then field. A status missing on one side counts as zeros.
func Compare(maintained, recount Stats) []Mismatch {
	statuses := map[string]bool{}
	for st := range maintained {
		statuses[st] = true
	}
	for st := range recount {
		statuses[st] = true
	}
	sorted := make([]string, 0, len(statuses))
	for st := range statuses {
		sorted = append(sorted, st)
	}
	sort.Strings(sorted)
	var out []Mismatch
	for _, st := range sorted {
		m, r := maintained[st], recount[st]
		ints := []struct {
			name string
			m, r int64
		}{{"orders", m.Orders, r.Orders}, {"auto_confirmed", m.AutoConfirmed, r.AutoConfirmed},
			{"delivered", m.Delivered, r.Delivered}, {"contested", m.Contested, r.Contested},
			{"answered", m.Answered, r.Answered}}
		for _, f := range ints {
			if f.m != f.r {
				out = append(out, Mismatch{st, f.name, fmt.Sprint(f.m), fmt.Sprint(f.r)})
			}
		}
		decs := []struct {
			name string
			m, r decimal.Decimal
		}{{"answer_seconds", m.AnswerSeconds, r.AnswerSeconds}, {"amount", m.Amount, r.Amount}}
		for _, f := range decs {
			if !f.m.Equal(f.r) {
				out = append(out, Mismatch{st, f.name, f.m.String(), f.r.String()})
			}
		}
	}
	return out
}

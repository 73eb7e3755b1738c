package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

// The dashboards' reads: each query's predicate and order repeat those of
// the partial index that serves it (migrations 00004, 00012 and 00017),
// so the planner can match them and a page stays a few index entries
// whatever the number of orders.

// Party says on which side of its orders a user is.
type Party int

// The two parties of an order.
const (
	Client Party = iota
	Provider
)

// CountByStatus counts a party's orders by status (served by
// orders_client_status_idx / orders_provider_status_idx). Statuses
// without orders are absent.
func CountByStatus(ctx context.Context, db postgres.DBTX, p Party, userID int64) (map[order.Status]int64, error) {
	column := "client_id"
	if p == Provider {
		column = "provider_id"
	}
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM orders WHERE `+column+` = $1 GROUP BY status`, userID)
	if err != nil {
		return nil, fmt.Errorf("count orders by status: %w", err)
	}
	counts := map[order.Status]int64{}
	var (
		st string
		n  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		counts[order.Status(st)] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count orders by status: %w", err)
	}
	return counts, nil
}

// Awaiting is an order waiting on one of its parties.
type Awaiting struct {
	ID     int64
	Title  string
	Status order.Status
	Amount decimal.Decimal
	// Deadline is when the party's turn ends (nil: no deadline, e.g. an
	// in-progress order without a due date).
	Deadline *time.Time
	// Revisions counts the client's revision requests; RevisionReason is
	// the latest one's reason, for the provider (nil for the client).
	Revisions      int
	RevisionReason *string
	// CounterpartyID and CounterpartyName are the other party: the
	// provider for the client's list, the client for the provider's.
	CounterpartyID   int64
	CounterpartyName string
}

// AwaitingParty lists the orders waiting on a party, soonest deadline
// first, at most limit. A client's turn: delivered orders to confirm or
// contest (until the confirmation deadline) and negotiations whose latest
// proposal is the provider's (until it expires). A provider's turn:
// in-progress orders to deliver (until the due date) and negotiations
// whose latest proposal is the client's. orders_client_awaiting_idx and
// orders_provider_awaiting_idx hold exactly these orders in this order.
func AwaitingParty(ctx context.Context, db postgres.DBTX, p Party, userID int64, limit int) ([]Awaiting, error) {
	query := `
		SELECT id, title, status, amount,
		       CASE status WHEN 'delivered' THEN confirm_deadline ELSE proposal_expires_at END AS deadline,
		       revision_count, NULL::text,
		       provider_id, (SELECT u.name FROM users u WHERE u.id = orders.provider_id)
		FROM orders
		WHERE client_id = $1
		  AND (status = 'delivered' OR (status = 'negotiating' AND last_proposed_by <> client_id))
		ORDER BY CASE status WHEN 'delivered' THEN confirm_deadline ELSE proposal_expires_at END NULLS LAST, id
		LIMIT $2`
	if p == Provider {
		query = `
		SELECT id, title, status, amount,
		       CASE status WHEN 'in_progress' THEN due_date ELSE proposal_expires_at END AS deadline,
		       revision_count,
		       (SELECT r.reason FROM order_revisions r WHERE r.order_id = orders.id AND r.number = orders.revision_count),
		       client_id, (SELECT u.name FROM users u WHERE u.id = orders.client_id)
		FROM orders
		WHERE provider_id = $1
		  AND (status = 'in_progress' OR (status = 'negotiating' AND last_proposed_by <> provider_id))
		ORDER BY CASE status WHEN 'in_progress' THEN due_date ELSE proposal_expires_at END NULLS LAST, id
		LIMIT $2`
	}
	return postgres.Collect(ctx, db, "list awaiting orders", pgx.RowToStructByPos[Awaiting], query, userID, limit)
}

// ProviderEarnings sums provider_net over a provider's completed and
// resolved orders (orders_provider_earnings_idx: an index-only sum).
func ProviderEarnings(ctx context.Context, db postgres.DBTX, providerID int64) (decimal.Decimal, error) {
	var earned decimal.Decimal
	if err := db.QueryRow(ctx, `
		SELECT coalesce(sum(provider_net), 0) FROM orders
		WHERE provider_id = $1 AND status IN ('completed', 'resolved')`, providerID).Scan(&earned); err != nil {
		return decimal.Zero, fmt.Errorf("sum provider earnings: %w", err)
	}
	return earned, nil
}

// DisputesNegotiating counts the open disputes whose parties may still
// settle (not in the admins' queue yet).
func DisputesNegotiating(ctx context.Context, db postgres.DBTX) (int64, error) {
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'disputed' AND dispute_queued_at IS NULL`).
		Scan(&n); err != nil {
		return 0, fmt.Errorf("count negotiating disputes: %w", err)
	}
	return n, nil
}

// QueuedDispute is an entry of the admins' dispute queue.
type QueuedDispute struct {
	ID               int64
	Title            string
	ClientID         int64
	ClientName       string
	ProviderID       int64
	ProviderName     string
	Amount           decimal.Decimal
	ContestedAt      time.Time
	ContestReason    string
	EvidenceCount    int
	QueuedAt         time.Time
	SettlementOffers int
	// SLADeadline is queued_at + the order's dispute_sla_hours.
	SLADeadline time.Time
}

// DisputeQueue lists the disputes in the admins' queue (their negotiation
// window ended or a party asked for a ruling), oldest first, at most
// limit (orders_dispute_queue_idx).
func DisputeQueue(ctx context.Context, db postgres.DBTX, limit int) ([]QueuedDispute, error) {
	return postgres.Collect(ctx, db, "list dispute queue", pgx.RowToStructByPos[QueuedDispute], `
		SELECT o.id, o.title, o.client_id, cu.name, o.provider_id, pu.name, o.amount, o.contested_at,
		       coalesce(o.contest_reason, ''), o.evidence_count, o.dispute_queued_at, o.settlement_version,
		       o.dispute_queued_at + o.dispute_sla_hours * interval '1 hour'
		FROM orders o JOIN users cu ON cu.id = o.client_id JOIN users pu ON pu.id = o.provider_id
		WHERE o.status = 'disputed' AND o.dispute_queued_at IS NOT NULL
		ORDER BY o.dispute_queued_at, o.id LIMIT $1`, limit)
}

// SettlementStats are the resolved disputes: how many, how many the
// parties settled, and the seconds from contest to settlement summed over
// those.
type SettlementStats struct {
	Resolved, Settled int64
	SettleSeconds     decimal.Decimal
}

// Settlements reads the SettlementStats (orders_resolved_by_idx: an
// index-only pass over resolved disputes).
func Settlements(ctx context.Context, db postgres.DBTX) (SettlementStats, error) {
	var s SettlementStats
	if err := db.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE resolved_by = 'settlement'), count(*),
		       coalesce(sum(extract(epoch FROM closed_at - contested_at)) FILTER (WHERE resolved_by = 'settlement'), 0)
		FROM orders WHERE status = 'resolved'`).Scan(&s.Settled, &s.Resolved, &s.SettleSeconds); err != nil {
		return SettlementStats{}, fmt.Errorf("read settlement KPIs: %w", err)
	}
	return s, nil
}

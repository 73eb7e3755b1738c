package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/orderstats"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

func (s *Server) mountDashboard(r fiber.Router) {
	r.Get("/dashboard", s.authenticate, s.dashboard)
}

// StatusCounts counts orders by status; every status is present.
type StatusCounts map[string]int64

func newStatusCounts() StatusCounts {
	c := StatusCounts{}
	for _, st := range order.Statuses {
		c[string(st)] = 0
	}
	return c
}

// AwaitingOrder is an order waiting on the caller, with what they are
// expected to do and until when (null: no deadline, e.g. an in-progress
// order without a due date).
type AwaitingOrder struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Status   string         `json:"status"`
	Amount   Money          `json:"amount"`
	Actions  []order.Action `json:"actions"`
	Deadline *time.Time     `json:"deadline"`
	// Revisions is how many revisions the client requested; RevisionReason
	// the latest one's reason (a provider's order sent back to work on).
	Revisions      int     `json:"revisions"`
	RevisionReason *string `json:"revision_reason,omitempty"`
}

// PayoutSummary sums payouts.
type PayoutSummary struct {
	Count int64 `json:"count"`
	Total Money `json:"total"`
}

// ClientDashboard is what a client sees first.
type ClientDashboard struct {
	Role           ordem.Role    `json:"role"`
	OrdersByStatus StatusCounts  `json:"orders_by_status"`
	Balances       WalletBalance `json:"balances"`
	// AwaitingAction: delivered orders to confirm or contest (deadline:
	// the confirmation deadline) and negotiating orders whose latest
	// proposal is the provider's (deadline: the proposal's expiry);
	// soonest deadline first, at most awaitingLimit.
	AwaitingAction []AwaitingOrder `json:"awaiting_action"`
	GeneratedAt    time.Time       `json:"generated_at"`
}

// ProviderDashboard is what a provider sees first.
type ProviderDashboard struct {
	Role         ordem.Role   `json:"role"`
	JobsByStatus StatusCounts `json:"jobs_by_status"`
	// EarningsReleased is the sum of provider_net (amount minus the
	// platform fee, or the provider's share of a resolved dispute) over
	// the provider's completed and resolved orders.
	EarningsReleased Money `json:"earnings_released"`
	// PendingPayouts are the provider's payouts with status pending.
	PendingPayouts PayoutSummary `json:"pending_payouts"`
	Balances       WalletBalance `json:"balances"`
	// AwaitingAction: negotiating orders whose latest proposal is the
	// client's (deadline: the proposal's expiry) and in-progress orders to
	// deliver (deadline: the agreed due date, if any); soonest first.
	AwaitingAction []AwaitingOrder `json:"awaiting_action"`
	GeneratedAt    time.Time       `json:"generated_at"`
}

// AdminDashboard is the operator's view: KPIs, counts and the dispute
// queue.
type AdminDashboard struct {
	Role           ordem.Role   `json:"role"`
	OrdersByStatus StatusCounts `json:"orders_by_status"`
	KPIs           KPIs         `json:"kpis"`
	// DisputeQueue lists the disputes in the admins' queue (their
	// negotiation window ended or a party asked for a ruling), oldest
	// first, at most disputeQueueLimit; DisputesNegotiating counts the
	// open disputes whose parties may still settle.
	DisputesNegotiating int64           `json:"disputes_negotiating"`
	DisputeQueue        []DisputedOrder `json:"dispute_queue"`
	PendingPayouts      PayoutSummary   `json:"pending_payouts"`
	GeneratedAt         time.Time       `json:"generated_at"`
}

// Party is a user named in a list.
type Party struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// DisputedOrder is an entry of the dispute queue.
type DisputedOrder struct {
	ID            string    `json:"id"`
	Title         string    `json:"title"`
	Client        Party     `json:"client"`
	Provider      Party     `json:"provider"`
	Amount        Money     `json:"amount"`
	ContestedAt   time.Time `json:"contested_at"`
	ContestReason string    `json:"contest_reason"`
	EvidenceCount int       `json:"evidence_count"`
	// QueuedAt is when the dispute entered the admins' queue.
	QueuedAt time.Time `json:"queued_at"`
	// SettlementOffers counts the parties' offers so far.
	SettlementOffers int `json:"settlement_offers"`
	// SLADeadline is when admins get the dispute-SLA reminder (queued_at
	// + the order's dispute_sla_hours).
	SLADeadline time.Time `json:"sla_deadline"`
}

// Rate is a KPI ratio with its parts; Value (rounded to 4 decimal places)
// is null when Denominator is 0.
type Rate struct {
	Value       *float64 `json:"value"`
	Numerator   int64    `json:"numerator"`
	Denominator int64    `json:"denominator"`
}

func newRate(num, den int64) Rate {
	r := Rate{Numerator: num, Denominator: den}
	if den > 0 {
		v, _ := decimal.NewFromInt(num).DivRound(decimal.NewFromInt(den), 4).Float64()
		r.Value = &v
	}
	return r
}

// MeanDuration is a mean in seconds (rounded to the millisecond) over
// Count cases; Seconds is null when Count is 0.
type MeanDuration struct {
	Seconds *float64 `json:"seconds"`
	Count   int64    `json:"count"`
}

// KPIs are the marketplace indicators the original system's operators
// watched ("Métricas para Monitorar"), computed over every order in the
// read model, whatever its age. Each ratio carries its numerator and
// denominator; a zero denominator gives a null value, never 0 or NaN.
type KPIs struct {
	// AutoConfirmationRate: orders completed by the confirmation deadline
	// (status completed and auto_confirmed) / all completed orders.
	// Resolved disputes are not completions and count in neither.
	AutoConfirmationRate Rate `json:"auto_confirmation_rate"`
	// ContestRate: orders ever contested (contested_at set, whatever
	// happened next: disputed, resolved or cancelled by an admin) / orders
	// ever delivered (delivered_at set).
	ContestRate Rate `json:"contest_rate"`
	// CancellationRate: cancelled orders / closed orders (completed,
	// resolved, cancelled and expired). Open orders count in neither.
	CancellationRate Rate `json:"cancellation_rate"`
	// MeanClientResponse: mean seconds from delivery to the client's
	// answer, over the orders the client answered: confirmed by the client
	// (completed and not auto-confirmed: closed_at − delivered_at) or
	// contested (contested_at − delivered_at). Excluded: auto-confirmed
	// orders (no answer), orders still awaiting an answer and delivered
	// orders an admin cancelled before any answer.
	MeanClientResponse MeanDuration `json:"mean_client_response"`
	// Volume: sum of amount over completed and resolved orders (the gross
	// value that went through escrow to a conclusion, refunds of resolved
	// disputes included).
	Volume Money `json:"volume"`
	// PlatformRevenue: balance of the platform revenue account (platform
	// fees and forfeited contestation fees).
	PlatformRevenue Money  `json:"platform_revenue"`
	Currency        string `json:"currency"`
	// SettledByParties: resolved disputes the parties settled themselves
	// (an accepted settlement offer) / all resolved disputes.
	SettledByParties Rate `json:"settled_by_parties"`
	// MeanTimeToSettle: mean seconds from the contest to the accepted
	// settlement, over the disputes the parties settled.
	MeanTimeToSettle MeanDuration `json:"mean_time_to_settle"`
}

const (
	awaitingLimit     = 100
	disputeQueueLimit = 100
)

// dashboard answers with the caller's role's dashboard, read from one
// consistent snapshot of the read model and the ledger.
func (s *Server) dashboard(c *fiber.Ctx) error {
	p := caller(c)
	ctx := c.UserContext()
	tx, err := s.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	var out any
	switch p.Role {
	case ordem.RoleClient:
		out, err = s.clientDashboard(ctx, tx, p)
	case ordem.RoleProvider:
		out, err = s.providerDashboard(ctx, tx, p)
	case ordem.RoleAdmin:
		out, err = s.adminDashboard(ctx, tx)
	default:
		return ordem.Errorf(ordem.EForbidden, "no dashboard for this role")
	}
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// countByStatus counts orders by status for a party (column client_id or
// provider_id), served by orders_client_status_idx /
// orders_provider_status_idx.
func countByStatus(ctx context.Context, tx pgx.Tx, column string, userID int64) (StatusCounts, error) {
	rows, err := tx.Query(ctx, `SELECT status, count(*) FROM orders WHERE `+column+` = $1 GROUP BY status`, userID)
	if err != nil {
		return nil, err
	}
	counts := newStatusCounts()
	var (
		st string
		n  int64
	)
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		counts[st] = n
		return nil
	})
	return counts, err
}

func collectAwaiting(rows pgx.Rows) ([]AwaitingOrder, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AwaitingOrder, error) {
		var (
			a      AwaitingOrder
			oid    int64
			amount decimal.Decimal
		)
		err := r.Scan(&oid, &a.Title, &a.Status, &amount, &a.Deadline, &a.Revisions, &a.RevisionReason)
		a.ID, a.Amount = id(oid), M(amount)
		switch order.Status(a.Status) {
		case order.StatusDelivered:
			a.Actions = []order.Action{order.ActionConfirm, order.ActionContest}
		case order.StatusNegotiating:
			a.Actions = []order.Action{order.ActionAccept, order.ActionPropose, order.ActionCancel}
		case order.StatusInProgress:
			a.Actions = []order.Action{order.ActionDeliver}
		}
		return a, err
	})
}

func (s *Server) clientDashboard(ctx context.Context, tx pgx.Tx, p *principal) (*ClientDashboard, error) {
	d := &ClientDashboard{Role: p.Role, GeneratedAt: s.now().UTC()}
	var err error
	if d.OrdersByStatus, err = countByStatus(ctx, tx, "client_id", p.ID); err != nil {
		return nil, err
	}
	if d.Balances, err = s.balances(ctx, tx, p.ID); err != nil {
		return nil, err
	}
	// orders_client_awaiting_idx holds exactly the orders waiting on their
	// client, in deadline order: the page is its first entries, however
	// many open orders the client has. The WHERE and ORDER BY repeat the
	// index's predicate and key so the planner can match them.
	rows, err := tx.Query(ctx, `
		SELECT id, title, status, amount,
		       CASE status WHEN 'delivered' THEN confirm_deadline ELSE proposal_expires_at END AS deadline,
		       revision_count, NULL::text
		FROM orders
		WHERE client_id = $1
		  AND (status = 'delivered' OR (status = 'negotiating' AND last_proposed_by <> client_id))
		ORDER BY CASE status WHEN 'delivered' THEN confirm_deadline ELSE proposal_expires_at END NULLS LAST, id
		LIMIT $2`, p.ID, awaitingLimit)
	if err != nil {
		return nil, err
	}
	if d.AwaitingAction, err = collectAwaiting(rows); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) providerDashboard(ctx context.Context, tx pgx.Tx, p *principal) (*ProviderDashboard, error) {
	d := &ProviderDashboard{Role: p.Role, GeneratedAt: s.now().UTC()}
	var err error
	if d.JobsByStatus, err = countByStatus(ctx, tx, "provider_id", p.ID); err != nil {
		return nil, err
	}
	if d.Balances, err = s.balances(ctx, tx, p.ID); err != nil {
		return nil, err
	}
	var earned decimal.Decimal
	// orders_provider_earnings_idx: an index-only sum.
	if err := tx.QueryRow(ctx, `
		SELECT coalesce(sum(provider_net), 0) FROM orders
		WHERE provider_id = $1 AND status IN ('completed', 'resolved')`, p.ID).Scan(&earned); err != nil {
		return nil, err
	}
	d.EarningsReleased = M(earned)
	var pending decimal.Decimal
	// payouts_user_idx.
	if err := tx.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(amount), 0) FROM payouts WHERE user_id = $1 AND status = 'pending'`,
		p.ID).Scan(&d.PendingPayouts.Count, &pending); err != nil {
		return nil, err
	}
	d.PendingPayouts.Total = M(pending)
	// orders_provider_awaiting_idx, as for the client.
	rows, err := tx.Query(ctx, `
		SELECT id, title, status, amount,
		       CASE status WHEN 'in_progress' THEN due_date ELSE proposal_expires_at END AS deadline,
		       revision_count,
		       (SELECT r.reason FROM order_revisions r WHERE r.order_id = orders.id AND r.number = orders.revision_count)
		FROM orders
		WHERE provider_id = $1
		  AND (status = 'in_progress' OR (status = 'negotiating' AND last_proposed_by <> provider_id))
		ORDER BY CASE status WHEN 'in_progress' THEN due_date ELSE proposal_expires_at END NULLS LAST, id
		LIMIT $2`, p.ID, awaitingLimit)
	if err != nil {
		return nil, err
	}
	if d.AwaitingAction, err = collectAwaiting(rows); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) adminDashboard(ctx context.Context, tx pgx.Tx) (*AdminDashboard, error) {
	d := &AdminDashboard{Role: ordem.RoleAdmin, GeneratedAt: s.now().UTC()}
	var err error
	if d.OrdersByStatus, d.KPIs, err = MarketplaceKPIs(ctx, tx); err != nil {
		return nil, err
	}
	d.KPIs.Currency = s.Config.Currency
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'disputed' AND dispute_queued_at IS NULL`).
		Scan(&d.DisputesNegotiating); err != nil {
		return nil, err
	}
	// orders_dispute_queue_idx (dispute_queued_at) WHERE status = 'disputed'.
	rows, err := tx.Query(ctx, `
		SELECT o.id, o.title, o.client_id, cu.name, o.provider_id, pu.name, o.amount, o.contested_at,
		       coalesce(o.contest_reason, ''), o.evidence_count, o.dispute_queued_at, o.settlement_version,
		       o.dispute_queued_at + o.dispute_sla_hours * interval '1 hour'
		FROM orders o JOIN users cu ON cu.id = o.client_id JOIN users pu ON pu.id = o.provider_id
		WHERE o.status = 'disputed' AND o.dispute_queued_at IS NOT NULL
		ORDER BY o.dispute_queued_at, o.id LIMIT $1`, disputeQueueLimit)
	if err != nil {
		return nil, err
	}
	d.DisputeQueue, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DisputedOrder, error) {
		var (
			o             DisputedOrder
			oid, cid, pid int64
			amount        decimal.Decimal
		)
		err := r.Scan(&oid, &o.Title, &cid, &o.Client.Name, &pid, &o.Provider.Name, &amount, &o.ContestedAt,
			&o.ContestReason, &o.EvidenceCount, &o.QueuedAt, &o.SettlementOffers, &o.SLADeadline)
		o.ID, o.Client.ID, o.Provider.ID, o.Amount = id(oid), id(cid), id(pid), M(amount)
		return o, err
	})
	if err != nil {
		return nil, err
	}
	var pending decimal.Decimal
	// payouts_pending_idx.
	if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount), 0) FROM payouts WHERE status = 'pending'`).
		Scan(&d.PendingPayouts.Count, &pending); err != nil {
		return nil, err
	}
	d.PendingPayouts.Total = M(pending)
	return d, nil
}

// MarketplaceKPIs computes the order counts by status and the KPIs (see
// KPIs for the definitions; Currency is left to the caller) from the
// order counters (internal/orderstats: kept by a trigger in the same
// transaction as every order write, so they read as of q's snapshot like
// the orders themselves) plus the revenue account's balance: a few
// hundred small rows, whatever the number of orders. Exported so a
// metrics collector can publish the same numbers.
func MarketplaceKPIs(ctx context.Context, q postgres.DBTX) (StatusCounts, KPIs, error) {
	stats, err := orderstats.Read(ctx, q)
	if err != nil {
		return nil, KPIs{}, err
	}
	counts := newStatusCounts()
	var (
		completed, autoConfirmed, everDelivered, everContested int64
		closed, cancelled, answers                             int64
		totalAnswerSecs, volume                                = decimal.Zero, decimal.Zero
	)
	for st, t := range stats {
		if t.Orders == 0 {
			continue // a status with no orders keeps its 0; no new keys
		}
		counts[st] = t.Orders
		everDelivered += t.Delivered
		everContested += t.Contested
		answers += t.Answered
		totalAnswerSecs = totalAnswerSecs.Add(t.AnswerSeconds)
		switch order.Status(st) {
		case order.StatusCompleted:
			completed, autoConfirmed = t.Orders, t.AutoConfirmed
			closed += t.Orders
			volume = volume.Add(t.Amount)
		case order.StatusResolved:
			closed += t.Orders
			volume = volume.Add(t.Amount)
		case order.StatusCancelled:
			cancelled = t.Orders
			closed += t.Orders
		case order.StatusExpired:
			closed += t.Orders
		}
	}
	k := KPIs{
		AutoConfirmationRate: newRate(autoConfirmed, completed),
		ContestRate:          newRate(everContested, everDelivered),
		CancellationRate:     newRate(cancelled, closed),
		MeanClientResponse:   MeanDuration{Count: answers},
		Volume:               M(volume),
	}
	if answers > 0 {
		v, _ := totalAnswerSecs.DivRound(decimal.NewFromInt(answers), 3).Float64()
		k.MeanClientResponse.Seconds = &v
	}
	revenue, err := ledger.AccountBalance(ctx, q, ledger.RevenueAccount)
	if errors.Is(err, pgx.ErrNoRows) {
		revenue, err = decimal.Zero, nil // no fee earned yet
	}
	if err != nil {
		return nil, KPIs{}, err
	}
	k.PlatformRevenue = M(revenue)
	// orders_resolved_by_idx: an index-only pass over resolved disputes.
	var settled, resolved int64
	var settleSecs decimal.Decimal
	if err := q.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE resolved_by = 'settlement'), count(*),
		       coalesce(sum(extract(epoch FROM closed_at - contested_at)) FILTER (WHERE resolved_by = 'settlement'), 0)
		FROM orders WHERE status = 'resolved'`).Scan(&settled, &resolved, &settleSecs); err != nil {
		return nil, KPIs{}, fmt.Errorf("read settlement KPIs: %w", err)
	}
	k.SettledByParties = newRate(settled, resolved)
	k.MeanTimeToSettle = MeanDuration{Count: settled}
	if settled > 0 {
		v, _ := settleSecs.DivRound(decimal.NewFromInt(settled), 3).Float64()
		k.MeanTimeToSettle.Seconds = &v
	}
	return counts, k, nil
}

// Package orders owns the orders table, the order read model, and the
// tables that hang off an order (its proposals, settlement offers,
// revision requests and timeline). It holds the one mapping between an
// order.State and its row: the activities write it in each transition's
// transaction, the API reads it back, and both go through the same
// columns here, so a field added to the state is mapped once.
//
// Every function takes the caller's handle (postgres.DBTX), so a write
// belongs to the transaction of the transition that makes it.
package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

// Row is an order as its row stores it: the State the last transition
// wrote, plus what only the row keeps (the reasons given along the way).
type Row struct {
	order.State
	Reasons
}

// Reasons are the texts a transition leaves on the row, kept once given:
// nil fields leave the stored value as it is.
type Reasons struct {
	ContestReason    *string
	CancelReason     *string
	ResolutionReason *string
	// CancelledBy and CancelledByRole say who cancelled the order.
	CancelledBy     *int64
	CancelledByRole *string
}

// columns is the row as Go values: the one mapping between a State (and
// its Reasons) and the orders columns. stateColumns lists the columns
// in the order of dest.
type columns struct {
	id, clientID, providerID       int64
	title, description, status     string
	amount                         decimal.Decimal
	dueDate                        *time.Time
	proposalVersion                int
	lastProposedBy                 int64
	proposalExpiresAt              time.Time
	platformFee, contestationFee   decimal.Decimal
	cancellationFee                decimal.Decimal
	deadlineH, expiryH             decimal.Decimal
	reminderH, slaH, negotiationH  decimal.Decimal
	maxRevisions                   int
	platformRevenue, providerNet   decimal.Decimal
	refund, penalty                *decimal.Decimal
	contestFeeHeld                 decimal.Decimal
	acceptedAt, deliveredAt        *time.Time
	confirmDeadline                *time.Time
	autoConfirmHeld, autoConfirmed bool
	contestedAt                    *time.Time
	evidenceCount, extensions      int
	closedAt                       *time.Time
	createdAt, updatedAt           time.Time
	version                        int
	negotiationEndsAt, queuedAt    *time.Time
	settlementVersion              int
	settlementRefund               *decimal.Decimal
	settlementBy                   *int64
	settlementRole                 *string
	clientOffers, providerOffers   int
	resolvedBy                     *string
	revisions                      int
	reasons                        Reasons
}

// stateColumns are the columns columns.dest scans, prefixed o. (the
// readers alias the table so they can join it).
const stateColumns = `
	o.id, o.client_id, o.provider_id, o.title, o.description, o.status, o.amount, o.due_date,
	o.proposal_version, o.last_proposed_by, o.proposal_expires_at,
	o.platform_fee_percentage, o.contestation_fee, o.cancellation_fee_percentage,
	o.confirmation_deadline_hours, o.proposal_expiry_hours, o.confirmation_reminder_hours, o.dispute_sla_hours,
	coalesce(o.dispute_negotiation_hours, 0), coalesce(o.max_revisions, 0),
	o.platform_revenue, o.provider_net, o.refund_amount, o.penalty_amount, o.contest_fee_held,
	o.accepted_at, o.delivered_at, o.confirm_deadline, o.auto_confirm_held, o.auto_confirmed,
	o.contested_at, o.evidence_count, o.extensions, o.closed_at, o.created_at, o.updated_at, o.version,
	o.negotiation_ends_at, o.dispute_queued_at,
	o.settlement_version, o.settlement_refund, o.settlement_offered_by, o.settlement_offered_role,
	o.client_offers, o.provider_offers, o.resolved_by, o.revision_count,
	o.contest_reason, o.cancel_reason, o.resolution_reason, o.cancelled_by, o.cancelled_by_role`

func (c *columns) dest() []any {
	return []any{&c.id, &c.clientID, &c.providerID, &c.title, &c.description, &c.status, &c.amount, &c.dueDate,
		&c.proposalVersion, &c.lastProposedBy, &c.proposalExpiresAt,
		&c.platformFee, &c.contestationFee, &c.cancellationFee,
		&c.deadlineH, &c.expiryH, &c.reminderH, &c.slaH,
		&c.negotiationH, &c.maxRevisions,
		&c.platformRevenue, &c.providerNet, &c.refund, &c.penalty, &c.contestFeeHeld,
		&c.acceptedAt, &c.deliveredAt, &c.confirmDeadline, &c.autoConfirmHeld, &c.autoConfirmed,
		&c.contestedAt, &c.evidenceCount, &c.extensions, &c.closedAt, &c.createdAt, &c.updatedAt, &c.version,
		&c.negotiationEndsAt, &c.queuedAt,
		&c.settlementVersion, &c.settlementRefund, &c.settlementBy, &c.settlementRole,
		&c.clientOffers, &c.providerOffers, &c.resolvedBy, &c.revisions,
		&c.reasons.ContestReason, &c.reasons.CancelReason, &c.reasons.ResolutionReason,
		&c.reasons.CancelledBy, &c.reasons.CancelledByRole}
}

// columnsOf maps a state to its row.
func columnsOf(s order.State, r Reasons) columns {
	c := columns{id: s.OrderID, clientID: s.ClientID, providerID: s.ProviderID, title: s.Title,
		description: s.Description, status: string(s.Status), amount: s.Amount, dueDate: s.DueDate,
		proposalVersion: s.ProposalVersion, lastProposedBy: s.LastProposedBy, proposalExpiresAt: s.ProposalExpiresAt,
		platformFee: s.Terms.PlatformFeePercentage, contestationFee: s.Terms.ContestationFee,
		cancellationFee: s.Terms.CancellationFeePercentage, deadlineH: s.Terms.ConfirmationDeadlineHours,
		expiryH: s.Terms.ProposalExpiryHours, reminderH: s.Terms.ConfirmationReminderHours,
		slaH: s.Terms.DisputeSLAHours, negotiationH: s.Terms.DisputeNegotiationHours, maxRevisions: s.Terms.MaxRevisions,
		platformRevenue: s.Outcome.PlatformRevenue, providerNet: s.Outcome.ProviderNet,
		refund: s.Outcome.Refund, penalty: s.Outcome.Penalty, contestFeeHeld: s.ContestFeeHeld,
		acceptedAt: s.AcceptedAt, deliveredAt: s.DeliveredAt, confirmDeadline: s.ConfirmDeadline,
		autoConfirmHeld: s.AutoConfirmHeld, autoConfirmed: s.AutoConfirmed, contestedAt: s.ContestedAt,
		evidenceCount: s.EvidenceCount, extensions: s.Extensions, closedAt: s.ClosedAt,
		createdAt: s.CreatedAt, updatedAt: s.UpdatedAt, version: s.Version,
		// The row keeps when the dispute was queued as the admins' queue
		// sees it (a dispute without a negotiation window: when contested).
		negotiationEndsAt: s.NegotiationEndsAt, queuedAt: s.QueuedAt(),
		clientOffers: s.ClientOffers, providerOffers: s.ProviderOffers, revisions: s.Revisions, reasons: r}
	if o := s.Settlement; o != nil {
		role := string(o.Role)
		c.settlementVersion, c.settlementRefund, c.settlementBy, c.settlementRole = o.Version, &o.RefundAmount, &o.OfferedBy, &role
	}
	if s.ResolvedBy != "" {
		c.resolvedBy = &s.ResolvedBy
	}
	return c
}

// row maps the columns back to the order's state.
func (c columns) row() Row {
	s := order.State{OrderID: c.id, ClientID: c.clientID, ProviderID: c.providerID, Title: c.title,
		Description: c.description, Status: order.Status(c.status), Amount: c.amount, DueDate: c.dueDate,
		ProposalVersion: c.proposalVersion, LastProposedBy: c.lastProposedBy, ProposalExpiresAt: c.proposalExpiresAt,
		Terms: order.Terms{PlatformFeePercentage: c.platformFee, ContestationFee: c.contestationFee,
			CancellationFeePercentage: c.cancellationFee, ConfirmationDeadlineHours: c.deadlineH,
			ProposalExpiryHours: c.expiryH, ConfirmationReminderHours: c.reminderH, DisputeSLAHours: c.slaH,
			DisputeNegotiationHours: c.negotiationH, MaxRevisions: c.maxRevisions},
		// A row exists only once the order was created.
		Created: true, CreatedAt: c.createdAt, UpdatedAt: c.updatedAt,
		AcceptedAt: c.acceptedAt, DeliveredAt: c.deliveredAt, ConfirmDeadline: c.confirmDeadline,
		AutoConfirmHeld: c.autoConfirmHeld, AutoConfirmed: c.autoConfirmed, ContestedAt: c.contestedAt,
		ContestFeeHeld: c.contestFeeHeld, EvidenceCount: c.evidenceCount, Extensions: c.extensions, ClosedAt: c.closedAt,
		Outcome: order.Outcome{PlatformRevenue: c.platformRevenue, ProviderNet: c.providerNet,
			Refund: c.refund, Penalty: c.penalty},
		Version: c.version, NegotiationEndsAt: c.negotiationEndsAt, DisputeQueuedAt: c.queuedAt,
		ClientOffers: c.clientOffers, ProviderOffers: c.providerOffers, Revisions: c.revisions}
	// The row keeps the latest offer's terms, not its note or time.
	if c.settlementVersion > 0 && c.settlementRefund != nil && c.settlementBy != nil && c.settlementRole != nil {
		s.Settlement = &order.SettlementOffer{Version: c.settlementVersion, OfferedBy: *c.settlementBy,
			Role: ordem.Role(*c.settlementRole), RefundAmount: *c.settlementRefund}
	}
	if c.resolvedBy != nil {
		s.ResolvedBy = *c.resolvedBy
	}
	return Row{State: s, Reasons: c.reasons}
}

func scanRow(r pgx.Row) (Row, error) {
	var c columns
	if err := r.Scan(c.dest()...); err != nil {
		return Row{}, err
	}
	return c.row(), nil
}

// Create inserts a new order's row, in negotiation, with the terms
// snapshot t, and its first proposal (the client's). It returns the terms
// as the row stores them: the columns round (percentages are
// NUMERIC(7, 4) while config accepts more decimals), and a replay reads
// the row's values, so the terms the workflow applies must be these.
func Create(ctx context.Context, db postgres.DBTX, s order.State) (order.Terms, error) {
	c := columnsOf(s, Reasons{})
	var terms order.Terms
	err := db.QueryRow(ctx, `
		INSERT INTO orders (id, client_id, provider_id, title, description, status, amount, due_date,
		    proposal_version, last_proposed_by, proposal_expires_at,
		    platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
		    confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours, dispute_sla_hours,
		    created_at, updated_at, dispute_negotiation_hours, max_revisions)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
		RETURNING `+termColumns,
		c.id, c.clientID, c.providerID, c.title, c.description, c.status, c.amount, c.dueDate,
		c.proposalVersion, c.lastProposedBy, c.proposalExpiresAt,
		c.platformFee, c.contestationFee, c.cancellationFee,
		c.deadlineH, c.expiryH, c.reminderH, c.slaH,
		c.createdAt, c.updatedAt, c.negotiationH, c.maxRevisions).Scan(termDest(&terms)...)
	if err != nil {
		return order.Terms{}, fmt.Errorf("insert order %d: %w", s.OrderID, err)
	}
	err = RecordProposal(ctx, db, s.OrderID, Proposal{Version: s.ProposalVersion, ProposedBy: s.ClientID,
		ProposerRole: ordem.RoleClient, Amount: s.Amount, DueDate: s.DueDate, CreatedAt: s.CreatedAt})
	if err != nil {
		return order.Terms{}, err
	}
	return terms, nil
}

// termColumns are the terms snapshot's columns, in the order of termDest.
const termColumns = `platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
	confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours, dispute_sla_hours,
	coalesce(dispute_negotiation_hours, 0), coalesce(max_revisions, 0)`

func termDest(t *order.Terms) []any {
	return []any{&t.PlatformFeePercentage, &t.ContestationFee, &t.CancellationFeePercentage,
		&t.ConfirmationDeadlineHours, &t.ProposalExpiryHours, &t.ConfirmationReminderHours,
		&t.DisputeSLAHours, &t.DisputeNegotiationHours, &t.MaxRevisions}
}

// StoredTerms reads the terms snapshot of an order; found is false when
// the order has no row yet.
func StoredTerms(ctx context.Context, db postgres.DBTX, orderID int64) (terms order.Terms, found bool, err error) {
	err = db.QueryRow(ctx, `SELECT `+termColumns+` FROM orders WHERE id = $1`, orderID).Scan(termDest(&terms)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Terms{}, false, nil
	}
	if err != nil {
		return order.Terms{}, false, fmt.Errorf("read terms of order %d: %w", orderID, err)
	}
	return terms, true, nil
}

// Update writes the order's state after a transition, with the reasons
// it gave (nil reasons keep the stored ones). The parties, texts and
// terms are fixed at creation and not written again.
func Update(ctx context.Context, db postgres.DBTX, s order.State, r Reasons) error {
	c := columnsOf(s, r)
	tag, err := db.Exec(ctx, `
		UPDATE orders SET
		    status = $2, amount = $3, due_date = $4, proposal_version = $5, last_proposed_by = $6,
		    proposal_expires_at = $7, platform_revenue = $8, provider_net = $9, refund_amount = $10,
		    penalty_amount = $11, contest_fee_held = $12, accepted_at = $13, delivered_at = $14,
		    confirm_deadline = $15, auto_confirm_held = $16, auto_confirmed = $17, contested_at = $18,
		    evidence_count = $19, extensions = $20, closed_at = $21, updated_at = $22,
		    contest_reason = coalesce($23, contest_reason), cancel_reason = coalesce($24, cancel_reason),
		    resolution_reason = coalesce($25, resolution_reason), cancelled_by = coalesce($26, cancelled_by),
		    cancelled_by_role = coalesce($27, cancelled_by_role),
		    -- 0: a step scheduled by a workflow from before versions existed.
		    version = CASE WHEN $28 = 0 THEN version + 1 ELSE $28 END,
		    negotiation_ends_at = $29, dispute_queued_at = $30, settlement_version = $31,
		    resolved_by = $32, settlement_refund = $33, settlement_offered_by = $34,
		    settlement_offered_role = $35, client_offers = $36, provider_offers = $37, revision_count = $38
		WHERE id = $1`,
		c.id, c.status, c.amount, c.dueDate, c.proposalVersion, c.lastProposedBy,
		c.proposalExpiresAt, c.platformRevenue, c.providerNet, c.refund,
		c.penalty, c.contestFeeHeld, c.acceptedAt, c.deliveredAt,
		c.confirmDeadline, c.autoConfirmHeld, c.autoConfirmed, c.contestedAt,
		c.evidenceCount, c.extensions, c.closedAt, c.updatedAt,
		r.ContestReason, r.CancelReason, r.ResolutionReason, nullID(r.CancelledBy), r.CancelledByRole, c.version,
		c.negotiationEndsAt, c.queuedAt, c.settlementVersion, c.resolvedBy, c.settlementRefund, c.settlementBy,
		c.settlementRole, c.clientOffers, c.providerOffers, c.revisions)
	if err != nil {
		return fmt.Errorf("update order %d: %w", s.OrderID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("update order %d: no such order", s.OrderID)
	}
	return nil
}

// nullID is NULL for no user (nil or 0: the system).
func nullID(id *int64) *int64 {
	if id == nil || *id == 0 {
		return nil
	}
	return id
}

// Viewer is who reads orders: an admin sees every order, a client or a
// provider only their own.
type Viewer struct {
	Role   ordem.Role
	UserID int64
}

// Get reads an order the viewer may see; any other order is not_found,
// so ids of other users' orders reveal nothing.
func Get(ctx context.Context, db postgres.DBTX, orderID int64, v Viewer) (Row, error) {
	r, err := scanRow(db.QueryRow(ctx, `SELECT `+stateColumns+` FROM orders o
		WHERE o.id = $1 AND ($2 = 'admin' OR ($2 = 'client' AND o.client_id = $3) OR ($2 = 'provider' AND o.provider_id = $3))`,
		orderID, string(v.Role), v.UserID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Row{}, ordem.Errorf(ordem.ENotFound, "no such order")
	}
	if err != nil {
		return Row{}, fmt.Errorf("read order %d: %w", orderID, err)
	}
	return r, nil
}

// Filter selects orders for a list; zero fields do not filter. Rows come
// newest first, by (created_at, id) descending.
type Filter struct {
	ClientID, ProviderID int64
	Status               string
	// AfterAt and AfterID continue a listing: only rows strictly after
	// (AfterAt, AfterID) in the descending order.
	AfterAt *time.Time
	AfterID int64
	// Limit caps the rows returned (it must be positive).
	Limit int
}

// List reads the orders f selects.
func List(ctx context.Context, db postgres.DBTX, f Filter) ([]Row, error) {
	return postgres.Collect(ctx, db, "list orders", func(r pgx.CollectableRow) (Row, error) { return scanRow(r) },
		`SELECT `+stateColumns+` FROM orders o
		WHERE ($1 = 0 OR o.client_id = $1) AND ($2 = 0 OR o.provider_id = $2) AND ($3 = '' OR o.status = $3)
		  AND ($4::timestamptz IS NULL OR (o.created_at, o.id) < ($4, $5))
		ORDER BY o.created_at DESC, o.id DESC LIMIT $6`,
		f.ClientID, f.ProviderID, f.Status, f.AfterAt, f.AfterID, f.Limit)
}

// Summary is what a notification about an order quotes of it.
type Summary struct {
	ClientID int64
	Title    string
}

// Summarize reads an order's client and title; for an order without a
// row the error wraps pgx.ErrNoRows.
func Summarize(ctx context.Context, db postgres.DBTX, orderID int64) (Summary, error) {
	var s Summary
	if err := db.QueryRow(ctx, `SELECT client_id, title FROM orders WHERE id = $1`, orderID).Scan(&s.ClientID, &s.Title); err != nil {
		return Summary{}, fmt.Errorf("look up order %d: %w", orderID, err)
	}
	return s, nil
}

// NextID allocates a new order's id, before its workflow starts (the id
// names the workflow).
func NextID(ctx context.Context, db postgres.DBTX) (int64, error) {
	var id int64
	if err := db.QueryRow(ctx, `SELECT nextval('orders_id_seq')`).Scan(&id); err != nil {
		return 0, fmt.Errorf("allocate order id: %w", err)
	}
	return id, nil
}

package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

// The order's history: every version of its terms, of its settlement
// offers and its revision requests, and its timeline. Each is written in
// the transaction of the step that makes it and never changed.

// Proposal is one version of an order's negotiated terms.
type Proposal struct {
	Version      int
	ProposedBy   int64
	ProposerRole ordem.Role
	Amount       decimal.Decimal
	// PreviousAmount and PreviousDueDate are the terms it replaced (nil
	// for the first proposal).
	PreviousAmount  *decimal.Decimal
	DueDate         *time.Time
	PreviousDueDate *time.Time
	Note            string
	CreatedAt       time.Time
}

// RecordProposal writes a proposal of an order.
func RecordProposal(ctx context.Context, db postgres.DBTX, orderID int64, p Proposal) error {
	_, err := db.Exec(ctx, `
		INSERT INTO order_proposals (order_id, version, proposed_by, proposer_role, amount, previous_amount,
		    due_date, previous_due_date, note, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		orderID, p.Version, p.ProposedBy, string(p.ProposerRole), p.Amount, p.PreviousAmount,
		p.DueDate, p.PreviousDueDate, p.Note, p.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert proposal v%d: %w", p.Version, err)
	}
	return nil
}

// Proposals reads an order's proposals, oldest first.
func Proposals(ctx context.Context, db postgres.DBTX, orderID int64) ([]Proposal, error) {
	return postgres.Collect(ctx, db, fmt.Sprintf("read proposals of order %d", orderID), pgx.RowToStructByPos[Proposal], `
		SELECT version, proposed_by, proposer_role, amount, previous_amount, due_date, previous_due_date, note, created_at
		FROM order_proposals WHERE order_id = $1 ORDER BY version`, orderID)
}

// SettlementOffer is one version of a dispute's settlement offers.
type SettlementOffer struct {
	Version      int
	OfferedBy    int64
	OfferedRole  ordem.Role
	RefundAmount decimal.Decimal
	// PreviousRefund is the refund of the offer it replaced (nil: the
	// first offer).
	PreviousRefund *decimal.Decimal
	Note           string
	CreatedAt      time.Time
}

// RecordSettlementOffer writes a settlement offer of an order.
func RecordSettlementOffer(ctx context.Context, db postgres.DBTX, orderID int64, o SettlementOffer) error {
	_, err := db.Exec(ctx, `
		INSERT INTO order_settlement_offers (order_id, version, offered_by, offered_role, refund_amount,
		    previous_refund, note, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		orderID, o.Version, o.OfferedBy, string(o.OfferedRole), o.RefundAmount, o.PreviousRefund, o.Note, o.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert settlement offer v%d: %w", o.Version, err)
	}
	return nil
}

// SettlementOffers reads an order's settlement offers, oldest first.
func SettlementOffers(ctx context.Context, db postgres.DBTX, orderID int64) ([]SettlementOffer, error) {
	return postgres.Collect(ctx, db, "read settlement offers", pgx.RowToStructByPos[SettlementOffer], `
		SELECT version, offered_by, offered_role, refund_amount, previous_refund, note, created_at
		FROM order_settlement_offers WHERE order_id = $1 ORDER BY version`, orderID)
}

// Revision is one of the client's revision requests.
type Revision struct {
	Number      int
	RequestedBy int64
	Reason      string
	// DeliveredAt is the delivery sent back.
	DeliveredAt time.Time
	CreatedAt   time.Time
}

// RecordRevision writes a revision request of an order.
func RecordRevision(ctx context.Context, db postgres.DBTX, orderID int64, r Revision) error {
	_, err := db.Exec(ctx, `
		INSERT INTO order_revisions (order_id, number, requested_by, reason, delivered_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, orderID, r.Number, r.RequestedBy, r.Reason, r.DeliveredAt, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert revision %d: %w", r.Number, err)
	}
	return nil
}

// Revisions reads an order's revision requests, oldest first.
func Revisions(ctx context.Context, db postgres.DBTX, orderID int64) ([]Revision, error) {
	return postgres.Collect(ctx, db, "read revisions", pgx.RowToStructByPos[Revision], `
		SELECT number, requested_by, reason, delivered_at, created_at FROM order_revisions
		WHERE order_id = $1 ORDER BY number`, orderID)
}

// Event is one entry of an order's timeline.
type Event struct {
	ID int64
	// StepKey is the idempotency key of the step that wrote it: the claim
	// that makes a retried step find its own earlier commit.
	StepKey string
	Action  string
	Actor   order.Actor
	// From and To are the statuses around the step ("" for steps that
	// change none, such as a reminder).
	From, To order.Status
	// Refused marks an action the workflow refused (an operator's signal).
	Refused bool
	// Data is the step's own details, as JSON.
	Data      json.RawMessage
	CreatedAt time.Time
}

// AppendEvent appends e to its order's timeline unless its step key is
// already there: it reports false when the step was committed before,
// which is how a step claims its idempotency key.
func AppendEvent(ctx context.Context, db postgres.DBTX, orderID int64, e Event) (bool, error) {
	var actorID *int64
	if e.Actor.UserID != 0 {
		actorID = &e.Actor.UserID
	}
	data := e.Data
	if data == nil {
		data = json.RawMessage("null")
	}
	tag, err := db.Exec(ctx, `
		INSERT INTO order_events (order_id, step_key, action, actor_id, actor_role, from_status, to_status, refused, data, created_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10)
		ON CONFLICT (step_key) DO NOTHING`,
		orderID, e.StepKey, e.Action, actorID, string(e.Actor.Role), string(e.From), string(e.To), e.Refused,
		[]byte(data), e.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("append order event %s: %w", e.StepKey, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Events reads an order's timeline, oldest first.
func Events(ctx context.Context, db postgres.DBTX, orderID int64) ([]Event, error) {
	return postgres.Collect(ctx, db, fmt.Sprintf("read events of order %d", orderID), func(r pgx.CollectableRow) (Event, error) {
		var (
			e        Event
			actor    *int64
			role     string
			from, to string
			data     []byte
		)
		err := r.Scan(&e.ID, &e.StepKey, &e.Action, &actor, &role, &from, &to, &e.Refused, &data, &e.CreatedAt)
		e.Actor.Role, e.From, e.To, e.Data = ordem.Role(role), order.Status(from), order.Status(to), data
		if actor != nil {
			e.Actor.UserID = *actor
		}
		return e, err
	}, `
		SELECT id, step_key, action, actor_id, actor_role, coalesce(from_status, ''), coalesce(to_status, ''), refused, data, created_at
		FROM order_events WHERE order_id = $1 ORDER BY id`, orderID)
}

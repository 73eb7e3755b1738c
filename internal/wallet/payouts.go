package wallet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/webhook"
)

// Payout statuses (payouts.status).
const (
	PayoutPending = "pending"
	PayoutPaid    = "paid"
	PayoutFailed  = "failed"
)

// Payout is a user's withdrawal to outside Ordem.
type Payout struct {
	ID     int64
	UserID int64
	Amount decimal.Decimal
	// Status is PayoutPending, PayoutPaid or PayoutFailed.
	Status        string
	Gateway       string
	GatewayRef    string
	FailureReason string
	// DecidedBy is the admin who marked it paid or failed; 0 while pending.
	DecidedBy int64
	DecidedAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

const payoutColumns = `id, user_id, amount, status, gateway, gateway_ref, failure_reason, decided_by, decided_at, created_at, updated_at`

func scanPayout(r pgx.Row) (Payout, error) {
	var (
		p         Payout
		decidedBy *int64
	)
	err := r.Scan(&p.ID, &p.UserID, &p.Amount, &p.Status, &p.Gateway, &p.GatewayRef, &p.FailureReason,
		&decidedBy, &p.DecidedAt, &p.CreatedAt, &p.UpdatedAt)
	if decidedBy != nil {
		p.DecidedBy = *decidedBy
	}
	return p, err
}

// ErrNoSuchPayout refuses a payout id that names no payout (or, for a
// user, none of theirs).
var ErrNoSuchPayout = ordem.Errorf(ordem.ENotFound, "no such payout")

func payoutKey(payoutID int64, step string) string {
	return "payout:" + strconv.FormatInt(payoutID, 10) + ":" + step
}

// PayoutRequest is a user's request to withdraw from their available
// balance.
type PayoutRequest struct {
	UserID int64
	Amount decimal.Decimal
	// Gateway names the gateway that will send it.
	Gateway string
	// IdempotencyKey, when set, is the request's Idempotency-Key: the
	// payout carries it, so a retry that takes the key over (the first
	// attempt's process died) finds the payout already made instead of
	// making another.
	IdempotencyKey *string
}

// RequestPayout moves r.Amount from the user's available balance to
// platform:payouts_pending in tx, together with the pending payouts row.
// made is false when an earlier attempt with the same idempotency key
// already made the payout (returned as it stands, nothing moved). Too
// little available balance is an insufficient_funds refusal.
func RequestPayout(ctx context.Context, tx pgx.Tx, r PayoutRequest) (p Payout, made bool, err error) {
	p, err = scanPayout(tx.QueryRow(ctx, `INSERT INTO payouts (user_id, amount, status, gateway, idempotency_key)
		VALUES ($1, $2, 'pending', $3, $4)
		ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING `+payoutColumns, r.UserID, r.Amount, r.Gateway, r.IdempotencyKey))
	if errors.Is(err, pgx.ErrNoRows) {
		// Made by an earlier attempt of this request.
		p, err = scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE user_id = $1 AND idempotency_key = $2`,
			r.UserID, r.IdempotencyKey))
		if err != nil {
			return Payout{}, false, fmt.Errorf("read payout of an earlier attempt: %w", err)
		}
		return p, false, nil
	}
	if err != nil {
		return Payout{}, false, fmt.Errorf("insert payout: %w", err)
	}
	_, err = ledger.Post(ctx, tx, ledger.Posting{
		IdempotencyKey: payoutKey(p.ID, "request"),
		Kind:           KindPayoutRequest,
		Memo:           "payout " + strconv.FormatInt(p.ID, 10) + " requested",
		Legs: []ledger.Leg{
			{Account: ledger.UserAccount(r.UserID, ledger.Available), Amount: r.Amount.Neg()},
			{Account: ledger.PayoutsPendingAccount, Amount: r.Amount},
		},
	})
	if errors.Is(err, ledger.ErrInsufficientFunds) {
		return Payout{}, false, ordem.Errorf(ordem.EInsufficientFunds, "the available balance is less than %s", r.Amount.StringFixed(money.Scale))
	}
	if err != nil {
		return Payout{}, false, fmt.Errorf("post payout %d request: %w", p.ID, err)
	}
	return p, true, nil
}

// SetGatewayRef records the reference the gateway gave a payout it took.
func SetGatewayRef(ctx context.Context, db postgres.DBTX, payoutID int64, ref string) (Payout, error) {
	p, err := scanPayout(db.QueryRow(ctx, `UPDATE payouts SET gateway_ref = $2, updated_at = now()
		WHERE id = $1 RETURNING `+payoutColumns, payoutID, ref))
	if err != nil {
		return Payout{}, fmt.Errorf("record gateway reference of payout %d: %w", payoutID, err)
	}
	return p, nil
}

// Decision marks a pending payout paid or failed.
type Decision struct {
	PayoutID int64
	// Outcome is PayoutPaid or PayoutFailed.
	Outcome string
	// GatewayRef records the payment's proof (e.g. a PIX end-to-end id);
	// "" keeps the one the gateway gave.
	GatewayRef string
	// Reason is the admin's; a failed payout keeps it as failure_reason.
	Reason    string
	DecidedBy int64
	// Retry is set when an earlier attempt of this same request may have
	// decided the payout and died before answering: a payout already in
	// Outcome is then that attempt's work, answered as it stands.
	Retry bool
	// Currency is the deployment's, for the payout.paid event.
	Currency string
}

// Decided is the payout before and after a decision.
type Decided struct {
	Before, After Payout
	// Replayed is set when the decision was an earlier attempt's
	// (Decision.Retry): nothing was written.
	Replayed bool
}

// DecidePayout marks a pending payout paid (payouts_pending → world) or
// failed (payouts_pending → the user's available balance) in tx, and for a
// paid one queues the payout.paid webhook event in the same transaction.
// A payout that is not pending is refused with invalid_transition.
func DecidePayout(ctx context.Context, tx pgx.Tx, d Decision) (Decided, error) {
	cur, err := scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE id = $1 FOR UPDATE`, d.PayoutID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Decided{}, ErrNoSuchPayout
	}
	if err != nil {
		return Decided{}, fmt.Errorf("lock payout %d: %w", d.PayoutID, err)
	}
	if d.Retry && cur.Status == d.Outcome {
		return Decided{Before: cur, After: cur, Replayed: true}, nil
	}
	if cur.Status != PayoutPending {
		return Decided{}, ordem.Errorf(ordem.EInvalidTransition, "payout %d is already %s", d.PayoutID, cur.Status)
	}
	name := strconv.FormatInt(cur.ID, 10)
	posting := ledger.Posting{IdempotencyKey: payoutKey(d.PayoutID, d.Outcome)}
	failure := ""
	if d.Outcome == PayoutPaid {
		posting.Kind, posting.Memo = KindPayoutPaid, "payout "+name+" paid"
		posting.Legs = []ledger.Leg{
			{Account: ledger.PayoutsPendingAccount, Amount: cur.Amount.Neg()},
			{Account: ledger.WorldAccount, Amount: cur.Amount},
		}
	} else {
		posting.Kind, posting.Memo = KindPayoutFailed, "payout "+name+" failed: "+d.Reason
		posting.Legs = []ledger.Leg{
			{Account: ledger.PayoutsPendingAccount, Amount: cur.Amount.Neg()},
			{Account: ledger.UserAccount(cur.UserID, ledger.Available), Amount: cur.Amount},
		}
		failure = d.Reason
	}
	if _, err := ledger.Post(ctx, tx, posting); err != nil {
		return Decided{}, fmt.Errorf("post payout %d %s: %w", d.PayoutID, d.Outcome, err)
	}
	row, err := scanPayout(tx.QueryRow(ctx, `
		UPDATE payouts SET status = $2, failure_reason = $3, gateway_ref = CASE WHEN $4 = '' THEN gateway_ref ELSE $4 END,
		       decided_by = $5, decided_at = now(), updated_at = now()
		WHERE id = $1 RETURNING `+payoutColumns, d.PayoutID, d.Outcome, failure, d.GatewayRef, d.DecidedBy))
	if err != nil {
		return Decided{}, fmt.Errorf("mark payout %d %s: %w", d.PayoutID, d.Outcome, err)
	}
	if d.Outcome == PayoutPaid {
		// The webhook outbox, in the payout's transaction: the event is
		// sent if and only if the payout is paid.
		_, err = webhook.Enqueue(ctx, tx, webhook.Event{Key: "payout:" + name + ":paid", Type: webhook.PayoutPaid,
			At: row.UpdatedAt, Data: map[string]any{"payout_id": name, "user_id": strconv.FormatInt(row.UserID, 10),
				"amount": row.Amount.StringFixed(money.Scale), "currency": d.Currency, "gateway": row.Gateway,
				"gateway_ref": row.GatewayRef}})
		if err != nil {
			return Decided{}, fmt.Errorf("queue payout %d paid event: %w", d.PayoutID, err)
		}
	}
	return Decided{Before: cur, After: row}, nil
}

// ListPayouts lists payouts newest first, of one user (userID != 0) or
// of everyone, of one status (status != "") or of all.
func ListPayouts(ctx context.Context, db postgres.DBTX, userID int64, status string, pg Page) ([]Payout, error) {
	return listNewest(ctx, db, "payouts", payoutColumns, "status", userID, status, pg, scanPayout)
}

// GetPayout reads one payout, of userID only when userID != 0: another
// user's payout is ErrNoSuchPayout, as a missing one is.
func GetPayout(ctx context.Context, db postgres.DBTX, payoutID, userID int64) (Payout, error) {
	p, err := scanPayout(db.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts
		WHERE id = $1 AND ($2::bigint = 0 OR user_id = $2)`, payoutID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payout{}, ErrNoSuchPayout
	}
	if err != nil {
		return Payout{}, fmt.Errorf("read payout %d: %w", payoutID, err)
	}
	return p, nil
}

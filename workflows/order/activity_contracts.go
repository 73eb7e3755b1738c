package order

// The activity contracts: the names the workflow calls its activities by
// and the inputs and results they exchange. The activities package
// implements them; this file holds no activity.

import (
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/money"
)

// Activity names. The activities package implements them; the workflow
// calls them by name so it never imports their dependencies.
const (
	ActivityCreateOrder    = "CreateOrder"
	ActivityRecordProposal = "RecordProposal"
	ActivityAcceptOrder    = "AcceptOrder"
	ActivityDeliverOrder   = "DeliverOrder"
	ActivityCancelOrder    = "CancelOrder"
	ActivityConfirmOrder   = "ConfirmOrder"
	ActivityAutoConfirm    = "AutoConfirmOrder"
	ActivityContestOrder   = "ContestOrder"
	ActivityAddEvidence    = "AddEvidence"
	ActivityResolveDispute = "ResolveDispute"
	ActivityExtendDeadline = "ExtendDeadline"
	ActivityExpireOrder    = "ExpireOrder"
	ActivitySendReminder   = "SendReminder"
	ActivityRecordRefusal  = "RecordRefusal"

	ActivityRecordSettlementOffer = "RecordSettlementOffer"
	ActivityAcceptSettlement      = "AcceptSettlement"
	ActivityQueueDispute          = "QueueDispute"
	ActivityRequestRevision       = "RequestRevision"
)

// Transition is what every transition activity receives: which step of
// which order, who did it, when, and the order's state after it. The
// activity writes that state to the orders read model, in the same
// Postgres transaction as the money and the timeline event.
type Transition struct {
	OrderID int64 `json:"order_id"`
	// Step names the step within the order ("accept", "propose:v2", …).
	// With the order id it forms the idempotency key, never the run id,
	// so a retried or re-run activity finds its own earlier commit.
	Step   string    `json:"step"`
	Action string    `json:"action"`
	Actor  Actor     `json:"actor"`
	At     time.Time `json:"at"`
	From   Status    `json:"from"`
	Next   State     `json:"next"`
	// Reason is the actor's reason or note, when the action takes one.
	Reason string `json:"reason,omitempty"`
}

// IdempotencyKey is the key of the step's ledger transaction and timeline
// event.
func (t Transition) IdempotencyKey() string { return StepKey(t.OrderID, t.Step) }

// StepKey is the idempotency key of one step of one order.
func StepKey(orderID int64, step string) string {
	return "order:" + strconv.FormatInt(orderID, 10) + ":" + step
}

// Balances are the parties' balances right after a transition, read in the
// same database transaction that wrote it.
type Balances struct {
	ClientAvailable   decimal.Decimal `json:"client_available"`
	ClientBlocked     decimal.Decimal `json:"client_blocked"`
	ProviderAvailable decimal.Decimal `json:"provider_available"`
	ProviderBlocked   decimal.Decimal `json:"provider_blocked"`
	PlatformRevenue   decimal.Decimal `json:"platform_revenue"`
}

// TransitionResult is what every transition activity returns.
type TransitionResult struct {
	// Replayed is true when the step had already been committed (a retry
	// after a crash, a re-run): nothing new was written.
	Replayed bool     `json:"replayed"`
	Balances Balances `json:"balances"`
}

// CreateOrderInput creates the order's row with the fee snapshot.
type CreateOrderInput struct {
	Order Input     `json:"order"`
	At    time.Time `json:"at"`
}

// CreateOrderResult carries the order's terms as its row stores them: the
// system config snapshot rounded to the columns' scale, the same on a
// replay as the first time.
type CreateOrderResult struct {
	Terms    Terms `json:"terms"`
	Replayed bool  `json:"replayed"`
}

// ProposalInput records a proposal (the first one, by the client, is
// recorded by CreateOrder).
type ProposalInput struct {
	Transition
	Version         int             `json:"version"`
	Amount          decimal.Decimal `json:"amount"`
	PreviousAmount  decimal.Decimal `json:"previous_amount"`
	DueDate         *time.Time      `json:"due_date,omitempty"`
	PreviousDueDate *time.Time      `json:"previous_due_date,omitempty"`
}

// AcceptActivityInput is AcceptOrder's input: the hold of the agreed
// amount.
type AcceptActivityInput struct {
	Transition
	Hold decimal.Decimal `json:"hold"`
}

// CancelActivityInput moves the money of a cancellation.
type CancelActivityInput struct {
	Transition
	// Release is the escrow returned from the client's blocked balance
	// (amount plus any contestation fee held); zero before acceptance.
	Release decimal.Decimal `json:"release"`
	// Penalty moves from the cancelling party to the other one.
	Penalty decimal.Decimal `json:"penalty"`
	// PenaltyFromProvider is true when the provider pays the penalty.
	PenaltyFromProvider bool `json:"penalty_from_provider"`
}

// ReleaseInput releases the escrow to provider and platform.
type ReleaseInput struct {
	Transition
	Amount decimal.Decimal `json:"amount"`
	Split  money.Split     `json:"split"`
}

// AutoConfirmResult says whether the deadline released the funds or, with
// AUTO_CONFIRM_JOB_ENABLED=false, only alerted the admins.
type AutoConfirmResult struct {
	TransitionResult
	Held bool `json:"held"`
}

// ContestActivityInput holds the contestation fee.
type ContestActivityInput struct {
	Transition
	Fee decimal.Decimal `json:"fee"`
}

// EvidenceActivityInput attaches a piece of evidence.
type EvidenceActivityInput struct {
	Transition
	Evidence  AddEvidenceInput `json:"evidence"`
	ObjectKey string           `json:"object_key"`
}

// ResolveActivityInput moves the money of a ruling, or of a settlement
// the parties agreed on (SettlementVersion names the accepted offer).
type ResolveActivityInput struct {
	Transition
	Amount            decimal.Decimal  `json:"amount"`
	Resolution        money.Resolution `json:"resolution"`
	SettlementVersion int              `json:"settlement_version,omitempty"`
}

// RevisionActivityInput records the client's Number-th revision request
// of the delivery made at DeliveredAt.
type RevisionActivityInput struct {
	Transition
	Number      int       `json:"number"`
	DeliveredAt time.Time `json:"delivered_at"`
}

// SettlementOfferActivityInput records a settlement offer, versioned and
// audited (who, previous refund → new refund, when, note).
type SettlementOfferActivityInput struct {
	Transition
	Offer          SettlementOffer  `json:"offer"`
	PreviousRefund *decimal.Decimal `json:"previous_refund,omitempty"`
}

// ExtendActivityInput records a new deadline.
type ExtendActivityInput struct {
	Transition
	Hours       decimal.Decimal `json:"hours"`
	OldDeadline time.Time       `json:"old_deadline"`
}

// Reminder kinds.
const (
	ReminderConfirmation = "confirmation_reminder"
	ReminderDisputeSLA   = "dispute_sla"
)

// ReminderInput sends a reminder notification (no state change).
type ReminderInput struct {
	OrderID  int64     `json:"order_id"`
	Step     string    `json:"step"`
	Kind     string    `json:"kind"`
	Deadline time.Time `json:"deadline"`
	At       time.Time `json:"at"`
}

// RefusalInput records a refused signal in the order's timeline.
type RefusalInput struct {
	OrderID int64     `json:"order_id"`
	Step    string    `json:"step"`
	Action  Action    `json:"action"`
	Actor   Actor     `json:"actor"`
	Status  Status    `json:"status"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

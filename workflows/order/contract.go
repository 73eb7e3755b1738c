// Package order is the order workflow and its contract: names, inputs,
// results, states and the rules of the transition table (spec §3). It does
// no I/O; activities, the worker and the API import it, never the reverse.
package order

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem"
)

// WorkflowName is the registered name of the order workflow.
const WorkflowName = "Order"

// WorkflowID is the fixed workflow ID of an order: one workflow per order,
// found by support from the order id alone.
func WorkflowID(orderID int64) string { return fmt.Sprintf("order-%d", orderID) }

// Status is the state of an order.
type Status string

// Order states (spec §3).
const (
	StatusNegotiating Status = "negotiating"
	StatusInProgress  Status = "in_progress"
	StatusDelivered   Status = "delivered"
	StatusCompleted   Status = "completed"
	StatusDisputed    Status = "disputed"
	StatusResolved    Status = "resolved"
	StatusCancelled   Status = "cancelled"
	StatusExpired     Status = "expired"
)

// Statuses lists every state, in lifecycle order.
var Statuses = []Status{StatusNegotiating, StatusInProgress, StatusDelivered, StatusCompleted,
	StatusDisputed, StatusResolved, StatusCancelled, StatusExpired}

// Terminal reports whether the order accepts no more actions.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusResolved || s == StatusCancelled || s == StatusExpired
}

// Action is something an actor asks an order to do. Each is an Update and
// a Signal of the same name.
type Action string

// Actions of the transition table.
const (
	ActionPropose        Action = "propose"
	ActionAccept         Action = "accept"
	ActionDeliver        Action = "deliver"
	ActionCancel         Action = "cancel"
	ActionConfirm        Action = "confirm"
	ActionContest        Action = "contest"
	ActionAddEvidence    Action = "add_evidence"
	ActionResolve        Action = "resolve"
	ActionExtendDeadline Action = "extend_deadline"
	// ActionOfferSettlement and ActionAcceptSettlement let a dispute's
	// parties settle it between themselves; ActionRequestRuling sends it
	// to the admins' queue before the negotiation window ends.
	ActionOfferSettlement  Action = "offer_settlement"
	ActionAcceptSettlement Action = "accept_settlement"
	ActionRequestRuling    Action = "request_ruling"
	// ActionRequestRevision sends a delivered order back to its provider.
	ActionRequestRevision Action = "request_revision"
)

// Actions lists every user action.
var Actions = []Action{ActionPropose, ActionAccept, ActionDeliver, ActionCancel, ActionConfirm,
	ActionContest, ActionAddEvidence, ActionResolve, ActionExtendDeadline, ActionOfferSettlement,
	ActionAcceptSettlement, ActionRequestRuling, ActionRequestRevision}

// Steps the order's own timers take (no actor asks for them); they are
// recorded, and reach activities, under these names.
const (
	StepAutoConfirm = "auto_confirm"
	StepExpire      = "expire"
	// StepNegotiationEnded: a dispute's negotiation window ended without
	// a settlement; the dispute goes to the admins' queue.
	StepNegotiationEnded = "negotiation_ended"
)

// Who resolved a dispute (State.ResolvedBy).
const (
	ResolvedByAdmin      = "admin"
	ResolvedBySettlement = "settlement"
)

// QueryState is the query that returns the order's live State.
const QueryState = "state"

// Limits that keep one order's history small (well under 200 events on the
// longest path) without continue-as-new.
const (
	MaxProposals  = 10
	MaxEvidence   = 10
	MaxExtensions = 5
	// MaxSettlementOffers bounds each party's settlement offers on one
	// dispute (spec §3).
	MaxSettlementOffers = 5
)

// Limits on what one actor can make an order do that changes nothing.
// An update refused by its validator costs no history, but one that is
// accepted and then refused (by the re-check under the transition lock or
// by its activity, e.g. insufficient funds) is an event-writing, counted
// update: Temporal allows 2,000 per run. These bounds keep any party from
// pushing an order towards that limit; continue-as-new (when the server
// suggests it) resets the run's counts for whatever is left.
const (
	// MaxInFlightPerActor is how many of one actor's updates may be
	// accepted and still running at once.
	MaxInFlightPerActor = 2
	// FreeRefusals is how many accepted-then-refused actions an actor may
	// have before each further attempt has to wait for a cooldown.
	FreeRefusals = 5
	// RefusalCooldown is the first cooldown; it doubles with every further
	// refusal up to MaxRefusalCooldown.
	RefusalCooldown    = time.Minute
	MaxRefusalCooldown = 24 * time.Hour
)

// Actor is who asks for an action.
type Actor struct {
	UserID int64      `json:"user_id"`
	Role   ordem.Role `json:"role"`
	// RequestID is the X-Request-Id of the API request that asked for the
	// action, so the audit row of an admin action names it like the
	// API's own audit rows do ("" for timers and older histories). It is
	// never part of who the actor is (see key).
	RequestID string `json:"request_id,omitempty"`
}

// SystemActor is the actor of timer-driven transitions.
var SystemActor = Actor{Role: ordem.RoleSystem}

// Terms is the fee and deadline snapshot taken from system config when the
// order is created; config changes later never alter it.
type Terms struct {
	PlatformFeePercentage     decimal.Decimal `json:"platform_fee_percentage"`
	ContestationFee           decimal.Decimal `json:"contestation_fee"`
	CancellationFeePercentage decimal.Decimal `json:"cancellation_fee_percentage"`
	ConfirmationDeadlineHours decimal.Decimal `json:"confirmation_deadline_hours"`
	ProposalExpiryHours       decimal.Decimal `json:"proposal_expiry_hours"`
	ConfirmationReminderHours decimal.Decimal `json:"confirmation_reminder_hours"`
	DisputeSLAHours           decimal.Decimal `json:"dispute_sla_hours"`
	// DisputeNegotiationHours is how long a dispute's parties may settle
	// it between themselves before it enters the admins' queue. Zero for
	// orders created before it existed: their disputes are queued at once.
	DisputeNegotiationHours decimal.Decimal `json:"dispute_negotiation_hours"`
	// MaxRevisions is how many revisions the client may request (zero for
	// orders created before revisions existed).
	MaxRevisions int `json:"max_revisions"`
}

// Hours turns decimal hours into a duration (to the nanosecond), so tests
// and demos can use fractions such as 0.001 h = 3.6 s.
func Hours(h decimal.Decimal) time.Duration {
	return time.Duration(h.Mul(decimal.NewFromInt(int64(time.Hour))).IntPart())
}

// Input starts an order workflow: the order as the client created it.
type Input struct {
	OrderID     int64           `json:"order_id"`
	ClientID    int64           `json:"client_id"`
	ProviderID  int64           `json:"provider_id"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Amount      decimal.Decimal `json:"amount"`
	DueDate     *time.Time      `json:"due_date,omitempty"`
	// Continued is set when a run continues as new: the order's state and
	// the workflow's own bookkeeping, carried over whole.
	Continued *Continuation `json:"continued,omitempty"`
}

// Continuation is what one run hands the next when the order continues as
// new (the server suggests it when a run's history or update count grows
// large): everything the next run needs to go on exactly where this one
// stopped.
type Continuation struct {
	State State `json:"state"`
	// RemindedFor is the deadline whose confirmation reminder was handled.
	RemindedFor time.Time `json:"reminded_for"`
	// SLAReminded is set once the dispute-SLA reminder was handled.
	SLAReminded bool `json:"sla_reminded"`
	// SignalRefusals numbers the refused signals recorded so far (their
	// step keys must stay unique across runs).
	SignalRefusals int `json:"signal_refusals"`
	// SystemFailures counts consecutive failed timer transitions.
	SystemFailures int `json:"system_failures"`
	// Actors is each actor's refusal record per action ("client:7:contest"),
	// so a new run does not hand anyone a fresh budget.
	Actors map[string]ActorRecord `json:"actors,omitempty"`
	// Runs counts the runs before this one.
	Runs int `json:"runs"`
}

// ActorRecord is what the workflow remembers about one actor's refused
// actions.
type ActorRecord struct {
	Refused       int       `json:"refused"`
	LastRefusedAt time.Time `json:"last_refused_at"`
}

// Outcome is where the order's money went, filled as it moves.
type Outcome struct {
	// PlatformRevenue is everything the platform earned from the order:
	// fee on release, forfeited contestation fee.
	PlatformRevenue decimal.Decimal `json:"platform_revenue"`
	// ProviderNet is what the provider's available balance gained (negative
	// when a provider's cancellation cost them the penalty).
	ProviderNet decimal.Decimal `json:"provider_net"`
	// Refund is what a dispute ruling returned to the client.
	Refund *decimal.Decimal `json:"refund,omitempty"`
	// Penalty is the cancellation penalty, if any.
	Penalty *decimal.Decimal `json:"penalty,omitempty"`
}

// State is the live state of an order, returned by the state query, by
// every update and as the workflow result.
type State struct {
	OrderID           int64           `json:"order_id"`
	ClientID          int64           `json:"client_id"`
	ProviderID        int64           `json:"provider_id"`
	Title             string          `json:"title"`
	Description       string          `json:"description"`
	Status            Status          `json:"status"`
	Amount            decimal.Decimal `json:"amount"`
	DueDate           *time.Time      `json:"due_date,omitempty"`
	ProposalVersion   int             `json:"proposal_version"`
	LastProposedBy    int64           `json:"last_proposed_by"`
	ProposalExpiresAt time.Time       `json:"proposal_expires_at"`
	Terms             Terms           `json:"terms"`
	// Created is false until the order's row exists in Postgres.
	Created     bool       `json:"created"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	AcceptedAt  *time.Time `json:"accepted_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	// ConfirmDeadline is when silence auto-confirms a delivered order.
	ConfirmDeadline *time.Time `json:"confirm_deadline,omitempty"`
	// AutoConfirmHeld is set when the deadline passed while auto-confirm
	// was disabled: admins were alerted and the funds stay in escrow until
	// the client confirms, an admin extends the deadline or cancels.
	AutoConfirmHeld bool            `json:"auto_confirm_held"`
	AutoConfirmed   bool            `json:"auto_confirmed"`
	ContestedAt     *time.Time      `json:"contested_at,omitempty"`
	ContestFeeHeld  decimal.Decimal `json:"contest_fee_held"`
	EvidenceCount   int             `json:"evidence_count"`
	Extensions      int             `json:"extensions"`
	ClosedAt        *time.Time      `json:"closed_at,omitempty"`
	Outcome         Outcome         `json:"outcome"`
	// Version counts the order's committed transitions (1 at creation):
	// the API's ETag, which If-Match preconditions compare against.
	Version int `json:"version"`

	// NegotiationEndsAt is when a dispute's negotiation window ends (nil:
	// a dispute without one, queued at once).
	NegotiationEndsAt *time.Time `json:"negotiation_ends_at,omitempty"`
	// DisputeQueuedAt is when the dispute entered the admins' queue (the
	// window ended or a party asked for a ruling): its SLA runs from then.
	DisputeQueuedAt *time.Time `json:"dispute_queued_at,omitempty"`
	// Settlement is the latest settlement offer (nil: none yet).
	Settlement *SettlementOffer `json:"settlement,omitempty"`
	// ClientOffers and ProviderOffers count each party's settlement
	// offers (at most MaxSettlementOffers each).
	ClientOffers   int `json:"client_offers,omitempty"`
	ProviderOffers int `json:"provider_offers,omitempty"`
	// ResolvedBy says who resolved a dispute: ResolvedByAdmin or
	// ResolvedBySettlement ("" for orders resolved before it existed, all
	// by admins).
	ResolvedBy string `json:"resolved_by,omitempty"`
	// Revisions counts the client's revision requests (at most
	// Terms.MaxRevisions).
	Revisions int `json:"revisions,omitempty"`
}

// SettlementOffer is one party's offer to settle a dispute: refund
// RefundAmount to the client, the rest to the provider as a ruling would.
type SettlementOffer struct {
	Version      int             `json:"version"`
	OfferedBy    int64           `json:"offered_by"`
	Role         ordem.Role      `json:"role"`
	RefundAmount decimal.Decimal `json:"refund_amount"`
	Note         string          `json:"note,omitempty"`
	At           time.Time       `json:"at"`
}

// QueuedAt is when the dispute entered the admins' queue, nil while its
// parties are still negotiating. A dispute without a negotiation window
// (orders created before it existed) was queued when contested.
func (s *State) QueuedAt() *time.Time {
	if s.DisputeQueuedAt != nil {
		return s.DisputeQueuedAt
	}
	if s.NegotiationEndsAt == nil {
		return s.ContestedAt
	}
	return nil
}

// Inputs of the updates and signals. Each carries the actor; the API fills
// it from the authenticated user, operators fill it by hand.

// Every action input may carry IfVersion: when non-zero the action is
// refused with precondition_failed unless the order is still at that
// version (State.Version), so nobody acts on a state they did not see.

// ProposeInput is a new proposal (amount, due date, note).
type ProposeInput struct {
	Actor     Actor           `json:"actor"`
	IfVersion int             `json:"if_version,omitempty"`
	Amount    decimal.Decimal `json:"amount"`
	DueDate   *time.Time      `json:"due_date,omitempty"`
	Note      string          `json:"note,omitempty"`
}

// AcceptInput accepts the latest proposal. ProposalVersion names the
// proposal the actor saw; when non-zero (the API always sends it) the
// accept is refused with proposal_changed unless it is still the latest,
// so a counter-proposal that lands first is never held by mistake.
type AcceptInput struct {
	Actor           Actor `json:"actor"`
	IfVersion       int   `json:"if_version,omitempty"`
	ProposalVersion int   `json:"proposal_version,omitempty"`
}

// DeliverInput marks the work delivered.
type DeliverInput struct {
	Actor     Actor `json:"actor"`
	IfVersion int   `json:"if_version,omitempty"`
}

// CancelInput cancels the order; admins must give a reason.
// ExpectedPenalty is the penalty the actor agreed to pay; when set (the
// API always sets it) the cancellation is refused with penalty_changed if
// cancelling now would cost anything else.
type CancelInput struct {
	Actor           Actor            `json:"actor"`
	IfVersion       int              `json:"if_version,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	ExpectedPenalty *decimal.Decimal `json:"expected_penalty,omitempty"`
}

// ConfirmInput confirms a delivery.
type ConfirmInput struct {
	Actor     Actor `json:"actor"`
	IfVersion int   `json:"if_version,omitempty"`
}

// ContestInput contests a delivery.
type ContestInput struct {
	Actor     Actor  `json:"actor"`
	IfVersion int    `json:"if_version,omitempty"`
	Reason    string `json:"reason"`
}

// AddEvidenceInput attaches an uploaded file to a dispute. The API has
// already stored the bytes under StagingKey and checked them.
type AddEvidenceInput struct {
	Actor       Actor  `json:"actor"`
	IfVersion   int    `json:"if_version,omitempty"`
	EvidenceID  string `json:"evidence_id"`
	StagingKey  string `json:"staging_key"`
	FileName    string `json:"file_name"`
	Extension   string `json:"extension"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Description string `json:"description,omitempty"`
}

// OfferSettlementInput offers to settle a dispute: refund RefundAmount to
// the client (0 ≤ R ≤ amount), with a note.
type OfferSettlementInput struct {
	Actor        Actor           `json:"actor"`
	IfVersion    int             `json:"if_version,omitempty"`
	RefundAmount decimal.Decimal `json:"refund_amount"`
	Note         string          `json:"note,omitempty"`
}

// AcceptSettlementInput accepts the latest settlement offer. OfferVersion
// names the offer the actor saw; when non-zero (the API always sends it)
// the accept is refused with settlement_changed unless it is still the
// latest, so nobody accepts terms they did not see.
type AcceptSettlementInput struct {
	Actor        Actor `json:"actor"`
	IfVersion    int   `json:"if_version,omitempty"`
	OfferVersion int   `json:"offer_version,omitempty"`
}

// RequestRulingInput sends a dispute to the admins' queue before its
// negotiation window ends.
type RequestRulingInput struct {
	Actor     Actor  `json:"actor"`
	IfVersion int    `json:"if_version,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// RequestRevisionInput sends a delivered order back to its provider with
// the client's reason.
type RequestRevisionInput struct {
	Actor     Actor  `json:"actor"`
	IfVersion int    `json:"if_version,omitempty"`
	Reason    string `json:"reason"`
}

// EvidenceObjectKey is the final, server-chosen key of a piece of evidence.
func EvidenceObjectKey(orderID int64, evidenceID, ext string) string {
	return fmt.Sprintf("evidence/%d/%s.%s", orderID, evidenceID, ext)
}

// ResolveInput is an admin ruling on a dispute.
type ResolveInput struct {
	Actor        Actor           `json:"actor"`
	IfVersion    int             `json:"if_version,omitempty"`
	RefundAmount decimal.Decimal `json:"refund_amount"`
	Reason       string          `json:"reason"`
}

// ExtendDeadlineInput moves a delivered order's confirmation deadline.
type ExtendDeadlineInput struct {
	Actor     Actor           `json:"actor"`
	IfVersion int             `json:"if_version,omitempty"`
	Hours     decimal.Decimal `json:"hours"`
	Reason    string          `json:"reason"`
}

// UpdateAwaitCreated is an update that returns once the order's row exists
// (or fails if creation was refused). The API sends it with the start
// (update-with-start), so POST /v1/orders answers with a real order.
const UpdateAwaitCreated = "await_created"

// Search attributes the workflow keeps current, so operators find orders
// in the Temporal Web UI (e.g. OrderStatus="delivered" AND
// ConfirmDeadline < "2026-12-01T00:00:00Z").
var (
	SearchOrderID         = temporal.NewSearchAttributeKeyInt64("OrderId")
	SearchOrderStatus     = temporal.NewSearchAttributeKeyKeyword("OrderStatus")
	SearchClientID        = temporal.NewSearchAttributeKeyInt64("ClientId")
	SearchProviderID      = temporal.NewSearchAttributeKeyInt64("ProviderId")
	SearchConfirmDeadline = temporal.NewSearchAttributeKeyTime("ConfirmDeadline")
)

// SearchAttributes lists every custom search attribute, for registration.
var SearchAttributes = []temporal.SearchAttributeKey{
	SearchOrderID, SearchOrderStatus, SearchClientID, SearchProviderID, SearchConfirmDeadline,
}

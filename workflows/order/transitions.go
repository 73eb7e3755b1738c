package order

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
)

// Step is one transition computed from the state alone: the activity that
// makes it durable (ledger legs, read model, timeline), its input, and the
// state the workflow commits once the activity has succeeded. The
// transitions below are pure functions of the state, the request and the
// time: the workflow checks the rules (Permit, Validate, the caller's
// expectations), runs Activity with Input under its lock and commits Next;
// the activities' tests build their inputs with the same functions.
type Step struct {
	Activity string
	Input    any
	Next     State
}

// Transition returns the step's Transition (every activity input embeds
// one).
func (s Step) Transition() Transition {
	switch in := s.Input.(type) {
	case Transition:
		return in
	case ProposalInput:
		return in.Transition
	case AcceptActivityInput:
		return in.Transition
	case CancelActivityInput:
		return in.Transition
	case ReleaseInput:
		return in.Transition
	case ContestActivityInput:
		return in.Transition
	case EvidenceActivityInput:
		return in.Transition
	case ResolveActivityInput:
		return in.Transition
	case ExtendActivityInput:
		return in.Transition
	case SettlementOfferActivityInput:
		return in.Transition
	case RevisionActivityInput:
		return in.Transition
	}
	panic(fmt.Sprintf("order: step input %T has no transition", s.Input))
}

// transition builds the Transition of a step taken at now and the state
// after it (one version more).
func (s State) transition(action Action, step string, actor Actor, reason string, next State, now time.Time) Transition {
	next.UpdatedAt = now
	next.Version = s.Version + 1
	return Transition{OrderID: s.OrderID, Step: step, Action: string(action), Actor: actor, At: now,
		From: s.Status, Next: next, Reason: reason}
}

// Propose records a new proposal: amount, due date, who proposed it; the
// expiry restarts from now.
func (s State) Propose(in ProposeInput, now time.Time) Step {
	next := s
	next.ProposalVersion++
	next.Amount = in.Amount
	if in.DueDate != nil {
		next.DueDate = in.DueDate
	}
	next.LastProposedBy = in.Actor.UserID
	next.ProposalExpiresAt = now.Add(Hours(s.Terms.ProposalExpiryHours))
	t := s.transition(ActionPropose, fmt.Sprintf("propose:v%d", next.ProposalVersion), in.Actor, in.Note, next, now)
	return Step{ActivityRecordProposal, ProposalInput{Transition: t, Version: next.ProposalVersion, Amount: in.Amount,
		PreviousAmount: s.Amount, DueDate: next.DueDate, PreviousDueDate: s.DueDate}, t.Next}
}

// Accept holds the agreed amount: the order is in progress.
func (s State) Accept(in AcceptInput, now time.Time) Step {
	next := s
	next.Status = StatusInProgress
	next.AcceptedAt = &now
	t := s.transition(ActionAccept, "accept", in.Actor, "", next, now)
	return Step{ActivityAcceptOrder, AcceptActivityInput{Transition: t, Hold: s.Amount}, t.Next}
}

// Deliver marks the work delivered and starts the confirmation window.
func (s State) Deliver(in DeliverInput, now time.Time) Step {
	deadline := now.Add(Hours(s.Terms.ConfirmationDeadlineHours))
	next := s
	next.Status = StatusDelivered
	next.DeliveredAt = &now
	next.ConfirmDeadline = &deadline
	key := "deliver"
	if s.Revisions > 0 {
		// A delivery after a revision request is a step of its own.
		key = fmt.Sprintf("deliver:r%d", s.Revisions)
	}
	t := s.transition(ActionDeliver, key, in.Actor, "", next, now)
	return Step{ActivityDeliverOrder, t, t.Next}
}

// RequestRevision sends the delivered order back to the provider: in
// progress again, the confirmation deadline gone until the next delivery,
// which starts a full new window.
func (s State) RequestRevision(in RequestRevisionInput, now time.Time) Step {
	next := s
	next.Status = StatusInProgress
	next.Revisions++
	next.DeliveredAt = nil
	next.ConfirmDeadline = nil
	next.AutoConfirmHeld = false
	t := s.transition(ActionRequestRevision, fmt.Sprintf("revision:%d", next.Revisions), in.Actor, in.Reason, next, now)
	act := RevisionActivityInput{Transition: t, Number: next.Revisions}
	if s.DeliveredAt != nil {
		act.DeliveredAt = *s.DeliveredAt
	}
	return Step{ActivityRequestRevision, act, t.Next}
}

// Cancel closes the order: the escrow back, the penalty (CancelTerms) from
// the cancelling party to the other.
func (s State) Cancel(in CancelInput, now time.Time) Step {
	next := s
	next.Status = StatusCancelled
	next.ClosedAt = &now
	terms := s.CancelTerms(in.Actor, now)
	act := CancelActivityInput{Release: terms.Release, Penalty: terms.Penalty, PenaltyFromProvider: terms.PenaltyFromProvider}
	if act.Penalty.IsPositive() {
		p := act.Penalty
		next.Outcome.Penalty = &p
		if act.PenaltyFromProvider {
			next.Outcome.ProviderNet = p.Neg()
		} else {
			next.Outcome.ProviderNet = p
		}
	}
	act.Transition = s.transition(ActionCancel, "cancel", in.Actor, in.Reason, next, now)
	return Step{ActivityCancelOrder, act, act.Next}
}

// release is the completed order and the split of its amount.
func (s State) release(auto bool, now time.Time) (State, money.Split) {
	split := money.ReleaseSplit(s.Amount, s.Terms.PlatformFeePercentage)
	next := s
	next.Status = StatusCompleted
	next.ClosedAt = &now
	next.AutoConfirmed = auto
	next.AutoConfirmHeld = false
	next.Outcome.PlatformRevenue = split.Fee
	next.Outcome.ProviderNet = split.ProviderShare
	return next, split
}

// Confirm releases the escrow on the client's word.
func (s State) Confirm(in ConfirmInput, now time.Time) Step {
	next, split := s.release(false, now)
	t := s.transition(ActionConfirm, "release", in.Actor, "", next, now)
	return Step{ActivityConfirmOrder, ReleaseInput{Transition: t, Amount: s.Amount, Split: split}, t.Next}
}

// AutoConfirm releases the escrow when the deadline passed in silence.
// With auto-confirmation disabled the activity holds instead: the
// workflow then commits Held.
func (s State) AutoConfirm(now time.Time) Step {
	next, split := s.release(true, now)
	t := s.transition(StepAutoConfirm, "release", SystemActor, "", next, now)
	return Step{ActivityAutoConfirm, ReleaseInput{Transition: t, Amount: s.Amount, Split: split}, t.Next}
}

// Held is the state after an auto-confirmation that was held (step is the
// AutoConfirm step): still delivered, nothing released, admins alerted.
func (s State) Held(step Step) State {
	t := step.Transition()
	held := s
	held.AutoConfirmHeld = true
	held.UpdatedAt = t.At
	held.Version = t.Next.Version
	return held
}

// Contest opens a dispute: the contestation fee is held from the client.
func (s State) Contest(in ContestInput, now time.Time) Step {
	next := s
	next.Status = StatusDisputed
	next.ContestedAt = &now
	next.ContestFeeHeld = s.Terms.ContestationFee
	if s.Terms.DisputeNegotiationHours.IsPositive() {
		// The parties may settle first; the admins' queue waits.
		ends := now.Add(Hours(s.Terms.DisputeNegotiationHours))
		next.NegotiationEndsAt = &ends
	} else {
		next.DisputeQueuedAt = &now
	}
	t := s.transition(ActionContest, "contest", in.Actor, in.Reason, next, now)
	return Step{ActivityContestOrder, ContestActivityInput{Transition: t, Fee: next.ContestFeeHeld}, t.Next}
}

// AddEvidence attaches an uploaded file to the dispute.
func (s State) AddEvidence(in AddEvidenceInput, now time.Time) Step {
	next := s
	next.EvidenceCount++
	t := s.transition(ActionAddEvidence, "evidence:"+in.EvidenceID, in.Actor, in.Description, next, now)
	return Step{ActivityAddEvidence, EvidenceActivityInput{Transition: t, Evidence: in,
		ObjectKey: EvidenceObjectKey(s.OrderID, in.EvidenceID, in.Extension)}, t.Next}
}

// Resolve is an admin's ruling: refund R to the client, the rest to the
// provider less the platform fee, the contestation fee back (R > 0) or
// forfeited (R = 0).
func (s State) Resolve(in ResolveInput, now time.Time) (Step, error) {
	in2, err := s.resolution(ActionResolve, in.Actor, in.RefundAmount, in.Reason, ResolvedByAdmin, now)
	if err != nil {
		return Step{}, err
	}
	return Step{ActivityResolveDispute, in2, in2.Next}, nil
}

// resolution is the money and the resolved state of a dispute ended with
// refund R to the client, by an admin's ruling or the parties'
// settlement: both move exactly the same money (money.Resolve), under the
// one step key "resolve", so only one of them can ever post.
func (s State) resolution(action Action, actor Actor, refund decimal.Decimal, reason, by string, now time.Time) (ResolveActivityInput, error) {
	res, err := money.Resolve(s.Amount, refund, s.Terms.PlatformFeePercentage, s.ContestFeeHeld)
	if err != nil {
		return ResolveActivityInput{}, Refusal(ordem.EValidation, "%s", err)
	}
	next := s
	next.Status = StatusResolved
	next.ClosedAt = &now
	next.ResolvedBy = by
	r := res.Refund
	next.Outcome = Outcome{
		PlatformRevenue: res.Release.Fee.Add(res.ContestFeeToPlatform),
		ProviderNet:     res.Release.ProviderShare,
		Refund:          &r,
	}
	t := s.transition(action, "resolve", actor, reason, next, now)
	return ResolveActivityInput{Transition: t, Amount: s.Amount, Resolution: res}, nil
}

// OfferSettlement records a party's offer to settle the dispute with
// refund R; it becomes the latest offer, the one the other party may
// accept.
func (s State) OfferSettlement(in OfferSettlementInput, now time.Time) Step {
	version := 1
	if s.Settlement != nil {
		version = s.Settlement.Version + 1
	}
	offer := SettlementOffer{Version: version, OfferedBy: in.Actor.UserID, Role: in.Actor.Role,
		RefundAmount: in.RefundAmount, Note: in.Note, At: now}
	next := s
	next.Settlement = &offer
	if in.Actor.Role == ordem.RoleClient {
		next.ClientOffers++
	} else {
		next.ProviderOffers++
	}
	t := s.transition(ActionOfferSettlement, fmt.Sprintf("settlement:v%d", version), in.Actor, in.Note, next, now)
	act := SettlementOfferActivityInput{Transition: t, Offer: offer}
	if s.Settlement != nil {
		prev := s.Settlement.RefundAmount
		act.PreviousRefund = &prev
	}
	return Step{ActivityRecordSettlementOffer, act, t.Next}
}

// AcceptSettlement resolves the dispute on the latest offer's terms: the
// money of an admin ruling with the offer's refund.
func (s State) AcceptSettlement(in AcceptSettlementInput, now time.Time) (Step, error) {
	if s.Settlement == nil {
		return Step{}, Refusal(ordem.EInvalidTransition, "there is no settlement offer to accept")
	}
	act, err := s.resolution(ActionAcceptSettlement, in.Actor, s.Settlement.RefundAmount, s.Settlement.Note, ResolvedBySettlement, now)
	if err != nil {
		return Step{}, err
	}
	act.SettlementVersion = s.Settlement.Version
	return Step{ActivityAcceptSettlement, act, act.Next}, nil
}

// RequestRuling sends the dispute to the admins' queue at a party's
// request, before its negotiation window ends.
func (s State) RequestRuling(in RequestRulingInput, now time.Time) Step {
	return s.queue(ActionRequestRuling, in.Actor, in.Reason, now)
}

// EndNegotiation sends the dispute to the admins' queue when its
// negotiation window ended without a settlement.
func (s State) EndNegotiation(now time.Time) Step {
	return s.queue(StepNegotiationEnded, SystemActor, "", now)
}

// queue puts the dispute in the admins' queue: its SLA runs from now. One
// step key for both ways in, so a dispute is queued once.
func (s State) queue(action Action, actor Actor, reason string, now time.Time) Step {
	next := s
	next.DisputeQueuedAt = &now
	t := s.transition(action, "dispute_queue", actor, reason, next, now)
	return Step{ActivityQueueDispute, t, t.Next}
}

// ExtendDeadline moves the confirmation deadline to max(deadline, now) +
// hours (a held order gets its new window from now).
func (s State) ExtendDeadline(in ExtendDeadlineInput, now time.Time) Step {
	old := *s.ConfirmDeadline
	base := old
	if now.After(base) {
		base = now
	}
	deadline := base.Add(Hours(in.Hours))
	next := s
	next.ConfirmDeadline = &deadline
	next.AutoConfirmHeld = false
	next.Extensions++
	t := s.transition(ActionExtendDeadline, fmt.Sprintf("extend:%d", next.Extensions), in.Actor, in.Reason, next, now)
	return Step{ActivityExtendDeadline, ExtendActivityInput{Transition: t, Hours: in.Hours, OldDeadline: old}, t.Next}
}

// Expire closes a negotiation nobody accepted in time.
func (s State) Expire(now time.Time) Step {
	next := s
	next.Status = StatusExpired
	next.ClosedAt = &now
	t := s.transition(StepExpire, "expire", SystemActor, "", next, now)
	return Step{ActivityExpireOrder, t, t.Next}
}

// NewState is an order's state when its workflow starts, before the row
// exists (Created false; Terms come from CreateOrder).
func NewState(in Input, now time.Time) State {
	return State{
		OrderID:         in.OrderID,
		ClientID:        in.ClientID,
		ProviderID:      in.ProviderID,
		Title:           in.Title,
		Description:     in.Description,
		Status:          StatusNegotiating,
		Amount:          in.Amount,
		DueDate:         in.DueDate,
		ProposalVersion: 1,
		LastProposedBy:  in.ClientID,
		CreatedAt:       now,
		UpdatedAt:       now,
		ContestFeeHeld:  decimal.Zero,
		Outcome:         Outcome{PlatformRevenue: decimal.Zero, ProviderNet: decimal.Zero},
	}
}

// WithTerms is the state once CreateOrder recorded the row and snapshot
// the terms.
func (s State) WithTerms(terms Terms) State {
	s.Terms = terms
	s.ProposalExpiresAt = s.CreatedAt.Add(Hours(terms.ProposalExpiryHours))
	s.Created = true
	s.Version = 1
	return s
}

// CreateInput is CreateOrder's input for a new order's state.
func (s State) CreateInput() CreateOrderInput {
	return CreateOrderInput{Order: Input{OrderID: s.OrderID, ClientID: s.ClientID, ProviderID: s.ProviderID,
		Title: s.Title, Description: s.Description, Amount: s.Amount, DueDate: s.DueDate}, At: s.CreatedAt}
}

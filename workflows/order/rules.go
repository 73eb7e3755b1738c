package order

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
)

// maxText bounds free-text fields (notes, reasons, descriptions).
const maxText = 2000

func (s *State) isParty(a Actor) bool {
	return (a.Role == ordem.RoleClient && a.UserID == s.ClientID) ||
		(a.Role == ordem.RoleProvider && a.UserID == s.ProviderID)
}

// Permit decides whether actor may perform action on the order at time
// now, from the transition table alone (inputs are checked by Validate).
// Wrong actor is forbidden; wrong state or a passed deadline is an invalid
// transition.
func (s *State) Permit(action Action, a Actor, now time.Time) error {
	wrongState := func() error {
		return Refusal(ordem.EInvalidTransition, "cannot %s an order that is %s", strings.ReplaceAll(string(action), "_", " "), s.Status)
	}
	if s.Status.Terminal() {
		return wrongState()
	}
	isAdmin := a.Role == ordem.RoleAdmin && a.UserID != 0
	isClient := a.Role == ordem.RoleClient && a.UserID == s.ClientID
	isProvider := a.Role == ordem.RoleProvider && a.UserID == s.ProviderID

	switch action {
	case ActionPropose, ActionAccept:
		if !s.isParty(a) {
			return Refusal(ordem.EForbidden, "only the order's client or provider may %s", action)
		}
		if s.Status != StatusNegotiating {
			return wrongState()
		}
		if !now.Before(s.ProposalExpiresAt) {
			return Refusal(ordem.EInvalidTransition, "the proposal expired at %s", s.ProposalExpiresAt.UTC().Format(time.RFC3339))
		}
		if action == ActionAccept && a.UserID == s.LastProposedBy {
			return Refusal(ordem.EInvalidTransition, "the latest proposal is yours: the other party must accept it")
		}
		if action == ActionPropose && s.ProposalVersion >= MaxProposals {
			return Refusal(ordem.EInvalidTransition, "this negotiation reached %d proposals: accept or cancel", MaxProposals)
		}
	case ActionDeliver:
		if !isProvider {
			return Refusal(ordem.EForbidden, "only the order's provider may deliver")
		}
		if s.Status != StatusInProgress {
			return wrongState()
		}
	case ActionCancel:
		switch {
		case isAdmin:
			if s.Status == StatusDelivered || s.Status == StatusDisputed || s.Status == StatusInProgress || s.Status == StatusNegotiating {
				return nil
			}
			return wrongState()
		case isClient || isProvider:
			if s.Status == StatusNegotiating || s.Status == StatusInProgress {
				return nil
			}
			return wrongState()
		default:
			return Refusal(ordem.EForbidden, "only the order's client, its provider or an admin may cancel")
		}
	case ActionConfirm, ActionContest:
		if !isClient {
			return Refusal(ordem.EForbidden, "only the order's client may %s", action)
		}
		if s.Status != StatusDelivered {
			return wrongState()
		}
		// When auto-confirm was held at the deadline, the client may still
		// confirm (the money goes where silence would have sent it); a
		// contest after the deadline is always late.
		if s.ConfirmDeadline != nil && !now.Before(*s.ConfirmDeadline) && !(action == ActionConfirm && s.AutoConfirmHeld) {
			return Refusal(ordem.EInvalidTransition, "the confirmation deadline passed at %s", s.ConfirmDeadline.UTC().Format(time.RFC3339))
		}
	case ActionRequestRevision:
		if !isClient {
			return Refusal(ordem.EForbidden, "only the order's client may request a revision")
		}
		if s.Status != StatusDelivered {
			return wrongState()
		}
		if s.ConfirmDeadline != nil && !now.Before(*s.ConfirmDeadline) {
			return Refusal(ordem.EInvalidTransition, "the confirmation deadline passed at %s", s.ConfirmDeadline.UTC().Format(time.RFC3339))
		}
		if s.Revisions >= s.Terms.MaxRevisions {
			return Refusal(ordem.ERevisionLimit, "this order allows %d revision requests and had %d: confirm or contest the delivery",
				s.Terms.MaxRevisions, s.Revisions)
		}
	case ActionAddEvidence:
		if !isClient && !isProvider && !isAdmin {
			return Refusal(ordem.EForbidden, "only the order's client, its provider or an admin may add evidence")
		}
		if s.Status != StatusDisputed {
			return wrongState()
		}
		if s.EvidenceCount >= MaxEvidence {
			return Refusal(ordem.EInvalidTransition, "this dispute already has %d pieces of evidence", MaxEvidence)
		}
	case ActionResolve:
		if !isAdmin {
			return Refusal(ordem.EForbidden, "only an admin may resolve a dispute")
		}
		if s.Status != StatusDisputed {
			return wrongState()
		}
	case ActionExtendDeadline:
		if !isAdmin {
			return Refusal(ordem.EForbidden, "only an admin may extend a deadline")
		}
		if s.Status != StatusDelivered {
			return wrongState()
		}
		if s.Extensions >= MaxExtensions {
			return Refusal(ordem.EInvalidTransition, "this order's deadline was already extended %d times", MaxExtensions)
		}
	case ActionOfferSettlement, ActionAcceptSettlement, ActionRequestRuling:
		if !s.isParty(a) {
			return Refusal(ordem.EForbidden, "only the order's client or provider may %s", strings.ReplaceAll(string(action), "_", " "))
		}
		if s.Status != StatusDisputed {
			return wrongState()
		}
		return s.permitDispute(action, a)
	default:
		return Refusal(ordem.EInvalid, "unknown action %q", action)
	}
	return nil
}

// permitDispute is the parties' part of a dispute (spec §3): offers, at
// most MaxSettlementOffers each, are open until the order is resolved (in
// the admins' queue too: an admin may rule at any time, the parties may
// still agree first); only the party who did not make the latest offer
// accepts it; a ruling is asked for once.
func (s *State) permitDispute(action Action, a Actor) error {
	switch action {
	case ActionOfferSettlement:
		if s.offersBy(a) >= MaxSettlementOffers {
			return Refusal(ordem.EOfferLimit, "you already made %d settlement offers on this dispute: accept the other party's offer or ask for a ruling",
				MaxSettlementOffers)
		}
	case ActionAcceptSettlement:
		if s.Settlement == nil {
			return Refusal(ordem.EInvalidTransition, "there is no settlement offer to accept")
		}
		if s.Settlement.OfferedBy == a.UserID && s.Settlement.Role == a.Role {
			return Refusal(ordem.EInvalidTransition, "the latest settlement offer is yours: the other party must accept it")
		}
	case ActionRequestRuling:
		if s.QueuedAt() != nil {
			return Refusal(ordem.EInvalidTransition, "this dispute is already in the admins' queue")
		}
	}
	return nil
}

// offersBy is how many settlement offers a made on this dispute.
func (s *State) offersBy(a Actor) int {
	if a.Role == ordem.RoleClient {
		return s.ClientOffers
	}
	return s.ProviderOffers
}

// CancelTerms is the money a cancellation moves.
type CancelTerms struct {
	// Release is the escrow returned from the client's blocked balance
	// (amount plus any contestation fee held); zero before acceptance.
	Release decimal.Decimal
	// Penalty is what the cancelling party pays the other one.
	Penalty decimal.Decimal
	// PenaltyFromProvider is true when the provider pays the penalty.
	PenaltyFromProvider bool
}

// CancelTerms is what a cancellation by a at now would move (spec §3):
// once funds are held the escrow goes back to the client; a client or
// provider cancelling an order in progress pays the penalty to the other
// party, except a client whose provider missed the agreed due date.
func (s *State) CancelTerms(a Actor, now time.Time) CancelTerms {
	t := CancelTerms{Release: decimal.Zero, Penalty: decimal.Zero}
	if s.Status != StatusNegotiating {
		t.Release = s.Amount.Add(s.ContestFeeHeld)
	}
	if s.Status == StatusInProgress && a.Role != ordem.RoleAdmin {
		t.Penalty = money.Percent(s.Amount, s.Terms.CancellationFeePercentage)
		t.PenaltyFromProvider = a.Role == ordem.RoleProvider
		if !t.PenaltyFromProvider && s.DueDate != nil && now.After(*s.DueDate) {
			t.Penalty = decimal.Zero
		}
	}
	return t
}

// FundsNeeded is the available balance an action by a at now needs, and
// whose it is: the hold on accept (the client's, whoever accepts), the
// contestation fee on contest, the penalty on a provider's cancellation.
// The activity is the authority; the API checks this first so a request
// that cannot be paid is refused without touching the order.
func (s *State) FundsNeeded(action Action, a Actor, now time.Time) (userID int64, amount decimal.Decimal) {
	switch action {
	case ActionAccept:
		return s.ClientID, s.Amount
	case ActionContest:
		return s.ClientID, s.Terms.ContestationFee
	case ActionCancel:
		if t := s.CancelTerms(a, now); t.PenaltyFromProvider {
			return s.ProviderID, t.Penalty
		}
	}
	return 0, decimal.Zero
}

// checkVersion refuses an action whose If-Match version is not the
// order's (0: no precondition).
func (s *State) checkVersion(ifVersion int) error {
	if ifVersion != 0 && ifVersion != s.Version {
		return Refusal(ordem.EPreconditionFailed, "the order changed: it is at version %d, not %d; reload it and try again",
			s.Version, ifVersion)
	}
	return nil
}

// checkProposal refuses an accept of a proposal that is no longer the
// latest (0: the latest, whatever it is — operators' signals).
func (s *State) checkProposal(version int) error {
	if version != 0 && version != s.ProposalVersion {
		return Refusal(ordem.EProposalChanged, "proposal %d is no longer the latest: proposal %d is %s; review it before accepting",
			version, s.ProposalVersion, s.Amount.StringFixed(money.Scale))
	}
	return nil
}

// checkOffer refuses an accept of a settlement offer that is no longer the
// latest (0: the latest, whatever it is — operators' signals).
func (s *State) checkOffer(version int) error {
	if version == 0 || s.Settlement == nil || version == s.Settlement.Version {
		return nil
	}
	return Refusal(ordem.ESettlementChanged, "settlement offer %d is no longer the latest: offer %d refunds %s; review it before accepting",
		version, s.Settlement.Version, s.Settlement.RefundAmount.StringFixed(money.Scale))
}

// checkPenalty refuses a cancellation whose penalty is not the one the
// actor agreed to (nil: no expectation — operators' signals).
func (s *State) checkPenalty(a Actor, expected *decimal.Decimal, now time.Time) error {
	if expected == nil {
		return nil
	}
	if p := s.CancelTerms(a, now).Penalty; !p.Equal(*expected) {
		return Refusal(ordem.EPenaltyChanged, "cancelling now costs a penalty of %s, not %s; review it before cancelling",
			p.StringFixed(money.Scale), expected.StringFixed(money.Scale))
	}
	return nil
}

// AllowedActions lists what actor may do now; the API shows it so
// frontends offer only actions that would be accepted.
func (s *State) AllowedActions(a Actor, now time.Time) []Action {
	out := []Action{}
	for _, act := range Actions {
		if s.Permit(act, a, now) == nil {
			out = append(out, act)
		}
	}
	return out
}

func checkText(field, v string, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return invalid(field, "is required")
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		return invalid(field, "must be valid text")
	case utf8.RuneCountInString(v) > maxText:
		return invalid(field, "must be at most %d characters", maxText)
	}
	return nil
}

// The request methods of each input: its own rules beyond Permit
// (validate) and what its actor expects to find (expected, beside the
// If-Match version every input may carry).

func (in ProposeInput) validate(_ *State, now time.Time) error  { return in.Validate(now) }
func (in AcceptInput) validate(*State, time.Time) error         { return nil }
func (in DeliverInput) validate(*State, time.Time) error        { return nil }
func (in CancelInput) validate(*State, time.Time) error         { return in.Validate() }
func (in ConfirmInput) validate(*State, time.Time) error        { return nil }
func (in ContestInput) validate(*State, time.Time) error        { return in.Validate() }
func (in AddEvidenceInput) validate(*State, time.Time) error    { return in.Validate() }
func (in ResolveInput) validate(s *State, _ time.Time) error    { return in.Validate(s.Amount) }
func (in ExtendDeadlineInput) validate(*State, time.Time) error { return in.Validate() }
func (in OfferSettlementInput) validate(s *State, _ time.Time) error {
	return in.Validate(s.Amount)
}
func (in AcceptSettlementInput) validate(*State, time.Time) error { return nil }
func (in RequestRulingInput) validate(*State, time.Time) error {
	return checkText("reason", in.Reason, false)
}

func (in ProposeInput) expected(*State, time.Time) error { return nil }
func (in AcceptInput) expected(s *State, _ time.Time) error {
	return s.checkProposal(in.ProposalVersion)
}
func (in DeliverInput) expected(*State, time.Time) error { return nil }
func (in CancelInput) expected(s *State, now time.Time) error {
	return s.checkPenalty(in.Actor, in.ExpectedPenalty, now)
}
func (in ConfirmInput) expected(*State, time.Time) error         { return nil }
func (in ContestInput) expected(*State, time.Time) error         { return nil }
func (in AddEvidenceInput) expected(*State, time.Time) error     { return nil }
func (in ResolveInput) expected(*State, time.Time) error         { return nil }
func (in ExtendDeadlineInput) expected(*State, time.Time) error  { return nil }
func (in OfferSettlementInput) expected(*State, time.Time) error { return nil }
func (in AcceptSettlementInput) expected(s *State, _ time.Time) error {
	return s.checkOffer(in.OfferVersion)
}
func (in RequestRulingInput) expected(*State, time.Time) error { return nil }
func (in RequestRevisionInput) validate(*State, time.Time) error {
	return checkText("reason", in.Reason, true)
}
func (in RequestRevisionInput) expected(*State, time.Time) error { return nil }

// Validate checks the proposal's fields.
func (in ProposeInput) Validate(now time.Time) error {
	if err := money.ValidateOrderAmount(in.Amount); err != nil {
		return invalid("amount", "%s", err)
	}
	if in.DueDate != nil && !in.DueDate.After(now) {
		return invalid("due_date", "must be in the future")
	}
	return checkText("note", in.Note, false)
}

// Validate checks the cancellation's fields: admins must give a reason.
func (in CancelInput) Validate() error {
	return checkText("reason", in.Reason, in.Actor.Role == ordem.RoleAdmin)
}

// Validate checks the contest's fields.
func (in ContestInput) Validate() error { return checkText("reason", in.Reason, true) }

// Validate checks the ruling against the order's amount.
func (in ResolveInput) Validate(amount decimal.Decimal) error {
	if err := checkRefund(in.RefundAmount, amount); err != nil {
		return err
	}
	return checkText("reason", in.Reason, true)
}

// Validate checks the settlement offer against the order's amount: the
// same range as a ruling's refund.
func (in OfferSettlementInput) Validate(amount decimal.Decimal) error {
	if err := checkRefund(in.RefundAmount, amount); err != nil {
		return err
	}
	return checkText("note", in.Note, false)
}

// checkRefund checks a refund R of a dispute: 0 ≤ R ≤ amount, in cents.
func checkRefund(r, amount decimal.Decimal) error {
	if r.IsNegative() || r.GreaterThan(amount) || !money.HasCents(r) {
		return invalid("refund_amount", "must be between 0.00 and %s with at most two decimal places", amount.StringFixed(2))
	}
	return nil
}

// maxExtensionHours bounds a single extension to 30 days.
var maxExtensionHours = decimal.NewFromInt(720)

// Validate checks the extension's fields.
func (in ExtendDeadlineInput) Validate() error {
	if !in.Hours.IsPositive() || in.Hours.GreaterThan(maxExtensionHours) || in.Hours.Exponent() < -6 {
		return invalid("hours", "must be greater than 0 and at most 720, with at most 6 decimal places")
	}
	return checkText("reason", in.Reason, true)
}

// Validate checks the evidence record's fields (the API has checked the
// file itself).
func (in AddEvidenceInput) Validate() error {
	switch {
	case in.EvidenceID == "" || in.StagingKey == "" || in.Extension == "" || in.ContentType == "":
		return invalid("file", "evidence id, staging key, extension and content type are required")
	case in.Size <= 0:
		return invalid("file", "must not be empty")
	case len(in.SHA256) != 64:
		return invalid("file", "sha256 must be 64 hex characters")
	}
	if err := checkText("file_name", in.FileName, true); err != nil {
		return err
	}
	return checkText("description", in.Description, false)
}

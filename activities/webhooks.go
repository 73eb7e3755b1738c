package activities

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/workflows/order"
)

// ---------------------------------------------------------------------------
// Outbox writes, inside a step's transaction

// stepEvents are the webhook event types of a committed step (none for
// steps without one: proposals, extensions, expiry, a held auto-confirm).
// A settlement is announced as such and as the order's resolution.
func stepEvents(t order.Transition) []string {
	switch order.Action(t.Action) {
	case order.ActionOfferSettlement:
		return []string{webhook.DisputeSettlementOffered}
	case order.ActionAcceptSettlement:
		return []string{webhook.DisputeSettled, webhook.OrderResolved}
	case order.ActionRequestRuling, order.StepNegotiationEnded:
		return []string{webhook.DisputeQueued}
	case order.ActionRequestRevision:
		return []string{webhook.OrderRevisionRequested}
	}
	if typ := stepEvent(t); typ != "" {
		return []string{typ}
	}
	return nil
}

// stepEvent is the one webhook event type of a step of the original
// table ("" for none).
func stepEvent(t order.Transition) string {
	switch order.Action(t.Action) {
	case order.ActionAccept:
		return webhook.OrderAccepted
	case order.ActionDeliver:
		return webhook.OrderDelivered
	case order.ActionConfirm:
		return webhook.OrderCompleted
	case order.ActionContest:
		return webhook.OrderContested
	case order.ActionAddEvidence:
		return webhook.OrderEvidenceAdded
	case order.ActionResolve:
		return webhook.OrderResolved
	case order.ActionCancel:
		return webhook.OrderCancelled
	}
	if t.Action == order.StepAutoConfirm {
		return webhook.OrderAutoConfirmed
	}
	return ""
}

// orderEventData is an order event's payload: the order as it stands
// after the step (ids and amounts as strings), plus the step's own data.
func orderEventData(t order.Transition, stepData map[string]any) map[string]any {
	s := t.Next
	d := make(map[string]any, len(stepData)+8)
	for k, v := range stepData {
		d[k] = v
	}
	d["order_id"] = strconv.FormatInt(t.OrderID, 10)
	d["status"] = string(s.Status)
	d["amount"] = fixed(s.Amount)
	d["title"] = s.Title
	d["client_id"] = strconv.FormatInt(s.ClientID, 10)
	d["provider_id"] = strconv.FormatInt(s.ProviderID, 10)
	d["actor_role"] = string(t.Actor.Role)
	return d
}

// writeStepEvent records the step's webhook event, if it has one, in the
// step's transaction: only a step that claimed its key gets here, so a
// replayed step writes no second event.
func writeStepEvent(ctx context.Context, tx pgx.Tx, s step) error {
	for _, typ := range stepEvents(s.t) {
		_, err := webhook.Enqueue(ctx, tx, webhook.Event{Key: s.t.IdempotencyKey() + "#" + typ, Type: typ,
			OrderID: s.t.OrderID, At: s.t.At, Data: orderEventData(s.t, s.data)})
		if err != nil {
			return err
		}
	}
	return nil
}

// emailKinds are the notifications that also go out by e-mail: the ones
// that ask the recipient to act or tell them money moved.
var emailKinds = map[string]bool{
	"order_created":            true, // provider: a new order to answer
	"order_delivered":          true, // client: confirm or contest
	order.ReminderConfirmation: true, // client: auto-confirmation is near
	"order_contested":          true, // provider and admins
	order.ReminderDisputeSLA:   true, // admins: a dispute waits for a ruling
	"dispute_resolved":         true,
	"dispute_settled":          true,
	"settlement_offered":       true, // the other party: accept or counter
	"dispute_queued":           true,
	"revision_requested":       true, // provider: deliver again
	"order_auto_confirmed":     true,
	"order_cancelled":          true,
	"auto_confirm_held":        true, // admins: escrow waits for them
}

// writeEmails copies a notice to the e-mail outbox when its kind is one
// that matters outside the app.
func writeEmails(ctx context.Context, tx pgx.Tx, orderID int64, n notice, at time.Time) error {
	if !emailKinds[n.kind] {
		return nil
	}
	return mail.Enqueue(ctx, tx, mail.Notice{UserIDs: n.to, Admins: n.admins, Kind: n.kind, OrderID: orderID,
		Subject: n.title, Body: n.body, At: at})
}

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

// writeStepEvents records a committed step's webhook events (the
// transition table's, none for steps without one) in the step's
// transaction, each keyed by the step's key and its type: only a step
// that claimed its key gets here, so a replayed step writes no second
// event.
func writeStepEvents(ctx context.Context, tx pgx.Tx, key string, orderID int64, kinds order.Kinds, data map[string]any,
	at time.Time) error {
	for _, typ := range kinds.Webhooks {
		_, err := webhook.Enqueue(ctx, tx, webhook.Event{Key: key + "#" + typ, Type: typ, OrderID: orderID, At: at, Data: data})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeEmails copies a notice to the e-mail outbox when the step's kind
// is one that matters outside the app (order.Kinds.Email).
func writeEmails(ctx context.Context, tx pgx.Tx, orderID int64, kinds order.Kinds, n notice, at time.Time) error {
	if !kinds.Email {
		return nil
	}
	return mail.Enqueue(ctx, tx, mail.Notice{UserIDs: n.to, Admins: n.admins, Kind: kinds.Notification, OrderID: orderID,
		Subject: n.title, Body: n.body, At: at})
}

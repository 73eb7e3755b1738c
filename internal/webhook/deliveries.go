package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// Delivery is one event sent (or to send) to one endpoint: a
// webhook_deliveries row.
type Delivery struct {
	ID         int64
	EndpointID int64
	// EventID is the Ordem-Webhook-Id header: shared by every delivery of
	// one event and kept on redelivery.
	EventID   string
	EventType string
	OrderID   *int64 // nil for events not about an order (payout.paid)
	// Status is pending, succeeded or failed.
	Status       string
	Attempts     int
	LastError    string
	ResponseCode *int
	Payload      json.RawMessage
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeliveredAt  *time.Time
}

// Attempt is one HTTP attempt of a delivery: a webhook_attempts row.
type Attempt struct {
	Attempt      int
	StartedAt    time.Time
	DurationMS   int
	ResponseCode *int
	Error        string
	Succeeded    bool
}

const deliveryColumns = `id, endpoint_id, event_id::text, event_type, order_id, status, attempts, last_error, response_code,
	payload::text, created_at, updated_at, delivered_at`

func scanDelivery(r pgx.Row) (Delivery, error) {
	var (
		d       Delivery
		payload string
	)
	err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.OrderID, &d.Status, &d.Attempts, &d.LastError,
		&d.ResponseCode, &payload, &d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt)
	d.Payload = json.RawMessage(payload)
	return d, err
}

// NoSuchDelivery is the not_found error of a delivery that does not
// exist. The API answers it for a malformed id too.
func NoSuchDelivery() error { return ordem.Errorf(ordem.ENotFound, "no such delivery") }

// DeliveryFilter selects a page of an endpoint's delivery log: Status and
// EventType when not empty, and only the deliveries strictly before
// (After, AfterID) in (created_at, id) order when After is set.
type DeliveryFilter struct {
	Status    string
	EventType string
	After     *time.Time
	AfterID   int64
	Limit     int
}

// ListDeliveries is endpoint id's delivery log (a deleted endpoint's
// too), newest first, as f selects; a not_found *ordem.Error when the
// endpoint never existed, so an empty log and no endpoint differ.
func ListDeliveries(ctx context.Context, db postgres.DBTX, endpointID int64, f DeliveryFilter) ([]Delivery, error) {
	ok, err := endpointExists(ctx, db, endpointID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, NoSuchEndpoint()
	}
	rows, err := db.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE endpoint_id = $1 AND ($2::text = '' OR status = $2) AND ($3::text = '' OR event_type = $3)
		  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
		ORDER BY created_at DESC, id DESC LIMIT $6`, endpointID, f.Status, f.EventType, f.After, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of webhook endpoint %d: %w", endpointID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries of webhook endpoint %d: %w", endpointID, err)
	}
	return list, nil
}

// GetDelivery reads delivery id (a not_found *ordem.Error when there is
// none); with lock it holds the row lock until the caller's transaction
// ends.
func GetDelivery(ctx context.Context, db postgres.DBTX, id int64, lock bool) (Delivery, error) {
	sql := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	d, err := scanDelivery(db.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, NoSuchDelivery()
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("read webhook delivery %d: %w", id, err)
	}
	return d, nil
}

// DeliveryAttempts is delivery id's attempt log, first attempt first
// (empty, not nil, when none was made yet).
func DeliveryAttempts(ctx context.Context, db postgres.DBTX, id int64) ([]Attempt, error) {
	rows, err := db.Query(ctx, `SELECT attempt, started_at, duration_ms, response_code, error, succeeded
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return nil, fmt.Errorf("list attempts of webhook delivery %d: %w", id, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := r.Scan(&a.Attempt, &a.StartedAt, &a.DurationMS, &a.ResponseCode, &a.Error, &a.Succeeded)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts of webhook delivery %d: %w", id, err)
	}
	if list == nil {
		list = []Attempt{}
	}
	return list, nil
}

// Redeliver puts a finished delivery (succeeded or failed) back to
// pending, with the same event id and body, so the worker's dispatcher
// starts a new delivery run; it returns the delivery before and after.
// Run it in a transaction: the row is locked while it is decided. A
// delivery still pending is already being sent, and one whose endpoint is
// disabled or deleted would fail unsent: both are invalid_transition.
func Redeliver(ctx context.Context, db postgres.DBTX, id int64) (before, after Delivery, err error) {
	before, err = GetDelivery(ctx, db, id, true)
	if err != nil {
		return Delivery{}, Delivery{}, err
	}
	if before.Status == "pending" {
		return before, Delivery{}, ordem.Errorf(ordem.EInvalidTransition, "delivery %d is still being delivered", id)
	}
	live, err := endpointLive(ctx, db, before.EndpointID)
	if err != nil {
		return before, Delivery{}, err
	}
	if !live {
		return before, Delivery{}, ordem.Errorf(ordem.EInvalidTransition, "the webhook is disabled or deleted; enable it first")
	}
	after, err = scanDelivery(db.QueryRow(ctx, `
		UPDATE webhook_deliveries SET status = 'pending', dispatched_at = NULL, delivered_at = NULL, updated_at = now()
		WHERE id = $1 RETURNING `+deliveryColumns, id))
	if err != nil {
		return before, Delivery{}, fmt.Errorf("redeliver webhook delivery %d: %w", id, err)
	}
	return before, after, nil
}

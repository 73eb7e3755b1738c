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
	return readByID(ctx, db, "webhook delivery", `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = $1`,
		id, lock, scanDelivery, NoSuchDelivery)
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

// Outgoing is what sending one delivery needs: the delivery's state and
// body, and its endpoint's URL, sealed secret and whether it is live.
type Outgoing struct {
	Status     string
	Attempts   int
	EventID    string
	Body       []byte
	EndpointID int64
	URL        string
	Secret     StoredSecret
	// Live is false once the endpoint is disabled or deleted: the
	// delivery then fails unsent.
	Live bool
}

// LoadOutgoing reads delivery id with its endpoint, for sending; ok is
// false when the delivery does not exist.
func LoadOutgoing(ctx context.Context, db postgres.DBTX, id int64) (o Outgoing, ok bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT d.status, d.attempts, d.event_id::text, d.payload::text, e.id, e.url, `+SecretColumns+`,
		    e.active AND e.deleted_at IS NULL
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`, id).Scan(
		&o.Status, &o.Attempts, &o.EventID, &o.Body, &o.EndpointID, &o.URL, &o.Secret.Ciphertext, &o.Secret.KeyID,
		&o.Secret.Legacy, &o.Live)
	if errors.Is(err, pgx.ErrNoRows) {
		return Outgoing{}, false, nil
	}
	if err != nil {
		return Outgoing{}, false, fmt.Errorf("load webhook delivery %d: %w", id, err)
	}
	return o, true, nil
}

// ClaimAttempt takes the number of delivery id's next attempt before it
// is sent, so two attempts never share one; ok is false when the
// delivery is no longer pending (another run delivered it meanwhile).
func ClaimAttempt(ctx context.Context, db postgres.DBTX, id int64) (attempt int, ok bool, err error) {
	err = db.QueryRow(ctx, `
		UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status = 'pending' RETURNING attempts`, id).Scan(&attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("claim webhook attempt %d: %w", id, err)
	}
	return attempt, true, nil
}

// RecordAttempt logs attempt a of delivery id and sets the delivery's
// status from it: succeeded, or still pending for the next retry. Run it
// in a transaction, so the log and the status agree.
func RecordAttempt(ctx context.Context, db postgres.DBTX, id int64, a Attempt) error {
	if _, err := db.Exec(ctx, `
		INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, response_code, error, succeeded)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, a.Attempt, a.StartedAt, a.DurationMS, a.ResponseCode, a.Error, a.Succeeded); err != nil {
		return fmt.Errorf("log webhook attempt: %w", err)
	}
	status := "pending"
	if a.Succeeded {
		status = "succeeded"
	}
	if _, err := db.Exec(ctx, `
		UPDATE webhook_deliveries SET status = $2, response_code = $3, last_error = $4, updated_at = now(),
		    delivered_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE delivered_at END
		WHERE id = $1`, id, status, a.ResponseCode, a.Error); err != nil {
		return fmt.Errorf("update webhook delivery: %w", err)
	}
	return nil
}

// FailDelivery marks delivery id failed with reason, unless it is no
// longer pending (it succeeded meanwhile: left alone). An error already
// recorded by an attempt is kept as the better reason. It returns the
// row as it now stands; ok is false when the delivery does not exist.
func FailDelivery(ctx context.Context, db postgres.DBTX, id int64, reason string) (d Delivery, ok bool, err error) {
	d, err = scanDelivery(db.QueryRow(ctx, `
		UPDATE webhook_deliveries SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
		    last_error = CASE WHEN status = 'pending' AND last_error = '' THEN $2 ELSE last_error END, updated_at = now()
		WHERE id = $1 RETURNING `+deliveryColumns, id, reason))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, false, nil
	}
	if err != nil {
		return Delivery{}, false, fmt.Errorf("mark webhook delivery %d failed: %w", id, err)
	}
	return d, true, nil
}

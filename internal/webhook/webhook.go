// Package webhook is Ordem's outgoing webhook endpoints and their events:
// the event types admins subscribe endpoints to, the outbox insert that
// records an event for every subscribed endpoint in the caller's
// transaction, the signature receivers check (Sign, Verify), and the
// tables webhook_endpoints, webhook_deliveries and webhook_attempts, read
// and written by functions that take the caller's postgres.DBTX. It
// starts no workflow: the worker's Dispatcher does, and package
// workflows/delivery delivers.
//
// Signing: every delivery is a POST whose JSON body is the event envelope
// {"id", "type", "created_at", "data"}, with the headers
//
//	Ordem-Webhook-Id:        the event id (shared by redeliveries: drop duplicates)
//	Ordem-Webhook-Timestamp: unix seconds when this attempt was sent
//	Ordem-Signature:         v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// A receiver recomputes the HMAC over the raw body it received and
// refuses stale timestamps (Verify does both).
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/signature"
)

// Event types an endpoint may subscribe to. They are part of the
// receivers' contract: never renamed.
const (
	OrderCreated       = "order.created"
	OrderAccepted      = "order.accepted"
	OrderDelivered     = "order.delivered"
	OrderReminder      = "order.reminder" // confirmation reminder to the client
	OrderCompleted     = "order.completed"
	OrderAutoConfirmed = "order.auto_confirmed"
	OrderContested     = "order.contested"
	OrderEvidenceAdded = "order.evidence_added"
	OrderResolved      = "order.resolved"
	OrderCancelled     = "order.cancelled"
	DisputeSLAReminder = "dispute.sla_reminder"
	PayoutPaid         = "payout.paid"
	// Issue 17: settlements between the parties and revision requests.
	DisputeSettlementOffered = "dispute.settlement_offered"
	DisputeSettled           = "dispute.settled" // followed by order.resolved
	DisputeQueued            = "dispute.queued"  // in the admins' queue
	OrderRevisionRequested   = "order.revision_requested"
)

// EventTypes lists every event type, in documentation order.
var EventTypes = []string{
	OrderCreated, OrderAccepted, OrderDelivered, OrderReminder, OrderCompleted, OrderAutoConfirmed,
	OrderContested, OrderEvidenceAdded, OrderResolved, OrderCancelled, DisputeSLAReminder, PayoutPaid,
	DisputeSettlementOffered, DisputeSettled, DisputeQueued, OrderRevisionRequested,
}

// ValidEventType reports whether t is one of EventTypes.
func ValidEventType(t string) bool { return slices.Contains(EventTypes, t) }

// Headers of a delivery.
const (
	HeaderID        = "Ordem-Webhook-Id"
	HeaderTimestamp = "Ordem-Webhook-Timestamp"
	HeaderSignature = "Ordem-Signature"
)

// DefaultTolerance is how far from the receiver's clock a timestamp may
// be before Verify treats the delivery as a replay.
const DefaultTolerance = 5 * time.Minute

// Verification errors.
var (
	ErrBadTimestamp = errors.New("webhook: malformed timestamp")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
	ErrBadSignature = errors.New("webhook: signature does not match")
)

// Sign returns the Ordem-Signature value for body sent at timestamp
// (unix seconds) with secret.
func Sign(secret string, timestamp int64, body []byte) string {
	return "v1=" + signature.Sign(secret, timestamp, body)
}

// Verify checks a delivery as a receiver gets it: timestamp and signature
// are the Ordem-Webhook-Timestamp and Ordem-Signature headers, body the
// raw request body (before any JSON decoding). It returns nil when the
// timestamp is within tolerance of the local clock and one of the
// signature's comma-separated v1= values is the HMAC of timestamp + "." +
// body; the comparison is constant-time. Receivers may copy this function.
func Verify(secret, timestamp string, body []byte, signature string, tolerance time.Duration) error {
	return verifyAt(time.Now(), secret, timestamp, body, signature, tolerance)
}

func verifyAt(now time.Time, secret, timestamp string, body []byte, sig string, tolerance time.Duration) error {
	// Sign writes the timestamp in canonical decimal, so a padded or
	// "+"-prefixed header is read as the number it names and checked
	// against the MAC of that number's canonical text.
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	var macs []string
	for _, part := range strings.Split(sig, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1="); ok {
			macs = append(macs, v)
		}
	}
	// This package's errors are the receivers' contract: keep them.
	switch err := signature.Verify(now, secret, strconv.FormatInt(ts, 10), body, macs, tolerance); {
	case errors.Is(err, signature.ErrStale):
		return ErrStale
	case err != nil:
		return ErrBadSignature
	}
	return nil
}

// NewSecret returns a new endpoint secret: "whsec_" and 32 random bytes in
// hex.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return "whsec_" + hex.EncodeToString(b), nil
}

// CheckURL validates an endpoint URL: absolute, with a host, no user
// info or fragment, https (or http when allowHTTP: dev and tests, whose
// receivers are local), at most 2000 bytes. It returns a problem for the
// caller's field error, or "".
func CheckURL(raw string, allowHTTP bool) string {
	if raw == "" {
		return "is required"
	}
	if len(raw) > 2000 {
		return "must be at most 2000 bytes"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || !u.IsAbs() {
		return "must be an absolute URL such as https://example.com/hooks/ordem"
	}
	if u.User != nil || u.Fragment != "" {
		return "must not carry credentials or a fragment"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
		if allowHTTP {
			return "must be an http or https URL"
		}
		return "must be an https URL"
	}
	return ""
}

// Event is one thing that happened, to deliver to every active endpoint
// subscribed to its type.
type Event struct {
	// Key identifies the event among all events (e.g. the order step key
	// and the type); the event id is derived from it, so the same
	// event always has the same id.
	Key     string
	Type    string
	OrderID int64 // 0 when the event is not about an order
	At      time.Time
	// Data is the event's payload: ids and amounts as strings.
	Data map[string]any
}

// Envelope is the JSON body of every delivery.
type Envelope struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt time.Time      `json:"created_at"`
	Data      map[string]any `json:"data"`
}

// eventNamespace derives event ids from event keys (UUID v5).
var eventNamespace = uuid.MustParse("6f0b8a51-2f7c-4b8e-9a77-0c4e1f3c9d21")

// EventID is the id of the event with key.
func EventID(key string) uuid.UUID { return uuid.NewSHA1(eventNamespace, []byte(key)) }

// Enqueue records ev, in the caller's transaction, as one pending
// delivery per active endpoint subscribed to its type; it returns how
// many. Called again for the same event key it adds nothing (the
// (endpoint, event id) pair is unique), though callers only call it once
// per committed step anyway.
func Enqueue(ctx context.Context, tx postgres.DBTX, ev Event) (int64, error) {
	if !ValidEventType(ev.Type) {
		return 0, fmt.Errorf("enqueue webhook: unknown event type %q", ev.Type)
	}
	eid := EventID(ev.Key)
	body, err := json.Marshal(Envelope{ID: eid.String(), Type: ev.Type, CreatedAt: ev.At.UTC(), Data: ev.Data})
	if err != nil {
		return 0, fmt.Errorf("encode webhook event %s: %w", ev.Type, err)
	}
	var orderID *int64
	if ev.OrderID != 0 {
		orderID = &ev.OrderID
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, order_id, payload, created_at, updated_at)
		SELECT id, $1, $2, $3, $4, $5, $5 FROM webhook_endpoints
		WHERE active AND deleted_at IS NULL AND event_types @> ARRAY[$2::text]
		ON CONFLICT (endpoint_id, event_id) DO NOTHING`, eid, ev.Type, orderID, body, ev.At)
	if err != nil {
		return 0, fmt.Errorf("enqueue webhook %s: %w", ev.Type, err)
	}
	return tag.RowsAffected(), nil
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/webhook"
)

// mountWebhooks mounts the admin routes of outgoing webhooks (on the
// admin group): endpoints, their delivery log and redelivery.
func (s *Server) mountWebhooks(admin fiber.Router) {
	admin.Post("/webhooks", s.createWebhook)
	admin.Get("/webhooks", s.listWebhooks)
	admin.Get("/webhooks/:id", s.getWebhook)
	admin.Patch("/webhooks/:id", s.updateWebhook)
	admin.Delete("/webhooks/:id", s.deleteWebhook)
	admin.Post("/webhooks/:id/rotate-secret", s.rotateWebhookSecret)
	admin.Get("/webhooks/:id/deliveries", s.listWebhookDeliveries)
	admin.Get("/webhook-deliveries/:id", s.getWebhookDelivery)
	admin.Post("/webhook-deliveries/:id/redeliver", s.redeliverWebhook)
}

// Webhook is an endpoint that receives signed event deliveries.
type Webhook struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	EventTypes  []string  `json:"event_types"`
	Active      bool      `json:"active"`
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// WebhookCreated answers the creation: the endpoint and its signing
// secret, which is never shown again.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret"`
}

// WebhookDelivery is one event sent (or to send) to one endpoint.
type WebhookDelivery struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhook_id"`
	// EventID is the Ordem-Webhook-Id header: shared by every delivery of
	// one event and kept on redelivery.
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	OrderID   string `json:"order_id,omitempty"`
	// Status is pending, succeeded or failed.
	Status       string          `json:"status"`
	Attempts     int             `json:"attempts"`
	LastError    string          `json:"last_error,omitempty"`
	ResponseCode *int            `json:"response_code"`
	Payload      json.RawMessage `json:"payload"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	DeliveredAt  *time.Time      `json:"delivered_at,omitempty"`
	// AttemptLog lists every HTTP attempt (only on GET of one delivery).
	AttemptLog []WebhookAttempt `json:"attempt_log,omitempty"`
}

// WebhookAttempt is one HTTP attempt of a delivery.
type WebhookAttempt struct {
	Attempt      int       `json:"attempt"`
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int       `json:"duration_ms"`
	ResponseCode *int      `json:"response_code"`
	Error        string    `json:"error,omitempty"`
	Succeeded    bool      `json:"succeeded"`
}

// webhookOf is the API's view of a stored endpoint: ids as strings.
func webhookOf(e webhook.EndpointRecord) Webhook {
	w := Webhook{ID: id(e.ID), URL: e.URL, Description: e.Description, EventTypes: e.EventTypes, Active: e.Active,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	if e.CreatedBy != nil {
		w.CreatedBy = id(*e.CreatedBy)
	}
	return w
}

// webhookDeliveryOf is the API's view of a stored delivery.
func webhookDeliveryOf(d webhook.Delivery) WebhookDelivery {
	out := WebhookDelivery{ID: id(d.ID), WebhookID: id(d.EndpointID), EventID: d.EventID, EventType: d.EventType,
		Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, ResponseCode: d.ResponseCode, Payload: d.Payload,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, DeliveredAt: d.DeliveredAt}
	if d.OrderID != nil {
		out.OrderID = id(*d.OrderID)
	}
	return out
}

// webhookRequest is the body of POST (every field but active required)
// and PATCH (any subset).
type webhookRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Active      *bool     `json:"active"`
	// Reason is recorded in the audit log (required: an admin action).
	Reason string `json:"reason"`
}

// check validates the fields present; create requires url and
// event_types. It returns the event types deduplicated, in EventTypes
// order. A URL whose address the target policy refuses is a 422
// webhook_target_forbidden once every field is otherwise valid.
func (s *Server) checkWebhook(req *webhookRequest, create bool) ([]string, error) {
	f := fieldErrors{}
	var forbidden *webhook.TargetError
	if req.URL != nil || create {
		u := ""
		if req.URL != nil {
			u = strings.TrimSpace(*req.URL)
			*req.URL = u
		}
		if problem := webhook.CheckURL(u, s.Config.IsDev()); problem != "" {
			f.add("url", problem)
		} else if err := s.webhookTargets().CheckTarget(u); err != nil {
			var te *webhook.TargetError
			if !errors.As(err, &te) {
				f.add("url", err.Error())
			} else {
				forbidden = te
			}
		}
	}
	if req.Description != nil {
		checkLine(f, "description", *req.Description, false, 500)
	}
	var types []string
	if req.EventTypes != nil || create {
		var got []string
		if req.EventTypes != nil {
			got = *req.EventTypes
		}
		switch {
		case len(got) == 0:
			f.add("event_types", "must name at least one event type")
		default:
			for _, t := range got {
				if !webhook.ValidEventType(t) {
					f.add("event_types", "unknown event type "+quote(t)+"; known: "+strings.Join(webhook.EventTypes, ", "))
					break
				}
			}
			for _, t := range webhook.EventTypes {
				if slices.Contains(got, t) {
					types = append(types, t)
				}
			}
		}
	}
	checkReason(f, req.Reason)
	req.Reason = strings.TrimSpace(req.Reason)
	if req.URL == nil && req.Description == nil && req.EventTypes == nil && req.Active == nil && !create {
		f.add("body", "must change at least one of url, description, event_types, active")
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	if forbidden != nil {
		// Its own code: the URL is well formed, the address is refused.
		return nil, &ordem.Error{Code: ordem.EWebhookTargetForbidden, Message: forbidden.Error(),
			Fields: map[string]string{"url": forbidden.Error()}}
	}
	return types, nil
}

// webhookBody decodes and checks the body of a create (or, with create
// false, of an update); types are its event types as checkWebhook
// returns them.
func (s *Server) webhookBody(c *fiber.Ctx, create bool) (req webhookRequest, types []string, err error) {
	if err := decodeJSON(c, &req); err != nil {
		return req, nil, err
	}
	types, err = s.checkWebhook(&req, create)
	return req, types, err
}

// webhookTargets is the policy endpoint URLs are checked against:
// loopback and private addresses only with WEBHOOK_ALLOW_PRIVATE_TARGETS,
// http only in dev (the worker applies the same when delivering).
func (s *Server) webhookTargets() webhook.TargetPolicy {
	return webhook.TargetPolicy{AllowPrivate: s.Config.WebhookAllowPrivateTargets, AllowHTTP: s.Config.IsDev()}
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return `"` + s + `"`
}

// newWebhookSecret makes an endpoint's signing secret and returns it with
// the keyring that seals it: creation and rotation both show one, once.
func (s *Server) newWebhookSecret() (string, *secretbox.Keyring, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return "", nil, err
	}
	kr, err := s.webhookKeyring()
	if err != nil {
		return "", nil, err
	}
	return secret, kr, nil
}

// createWebhook registers an endpoint with a server-generated secret,
// shown once in the answer.
func (s *Server) createWebhook(c *fiber.Ctx) error {
	p := caller(c)
	req, types, err := s.webhookBody(c, true)
	if err != nil {
		return err
	}
	secret, kr, err := s.newWebhookSecret()
	if err != nil {
		return err
	}
	desc := ""
	if req.Description != nil {
		desc = strings.TrimSpace(*req.Description)
	}
	active := req.Active == nil || *req.Active
	ctx := c.UserContext()
	var out WebhookCreated
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// The secret is stored sealed (internal/secretbox), never in clear.
		wid, err := webhook.InsertEndpoint(ctx, tx, kr, webhook.Endpoint{URL: *req.URL, Secret: secret,
			Description: desc, EventTypes: types, Active: active, CreatedBy: &p.ID})
		if err != nil {
			return err
		}
		e, err := webhook.LiveEndpoint(ctx, tx, wid, false)
		if err != nil {
			return err
		}
		out = WebhookCreated{Webhook: webhookOf(e), Secret: secret}
		// The audit row names the endpoint, never its secret.
		return auditLog(c, tx, p, "create_webhook", "webhook", wid, req.Reason,
			map[string]any{"url": e.URL, "event_types": e.EventTypes, "active": e.Active})
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// webhookKeyring is the keyring that seals endpoint secrets:
// Server.WebhookSecrets, or else one over SECRET_KEY and
// SECRET_KEY_PREVIOUS, made once.
func (s *Server) webhookKeyring() (*secretbox.Keyring, error) {
	s.webhookKeyringOnce.Do(func() {
		if s.WebhookSecrets == nil {
			s.WebhookSecrets, s.webhookKeyringErr = webhook.NewKeyring(s.Config.SecretKey, s.Config.SecretKeyPrevious)
		}
	})
	return s.WebhookSecrets, s.webhookKeyringErr
}

// maxWebhooksListed bounds the endpoint list: endpoints are few (one per
// receiving system), so it is not paginated.
const maxWebhooksListed = 500

// listWebhooks lists the live endpoints, newest first.
func (s *Server) listWebhooks(c *fiber.Ctx) error {
	list, err := webhook.ListEndpoints(c.UserContext(), s.Pool, maxWebhooksListed)
	if err != nil {
		return err
	}
	items := make([]Webhook, len(list))
	for i, e := range list {
		items[i] = webhookOf(e)
	}
	return c.JSON(fiber.Map{"items": items})
}

// pathIDOr is the path's :id; a malformed one names nothing, so it is
// answered as notFound, the same as an id with no row.
func pathIDOr(c *fiber.Ctx, notFound func() error) (int64, error) {
	n, err := pathID(c, "id")
	if err != nil {
		return 0, notFound()
	}
	return n, nil
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	wid, err := pathIDOr(c, webhook.NoSuchEndpoint)
	if err != nil {
		return err
	}
	e, err := webhook.LiveEndpoint(c.UserContext(), s.Pool, wid, false)
	if err != nil {
		return err
	}
	return c.JSON(webhookOf(e))
}

// changeWebhook runs change in a transaction that holds the row lock of
// the live endpoint the path's :id names (not_found when there is none),
// so update, rotation and deletion each decide on the row they replace.
func (s *Server) changeWebhook(c *fiber.Ctx, change func(ctx context.Context, tx pgx.Tx, old webhook.EndpointRecord) error) error {
	wid, err := pathIDOr(c, webhook.NoSuchEndpoint)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	return postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		old, err := webhook.LiveEndpoint(ctx, tx, wid, true)
		if err != nil {
			return err
		}
		return change(ctx, tx, old)
	})
}

// updateWebhook changes any of url, description, event_types, active.
// Deliveries already recorded keep going to the endpoint's current URL.
func (s *Server) updateWebhook(c *fiber.Ctx) error {
	p := caller(c)
	req, types, err := s.webhookBody(c, false)
	if err != nil {
		return err
	}
	var desc *string
	if req.Description != nil {
		d := strings.TrimSpace(*req.Description)
		desc = &d
	}
	var out webhook.EndpointRecord
	err = s.changeWebhook(c, func(ctx context.Context, tx pgx.Tx, old webhook.EndpointRecord) error {
		out, err = webhook.UpdateEndpoint(ctx, tx, old.ID, webhook.EndpointChange{URL: req.URL, Description: desc,
			EventTypes: types, Active: req.Active})
		if err != nil {
			return err
		}
		before := map[string]any{"url": old.URL, "description": old.Description, "event_types": old.EventTypes, "active": old.Active}
		after := map[string]any{"url": out.URL, "description": out.Description, "event_types": out.EventTypes, "active": out.Active}
		return auditChange(c, tx, p, "update_webhook", "webhook", old.ID, req.Reason, map[string]any{"old": before, "new": after},
			before, after)
	})
	if err != nil {
		return err
	}
	return c.JSON(webhookOf(out))
}

// rotateWebhookSecret replaces an endpoint's secret (lost or leaked) and
// shows the new one, once. Every attempt from now on, retries of pending
// deliveries included, is signed with it.
func (s *Server) rotateWebhookSecret(c *fiber.Ctx) error {
	p := caller(c)
	req, err := reasonBody(c)
	if err != nil {
		return err
	}
	secret, kr, err := s.newWebhookSecret()
	if err != nil {
		return err
	}
	var out WebhookCreated
	err = s.changeWebhook(c, func(ctx context.Context, tx pgx.Tx, old webhook.EndpointRecord) error {
		if _, err := webhook.SetSecret(ctx, tx, kr, old.ID, secret); err != nil {
			return err
		}
		// Read again: the rotation moved updated_at.
		e, err := webhook.LiveEndpoint(ctx, tx, old.ID, false)
		if err != nil {
			return err
		}
		out = WebhookCreated{Webhook: webhookOf(e), Secret: secret}
		return auditLog(c, tx, p, "rotate_webhook_secret", "webhook", old.ID, req.Reason, nil)
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// deleteWebhook removes an endpoint (soft: its delivery log stays
// readable); pending deliveries to it fail instead of being sent.
func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	p := caller(c)
	reason, err := queryReason(c)
	if err != nil {
		return err
	}
	err = s.changeWebhook(c, func(ctx context.Context, tx pgx.Tx, old webhook.EndpointRecord) error {
		if err := webhook.DeleteEndpoint(ctx, tx, old.ID); err != nil {
			return err
		}
		return auditChange(c, tx, p, "delete_webhook", "webhook", old.ID, reason, map[string]any{"url": old.URL},
			map[string]any{"url": old.URL, "active": old.Active, "deleted": false}, map[string]any{"url": old.URL, "active": false, "deleted": true})
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// listWebhookDeliveries is an endpoint's delivery log (deleted endpoints
// included), newest first, keyset-paginated, filterable by ?status= and
// ?event_type=.
func (s *Server) listWebhookDeliveries(c *fiber.Ctx) error {
	wid, err := pathIDOr(c, webhook.NoSuchEndpoint)
	if err != nil {
		return err
	}
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	f := fieldErrors{}
	status, typ := c.Query("status"), c.Query("event_type")
	if status != "" && status != "pending" && status != "succeeded" && status != "failed" {
		f.add("status", "must be pending, succeeded or failed")
	}
	if typ != "" && !webhook.ValidEventType(typ) {
		f.add("event_type", "is not a known event type")
	}
	if err := f.err(); err != nil {
		return err
	}
	// One more than a page: whether there is a next one.
	list, err := webhook.ListDeliveries(c.UserContext(), s.Pool, wid, webhook.DeliveryFilter{Status: status, EventType: typ,
		After: pg.after, AfterID: pg.afterID, Limit: pg.limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, pg.limit, func(d webhook.Delivery) (time.Time, int64) { return d.CreatedAt, d.ID },
		webhookDeliveryOf))
}

// getWebhookDelivery is one delivery with its attempt log.
func (s *Server) getWebhookDelivery(c *fiber.Ctx) error {
	did, err := pathIDOr(c, webhook.NoSuchDelivery)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	d, err := webhook.GetDelivery(ctx, s.Pool, did, false)
	if err != nil {
		return err
	}
	attempts, err := webhook.DeliveryAttempts(ctx, s.Pool, did)
	if err != nil {
		return err
	}
	out := webhookDeliveryOf(d)
	out.AttemptLog = make([]WebhookAttempt, len(attempts))
	for i, a := range attempts {
		out.AttemptLog[i] = WebhookAttempt{Attempt: a.Attempt, StartedAt: a.StartedAt, DurationMS: a.DurationMS,
			ResponseCode: a.ResponseCode, Error: a.Error, Succeeded: a.Succeeded}
	}
	return c.JSON(out)
}

// redeliverWebhook sends a finished delivery (succeeded or failed) again,
// with the same event id and body, to its live endpoint: it goes back to
// pending and the worker's dispatcher starts a new delivery run. A
// delivery still pending is already being sent (invalid_transition).
func (s *Server) redeliverWebhook(c *fiber.Ctx) error {
	p := caller(c)
	did, err := pathIDOr(c, webhook.NoSuchDelivery)
	if err != nil {
		return err
	}
	req, err := reasonBody(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var out webhook.Delivery
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var cur webhook.Delivery
		cur, out, err = webhook.Redeliver(ctx, tx, did)
		if err != nil {
			return err
		}
		return auditLog(c, tx, p, "redeliver_webhook", "webhook_delivery", did, req.Reason, map[string]any{
			"webhook_id": id(cur.EndpointID), "event_id": cur.EventID, "event_type": cur.EventType, "previous_status": cur.Status})
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(webhookDeliveryOf(out))
}

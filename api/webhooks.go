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

const webhookColumns = `id, url, description, event_types, active, created_by, created_at, updated_at`

func scanWebhook(r pgx.Row) (Webhook, error) {
	var (
		w         Webhook
		wid       int64
		createdBy *int64
	)
	err := r.Scan(&wid, &w.URL, &w.Description, &w.EventTypes, &w.Active, &createdBy, &w.CreatedAt, &w.UpdatedAt)
	w.ID = id(wid)
	if createdBy != nil {
		w.CreatedBy = id(*createdBy)
	}
	return w, err
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

// createWebhook registers an endpoint with a server-generated secret,
// shown once in the answer.
func (s *Server) createWebhook(c *fiber.Ctx) error {
	p := caller(c)
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	types, err := s.checkWebhook(&req, true)
	if err != nil {
		return err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return err
	}
	desc := ""
	if req.Description != nil {
		desc = strings.TrimSpace(*req.Description)
	}
	active := req.Active == nil || *req.Active
	kr, err := s.webhookKeyring()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var out WebhookCreated
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// The secret is stored sealed (internal/secretbox), never in clear.
		wid, err := webhook.InsertEndpoint(ctx, tx, kr, webhook.Endpoint{URL: *req.URL, Secret: secret,
			Description: desc, EventTypes: types, Active: active, CreatedBy: &p.ID})
		if err != nil {
			return err
		}
		w, err := scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE id = $1`, wid))
		if err != nil {
			return err
		}
		out = WebhookCreated{Webhook: w, Secret: secret}
		// The audit row names the endpoint, never its secret.
		return auditLog(c, tx, p, "create_webhook", "webhook", wid, req.Reason,
			map[string]any{"url": w.URL, "event_types": w.EventTypes, "active": w.Active})
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

// listWebhooks lists the live endpoints, newest first.
func (s *Server) listWebhooks(c *fiber.Ctx) error {
	rows, err := s.Pool.Query(c.UserContext(), `SELECT `+webhookColumns+` FROM webhook_endpoints
		WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 500`)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Webhook, error) { return scanWebhook(r) })
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": list})
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// liveWebhook reads a live endpoint by its :id (deleted ones are not
// found), locking it when tx is a transaction that asks to.
func (s *Server) liveWebhook(c *fiber.Ctx, q rowQuerier, lock bool) (Webhook, int64, error) {
	wid, err := pathID(c, "id")
	if err != nil {
		return Webhook{}, 0, ordem.Errorf(ordem.ENotFound, "no such webhook")
	}
	sql := `SELECT ` + webhookColumns + ` FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL`
	if lock {
		sql += ` FOR UPDATE`
	}
	w, err := scanWebhook(q.QueryRow(c.UserContext(), sql, wid))
	if errors.Is(err, pgx.ErrNoRows) {
		return Webhook{}, 0, ordem.Errorf(ordem.ENotFound, "no such webhook")
	}
	return w, wid, err
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	w, _, err := s.liveWebhook(c, s.Pool, false)
	if err != nil {
		return err
	}
	return c.JSON(w)
}

// updateWebhook changes any of url, description, event_types, active.
// Deliveries already recorded keep going to the endpoint's current URL.
func (s *Server) updateWebhook(c *fiber.Ctx) error {
	p := caller(c)
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	types, err := s.checkWebhook(&req, false)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var out Webhook
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		old, wid, err := s.liveWebhook(c, tx, true)
		if err != nil {
			return err
		}
		var desc *string
		if req.Description != nil {
			d := strings.TrimSpace(*req.Description)
			desc = &d
		}
		out, err = scanWebhook(tx.QueryRow(ctx, `
			UPDATE webhook_endpoints SET url = coalesce($2, url), description = coalesce($3, description),
			    event_types = coalesce($4, event_types), active = coalesce($5, active), updated_at = now()
			WHERE id = $1 RETURNING `+webhookColumns, wid, req.URL, desc, types, req.Active))
		if err != nil {
			return err
		}
		before := map[string]any{"url": old.URL, "description": old.Description, "event_types": old.EventTypes, "active": old.Active}
		after := map[string]any{"url": out.URL, "description": out.Description, "event_types": out.EventTypes, "active": out.Active}
		return auditChange(c, tx, p, "update_webhook", "webhook", wid, req.Reason, map[string]any{"old": before, "new": after},
			before, after)
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
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
	secret, err := webhook.NewSecret()
	if err != nil {
		return err
	}
	kr, err := s.webhookKeyring()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var out WebhookCreated
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		_, wid, err := s.liveWebhook(c, tx, true)
		if err != nil {
			return err
		}
		if _, err := webhook.SetSecret(ctx, tx, kr, wid, secret); err != nil {
			return err
		}
		w, err := scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE id = $1`, wid))
		if err != nil {
			return err
		}
		out = WebhookCreated{Webhook: w, Secret: secret}
		return auditLog(c, tx, p, "rotate_webhook_secret", "webhook", wid, req.Reason, nil)
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
	ctx := c.UserContext()
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		w, wid, err := s.liveWebhook(c, tx, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now(), active = false, updated_at = now() WHERE id = $1`, wid); err != nil {
			return err
		}
		return auditChange(c, tx, p, "delete_webhook", "webhook", wid, reason, map[string]any{"url": w.URL},
			map[string]any{"url": w.URL, "active": w.Active, "deleted": false}, map[string]any{"url": w.URL, "active": false, "deleted": true})
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

const deliveryColumns = `id, endpoint_id, event_id::text, event_type, order_id, status, attempts, last_error, response_code,
	payload::text, created_at, updated_at, delivered_at`

type deliveryRow struct {
	WebhookDelivery
	id int64
}

func scanDelivery(r pgx.Row) (deliveryRow, error) {
	var (
		d          deliveryRow
		endpointID int64
		orderID    *int64
		payload    string
	)
	err := r.Scan(&d.id, &endpointID, &d.EventID, &d.EventType, &orderID, &d.Status, &d.Attempts, &d.LastError,
		&d.ResponseCode, &payload, &d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt)
	d.ID, d.WebhookID, d.Payload = id(d.id), id(endpointID), json.RawMessage(payload)
	if orderID != nil {
		d.OrderID = id(*orderID)
	}
	return d, err
}

// listWebhookDeliveries is an endpoint's delivery log (deleted endpoints
// included), newest first, keyset-paginated, filterable by ?status= and
// ?event_type=.
func (s *Server) listWebhookDeliveries(c *fiber.Ctx) error {
	wid, err := pathID(c, "id")
	if err != nil {
		return ordem.Errorf(ordem.ENotFound, "no such webhook")
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
	ctx := c.UserContext()
	var ok bool
	if err := s.Pool.QueryRow(ctx, `SELECT true FROM webhook_endpoints WHERE id = $1`, wid).Scan(&ok); errors.Is(err, pgx.ErrNoRows) {
		return ordem.Errorf(ordem.ENotFound, "no such webhook")
	} else if err != nil {
		return err
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE endpoint_id = $1 AND ($2::text = '' OR status = $2) AND ($3::text = '' OR event_type = $3)
		  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
		ORDER BY created_at DESC, id DESC LIMIT $6`, wid, status, typ, pg.after, pg.afterID, pg.limit+1)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deliveryRow, error) { return scanDelivery(r) })
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, pg.limit, func(d deliveryRow) (time.Time, int64) { return d.CreatedAt, d.id },
		func(d deliveryRow) WebhookDelivery { return d.WebhookDelivery }))
}

// getWebhookDelivery is one delivery with its attempt log.
func (s *Server) getWebhookDelivery(c *fiber.Ctx) error {
	did, err := pathID(c, "id")
	if err != nil {
		return ordem.Errorf(ordem.ENotFound, "no such delivery")
	}
	ctx := c.UserContext()
	d, err := scanDelivery(s.Pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = $1`, did))
	if errors.Is(err, pgx.ErrNoRows) {
		return ordem.Errorf(ordem.ENotFound, "no such delivery")
	}
	if err != nil {
		return err
	}
	rows, err := s.Pool.Query(ctx, `SELECT attempt, started_at, duration_ms, response_code, error, succeeded
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, did)
	if err != nil {
		return err
	}
	d.AttemptLog, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookAttempt, error) {
		var a WebhookAttempt
		err := r.Scan(&a.Attempt, &a.StartedAt, &a.DurationMS, &a.ResponseCode, &a.Error, &a.Succeeded)
		return a, err
	})
	if err != nil {
		return err
	}
	if d.AttemptLog == nil {
		d.AttemptLog = []WebhookAttempt{}
	}
	return c.JSON(d.WebhookDelivery)
}

// redeliverWebhook sends a finished delivery (succeeded or failed) again,
// with the same event id and body, to its live endpoint: it goes back to
// pending and the worker's dispatcher starts a new delivery run. A
// delivery still pending is already being sent (invalid_transition).
func (s *Server) redeliverWebhook(c *fiber.Ctx) error {
	p := caller(c)
	did, err := pathID(c, "id")
	if err != nil {
		return ordem.Errorf(ordem.ENotFound, "no such delivery")
	}
	req, err := reasonBody(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var out deliveryRow
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		cur, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = $1 FOR UPDATE`, did))
		if errors.Is(err, pgx.ErrNoRows) {
			return ordem.Errorf(ordem.ENotFound, "no such delivery")
		}
		if err != nil {
			return err
		}
		if cur.Status == "pending" {
			return ordem.Errorf(ordem.EInvalidTransition, "delivery %d is still being delivered", did)
		}
		var live bool
		if err := tx.QueryRow(ctx, `SELECT active AND deleted_at IS NULL FROM webhook_endpoints WHERE id = $1`,
			cur.WebhookID).Scan(&live); err != nil {
			return err
		}
		if !live {
			return ordem.Errorf(ordem.EInvalidTransition, "the webhook is disabled or deleted; enable it first")
		}
		out, err = scanDelivery(tx.QueryRow(ctx, `
			UPDATE webhook_deliveries SET status = 'pending', dispatched_at = NULL, delivered_at = NULL, updated_at = now()
			WHERE id = $1 RETURNING `+deliveryColumns, did))
		if err != nil {
			return err
		}
		return auditLog(c, tx, p, "redeliver_webhook", "webhook_delivery", did, req.Reason, map[string]any{
			"webhook_id": cur.WebhookID, "event_id": cur.EventID, "event_type": cur.EventType, "previous_status": cur.Status})
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(out.WebhookDelivery)
}

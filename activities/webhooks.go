package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/workflows/order"
	webhookwf "github.com/ordem/ordem/workflows/webhook"
)

// registerOutbox registers the webhook and e-mail delivery activities.
func (a *Activities) registerOutbox(r Registry) {
	for name, fn := range map[string]any{
		webhookwf.ActivityDeliver:         a.DeliverWebhook,
		webhookwf.ActivityMarkFailed:      a.MarkWebhookFailed,
		webhookwf.ActivitySendEmail:       a.SendEmail,
		webhookwf.ActivityMarkEmailFailed: a.MarkEmailFailed,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

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

// ---------------------------------------------------------------------------
// Delivery activities

// DeliverWebhook POSTs one pending delivery, signed, and logs the
// attempt. A 2xx answer marks it succeeded; anything else is a retryable
// error (the workflow's retry policy backs off). A delivery no longer
// pending (an earlier run delivered it) is skipped; one whose endpoint
// was disabled or deleted fails without sending.
func (a *Activities) DeliverWebhook(ctx context.Context, id int64) (webhookwf.Result, error) {
	var (
		status, eventID, url string
		body                 []byte
		attempts             int
		live                 bool
		endpointID           int64
		stored               webhook.StoredSecret
	)
	err := a.Pool.QueryRow(ctx, `
		SELECT d.status, d.attempts, d.event_id::text, d.payload::text, e.id, e.url, `+webhook.SecretColumns+`,
		    e.active AND e.deleted_at IS NULL
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`, id).Scan(
		&status, &attempts, &eventID, &body, &endpointID, &url, &stored.Ciphertext, &stored.KeyID, &stored.Legacy, &live)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhookwf.Result{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("webhook delivery %d does not exist", id), "WebhookDeliveryNotFound", nil)
	}
	if err != nil {
		return webhookwf.Result{}, fmt.Errorf("load webhook delivery %d: %w", id, err)
	}
	if status != "pending" {
		return webhookwf.Result{Status: status, Attempts: attempts, Skipped: true}, nil
	}
	if !live {
		res, err := a.failDelivery(ctx, id, "endpoint disabled or deleted before delivery")
		res.Skipped = true
		return res, err
	}
	// The URL is checked again: the policy may be stricter than when it
	// was saved (another environment, WEBHOOK_ALLOW_PRIVATE_TARGETS
	// turned off). A refused target fails without being sent; its name's
	// addresses are checked when connecting (webhook.NewClient).
	if err := a.WebhookTargets.CheckTarget(url); err != nil {
		res, ferr := a.failDelivery(ctx, id, "target refused: "+err.Error())
		res.Skipped = true
		return res, ferr
	}
	// A secret no key opens (SECRET_KEY changed without
	// SECRET_KEY_PREVIOUS) is an operator's fix away: retried, unsent.
	if a.WebhookSecrets == nil {
		return webhookwf.Result{}, errors.New("no keyring for webhook secrets: the worker was started without SECRET_KEY")
	}
	secret, err := stored.Open(a.WebhookSecrets, endpointID)
	if err != nil {
		return webhookwf.Result{}, fmt.Errorf("open the secret of webhook endpoint %d: %w", endpointID, err)
	}
	// The attempt's number is claimed before sending, so two attempts
	// never share one.
	err = a.Pool.QueryRow(ctx, `
		UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status = 'pending' RETURNING attempts`, id).Scan(&attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhookwf.Result{Status: "succeeded", Skipped: true}, nil
	}
	if err != nil {
		return webhookwf.Result{}, fmt.Errorf("claim webhook attempt %d: %w", id, err)
	}

	started := time.Now()
	code, sendErr := post(ctx, webhook.NewClient(a.WebhookTargets), url, secret, eventID, body)
	took := time.Since(started)
	var codePtr *int
	if code != 0 {
		codePtr = &code
	}
	errText := ""
	if sendErr != nil {
		errText = truncate(sendErr.Error(), 1000)
	}
	res := webhookwf.Result{Status: "pending", Attempts: attempts, ResponseCode: code}
	if sendErr == nil {
		res.Status = "succeeded"
	}
	err = postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, response_code, error, succeeded)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, attempts, started, took.Milliseconds(), codePtr, errText, sendErr == nil); err != nil {
			return fmt.Errorf("log webhook attempt: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE webhook_deliveries SET status = $2, response_code = $3, last_error = $4, updated_at = now(),
			    delivered_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE delivered_at END
			WHERE id = $1`, id, res.Status, codePtr, errText); err != nil {
			return fmt.Errorf("update webhook delivery: %w", err)
		}
		return nil
	})
	if err != nil {
		return webhookwf.Result{}, err
	}
	if sendErr != nil {
		activity.GetLogger(ctx).Warn("Webhook attempt failed", "delivery_id", id, "attempt", attempts, "error", errText)
		return webhookwf.Result{}, sendErr
	}
	return res, nil
}

// post sends one attempt; it returns the HTTP status (0 when none came)
// and, unless it was 2xx, an error: the network error, or an
// application error quoting the status and the start of the answer.
func post(ctx context.Context, client *http.Client, url, secret, eventID string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, temporal.NewNonRetryableApplicationError("invalid endpoint URL", "WebhookBadURL", err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Ordem-Webhooks/1")
	req.Header.Set(webhook.HeaderID, eventID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
	resp, err := client.Do(req)
	if errors.Is(err, webhook.ErrForbiddenTarget) {
		// The name resolved to a refused address: nothing was sent, and
		// retrying would only probe it again.
		return 0, temporal.NewNonRetryableApplicationError(truncate(err.Error(), 1000), webhookwf.TypeTargetForbidden, err)
	}
	if err != nil {
		return 0, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	msg := fmt.Sprintf("endpoint answered %d", resp.StatusCode)
	if len(bytes.TrimSpace(excerpt)) > 0 {
		msg += ": " + string(bytes.TrimSpace(excerpt))
	}
	return resp.StatusCode, temporal.NewApplicationError(msg, webhookwf.TypeEndpointError)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// MarkWebhookFailed records that a delivery gave up (its retries
// expired). The last attempt's error stays as last_error.
func (a *Activities) MarkWebhookFailed(ctx context.Context, in webhookwf.FailInput) (webhookwf.Result, error) {
	return a.failDelivery(ctx, in.ID, in.Error)
}

func (a *Activities) failDelivery(ctx context.Context, id int64, reason string) (webhookwf.Result, error) {
	var (
		res  webhookwf.Result
		code *int
	)
	err := a.Pool.QueryRow(ctx, `
		UPDATE webhook_deliveries SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
		    last_error = CASE WHEN status = 'pending' AND last_error = '' THEN $2 ELSE last_error END, updated_at = now()
		WHERE id = $1 RETURNING status, attempts, response_code`, id, truncate(reason, 1000)).Scan(&res.Status, &res.Attempts, &code)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhookwf.Result{Status: "failed"}, nil
	}
	if err != nil {
		return webhookwf.Result{}, fmt.Errorf("mark webhook delivery %d failed: %w", id, err)
	}
	if code != nil {
		res.ResponseCode = *code
	}
	return res, nil
}

func (a *Activities) mailer() mail.Sender {
	if a.Mail != nil {
		return a.Mail
	}
	return mail.LogSender{Logger: slog.Default()}
}

// scrubSecretBody is the SQL value of an outbox e-mail's body once it is
// no longer pending: e-mails that carry a one-time secret (a password
// reset code) keep it only while they wait to be sent, so the table does
// not hold a usable secret in clear after delivery.
const scrubSecretBody = `CASE WHEN kind IN ('password_reset') THEN '[removed after delivery: it held a one-time password reset code]' ELSE body END`

// SendEmail sends (or, without SMTP, logs) one pending e-mail. A failure
// is retried by the workflow; an e-mail no longer pending is skipped.
func (a *Activities) SendEmail(ctx context.Context, id int64) (webhookwf.Result, error) {
	var (
		m        mail.Message
		attempts int
	)
	err := a.Pool.QueryRow(ctx, `
		UPDATE email_outbox SET attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status = 'pending' RETURNING to_address, subject, body, attempts`, id).Scan(&m.To, &m.Subject, &m.Body, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		var status string
		if err := a.Pool.QueryRow(ctx, `SELECT status, attempts FROM email_outbox WHERE id = $1`, id).Scan(&status, &attempts); err != nil {
			return webhookwf.Result{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("e-mail %d does not exist", id), "EmailNotFound", err)
		}
		return webhookwf.Result{Status: status, Attempts: attempts, Skipped: true}, nil
	}
	if err != nil {
		return webhookwf.Result{}, fmt.Errorf("claim e-mail %d: %w", id, err)
	}
	logged, sendErr := a.mailer().Send(ctx, m)
	if sendErr != nil {
		if _, err := a.Pool.Exec(ctx, `UPDATE email_outbox SET last_error = $2, updated_at = now() WHERE id = $1`,
			id, truncate(sendErr.Error(), 1000)); err != nil {
			return webhookwf.Result{}, fmt.Errorf("record e-mail error: %w", err)
		}
		return webhookwf.Result{}, fmt.Errorf("send e-mail %d: %w", id, sendErr)
	}
	status := "sent"
	if logged {
		status = "logged"
	}
	if _, err := a.Pool.Exec(ctx, `
		UPDATE email_outbox SET status = $2, sent_at = now(), last_error = '', updated_at = now(),
		    body = `+scrubSecretBody+`
		WHERE id = $1`, id, status); err != nil {
		return webhookwf.Result{}, fmt.Errorf("mark e-mail %d %s: %w", id, status, err)
	}
	return webhookwf.Result{Status: status, Attempts: attempts}, nil
}

// MarkEmailFailed records that an e-mail gave up.
func (a *Activities) MarkEmailFailed(ctx context.Context, in webhookwf.FailInput) (webhookwf.Result, error) {
	var res webhookwf.Result
	err := a.Pool.QueryRow(ctx, `
		UPDATE email_outbox SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
		    last_error = CASE WHEN last_error = '' THEN $2 ELSE last_error END, updated_at = now(),
		    body = `+scrubSecretBody+`
		WHERE id = $1 RETURNING status, attempts`, in.ID, truncate(in.Error, 1000)).Scan(&res.Status, &res.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhookwf.Result{Status: "failed"}, nil
	}
	if err != nil {
		return webhookwf.Result{}, fmt.Errorf("mark e-mail %d failed: %w", in.ID, err)
	}
	return res, nil
}

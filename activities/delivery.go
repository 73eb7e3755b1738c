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
	"github.com/ordem/ordem/workflows/delivery"
)

// This file holds the delivery activities: what the workflows of package
// workflows/delivery run to send one webhook delivery or one e-mail from
// the outbox, and to record that it gave up. The outbox rows themselves
// are written by the order steps (webhooks.go).

// registerOutbox registers the webhook and e-mail delivery activities.
func (a *Activities) registerOutbox(r Registry) {
	for name, fn := range map[string]any{
		delivery.ActivityDeliverWebhook:    a.DeliverWebhook,
		delivery.ActivityMarkWebhookFailed: a.MarkWebhookFailed,
		delivery.ActivitySendEmail:         a.SendEmail,
		delivery.ActivityMarkEmailFailed:   a.MarkEmailFailed,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// DeliverWebhook POSTs one pending delivery, signed, and logs the
// attempt. A 2xx answer marks it succeeded; anything else is a retryable
// error (the workflow's retry policy backs off). A delivery no longer
// pending (an earlier run delivered it) is skipped; one whose endpoint
// was disabled or deleted fails without sending.
func (a *Activities) DeliverWebhook(ctx context.Context, id int64) (delivery.Result, error) {
	o, ok, err := webhook.LoadOutgoing(ctx, a.Pool, id)
	if err != nil {
		return delivery.Result{}, err
	}
	if !ok {
		return delivery.Result{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("webhook delivery %d does not exist", id), "WebhookDeliveryNotFound", nil)
	}
	if o.Status != "pending" {
		return delivery.Result{Status: o.Status, Attempts: o.Attempts, Skipped: true}, nil
	}
	if !o.Live {
		res, err := a.failDelivery(ctx, id, "endpoint disabled or deleted before delivery")
		res.Skipped = true
		return res, err
	}
	// The URL is checked again: the policy may be stricter than when it
	// was saved (another environment, WEBHOOK_ALLOW_PRIVATE_TARGETS
	// turned off). A refused target fails without being sent; its name's
	// addresses are checked when connecting (webhook.NewClient).
	if err := a.WebhookTargets.CheckTarget(o.URL); err != nil {
		res, ferr := a.failDelivery(ctx, id, "target refused: "+err.Error())
		res.Skipped = true
		return res, ferr
	}
	// A secret no key opens (SECRET_KEY changed without
	// SECRET_KEY_PREVIOUS) is an operator's fix away: retried, unsent.
	if a.WebhookSecrets == nil {
		return delivery.Result{}, errors.New("no keyring for webhook secrets: the worker was started without SECRET_KEY")
	}
	secret, err := o.Secret.Open(a.WebhookSecrets, o.EndpointID)
	if err != nil {
		return delivery.Result{}, fmt.Errorf("open the secret of webhook endpoint %d: %w", o.EndpointID, err)
	}
	attempt, ok, err := webhook.ClaimAttempt(ctx, a.Pool, id)
	if err != nil {
		return delivery.Result{}, err
	}
	if !ok {
		return delivery.Result{Status: "succeeded", Skipped: true}, nil
	}

	started := time.Now()
	code, sendErr := post(ctx, webhook.NewClient(a.WebhookTargets), o.URL, secret, o.EventID, o.Body)
	took := time.Since(started)
	var codePtr *int
	if code != 0 {
		codePtr = &code
	}
	errText := ""
	if sendErr != nil {
		errText = truncate(sendErr.Error(), 1000)
	}
	res := delivery.Result{Status: "pending", Attempts: attempt, ResponseCode: code}
	if sendErr == nil {
		res.Status = "succeeded"
	}
	err = postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		return webhook.RecordAttempt(ctx, tx, id, webhook.Attempt{Attempt: attempt, StartedAt: started,
			DurationMS: int(took.Milliseconds()), ResponseCode: codePtr, Error: errText, Succeeded: sendErr == nil})
	})
	if err != nil {
		return delivery.Result{}, err
	}
	if sendErr != nil {
		activity.GetLogger(ctx).Warn("Webhook attempt failed", "delivery_id", id, "attempt", attempt, "error", errText)
		return delivery.Result{}, sendErr
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
		return 0, temporal.NewNonRetryableApplicationError(truncate(err.Error(), 1000), delivery.TypeWebhookTargetForbidden, err)
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
	return resp.StatusCode, temporal.NewApplicationError(msg, delivery.TypeWebhookEndpointError)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// MarkWebhookFailed records that a delivery gave up (its retries
// expired). The last attempt's error stays as last_error.
func (a *Activities) MarkWebhookFailed(ctx context.Context, in delivery.FailInput) (delivery.Result, error) {
	return a.failDelivery(ctx, in.ID, in.Error)
}

func (a *Activities) failDelivery(ctx context.Context, id int64, reason string) (delivery.Result, error) {
	d, ok, err := webhook.FailDelivery(ctx, a.Pool, id, truncate(reason, 1000))
	if err != nil {
		return delivery.Result{}, err
	}
	if !ok {
		return delivery.Result{Status: "failed"}, nil
	}
	res := delivery.Result{Status: d.Status, Attempts: d.Attempts}
	if d.ResponseCode != nil {
		res.ResponseCode = *d.ResponseCode
	}
	return res, nil
}

func (a *Activities) mailer() mail.Sender {
	if a.Mail != nil {
		return a.Mail
	}
	return mail.LogSender{Logger: slog.Default()}
}

// SendEmail sends (or, without SMTP, logs) one pending e-mail. A failure
// is retried by the workflow; an e-mail no longer pending is skipped.
func (a *Activities) SendEmail(ctx context.Context, id int64) (delivery.Result, error) {
	m, state, claimed, err := mail.Claim(ctx, a.Pool, id)
	if errors.Is(err, mail.ErrNotFound) {
		return delivery.Result{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("e-mail %d does not exist", id), "EmailNotFound", err)
	}
	if err != nil {
		return delivery.Result{}, err
	}
	if !claimed {
		return delivery.Result{Status: state.Status, Attempts: state.Attempts, Skipped: true}, nil
	}
	logged, sendErr := a.mailer().Send(ctx, m)
	if sendErr != nil {
		if err := mail.RecordError(ctx, a.Pool, id, truncate(sendErr.Error(), 1000)); err != nil {
			return delivery.Result{}, err
		}
		return delivery.Result{}, fmt.Errorf("send e-mail %d: %w", id, sendErr)
	}
	status := "sent"
	if logged {
		status = "logged"
	}
	if err := mail.MarkDone(ctx, a.Pool, id, status); err != nil {
		return delivery.Result{}, err
	}
	return delivery.Result{Status: status, Attempts: state.Attempts}, nil
}

// MarkEmailFailed records that an e-mail gave up.
func (a *Activities) MarkEmailFailed(ctx context.Context, in delivery.FailInput) (delivery.Result, error) {
	state, found, err := mail.MarkFailed(ctx, a.Pool, in.ID, truncate(in.Error, 1000))
	if err != nil {
		return delivery.Result{}, err
	}
	if !found {
		return delivery.Result{Status: "failed"}, nil
	}
	return delivery.Result{Status: state.Status, Attempts: state.Attempts}, nil
}

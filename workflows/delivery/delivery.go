// Package delivery is the delivery of Ordem's outgoing notifications, by
// webhook and by e-mail: one WebhookDelivery workflow per webhook delivery
// row and one EmailDelivery workflow per e-mail row, each running a single
// activity with exponential-backoff retries bounded by an expiration, then
// recording a final failure. The rows are written by the outbox
// (internal/webhook, internal/mail) in the same transaction as the event;
// the worker's dispatcher (worker.Dispatcher) starts the workflows. The
// package does no I/O: the activities live in package activities.
//
// It was package workflows/webhook; it is named for what it does since it
// also sends e-mail, and "webhook" is left to the endpoints
// (internal/webhook). The registered names below did not change.
package delivery

import (
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names registered on the worker. Never renamed (the Go identifiers may
// be, the strings may not): running workflows and their histories refer
// to them.
const (
	WorkflowWebhook = "WebhookDelivery"
	WorkflowEmail   = "EmailDelivery"
	// ActivityDeliverWebhook POSTs one delivery (int64 delivery id) and returns
	// a Result; a non-2xx answer or a network error is a retryable error.
	ActivityDeliverWebhook = "DeliverWebhook"
	// ActivityMarkWebhookFailed records that a delivery gave up (FailInput).
	ActivityMarkWebhookFailed = "MarkWebhookFailed"
	// ActivitySendEmail sends (or logs) one e-mail (int64 outbox id).
	ActivitySendEmail = "SendEmail"
	// ActivityMarkEmailFailed records that an e-mail gave up (FailInput).
	ActivityMarkEmailFailed = "MarkEmailFailed"
)

// WebhookWorkflowID is the fixed id of the workflow delivering webhook delivery
// id: a second start of the same delivery finds the running one.
func WebhookWorkflowID(id int64) string { return "webhook-delivery-" + strconv.FormatInt(id, 10) }

// EmailWorkflowID is the fixed id of the workflow sending e-mail id.
func EmailWorkflowID(id int64) string { return "email-" + strconv.FormatInt(id, 10) }

// Defaults of Retry.
const (
	DefaultInitialInterval = 10 * time.Second
	DefaultMaximumInterval = time.Hour
	DefaultExpiration      = 24 * time.Hour
)

// Retry is the retry policy of one delivery: the first retry after
// InitialInterval, doubling up to MaximumInterval, for at most Expiration
// from the first attempt. It travels in the workflow input, so a
// configuration change never alters a running workflow's history.
type Retry struct {
	InitialInterval time.Duration `json:"initial_interval"`
	MaximumInterval time.Duration `json:"maximum_interval"`
	Expiration      time.Duration `json:"expiration"`
}

func (r Retry) withDefaults() Retry {
	if r.InitialInterval <= 0 {
		r.InitialInterval = DefaultInitialInterval
	}
	if r.MaximumInterval <= 0 {
		r.MaximumInterval = DefaultMaximumInterval
	}
	if r.MaximumInterval < r.InitialInterval {
		r.MaximumInterval = r.InitialInterval
	}
	if r.Expiration <= 0 {
		r.Expiration = DefaultExpiration
	}
	return r
}

// Input starts a delivery workflow: the outbox row's id and the retry
// policy.
type Input struct {
	ID    int64 `json:"id"`
	Retry Retry `json:"retry"`
}

// Result is a delivery's outcome.
type Result struct {
	// Status is the row's status afterwards: succeeded, failed (webhooks);
	// sent, logged, failed (e-mails).
	Status       string `json:"status"`
	Attempts     int    `json:"attempts"`
	ResponseCode int    `json:"response_code,omitempty"`
	// Skipped is true when the row was no longer pending (delivered by an
	// earlier run, or its endpoint was disabled): nothing was sent.
	Skipped bool `json:"skipped,omitempty"`
}

// FailInput records a delivery's final failure.
type FailInput struct {
	ID    int64  `json:"id"`
	Error string `json:"error"`
}

// TypeWebhookEndpointError is the application error type of a non-2xx answer.
const TypeWebhookEndpointError = "WebhookEndpointError"

// TypeWebhookTargetForbidden is the application error type of a delivery whose
// target address the policy refuses (internal/webhook TargetPolicy):
// not retried.
const TypeWebhookTargetForbidden = "WebhookTargetForbidden"

// sendTimeout bounds one attempt: the HTTP client's own 10-second limit
// (or the SMTP dialogue) plus the database writes around it.
const sendTimeout = 30 * time.Second

// Webhook delivers one webhook: DeliverWebhook with retries until it
// succeeds or the expiration passes, then MarkWebhookFailed. A final
// failure is the workflow's result, not its error.
func Webhook(ctx workflow.Context, in Input) (Result, error) {
	return run(ctx, in, ActivityDeliverWebhook, ActivityMarkWebhookFailed)
}

// Email sends one e-mail the same way (SendEmail, then MarkEmailFailed).
func Email(ctx workflow.Context, in Input) (Result, error) {
	return run(ctx, in, ActivitySendEmail, ActivityMarkEmailFailed)
}

func run(ctx workflow.Context, in Input, send, markFailed string) (Result, error) {
	r := in.Retry.withDefaults()
	sctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: sendTimeout,
		// The whole retry sequence ends at the expiration: Temporal stops
		// scheduling attempts once the next one would start after it.
		ScheduleToCloseTimeout: r.Expiration,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    r.InitialInterval,
			BackoffCoefficient: 2,
			MaximumInterval:    r.MaximumInterval,
		},
	})
	var res Result
	err := workflow.ExecuteActivity(sctx, send, in.ID).Get(ctx, &res)
	if err == nil {
		return res, nil
	}
	workflow.GetLogger(ctx).Warn("Delivery gave up", "id", in.ID, "activity", send, "error", err)
	// Recording the failure is a database write: retried until it works
	// (an outage delays it, nothing else can go wrong).
	fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: sendTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	if err := workflow.ExecuteActivity(fctx, markFailed, FailInput{ID: in.ID, Error: lastError(err)}).Get(ctx, &res); err != nil {
		return Result{}, err
	}
	return res, nil
}

// lastError is the message of the attempt that failed last: the
// application error inside Temporal's activity and timeout wrappers.
func lastError(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Error()
	}
	return err.Error()
}

package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/workflows/delivery"
	"github.com/ordem/ordem/workflows/order"
)

// addEndpoint registers a webhook endpoint directly (the API's job) and
// returns its id.
func addEndpoint(t *testing.T, f *ordertest.Fixture, url, secret string, active bool, types ...string) int64 {
	t.Helper()
	id, err := webhook.InsertEndpoint(context.Background(), f.Pool, hookKeys, webhook.Endpoint{URL: url, Secret: secret,
		EventTypes: types, Active: active})
	require.NoError(t, err)
	return id
}

// hookKeys seals the test endpoints' secrets.
var hookKeys = func() *secretbox.Keyring {
	kr, err := webhook.NewKeyring("activities-test-secret-key-0123456789abcdef", "")
	if err != nil {
		panic(err)
	}
	return kr
}()

// localReceivers lets deliveries reach the tests' receivers: http, on
// loopback (WEBHOOK_ALLOW_PRIVATE_TARGETS, as in dev).
var localReceivers = webhook.TargetPolicy{AllowPrivate: true, AllowHTTP: true}

// deliveryActs are the activities of a worker that delivers to the
// tests' local receivers.
func deliveryActs(f *ordertest.Fixture) *activities.Activities {
	return &activities.Activities{Pool: f.Pool, WebhookSecrets: hookKeys, WebhookTargets: localReceivers}
}

type sentEvent struct {
	Type    string
	EventID string
	Data    map[string]any
}

// outbox lists the deliveries recorded for an endpoint and order, oldest
// first.
func outbox(t *testing.T, f *ordertest.Fixture, endpoint, orderID int64) []sentEvent {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(), `
		SELECT event_type, event_id::text, payload::text FROM webhook_deliveries
		WHERE endpoint_id = $1 AND order_id = $2 ORDER BY id`, endpoint, orderID)
	require.NoError(t, err)
	defer rows.Close()
	var out []sentEvent
	for rows.Next() {
		var (
			e       sentEvent
			payload string
		)
		require.NoError(t, rows.Scan(&e.Type, &e.EventID, &payload))
		var env webhook.Envelope
		require.NoError(t, json.Unmarshal([]byte(payload), &env))
		require.Equal(t, e.Type, env.Type)
		require.Equal(t, e.EventID, env.ID)
		e.Data = env.Data
		out = append(out, e)
	}
	require.NoError(t, rows.Err())
	return out
}

func types(events []sentEvent) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

const hookSecret = "whsec_test_0123456789abcdef0123456789abcdef"

// Ensure each order step writes its webhook event in its own transaction:
// one delivery per active subscribed endpoint, with the order id and
// amounts as strings, once, however often the step is replayed; and that
// the notifications that matter are copied to the e-mail outbox (the
// confirmation reminder to the client, the dispute SLA reminder to the
// admins), also once.
func TestWebhookOutbox(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	all := addEndpoint(t, f, "https://hooks.example.com/all", hookSecret, true, webhook.EventTypes...)
	deliveredOnly := addEndpoint(t, f, "https://hooks.example.com/delivered", hookSecret, true, webhook.OrderDelivered)
	inactive := addEndpoint(t, f, "https://hooks.example.com/off", hookSecret, false, webhook.EventTypes...)

	// A disputed order, every step run twice.
	f.Deposit(t, f.Client, "500.00")
	r := newRun(t, f).withStore(newEvidenceStore(t))
	r.create("123.45")
	var replayed order.CreateOrderResult
	require.NoError(t, r.exec(order.ActivityCreateOrder, order.CreateOrderInput{Order: r.input("123.45", nil), At: t0}, &replayed))
	require.True(t, replayed.Replayed)
	r.advance(time.Hour)
	c := r.accept(r.provider())
	r.must(c)
	r.replay(c)
	r.advance(time.Hour)
	c = r.deliver()
	r.must(c)
	r.replay(c)
	remind := r.reminder(order.ReminderConfirmation, "remind:x", *r.st.ConfirmDeadline)
	for range 2 {
		require.NoError(t, r.exec(order.ActivitySendReminder, remind, nil))
	}
	r.advance(time.Hour)
	c = r.contest("a parede ficou manchada")
	r.must(c)
	r.replay(c)
	c = r.addEvidence(r.stage(evidence(r.client(), "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "parede.pdf")))
	r.must(c)
	r.replay(c)
	sla := r.reminder(order.ReminderDisputeSLA, "dispute_sla", r.now.Add(48*time.Hour))
	for range 2 {
		require.NoError(t, r.exec(order.ActivitySendReminder, sla, nil))
	}
	r.advance(time.Hour)
	c = r.resolve("23.45", "parcial")
	r.must(c)
	r.replay(c)

	got := outbox(t, f, all, r.id)
	require.Equal(t, []string{webhook.OrderCreated, webhook.OrderAccepted, webhook.OrderDelivered, webhook.OrderReminder,
		webhook.OrderContested, webhook.OrderEvidenceAdded, webhook.DisputeSLAReminder, webhook.OrderResolved}, types(got))
	oid := strconv.FormatInt(r.id, 10)
	for _, e := range got {
		require.Equal(t, oid, e.Data["order_id"], e.Type)
		require.Equal(t, strconv.FormatInt(f.Client, 10), e.Data["client_id"], e.Type)
		if e.Type != webhook.OrderReminder && e.Type != webhook.DisputeSLAReminder {
			require.Equal(t, "123.45", e.Data["amount"], "%s: amounts are strings", e.Type)
			require.Equal(t, strconv.FormatInt(f.Provider, 10), e.Data["provider_id"], e.Type)
		}
	}
	require.Equal(t, "negotiating", got[0].Data["status"])
	require.Equal(t, "in_progress", got[1].Data["status"])
	require.Equal(t, "123.45", got[1].Data["hold"])
	require.Equal(t, "10.00", got[4].Data["contestation_fee"])
	require.Equal(t, "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", got[5].Data["evidence_id"])
	require.Equal(t, "parede.pdf", got[5].Data["file_name"])
	require.Equal(t, "resolved", got[7].Data["status"])
	require.Equal(t, "23.45", got[7].Data["refund"])
	require.Equal(t, "admin", got[7].Data["actor_role"])

	only := outbox(t, f, deliveredOnly, r.id)
	require.Equal(t, []string{webhook.OrderDelivered}, types(only))
	require.Equal(t, got[2].EventID, only[0].EventID, "one event, one id, whatever the endpoint")
	require.Empty(t, outbox(t, f, inactive, r.id))

	// The reminders reach the right people, in the app and by e-mail, once.
	require.Equal(t, map[int64]int{f.Client: 1}, f.Notifications(t, r.id, order.ReminderConfirmation))
	require.Equal(t, map[int64]int{f.Admin: 1}, f.Notifications(t, r.id, order.ReminderDisputeSLA))
	require.Equal(t, map[int64]int{f.Client: 1}, emails(t, f, r.id, order.ReminderConfirmation))
	require.Equal(t, map[int64]int{f.Admin: 1}, emails(t, f, r.id, order.ReminderDisputeSLA))
	require.Equal(t, map[int64]int{f.Client: 1}, emails(t, f, r.id, "order_delivered"))
	require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, emails(t, f, r.id, "dispute_resolved"))
	require.Equal(t, map[int64]int{}, emails(t, f, r.id, "order_accepted"), "not every notification is an e-mail")

	// Confirmed, auto-confirmed and cancelled orders.
	r2 := newRun(t, f)
	r2.toDelivered("200.00", "100.00")
	r2.must(r2.confirm())
	require.Equal(t, []string{webhook.OrderCreated, webhook.OrderAccepted, webhook.OrderDelivered, webhook.OrderCompleted},
		types(outbox(t, f, all, r2.id)))
	done := outbox(t, f, all, r2.id)[3]
	require.Equal(t, "95.00", done.Data["provider_share"])
	require.Equal(t, "5.00", done.Data["platform_fee"])

	r3 := newRun(t, f)
	r3.toDelivered("200.00", "100.00")
	r3.advance(40 * time.Hour)
	in := r3.autoConfirmInput()
	for range 2 {
		_, err := r3.autoConfirm(in)
		require.NoError(t, err)
	}
	require.Equal(t, []string{webhook.OrderCreated, webhook.OrderAccepted, webhook.OrderDelivered, webhook.OrderAutoConfirmed},
		types(outbox(t, f, all, r3.id)))

	r4 := newRun(t, f)
	r4.toInProgress("200.00", "100.00")
	c = r4.cancel(r4.client(), "mudei de ideia")
	r4.must(c)
	r4.replay(c)
	ev := outbox(t, f, all, r4.id)
	require.Equal(t, []string{webhook.OrderCreated, webhook.OrderAccepted, webhook.OrderCancelled}, types(ev))
	require.Equal(t, "cancelled", ev[2].Data["status"])
	require.Equal(t, "10.00", ev[2].Data["penalty"])
	f.RequireLedgerClean(t)
}

// emails counts the e-mail outbox rows of an order and kind per user,
// checking each goes to that user's address.
func emails(t *testing.T, f *ordertest.Fixture, orderID int64, kind string) map[int64]int {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(), `
		SELECT e.user_id, e.to_address = u.email FROM email_outbox e JOIN users u ON u.id = e.user_id
		WHERE e.order_id = $1 AND e.kind = $2`, orderID, kind)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var (
			uid int64
			ok  bool
		)
		require.NoError(t, rows.Scan(&uid, &ok))
		require.True(t, ok, "e-mail goes to the user's address")
		out[uid]++
	}
	require.NoError(t, rows.Err())
	return out
}

// receiver is a local webhook endpoint that verifies every request's
// signature and answers the queued statuses (then 200).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	requests int
	accepted [][]byte
	badSig   int
	ids      []string
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.requests++
		rc.ids = append(rc.ids, req.Header.Get(webhook.HeaderID))
		ts, sig := req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature)
		if err := webhook.Verify(hookSecret, ts, body, sig, webhook.DefaultTolerance); err != nil {
			rc.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// The same request with one byte changed would be refused.
		tampered := bytes.Replace(body, []byte(`80.00`), []byte(`980.00`), 1)
		if bytes.Equal(tampered, body) || webhook.Verify(hookSecret, ts, tampered, sig, webhook.DefaultTolerance) == nil {
			rc.badSig++
		}
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		if status < 300 {
			rc.accepted = append(rc.accepted, body)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("status " + strconv.Itoa(status)))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) counts() (requests, accepted, badSig int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests, len(rc.accepted), rc.badSig
}

// deliveryEnv is an SDK workflow test environment (time skipping) with the
// delivery workflows and the real activities on Postgres.
func deliveryEnv(acts *activities.Activities) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	// Failed attempts are the point of these tests: keep them out of the
	// output.
	suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(delivery.Webhook, workflow.RegisterOptions{Name: delivery.WorkflowWebhook})
	env.RegisterWorkflowWithOptions(delivery.Email, workflow.RegisterOptions{Name: delivery.WorkflowEmail})
	acts.Register(env)
	return env
}

// enqueuePayout records a payout.paid event for every subscribed endpoint
// and returns the delivery id of endpoint.
func enqueuePayout(t *testing.T, f *ordertest.Fixture, endpoint int64, key string) int64 {
	t.Helper()
	ctx := context.Background()
	_, err := webhook.Enqueue(ctx, f.Pool, webhook.Event{Key: key, Type: webhook.PayoutPaid, At: time.Now(),
		Data: map[string]any{"payout_id": "7", "amount": "80.00"}})
	require.NoError(t, err)
	var id int64
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id DESC LIMIT 1`,
		endpoint).Scan(&id))
	return id
}

type attemptRow struct {
	Attempt   int
	Code      int
	Succeeded bool
}

func attemptLog(t *testing.T, f *ordertest.Fixture, delivery int64) []attemptRow {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(), `
		SELECT attempt, coalesce(response_code, 0), succeeded FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, delivery)
	require.NoError(t, err)
	defer rows.Close()
	var out []attemptRow
	for rows.Next() {
		var a attemptRow
		require.NoError(t, rows.Scan(&a.Attempt, &a.Code, &a.Succeeded))
		out = append(out, a)
	}
	return out
}

// Ensure a receiver that fails twice and then answers 200 gets exactly
// one accepted delivery, every request correctly signed (and a tampered
// body failing verification), the log shows 3 attempts, and a second run
// of the same delivery (a repeated dispatch) sends nothing.
func TestWebhookDeliveryRetries(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	rc := newReceiver(t, 500, 502)
	ep := addEndpoint(t, f, rc.srv.URL+"/hooks", hookSecret, true, webhook.PayoutPaid)
	id := enqueuePayout(t, f, ep, "payout:7:paid")
	acts := deliveryActs(f)

	env := deliveryEnv(acts)
	env.ExecuteWorkflow(delivery.WorkflowWebhook, delivery.Input{ID: id,
		Retry: delivery.Retry{InitialInterval: 50 * time.Millisecond, Expiration: time.Hour}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res delivery.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, delivery.Result{Status: "succeeded", Attempts: 3, ResponseCode: 200}, res)

	requests, accepted, badSig := rc.counts()
	require.Equal(t, 3, requests)
	require.Equal(t, 1, accepted)
	require.Zero(t, badSig, "every request verifies; no tampered body does")
	require.Equal(t, []attemptRow{{1, 500, false}, {2, 502, false}, {3, 200, true}}, attemptLog(t, f, id))
	var (
		status, lastError string
		attempts, code    int
		eventID           string
	)
	require.NoError(t, f.Pool.QueryRow(context.Background(), `
		SELECT status, attempts, response_code, last_error, event_id::text FROM webhook_deliveries WHERE id = $1`, id).Scan(
		&status, &attempts, &code, &lastError, &eventID))
	require.Equal(t, "succeeded", status)
	require.Equal(t, 3, attempts)
	require.Equal(t, 200, code)
	require.Empty(t, lastError)
	require.Equal(t, []string{eventID, eventID, eventID}, rc.ids, "Ordem-Webhook-Id is the event id on every attempt")
	var env2 webhook.Envelope
	require.NoError(t, json.Unmarshal(rc.accepted[0], &env2))
	require.Equal(t, webhook.PayoutPaid, env2.Type)
	require.Equal(t, "80.00", env2.Data["amount"])

	again := deliveryEnv(acts)
	again.ExecuteWorkflow(delivery.WorkflowWebhook, delivery.Input{ID: id})
	require.NoError(t, again.GetWorkflowError())
	require.NoError(t, again.GetWorkflowResult(&res))
	require.True(t, res.Skipped)
	requests, _, _ = rc.counts()
	require.Equal(t, 3, requests, "a delivered event is not sent again")
}

// Ensure a receiver that never accepts is retried with backoff until the
// expiration, then the delivery is marked failed with the last error.
func TestWebhookDeliveryExpires(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	rc := newReceiver(t, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
	ep := addEndpoint(t, f, rc.srv.URL, hookSecret, true, webhook.PayoutPaid)
	id := enqueuePayout(t, f, ep, "payout:8:paid")

	env := deliveryEnv(deliveryActs(f))
	env.ExecuteWorkflow(delivery.WorkflowWebhook, delivery.Input{ID: id,
		Retry: delivery.Retry{InitialInterval: time.Second, MaximumInterval: 4 * time.Second, Expiration: 20 * time.Second}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res delivery.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "failed", res.Status)
	require.Equal(t, 503, res.ResponseCode)
	log := attemptLog(t, f, id)
	require.GreaterOrEqual(t, len(log), 3, "retried")
	require.Less(t, len(log), 18, "bounded by the expiration")
	var lastError string
	require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT last_error FROM webhook_deliveries WHERE id = $1`, id).Scan(&lastError))
	require.Contains(t, lastError, "endpoint answered 503")
}

// Ensure in ORDEM_ENV=dev the confirmation reminder's e-mail is logged
// with the client's address and subject, never the SMTP password, and
// marked logged; with SMTP it is sent (internal/mail tests the dialogue).
func TestWebhookEmailReminderLogged(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	r := newRun(t, f)
	r.toDelivered("200.00", "100.00")
	require.NoError(t, r.exec(order.ActivitySendReminder, r.reminder(order.ReminderConfirmation, "remind:y", *r.st.ConfirmDeadline), nil))
	ctx := context.Background()
	var (
		emailID  int64
		clientTo string
	)
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT id, to_address FROM email_outbox WHERE order_id = $1 AND kind = $2`,
		r.id, order.ReminderConfirmation).Scan(&emailID, &clientTo))

	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "dev", "SMTP_HOST": "smtp.example.com", "SMTP_USERNAME": "ordem",
			"SMTP_PASSWORD": "smtp-password-never-logged"}[k]
		return v, ok
	})
	require.NoError(t, err)
	var buf bytes.Buffer
	acts := &activities.Activities{Pool: f.Pool, Mail: mail.New(cfg, slog.New(slog.NewTextHandler(&buf, nil)))}
	env := deliveryEnv(acts)
	env.ExecuteWorkflow(delivery.WorkflowEmail, delivery.Input{ID: emailID})
	require.NoError(t, env.GetWorkflowError())
	var res delivery.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "logged", res.Status)
	out := buf.String()
	require.Contains(t, out, clientTo)
	require.Contains(t, out, "Confirme seu pedido")
	require.NotContains(t, out, "smtp-password-never-logged")
	var status string
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT status FROM email_outbox WHERE id = $1`, emailID).Scan(&status))
	require.Equal(t, "logged", status)
}

// Ensure a delivery whose endpoint was disabled after the event is not
// sent: it fails at once with the reason, and nothing reaches the URL.
func TestWebhookDisabledEndpointNotSent(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	rc := newReceiver(t)
	ep := addEndpoint(t, f, rc.srv.URL, hookSecret, true, webhook.PayoutPaid)
	id := enqueuePayout(t, f, ep, "payout:9:paid")
	_, err := f.Pool.Exec(context.Background(), `UPDATE webhook_endpoints SET active = false WHERE id = $1`, ep)
	require.NoError(t, err)

	env := deliveryEnv(deliveryActs(f))
	env.ExecuteWorkflow(delivery.WorkflowWebhook, delivery.Input{ID: id})
	require.NoError(t, env.GetWorkflowError())
	var res delivery.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, delivery.Result{Status: "failed", Skipped: true}, res)
	requests, _, _ := rc.counts()
	require.Zero(t, requests)
	var lastError string
	require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT last_error FROM webhook_deliveries WHERE id = $1`, id).Scan(&lastError))
	require.Contains(t, lastError, "disabled")
	require.Empty(t, attemptLog(t, f, id))
}

// flakySender fails its first n sends.
type flakySender struct {
	mu    sync.Mutex
	fails int
	sent  []mail.Message
}

func (s *flakySender) Send(_ context.Context, m mail.Message) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return false, io.ErrUnexpectedEOF
	}
	s.sent = append(s.sent, m)
	return false, nil
}

// Ensure an e-mail the SMTP server refuses twice is retried and sent
// once, its row marked sent with 3 attempts and no error left.
func TestWebhookEmailRetried(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	r := newRun(t, f)
	r.toDelivered("200.00", "100.00")
	ctx := context.Background()
	var id int64
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT id FROM email_outbox WHERE order_id = $1 AND kind = 'order_delivered'`, r.id).Scan(&id))
	s := &flakySender{fails: 2}
	env := deliveryEnv(&activities.Activities{Pool: f.Pool, Mail: s})
	env.ExecuteWorkflow(delivery.WorkflowEmail, delivery.Input{ID: id, Retry: delivery.Retry{InitialInterval: 50 * time.Millisecond}})
	require.NoError(t, env.GetWorkflowError())
	var res delivery.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, delivery.Result{Status: "sent", Attempts: 3}, res)
	require.Len(t, s.sent, 1)
	require.Equal(t, "[Ordem] Serviço entregue", s.sent[0].Subject)
	var (
		status, lastError string
		attempts          int
	)
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT status, attempts, last_error FROM email_outbox WHERE id = $1`, id).Scan(
		&status, &attempts, &lastError))
	require.Equal(t, "sent", status)
	require.Equal(t, 3, attempts)
	require.Empty(t, lastError)
}

// Ensure an e-mail that carries a password reset code keeps it only
// while it waits: once sent, the outbox row no longer holds the code.
func TestEmailWithResetCodeScrubbedOnceSent(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	ctx := context.Background()
	const code = "reset-code-0123456789abcdef"
	var id int64
	require.NoError(t, f.Pool.QueryRow(ctx, `
		INSERT INTO email_outbox (user_id, to_address, kind, subject, body, created_at, updated_at)
		VALUES ($1, 'c@example.com', 'password_reset', 'Redefinir senha', 'Seu código: `+code+`', now(), now())
		RETURNING id`, f.Client).Scan(&id))
	s := &flakySender{}
	env := deliveryEnv(&activities.Activities{Pool: f.Pool, Mail: s})
	env.ExecuteWorkflow(delivery.WorkflowEmail, delivery.Input{ID: id})
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, s.sent, 1)
	require.Contains(t, s.sent[0].Body, code, "the user gets the code")
	var row string
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT email_outbox::text FROM email_outbox WHERE id = $1`, id).Scan(&row))
	require.NotContains(t, row, code)
	require.Contains(t, row, "sent")
}

// Ensure a production worker (no WEBHOOK_ALLOW_PRIVATE_TARGETS, https
// only) refuses a delivery to a loopback receiver that was saved before
// the check existed, without sending anything: the delivery fails at once
// naming the reason, with no attempt logged; and that an endpoint whose
// secret no configured key opens (SECRET_KEY changed without
// SECRET_KEY_PREVIOUS) is not sent either: retried unsent (the operator
// may still set SECRET_KEY_PREVIOUS) until it expires, then failed with
// the reason.
func TestWebhookDeliveryRefusesForbiddenTarget(t *testing.T) {
	t.Parallel()
	f := ordertest.New(t)
	rc := newReceiver(t)
	for _, c := range []struct {
		policy webhook.TargetPolicy
		want   string
	}{
		{webhook.TargetPolicy{AllowHTTP: true}, "loopback"},
		{webhook.TargetPolicy{AllowPrivate: true}, "https"},
	} {
		ep := addEndpoint(t, f, rc.srv.URL+"/hooks", hookSecret, true, webhook.PayoutPaid)
		id := enqueuePayout(t, f, ep, "payout:forbidden:"+c.want)
		env := deliveryEnv(&activities.Activities{Pool: f.Pool, WebhookSecrets: hookKeys, WebhookTargets: c.policy})
		env.ExecuteWorkflow(delivery.WorkflowWebhook, delivery.Input{ID: id})
		require.NoError(t, env.GetWorkflowError())
		var res delivery.Result
		require.NoError(t, env.GetWorkflowResult(&res))
		require.Equal(t, delivery.Result{Status: "failed", Skipped: true}, res)
		var lastError string
		require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT last_error FROM webhook_deliveries WHERE id = $1`, id).Scan(&lastError))
		require.Contains(t, lastError, c.want)
		require.Empty(t, attemptLog(t, f, id))
	}

	ep := addEndpoint(t, f, rc.srv.URL+"/hooks", hookSecret, true, webhook.PayoutPaid)
	id := enqueuePayout(t, f, ep, "payout:rotated-away")
	other, err := webhook.NewKeyring("a-key-that-never-sealed-anything-0123456789", "")
	require.NoError(t, err)
	env := deliveryEnv(&activities.Activities{Pool: f.Pool, WebhookSecrets: other, WebhookTargets: localReceivers})
	env.ExecuteWorkflow(delivery.WorkflowWebhook, delivery.Input{ID: id,
		Retry: delivery.Retry{InitialInterval: time.Second, Expiration: 5 * time.Second}})
	require.NoError(t, env.GetWorkflowError())
	var lastError string
	require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT last_error FROM webhook_deliveries WHERE id = $1`, id).Scan(&lastError))
	require.Contains(t, lastError, "SECRET_KEY_PREVIOUS")
	require.Empty(t, attemptLog(t, f, id))
	requests, _, _ := rc.counts()
	require.Zero(t, requests)
}

package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/api"
	hook "github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/delivery"
)

// webhookCounts is what a refused request must leave alone.
func webhookCounts(t *testing.T) [2]int {
	t.Helper()
	var n [2]int
	require.NoError(t, env.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM webhook_endpoints), (SELECT count(*) FROM audit_log WHERE target_type LIKE 'webhook%')`).Scan(&n[0], &n[1]))
	return n
}

func createHook(t *testing.T, body map[string]any) api.WebhookCreated {
	t.Helper()
	if _, ok := body["reason"]; !ok {
		body["reason"] = "test endpoint"
	}
	res := env.call(t, "POST", "/v1/admin/webhooks", env.admin.Token, body)
	require.Equal(t, 201, res.Status, string(res.Body))
	var w api.WebhookCreated
	res.json(t, &w)
	return w
}

// Ensure admins create, read, list, change and delete webhook endpoints;
// the secret is shown once; every change is audited without the secret;
// bad input is refused with the domain errors and changes nothing; other
// roles are forbidden.
func TestWebhookAdminAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	before := webhookCounts(t)
	for _, tc := range []struct {
		body   any
		status int
		field  string
	}{
		{map[string]any{"url": "ftp://example.com/x", "event_types": []string{"order.created"}}, 422, "url"},
		{map[string]any{"url": "https://user:pw@example.com/x", "event_types": []string{"order.created"}}, 422, "url"},
		{map[string]any{"event_types": []string{"order.created"}}, 422, "url"},
		{map[string]any{"url": "https://example.com/x", "event_types": []string{}}, 422, "event_types"},
		{map[string]any{"url": "https://example.com/x", "event_types": []string{"order.exploded"}}, 422, "event_types"},
		{map[string]any{"url": "https://example.com/x", "event_types": []string{"order.created"}, "description": strings.Repeat("x", 501)}, 422, "description"},
		{map[string]any{"url": "https://example.com/x", "event_types": []string{"order.created"}, "secret": "mine"}, 400, ""},
		{`{"url": 5}`, 400, ""},
		{`not json`, 400, ""},
	} {
		if m, ok := tc.body.(map[string]any); ok {
			m["reason"] = "integração" // so that the field under test is the one refused
		}
		res := env.call(t, "POST", "/v1/admin/webhooks", env.admin.Token, tc.body)
		require.Equal(t, tc.status, res.Status, "%v: %s", tc.body, res.Body)
		if tc.field != "" {
			require.Equal(t, "validation_failed", res.errorCode())
			var e api.ErrorBody
			res.json(t, &e)
			require.Contains(t, e.Error.Fields, tc.field)
		}
	}
	require.Equal(t, before, webhookCounts(t), "refusals change nothing")

	w := createHook(t, map[string]any{"url": "https://hooks.example.com/ordem", "description": "ERP",
		"event_types": []string{"order.completed", "order.created", "order.created"}, "reason": "integração ERP"})
	require.True(t, strings.HasPrefix(w.Secret, "whsec_"))
	require.Equal(t, []string{"order.created", "order.completed"}, w.EventTypes, "deduplicated, in catalogue order")
	require.True(t, w.Active)
	require.Equal(t, env.admin.ID, w.CreatedBy)

	res := env.call(t, "GET", "/v1/admin/webhooks/"+w.ID, env.admin.Token, nil)
	require.Equal(t, 200, res.Status)
	require.NotContains(t, string(res.Body), "secret", "the secret is shown only at creation")
	require.NotContains(t, string(res.Body), w.Secret)
	res = env.call(t, "GET", "/v1/admin/webhooks", env.admin.Token, nil)
	require.Equal(t, 200, res.Status)
	require.NotContains(t, string(res.Body), w.Secret)
	var list struct{ Items []api.Webhook }
	res.json(t, &list)
	found := false
	for _, it := range list.Items {
		found = found || it.ID == w.ID
	}
	require.True(t, found)

	var action, reason, data string
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT action, reason, data::text FROM audit_log
		WHERE target_type = 'webhook' AND target_id = $1 ORDER BY id DESC LIMIT 1`, w.ID).Scan(&action, &reason, &data))
	require.Equal(t, "create_webhook", action)
	require.Equal(t, "integração ERP", reason)
	require.Contains(t, data, "https://hooks.example.com/ordem")
	require.NotContains(t, data, w.Secret)

	// Changes: validated; a refused change changes nothing.
	mid := webhookCounts(t)
	for _, body := range []any{map[string]any{}, map[string]any{"url": "https://"}, map[string]any{"event_types": []string{"x"}},
		map[string]any{"active": "no"}} {
		res := env.call(t, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, body)
		require.Contains(t, []int{400, 422}, res.Status, "%v: %s", body, res.Body)
	}
	require.Equal(t, mid, webhookCounts(t))
	res = env.call(t, "GET", "/v1/admin/webhooks/"+w.ID, env.admin.Token, nil)
	var same api.Webhook
	res.json(t, &same)
	require.Equal(t, w.Webhook, same)

	res = env.call(t, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, map[string]any{"active": false,
		"event_types": []string{"payout.paid"}, "reason": "pausa"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var changed api.Webhook
	res.json(t, &changed)
	require.False(t, changed.Active)
	require.Equal(t, []string{"payout.paid"}, changed.EventTypes)
	require.Equal(t, w.URL, changed.URL)
	require.Equal(t, "ERP", changed.Description)
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT action FROM audit_log
		WHERE target_type = 'webhook' AND target_id = $1 ORDER BY id DESC LIMIT 1`, w.ID).Scan(&action))
	require.Equal(t, "update_webhook", action)

	// A new secret, shown once, audited without it.
	res = env.call(t, "POST", "/v1/admin/webhooks/"+w.ID+"/rotate-secret", env.admin.Token, map[string]string{"reason": "vazou"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var rotated api.WebhookCreated
	res.json(t, &rotated)
	require.True(t, strings.HasPrefix(rotated.Secret, "whsec_"))
	require.NotEqual(t, w.Secret, rotated.Secret)
	require.Equal(t, w.ID, rotated.ID)
	kr, err := hook.NewKeyring(env.cfg.SecretKey, env.cfg.SecretKeyPrevious)
	require.NoError(t, err)
	var wid int64
	fmt.Sscan(w.ID, &wid)
	stored, err := hook.LoadSecret(ctx, env.pool, kr, wid)
	require.NoError(t, err)
	require.Equal(t, rotated.Secret, stored, "the new secret is the one stored (sealed)")
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT action, reason, data::text FROM audit_log
		WHERE target_type = 'webhook' AND target_id = $1 ORDER BY id DESC LIMIT 1`, w.ID).Scan(&action, &reason, &data))
	require.Equal(t, "rotate_webhook_secret", action)
	require.Equal(t, "vazou", reason)
	require.NotContains(t, data, rotated.Secret)
	res = env.call(t, "GET", "/v1/admin/webhooks/"+w.ID, env.admin.Token, nil)
	require.NotContains(t, string(res.Body), rotated.Secret)

	// Authorization: admins only.
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	routes := [][2]string{{"POST", "/v1/admin/webhooks"}, {"GET", "/v1/admin/webhooks"}, {"GET", "/v1/admin/webhooks/" + w.ID},
		{"PATCH", "/v1/admin/webhooks/" + w.ID}, {"DELETE", "/v1/admin/webhooks/" + w.ID},
		{"POST", "/v1/admin/webhooks/" + w.ID + "/rotate-secret"},
		{"GET", "/v1/admin/webhooks/" + w.ID + "/deliveries"}, {"GET", "/v1/admin/webhook-deliveries/1"},
		{"POST", "/v1/admin/webhook-deliveries/1/redeliver"}}
	for _, r := range routes {
		for _, s := range []session{client, provider} {
			res := env.call(t, r[0], r[1], s.Token, map[string]any{"active": true})
			require.Equal(t, 403, res.Status, "%s %s as %s", r[0], r[1], s.Email)
			require.Equal(t, "forbidden", res.errorCode())
		}
		require.Equal(t, 401, env.call(t, r[0], r[1], "", nil).Status)
	}
	require.Equal(t, mid[0], webhookCounts(t)[0])

	for _, path := range []string{"/v1/admin/webhooks/999999999", "/v1/admin/webhooks/abc"} {
		require.Equal(t, 404, env.call(t, "GET", path, env.admin.Token, nil).Status)
		require.Equal(t, 404, env.call(t, "PATCH", path, env.admin.Token, map[string]any{"active": true, "reason": "x"}).Status)
		require.Equal(t, 404, env.call(t, "DELETE", path+"?reason=x", env.admin.Token, nil).Status)
		require.Equal(t, 404, env.call(t, "POST", path+"/rotate-secret", env.admin.Token, map[string]string{"reason": "x"}).Status)
	}
	require.Equal(t, 404, env.call(t, "GET", "/v1/admin/webhook-deliveries/999999999", env.admin.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "POST", "/v1/admin/webhook-deliveries/999999999/redeliver", env.admin.Token, map[string]string{"reason": "x"}).Status)
	require.Equal(t, 422, env.call(t, "GET", "/v1/admin/webhooks/"+w.ID+"/deliveries?status=lost", env.admin.Token, nil).Status)

	// Delete: gone from reads, the log stays, audited.
	res = env.call(t, "DELETE", "/v1/admin/webhooks/"+w.ID+"?reason=fim", env.admin.Token, nil)
	require.Equal(t, 204, res.Status, string(res.Body))
	require.Equal(t, 404, env.call(t, "GET", "/v1/admin/webhooks/"+w.ID, env.admin.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "DELETE", "/v1/admin/webhooks/"+w.ID+"?reason=fim", env.admin.Token, nil).Status)
	require.Equal(t, 200, env.call(t, "GET", "/v1/admin/webhooks/"+w.ID+"/deliveries", env.admin.Token, nil).Status)
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT action, reason FROM audit_log
		WHERE target_type = 'webhook' AND target_id = $1 ORDER BY id DESC LIMIT 1`, w.ID).Scan(&action, &reason))
	require.Equal(t, "delete_webhook", action)
	require.Equal(t, "fim", reason)
}

// hookReceiver collects verified deliveries.
type hookReceiver struct {
	mu     sync.Mutex
	secret string
	got    []hook.Envelope
	bad    int
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if hook.Verify(h.secret, r.Header.Get(hook.HeaderTimestamp), body, r.Header.Get(hook.HeaderSignature),
			hook.DefaultTolerance) != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e hook.Envelope
		if json.Unmarshal(body, &e) != nil || e.ID != r.Header.Get(hook.HeaderID) {
			h.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.got = append(h.got, e)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// of returns the events received whose data matches key=value.
func (h *hookReceiver) of(key, value string) []hook.Envelope {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hook.Envelope
	for _, e := range h.got {
		if e.Data[key] == value {
			out = append(out, e)
		}
	}
	return out
}

// Ensure an order's transitions through the real stack (API, Temporal
// workflow, activities, outbox, dispatcher, delivery workflow) reach a
// subscribed endpoint as exactly the expected signed events, once each,
// with the order id and amounts as strings; a paid payout sends
// payout.paid; the delivery log shows them; a redelivery sends the same
// event again.
func TestWebhookDeliveriesThroughStack(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d := &worker.Dispatcher{Pool: env.pool, Temporal: env.temporal, TaskQueue: env.cfg.TemporalTaskQueue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: 100 * time.Millisecond,
		Retry: delivery.Retry{InitialInterval: 100 * time.Millisecond, Expiration: time.Minute}}
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	h := newHookReceiver(t)
	w := createHook(t, map[string]any{"url": h.srv.URL + "/ordem", "event_types": hook.EventTypes})
	h.mu.Lock()
	h.secret = w.Secret
	h.mu.Unlock()
	t.Cleanup(func() { env.call(t, "DELETE", "/v1/admin/webhooks/"+w.ID+"?reason=cleanup", env.admin.Token, nil) })

	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	env.fund(t, client, "500.00")
	o := env.newOrder(t, client, provider, "150.00")
	for _, step := range []struct {
		who    session
		action string
	}{{provider, "accept"}, {provider, "deliver"}, {client, "confirm"}} {
		var body any = map[string]any{}
		if step.action == "accept" {
			body = nil // env.act accepts the proposal the provider sees
		}
		res := env.act(t, step.who, o.ID, step.action, body)
		require.Equal(t, 200, res.Status, "%s: %s", step.action, res.Body)
	}
	want := []string{hook.OrderCreated, hook.OrderAccepted, hook.OrderDelivered, hook.OrderCompleted}
	require.Eventually(t, func() bool { return len(h.of("order_id", o.ID)) >= len(want) }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // a duplicate, if any, would arrive now
	got := h.of("order_id", o.ID)
	// Deliveries run concurrently, so they may arrive in any order; the
	// event's created_at (the transition's time) orders them.
	sort.SliceStable(got, func(i, j int) bool { return got[i].CreatedAt.Before(got[j].CreatedAt) })
	var types []string
	ids := map[string]bool{}
	for _, e := range got {
		types = append(types, e.Type)
		ids[e.ID] = true
		require.Equal(t, "150.00", e.Data["amount"], e.Type)
		require.Equal(t, client.ID, e.Data["client_id"])
		require.Equal(t, provider.ID, e.Data["provider_id"])
	}
	require.Equal(t, want, types, "each transition once, in order")
	require.Len(t, ids, len(want))
	require.Equal(t, "142.50", got[3].Data["provider_share"])
	require.Equal(t, "completed", got[3].Data["status"])
	h.mu.Lock()
	require.Zero(t, h.bad, "every delivery verifies")
	h.mu.Unlock()

	// The delivery log.
	res := env.call(t, "GET", "/v1/admin/webhooks/"+w.ID+"/deliveries?event_type=order.completed&limit=100", env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var page api.Page[api.WebhookDelivery]
	res.json(t, &page)
	var completed *api.WebhookDelivery
	for i, dl := range page.Items {
		if dl.OrderID == o.ID {
			completed = &page.Items[i]
		}
	}
	require.NotNil(t, completed)
	require.Eventually(t, func() bool {
		res := env.call(t, "GET", "/v1/admin/webhook-deliveries/"+completed.ID, env.admin.Token, nil)
		var dl api.WebhookDelivery
		res.json(t, &dl)
		return dl.Status == "succeeded"
	}, 10*time.Second, 50*time.Millisecond)
	res = env.call(t, "GET", "/v1/admin/webhook-deliveries/"+completed.ID, env.admin.Token, nil)
	var one api.WebhookDelivery
	res.json(t, &one)
	require.Equal(t, 1, one.Attempts)
	require.Len(t, one.AttemptLog, 1)
	require.Equal(t, 204, *one.AttemptLog[0].ResponseCode)
	require.Equal(t, got[3].ID, one.EventID)

	// Redeliver: same event id and body, one more attempt, audited.
	res = env.call(t, "POST", "/v1/admin/webhook-deliveries/"+one.ID+"/redeliver", env.admin.Token, map[string]string{"reason": "ERP perdeu"})
	require.Equal(t, 202, res.Status, string(res.Body))
	require.Eventually(t, func() bool { return len(h.of("order_id", o.ID)) == len(want)+1 }, 30*time.Second, 50*time.Millisecond)
	again := h.of("order_id", o.ID)[len(want)]
	require.Equal(t, got[3].ID, again.ID)
	require.Equal(t, got[3].Data, again.Data)
	require.Eventually(t, func() bool {
		res := env.call(t, "GET", "/v1/admin/webhook-deliveries/"+one.ID, env.admin.Token, nil)
		res.json(t, &one)
		return one.Status == "succeeded" && len(one.AttemptLog) == 2
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 2, one.Attempts)
	var action string
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT action FROM audit_log
		WHERE target_type = 'webhook_delivery' AND target_id = $1 ORDER BY id DESC LIMIT 1`, one.ID).Scan(&action))
	require.Equal(t, "redeliver_webhook", action)

	// A paid payout.
	env.fund(t, provider, "80.00")
	res = env.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "80.00"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var pr api.PayoutResult
	res.json(t, &pr)
	res = env.call(t, "POST", "/v1/admin/payouts/"+pr.Payout.ID+"/mark-paid", env.admin.Token, map[string]string{"gateway_ref": "E2E-1", "reason": "PIX enviado"})
	require.Equal(t, 200, res.Status, string(res.Body))
	require.Eventually(t, func() bool { return len(h.of("payout_id", pr.Payout.ID)) == 1 }, 30*time.Second, 50*time.Millisecond)
	paid := h.of("payout_id", pr.Payout.ID)[0]
	require.Equal(t, hook.PayoutPaid, paid.Type)
	require.Equal(t, "80.00", paid.Data["amount"])
	require.Equal(t, provider.ID, paid.Data["user_id"])
	require.Equal(t, "E2E-1", paid.Data["gateway_ref"])

	// A disabled endpoint gets nothing new, and its deliveries are not
	// redelivered.
	res = env.call(t, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, map[string]any{"active": false, "reason": "pausa"})
	require.Equal(t, 200, res.Status)
	res = env.call(t, "POST", "/v1/admin/webhook-deliveries/"+one.ID+"/redeliver", env.admin.Token, map[string]string{"reason": "de novo"})
	require.Equal(t, 409, res.Status, string(res.Body))
	require.Equal(t, "invalid_transition", res.errorCode())
	o2 := env.newOrder(t, client, provider, "10.00")
	time.Sleep(500 * time.Millisecond)
	require.Empty(t, h.of("order_id", o2.ID))
}

// Ensure a repeated dispatch is harmless: a delivery dispatched again as
// if the worker died before recording the first dispatch, and a new run
// of its finished workflow, reach the receiver once.
func TestWebhookDoubleDispatch(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	h := newHookReceiver(t)
	w := createHook(t, map[string]any{"url": h.srv.URL, "event_types": []string{hook.PayoutPaid}})
	h.mu.Lock()
	h.secret = w.Secret
	h.mu.Unlock()
	t.Cleanup(func() { env.call(t, "DELETE", "/v1/admin/webhooks/"+w.ID+"?reason=cleanup", env.admin.Token, nil) })

	key := "double-dispatch-" + time.Now().Format(time.RFC3339Nano)
	n, err := hook.Enqueue(ctx, env.pool, hook.Event{Key: key, Type: hook.PayoutPaid, At: time.Now(),
		Data: map[string]any{"payout_id": key, "amount": "1.00"}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	var id int64
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT id FROM webhook_deliveries WHERE endpoint_id = $1`, w.ID).Scan(&id))

	d := &worker.Dispatcher{Pool: env.pool, Temporal: env.temporal, TaskQueue: env.cfg.TemporalTaskQueue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retry:  delivery.Retry{InitialInterval: 100 * time.Millisecond, Expiration: time.Minute}}
	_, err = d.DispatchOnce(ctx)
	require.NoError(t, err)
	_, err = env.pool.Exec(ctx, `UPDATE webhook_deliveries SET dispatched_at = NULL WHERE id = $1 AND status = 'pending'`, id)
	require.NoError(t, err)
	_, err = d.DispatchOnce(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(h.of("payout_id", key)) == 1 }, 30*time.Second, 50*time.Millisecond)

	var first delivery.Result
	require.NoError(t, env.temporal.GetWorkflow(ctx, delivery.WebhookWorkflowID(id), "").Get(ctx, &first))
	require.Equal(t, delivery.Result{Status: "succeeded", Attempts: 1, ResponseCode: 204}, first)

	// A new run of the finished workflow (reuse policy allow-duplicate)
	// finds the delivery done and sends nothing.
	run, err := env.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: delivery.WebhookWorkflowID(id),
		TaskQueue: env.cfg.TemporalTaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING},
		delivery.WorkflowWebhook, delivery.Input{ID: id})
	require.NoError(t, err)
	var res delivery.Result
	require.NoError(t, run.Get(ctx, &res))
	require.True(t, res.Skipped)
	require.Equal(t, "succeeded", res.Status)
	time.Sleep(200 * time.Millisecond)
	require.Len(t, h.of("payout_id", key), 1)
	var attempts int
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1`, id).Scan(&attempts))
	require.Equal(t, 1, attempts)
}

// endpointRowText is an endpoint's whole row as Postgres prints it, plus
// its sealed column's raw bytes.
func endpointRowText(t *testing.T, id string) string {
	t.Helper()
	var text string
	require.NoError(t, env.pool.QueryRow(context.Background(), `
		SELECT e::text || encode(coalesce(e.secret_ciphertext, ''), 'escape') FROM webhook_endpoints e WHERE e.id = $1`,
		id).Scan(&text))
	return text
}

// Ensure webhook signing secrets are not stored in clear (issue 16): the
// endpoint's row, read whole, holds neither the secret shown at creation
// nor the one a rotation shows, in any form (with or without its whsec_
// prefix); it holds a sealed value under the current key's id instead;
// the audit log holds no secret either.
func TestWebhookSecretsSealedAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	w := createHook(t, map[string]any{"url": "https://hooks.example.com/sealed", "event_types": []string{hook.OrderCreated}})
	res := env.call(t, "POST", "/v1/admin/webhooks/"+w.ID+"/rotate-secret", env.admin.Token, map[string]any{"reason": "rotation drill"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var rotated api.WebhookCreated
	res.json(t, &rotated)
	kr, err := hook.NewKeyring(env.cfg.SecretKey, env.cfg.SecretKeyPrevious)
	require.NoError(t, err)

	row := endpointRowText(t, w.ID)
	var audit string
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT coalesce(string_agg(a::text, ''), '') FROM audit_log a
		WHERE target_type = 'webhook' AND target_id = $1`, w.ID).Scan(&audit))
	for _, secret := range []string{w.Secret, rotated.Secret} {
		for _, form := range []string{secret, strings.TrimPrefix(secret, "whsec_"), strings.ToUpper(strings.TrimPrefix(secret, "whsec_"))} {
			require.NotContains(t, row, form)
			require.NotContains(t, audit, form)
		}
	}
	var (
		keyID  string
		legacy *string
		sealed []byte
	)
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT secret_key_id, secret_legacy, secret_ciphertext FROM webhook_endpoints WHERE id = $1`,
		w.ID).Scan(&keyID, &legacy, &sealed))
	require.Equal(t, kr.KeyID(), keyID)
	require.Nil(t, legacy)
	require.Len(t, sealed, 12+len(rotated.Secret)+16)
}

// Ensure webhook URLs pointing at refused addresses are refused at save
// time with 422 webhook_target_forbidden naming the url field, in every
// spelling, on create and on change, and that nothing changes: with
// WEBHOOK_ALLOW_PRIVATE_TARGETS off (production) loopback and private
// addresses too; with it on (this package's stack), still link-local,
// cloud metadata and unspecified ones.
func TestWebhookTargetForbidden(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	strictCfg := *env.cfg
	strictCfg.WebhookAllowPrivateTargets = false
	strictCfg.Env = "production"
	strict := (&api.Server{Pool: env.pool, Temporal: env.temporal, Config: &strictCfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Storage: env.store}).App()

	never := []string{"https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/", "https://[::ffff:169.254.169.254]/",
		"https://2852039166/", "https://0.0.0.0/", "https://[::]/", "https://[fe80::1]/", "https://224.0.0.1/"}
	private := []string{"https://127.0.0.1/", "https://127.1/", "https://2130706433/", "https://0x7f.1/", "https://0177.0.0.1/",
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://localhost/", "https://10.0.0.1/", "https://172.16.0.1/",
		"https://192.168.0.1/", "https://100.64.0.1/", "https://[fd00::1]/"}
	w := createHook(t, map[string]any{"url": "https://hooks.example.com/targets", "event_types": []string{hook.OrderCreated}})
	before := webhookCounts(t)
	row := endpointRowText(t, w.ID)
	check := func(url string, res response) {
		t.Helper()
		require.Equal(t, 422, res.Status, "%s: %s", url, res.Body)
		require.Equal(t, "webhook_target_forbidden", res.errorCode(), url)
		var e api.ErrorBody
		res.json(t, &e)
		require.Contains(t, e.Error.Fields, "url")
	}
	for _, url := range append(append([]string{}, never...), private...) {
		body := map[string]any{"url": url, "event_types": []string{hook.OrderCreated}, "reason": "new receiver"}
		check(url, callApp(t, strict, "POST", "/v1/admin/webhooks", env.admin.Token, body))
		check(url, callApp(t, strict, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, map[string]any{"url": url, "reason": "move"}))
	}
	for _, url := range never {
		res := env.call(t, "POST", "/v1/admin/webhooks", env.admin.Token, map[string]any{"url": url, "event_types": []string{hook.OrderCreated}, "reason": "new receiver"})
		check(url, res)
		require.Contains(t, string(res.Body), "never allowed")
	}
	require.Equal(t, before, webhookCounts(t), "refusals change nothing")
	require.Equal(t, row, endpointRowText(t, w.ID))

	// Outside dev, http is refused; a public https URL is accepted.
	res := callApp(t, strict, "POST", "/v1/admin/webhooks", env.admin.Token, map[string]any{"url": "http://hooks.example.com/x",
		"event_types": []string{hook.OrderCreated}, "reason": "new receiver"})
	require.Equal(t, 422, res.Status)
	require.Equal(t, "validation_failed", res.errorCode())
	res = callApp(t, strict, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, map[string]any{"url": "https://8.8.8.8/hooks", "reason": "move"})
	require.Equal(t, 200, res.Status, string(res.Body))
	// With the allow flag, this stack's, a loopback receiver is fine.
	res = env.call(t, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, map[string]any{"url": "http://127.0.0.1:9/hooks", "reason": "move"})
	require.Equal(t, 200, res.Status, string(res.Body))
}

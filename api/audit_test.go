package api_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/sysconfig"
)

// auditRows counts the audit log, which a refused admin action must leave
// alone.
func auditRows(t *testing.T) int {
	t.Helper()
	return count(t, `SELECT count(*) FROM audit_log`)
}

// Ensure every admin action that changes state refuses a missing or blank
// reason with 422 reason_required naming the field, and changes nothing:
// no audit row, no config change, no deposit, no deletion, no order
// transition, no webhook.
func TestAdminActionsRequireReason(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	env.fund(t, client, "100.00")
	o := env.newOrder(t, client, provider, "50.00")
	w := createHook(t, map[string]any{"url": "https://hooks.example.com/reasons", "event_types": []string{"order.created"}})
	fee := configValue(t, env, sysconfig.PlatformFeePercentage)
	deposits := count(t, `SELECT count(*) FROM deposits`)
	hooks := webhookCounts(t)
	before := auditRows(t)

	type call struct {
		name, method, path string
		// body without a reason; each case is also sent with a blank one.
		body map[string]any
	}
	calls := []call{
		{"config", "PUT", "/v1/admin/config/" + sysconfig.PlatformFeePercentage, map[string]any{"value": "7"}},
		{"delete user", "DELETE", "/v1/admin/users/" + client.ID, map[string]any{}},
		{"delete user with orders", "DELETE", "/v1/admin/users/" + provider.ID, map[string]any{"cancel_open_orders": true}},
		{"deposit", "POST", "/v1/admin/deposits", map[string]any{"user_id": client.ID, "amount": "10.00", "reference": uniqueRef("r")}},
		{"mark paid", "POST", "/v1/admin/payouts/1/mark-paid", map[string]any{"gateway_ref": "E2E"}},
		{"mark failed", "POST", "/v1/admin/payouts/1/mark-failed", map[string]any{}},
		{"create webhook", "POST", "/v1/admin/webhooks", map[string]any{"url": "https://hooks.example.com/x", "event_types": []string{"order.created"}}},
		{"update webhook", "PATCH", "/v1/admin/webhooks/" + w.ID, map[string]any{"active": false}},
		{"rotate secret", "POST", "/v1/admin/webhooks/" + w.ID + "/rotate-secret", map[string]any{}},
		{"redeliver", "POST", "/v1/admin/webhook-deliveries/1/redeliver", map[string]any{}},
		{"admin cancel", "POST", "/v1/orders/" + o.ID + "/cancel", map[string]any{}},
		{"resolve", "POST", "/v1/admin/orders/" + o.ID + "/resolve", map[string]any{"refund_amount": "10.00"}},
		{"extend", "POST", "/v1/admin/orders/" + o.ID + "/extend-deadline", map[string]any{"hours": "24"}},
	}
	for _, c := range calls {
		for _, reason := range []any{nil, "", "   "} {
			body := map[string]any{}
			for k, v := range c.body {
				body[k] = v
			}
			if reason != nil {
				body["reason"] = reason
			}
			res := env.call(t, c.method, c.path, env.admin.Token, body)
			require.Equal(t, 422, res.Status, "%s (reason %v): %s", c.name, reason, res.Body)
			var e api.ErrorBody
			res.json(t, &e)
			require.Equal(t, "reason_required", e.Error.Code, c.name)
			require.Contains(t, e.Error.Fields, "reason", c.name)
		}
	}
	// A DELETE's reason may come in the query string instead: blank there
	// is the same refusal.
	for _, path := range []string{"/v1/admin/users/" + client.ID + "?reason=%20", "/v1/admin/webhooks/" + w.ID, "/v1/admin/webhooks/" + w.ID + "?reason="} {
		res := env.call(t, "DELETE", path, env.admin.Token, nil)
		require.Equal(t, 422, res.Status, "%s: %s", path, res.Body)
		require.Equal(t, "reason_required", res.errorCode(), path)
	}
	// A body without a reason (the payout and order actions' optional
	// bodies) is a missing reason too.
	res := env.call(t, "POST", "/v1/admin/payouts/1/mark-paid", env.admin.Token, nil)
	require.Equal(t, "reason_required", res.errorCode(), string(res.Body))
	// A reason that is not one line is invalid, not missing.
	res = env.call(t, "POST", "/v1/admin/orders/"+o.ID+"/extend-deadline", env.admin.Token, map[string]any{"hours": "24", "reason": "a\nb"})
	require.Equal(t, 422, res.Status)
	require.Equal(t, "validation_failed", res.errorCode())
	// A client's own cancel needs none (spec: only admin actions do).
	require.Equal(t, "negotiating", orderOf(t, client, o.ID).Status)

	require.Equal(t, before, auditRows(t), "refusals write no audit row")
	require.Equal(t, fee, configValue(t, env, sysconfig.PlatformFeePercentage))
	require.Equal(t, deposits, count(t, `SELECT count(*) FROM deposits`))
	require.Equal(t, hooks, webhookCounts(t))
	require.Equal(t, 0, count(t, `SELECT count(*) FROM users WHERE id IN ($1, $2) AND deleted_at IS NOT NULL`, client.uid(), provider.uid()))
	got := orderOf(t, client, o.ID)
	require.Equal(t, "negotiating", got.Status)
	require.Equal(t, o.Version, got.Version)
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", client.Token, nil).Status)
	require.Equal(t, "100.00/0.00", env.wallet(t, client))
}

// auditPage reads one page of GET /v1/admin/audit with query q.
func auditPage(t *testing.T, q url.Values) api.Page[api.AuditEntry] {
	t.Helper()
	res := env.call(t, "GET", "/v1/admin/audit?"+q.Encode(), env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var p api.Page[api.AuditEntry]
	res.json(t, &p)
	return p
}

// Ensure the audit log is readable by admins: each row names the actor,
// the action, the object, the reason, before/after where the action
// replaces something and the request id the API answered with; filters
// by actor, action, object and time range; cursor pages that neither skip
// nor repeat; bad filters refused; other roles refused.
func TestAuditLogRoute(t *testing.T) {
	skipShort(t)
	start := time.Now().Add(-time.Second)
	reqID := func(n int) string { return fmt.Sprintf("audit-test-%d-%d", rand.Int64(), n) }

	// Three actions on one endpoint, each with its own request id.
	ids := []string{reqID(1), reqID(2), reqID(3)}
	res := env.call(t, "POST", "/v1/admin/webhooks", env.admin.Token, map[string]any{"url": "https://hooks.example.com/audit",
		"event_types": []string{"order.created"}, "reason": "integração nova"}, "X-Request-Id", ids[0])
	require.Equal(t, 201, res.Status, string(res.Body))
	require.Equal(t, ids[0], res.Header.Get("X-Request-Id"))
	var w api.WebhookCreated
	res.json(t, &w)
	res = env.call(t, "PATCH", "/v1/admin/webhooks/"+w.ID, env.admin.Token, map[string]any{"active": false, "reason": "pausa"},
		"X-Request-Id", ids[1])
	require.Equal(t, 200, res.Status, string(res.Body))
	res = env.call(t, "DELETE", "/v1/admin/webhooks/"+w.ID+"?reason=fim", env.admin.Token, nil, "X-Request-Id", ids[2])
	require.Equal(t, 204, res.Status, string(res.Body))

	q := url.Values{"object_type": {"webhook"}, "object_id": {w.ID}}
	p := auditPage(t, q)
	require.Len(t, p.Items, 3)
	require.Empty(t, p.NextCursor)
	// Newest first.
	want := []struct{ action, reason, requestID string }{
		{"delete_webhook", "fim", ids[2]}, {"update_webhook", "pausa", ids[1]}, {"create_webhook", "integração nova", ids[0]}}
	for i, e := range p.Items {
		require.Equal(t, want[i].action, e.Action)
		require.Equal(t, want[i].reason, e.Reason)
		require.Equal(t, want[i].requestID, e.RequestID)
		require.Equal(t, env.admin.ID, *e.ActorID)
		require.Equal(t, "admin", e.ActorRole)
		require.Equal(t, "webhook", e.ObjectType)
		require.Equal(t, w.ID, e.ObjectID)
		require.NotContains(t, string(e.Data)+string(e.Before)+string(e.After), w.Secret, "never the secret")
	}
	var before, after map[string]any
	require.NoError(t, json.Unmarshal(p.Items[1].Before, &before))
	require.NoError(t, json.Unmarshal(p.Items[1].After, &after))
	require.Equal(t, true, before["active"])
	require.Equal(t, false, after["active"])
	require.Equal(t, "null", string(p.Items[2].Before), "a creation replaces nothing")

	// Filters: action, actor, time range.
	q.Set("action", "update_webhook")
	p = auditPage(t, q)
	require.Len(t, p.Items, 1)
	require.Equal(t, ids[1], p.Items[0].RequestID)
	q.Del("action")
	q.Set("actor_id", env.admin.ID)
	q.Set("from", start.UTC().Format(time.RFC3339Nano))
	q.Set("to", time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano))
	require.Len(t, auditPage(t, q).Items, 3)
	q.Set("to", start.UTC().Format(time.RFC3339Nano))
	q.Set("from", start.Add(-time.Hour).UTC().Format(time.RFC3339Nano))
	require.Empty(t, auditPage(t, q).Items, "nothing before the actions")
	other := env.newUser(t, "client")
	require.Empty(t, auditPage(t, url.Values{"actor_id": {other.ID}}).Items)

	// Pages of one: every row once, in order, then no cursor.
	q = url.Values{"object_type": {"webhook"}, "object_id": {w.ID}, "limit": {"1"}}
	var seen []string
	for range 5 {
		p := auditPage(t, q)
		for _, e := range p.Items {
			seen = append(seen, e.RequestID)
		}
		if p.NextCursor == "" {
			break
		}
		q.Set("cursor", p.NextCursor)
	}
	require.Equal(t, []string{ids[2], ids[1], ids[0]}, seen)

	// Other admin actions land there too: a config change with its old and
	// new value.
	cur := configValue(t, env, sysconfig.ConfirmationReminderHours)
	setConfig(t, env, sysconfig.ConfirmationReminderHours, cur, "auditoria: mesmo valor")
	p = auditPage(t, url.Values{"action": {"update_config"}, "object_type": {"system_config"},
		"object_id": {sysconfig.ConfirmationReminderHours}, "limit": {"1"}})
	require.Len(t, p.Items, 1)
	require.Equal(t, "auditoria: mesmo valor", p.Items[0].Reason)
	require.JSONEq(t, fmt.Sprintf(`{"value": %q}`, cur), string(p.Items[0].After))

	// Bad filters: 422 naming the field; a foreign cursor too.
	for query, field := range map[string]string{
		"actor_id=abc": "actor_id", "actor_id=05": "actor_id", "action=Delete-User": "action",
		"object_type=user%3B": "object_type", "object_id=5": "object_type", "from=yesterday": "from",
		"to=2026-13-01T00:00:00Z": "to", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z": "to",
		"limit=0": "limit", "limit=101": "limit", "cursor=bm9wZQ": "cursor",
	} {
		res := env.call(t, "GET", "/v1/admin/audit?"+query, env.admin.Token, nil)
		require.Equal(t, 422, res.Status, "%s: %s", query, res.Body)
		var e api.ErrorBody
		res.json(t, &e)
		require.Equal(t, "validation_failed", e.Error.Code, query)
		require.Contains(t, e.Error.Fields, field, query)
	}

	// Admins only.
	provider := env.newUser(t, "provider")
	for _, s := range []session{other, provider} {
		res := env.call(t, "GET", "/v1/admin/audit", s.Token, nil)
		require.Equal(t, 403, res.Status)
		require.Equal(t, "forbidden", res.errorCode())
	}
	require.Equal(t, 401, env.call(t, "GET", "/v1/admin/audit", "", nil).Status)
}

// Ensure an admin's order action, which the workflow's activity records,
// names the request that asked for it in its audit row, as the API's own
// audit rows do.
func TestAdminOrderActionAuditNamesRequest(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	env.fund(t, client, "100.00")
	o := env.newOrder(t, client, provider, "50.00")
	reqID := fmt.Sprintf("order-audit-%d", rand.Int64())
	res := env.call(t, "POST", "/v1/orders/"+o.ID+"/cancel", env.admin.Token, map[string]any{"reason": "pedido duplicado"},
		"X-Request-Id", reqID)
	require.Equal(t, 200, res.Status, string(res.Body))

	p := auditPage(t, url.Values{"object_type": {"order"}, "object_id": {o.ID}, "action": {"cancel_order"}})
	require.Len(t, p.Items, 1)
	require.Equal(t, reqID, p.Items[0].RequestID)
	require.Equal(t, "pedido duplicado", p.Items[0].Reason)
	require.Equal(t, env.admin.ID, *p.Items[0].ActorID)
	require.Equal(t, "100.00/0.00", env.wallet(t, client), "nothing was held in negotiation, nothing moved")
}

package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
)

// Ensure a user with open orders is not deleted: 409 has_open_orders lists
// each open order (id and status) and nothing changes; asked in the same
// request, every open order is admin-cancelled through its workflow with a
// full refund (contestation fee included) and the reason in its timeline,
// terminal orders are untouched, the user is deleted and the ledger still
// balances.
func TestDeleteUserWithOpenOrders(t *testing.T) {
	skipShort(t)
	p := newParties(t)
	open := []string{"negotiating", "in_progress", "delivered", "disputed"}
	ids := map[string]string{}
	for _, st := range open {
		ids[st] = p.orderIn(t, st)
	}
	completed := p.orderIn(t, "delivered")
	res := env.act(t, p.client, completed, "confirm", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	// Funded 5 × 120.00; the completed order paid 100.00; the others hold
	// 300.00 and the dispute's contestation fee.
	clientBefore, providerBefore, revenueBefore := env.wallet(t, p.client), env.wallet(t, p.provider), env.revenue(t)
	require.NotEqual(t, "500.00/0.00", clientBefore)
	auditBefore := auditRows(t)
	path := "/v1/admin/users/" + p.provider.ID

	// Refused: the open orders are listed, nothing changes.
	res = env.call(t, "DELETE", path, env.admin.Token, map[string]any{"reason": "fraude"})
	require.Equal(t, 409, res.Status, string(res.Body))
	var refusal struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				Orders []api.OpenOrder `json:"orders"`
				Total  int             `json:"total"`
			} `json:"details"`
		} `json:"error"`
	}
	res.json(t, &refusal)
	require.Equal(t, "has_open_orders", refusal.Error.Code)
	require.Equal(t, 4, refusal.Error.Details.Total)
	var listed []api.OpenOrder
	for _, st := range open {
		listed = append(listed, api.OpenOrder{ID: ids[st], Status: st})
	}
	require.Equal(t, listed, refusal.Error.Details.Orders, "oldest first, the completed order not among them")
	for _, st := range open {
		require.Equal(t, st, orderOf(t, p.client, ids[st]).Status)
	}
	require.Equal(t, clientBefore, env.wallet(t, p.client))
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", p.provider.Token, nil).Status, "not deleted")
	require.Equal(t, auditBefore, auditRows(t))
	// "cancel_open_orders": false is the same refusal.
	res = env.call(t, "DELETE", path, env.admin.Token, map[string]any{"reason": "fraude", "cancel_open_orders": false})
	require.Equal(t, "has_open_orders", res.errorCode())

	// Asked to cancel them: each is cancelled by the admin, fully refunded.
	res = env.call(t, "DELETE", path, env.admin.Token, map[string]any{"reason": "fraude confirmada", "cancel_open_orders": true})
	require.Equal(t, 204, res.Status, string(res.Body))
	for _, st := range open {
		o := orderOf(t, p.client, ids[st])
		require.Equal(t, "cancelled", o.Status, "was %s", st)
		require.NotNil(t, o.CancelledByRole)
		require.Equal(t, "admin", *o.CancelledByRole)
		require.NotNil(t, o.CancelReason)
		require.Equal(t, "fraude confirmada", *o.CancelReason)
		if o.Outcome.Penalty != nil {
			require.True(t, o.Outcome.Penalty.IsZero(), "an admin's cancellation charges no penalty")
		}
		// The reason is in the order's timeline.
		res := env.call(t, "GET", "/v1/orders/"+ids[st]+"/events", env.admin.Token, nil)
		require.Equal(t, 200, res.Status)
		var events struct {
			Items []api.Event `json:"items"`
		}
		res.json(t, &events)
		found := false
		for _, e := range events.Items {
			if e.Action == "cancel" && !e.Refused {
				found = strings.Contains(string(e.Data), "fraude confirmada") && e.ActorRole == "admin"
			}
		}
		require.True(t, found, "%s: %s", st, res.Body)
	}
	require.Equal(t, "completed", orderOf(t, p.client, completed).Status, "terminal orders untouched")
	require.Equal(t, "500.00/0.00", env.wallet(t, p.client), "every hold and the contestation fee back")
	require.Equal(t, providerBefore, env.wallet(t, p.provider), "the provider neither paid nor was paid")
	require.True(t, revenueBefore.Equal(env.revenue(t)), "no fee on a full refund")
	env.requireLedgerClean(t)

	// The user is deleted, audited with the orders it cancelled.
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", p.provider.Token, nil).Status)
	var data, before, after string
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT data::text, before_data::text, after_data::text FROM audit_log
		WHERE action = 'delete_user' AND target_id = $1`, p.provider.ID).Scan(&data, &before, &after))
	var d struct {
		Cancelled []string `json:"cancelled_orders"`
	}
	require.NoError(t, json.Unmarshal([]byte(data), &d))
	require.ElementsMatch(t, []string{ids["negotiating"], ids["in_progress"], ids["delivered"], ids["disputed"]}, d.Cancelled)
	require.JSONEq(t, `{"deleted_at": null}`, before)
	require.Contains(t, after, "deleted_at")

	// Again: the user is gone.
	res = env.call(t, "DELETE", path, env.admin.Token, map[string]any{"reason": "de novo", "cancel_open_orders": true})
	require.Equal(t, 404, res.Status, string(res.Body))
	require.Equal(t, "not_found", res.errorCode())
}

// Ensure deleting a client with an order in progress (cancel requested)
// refunds them in full and ends their sessions, and that the reason may
// still come in the query string (no body).
func TestDeleteClientCancelsTheirOrders(t *testing.T) {
	skipShort(t)
	p := newParties(t)
	orderID := p.orderIn(t, "in_progress")
	res := env.call(t, "DELETE", "/v1/admin/users/"+p.client.ID+"?reason=pedido+do+cliente", env.admin.Token, nil)
	require.Equal(t, 409, res.Status, string(res.Body))
	require.Equal(t, "has_open_orders", res.errorCode())
	res = env.call(t, "DELETE", "/v1/admin/users/"+p.client.ID+"?reason=x", env.admin.Token, map[string]any{"reason": "y"})
	require.Equal(t, 400, res.Status, "a reason in both places is ambiguous")
	res = env.call(t, "DELETE", "/v1/admin/users/"+p.client.ID, env.admin.Token,
		map[string]any{"reason": "pedido do cliente", "cancel_open_orders": true})
	require.Equal(t, 204, res.Status, string(res.Body))
	require.Equal(t, "120.00/0.00", env.wallet(t, p.client))
	var status string
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT status FROM orders WHERE id = $1`, orderID).Scan(&status))
	require.Equal(t, "cancelled", status)
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", p.client.Token, nil).Status)
	env.requireLedgerClean(t)
}

package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
)

// Ensure the scripted scenario through HTTP only: client and provider
// register, admin deposit, order, counter-proposal, accept, deliver,
// confirm; balances of client, provider and platform exactly as the spec
// says.
func TestOrderLifecycleOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	res := env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": client.ID, "amount": "500.00", "reference": "pix-" + client.ID, "reason": "PIX recebido"})
	require.Equal(t, 201, res.Status, string(res.Body))
	revenueBefore := env.revenue(t)

	o := env.newOrder(t, client, provider, "150.00")
	require.Equal(t, "negotiating", o.Status)
	require.Equal(t, "150.00", o.Amount.StringFixed(2))
	require.Len(t, o.Proposals, 1)

	res = env.act(t, provider, o.ID, "proposals", map[string]any{"amount": "200.00", "note": "com material"})
	require.Equal(t, 200, res.Status, string(res.Body))
	res = env.act(t, client, o.ID, "accept", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var accepted api.Order
	res.json(t, &accepted)
	require.Equal(t, "in_progress", accepted.Status)
	require.Equal(t, "300.00/200.00", env.wallet(t, client))

	res = env.act(t, provider, o.ID, "deliver", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	res = env.act(t, client, o.ID, "confirm", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var done api.Order
	res.json(t, &done)
	require.Equal(t, "completed", done.Status)
	require.Equal(t, "300.00/0.00", env.wallet(t, client))
	require.Equal(t, "190.00/0.00", env.wallet(t, provider))
	require.Equal(t, "10.00", env.revenue(t).Sub(revenueBefore).StringFixed(2), "platform fee: 5% of 200.00")
	var w api.WalletBalance
	res = env.call(t, "GET", "/v1/wallet", client.Token, nil)
	res.json(t, &w)
	require.Equal(t, "300.00", w.Available.StringFixed(2))
	require.Equal(t, "0.00", w.Blocked.StringFixed(2))
	env.requireLedgerClean(t)

	res = env.act(t, client, o.ID, "confirm", nil)
	require.Equal(t, 409, res.Status)
	require.Equal(t, "invalid_transition", res.errorCode())
}

package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
)

// Ensure the scripted scenario through HTTP only: client and provider
// register, admin... (deposit via ledger until the deposits route), order,
// counter-proposal, accept, deliver, confirm; balances exactly as the spec
// says.
func TestOrderLifecycleOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	env.fund(t, client, "500.00")

	o := env.newOrder(t, client, provider, "150.00")
	require.Equal(t, "negotiating", o.Status)
	require.Equal(t, "150.00", o.Amount.StringFixed(2))
	require.Len(t, o.Proposals, 1)

	res := env.act(t, provider, o.ID, "proposals", map[string]any{"amount": "200.00", "note": "com material"})
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
	env.requireLedgerClean(t)

	res = env.act(t, client, o.ID, "confirm", nil)
	require.Equal(t, 409, res.Status)
	require.Equal(t, "invalid_transition", res.errorCode())
}

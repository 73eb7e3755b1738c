package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/workflows/order"
)

// Issue 17 over HTTP: settlement offers and their accept, a request for a
// ruling, revision requests; refusals with their codes and nothing moved.

func getOrder17(t *testing.T, s session, id string) api.Order {
	t.Helper()
	res := env.call(t, "GET", "/v1/orders/"+id, s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o
}

func TestSettlementAPI(t *testing.T) {
	skipShort(t)
	c, p := env.newUser(t, "client"), env.newUser(t, "provider")
	env.fund(t, c, "110.00")
	o := env.newOrder(t, c, p, "100.00")
	for _, a := range []struct {
		s      session
		action string
	}{{p, "accept"}, {p, "deliver"}} {
		res := env.act(t, a.s, o.ID, a.action, nil)
		require.Equal(t, 200, res.Status, string(res.Body))
	}
	res := env.act(t, c, o.ID, "contest", map[string]string{"reason": "incompleto"})
	require.Equal(t, 200, res.Status, string(res.Body))
	disputed := getOrder17(t, c, o.ID)
	require.NotNil(t, disputed.NegotiationEndsAt, "a negotiation window (dispute_negotiation_hours)")
	require.Nil(t, disputed.DisputeQueuedAt)
	require.Contains(t, disputed.AllowedActions, order.Action("offer_settlement"))

	// Bad input: the envelope, the right status, nothing changes.
	res = env.act(t, c, o.ID, "settlement-offers", map[string]any{"refund_amount": "100.01"})
	require.Equal(t, 422, res.Status, string(res.Body))
	res = env.act(t, c, o.ID, "settlement-offers", map[string]any{"note": "sem valor"})
	require.Equal(t, 422, res.Status, string(res.Body))
	res = env.act(t, c, o.ID, "settlement/accept", map[string]any{"offer_version": 1})
	require.Equal(t, 409, res.Status, string(res.Body), "no offer to accept yet")
	require.Equal(t, disputed.Version, getOrder17(t, c, o.ID).Version, "nothing changed")

	res = env.act(t, c, o.ID, "settlement-offers", map[string]any{"refund_amount": "60.00", "note": "metade"})
	require.Equal(t, 200, res.Status, string(res.Body))
	res = env.act(t, p, o.ID, "settlement-offers", map[string]any{"refund_amount": "40.00"})
	require.Equal(t, 200, res.Status, string(res.Body))
	res = env.act(t, c, o.ID, "settlement/accept", map[string]any{"offer_version": 1})
	require.Equal(t, 409, res.Status, string(res.Body))
	require.Contains(t, string(res.Body), `"settlement_changed"`)
	res = env.act(t, p, o.ID, "settlement/accept", map[string]any{"offer_version": 2})
	require.Equal(t, 409, res.Status, "the provider's own offer")
	require.Equal(t, "0.00/110.00", env.wallet(t, c), "nothing moved")

	seen := getOrder17(t, c, o.ID)
	require.Len(t, seen.SettlementOffers, 2)
	require.Equal(t, 2, seen.Settlement.Version)
	require.Equal(t, "40.00", seen.Settlement.RefundAmount.StringFixed(2))
	require.Equal(t, 1, seen.ClientOffers)
	require.Contains(t, seen.AllowedActions, order.Action("accept_settlement"))

	res = env.act(t, c, o.ID, "settlement/accept", map[string]any{"offer_version": 2})
	require.Equal(t, 200, res.Status, string(res.Body))
	var done api.Order
	res.json(t, &done)
	require.Equal(t, "resolved", done.Status)
	require.Equal(t, "settlement", *done.ResolvedBy)
	// R = 40: 40 + the 10.00 contestation fee back; provider 60 − 5% = 57.
	require.Equal(t, "50.00/0.00", env.wallet(t, c))
	require.Equal(t, "57.00/0.00", env.wallet(t, p))
	env.requireLedgerClean(t)
}

func TestRequestRulingAndRevisionAPI(t *testing.T) {
	skipShort(t)
	c, p := env.newUser(t, "client"), env.newUser(t, "provider")
	env.fund(t, c, "110.00")
	o := env.newOrder(t, c, p, "100.00")
	for _, a := range []struct {
		s      session
		action string
		body   any
	}{{p, "accept", nil}, {p, "deliver", nil}, {c, "revisions", map[string]string{"reason": "faltou a porta"}}, {p, "deliver", nil},
		{c, "revisions", map[string]string{"reason": "cor errada"}}, {p, "deliver", nil}} {
		res := env.act(t, a.s, o.ID, a.action, a.body)
		require.Equal(t, 200, res.Status, "%s: %s", a.action, res.Body)
	}
	got := getOrder17(t, c, o.ID)
	require.Equal(t, 2, got.RevisionCount)
	require.Len(t, got.RevisionList, 2)
	require.Equal(t, "cor errada", got.RevisionList[1].Reason)
	require.NotContains(t, got.AllowedActions, order.Action("request_revision"))
	res := env.act(t, c, o.ID, "revisions", map[string]string{"reason": "de novo"})
	require.Equal(t, 409, res.Status, string(res.Body))
	require.Contains(t, string(res.Body), `"revision_limit_reached"`)
	res = env.act(t, p, o.ID, "revisions", map[string]string{"reason": "x"})
	require.Equal(t, 403, res.Status, string(res.Body))

	res = env.act(t, c, o.ID, "contest", map[string]string{"reason": "ainda errado"})
	require.Equal(t, 200, res.Status, string(res.Body))
	res = env.act(t, p, o.ID, "request-ruling", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	queued := getOrder17(t, p, o.ID)
	require.NotNil(t, queued.DisputeQueuedAt)
	res = env.act(t, c, o.ID, "request-ruling", map[string]string{"reason": "de novo"})
	require.Equal(t, 409, res.Status, string(res.Body))
	res = env.act(t, env.admin, o.ID, "resolve", map[string]string{"refund_amount": "0.00", "reason": "entregue"})
	require.Equal(t, 200, res.Status, string(res.Body))
	require.Equal(t, "admin", *getOrder17(t, c, o.ID).ResolvedBy)
	env.requireLedgerClean(t)
}

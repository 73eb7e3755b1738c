package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsoleSettlementAndRevision drives issue 17 through the console, in
// pt-BR and in English: a revision request, then a dispute the parties
// settle themselves with the split previewed before it is sent.
func TestConsoleSettlementAndRevision(t *testing.T) {
	skipShort(t)
	browser := startBrowser(t)
	c, p := env.newUser(t, "client"), env.newUser(t, "provider")
	env.fund(t, c, "110.00")
	o := env.newOrder(t, c, p, "100.00")
	for _, action := range []string{"accept", "deliver"} {
		res := env.act(t, p, o.ID, action, nil)
		require.Equal(t, 200, res.Status, string(res.Body))
	}
	client := newTab(t, browser, "client")
	client.logIn(c.Email, "s3cret-password", "client")
	provider := newTab(t, browser, "provider")
	provider.logIn(p.Email, "s3cret-password", "provider")

	// Revision: the client sends the delivery back with a reason.
	client.open("/orders/" + o.ID)
	client.orderStatus("delivered")
	client.waitText("#revision-count", "0 de 2")
	client.fill("#revision-reason", "Faltou pintar a porta")
	client.click("#do-request_revision")
	client.orderStatus("in_progress")
	client.waitText("#revision-count", "1 de 2")
	client.waitText("#timeline", "Revisão pedida")
	client.waitText("#timeline", "Faltou pintar a porta")

	// The provider sees it on the dashboard and delivers again.
	provider.open("/")
	provider.waitText("#awaiting", "Revisões: 1 — Faltou pintar a porta")
	provider.open("/orders/" + o.ID)
	provider.click("#do-deliver")
	provider.orderStatus("delivered")

	// The dispute: the client contests, offers a 40.00 refund with the
	// split shown first; the provider accepts in English.
	client.open("/orders/" + o.ID)
	client.orderStatus("delivered")
	client.fill("#contest-reason", "Ainda está manchado")
	client.click("#do-contest")
	client.orderStatus("disputed")
	client.waitText("#dispute-negotiation", "acordo entre as partes até")
	client.fill("#settlement-refund", "40,00")
	// R = 40: the client gets 40 + the 10.00 fee back; provider 60 − 5%.
	client.waitText("#settlement-preview", "Cliente recebe R$ 50,00; prestador recebe R$ 57,00.")
	client.fill("#settlement-note", "Fico com a pintura, mas quero um desconto")
	client.click("#do-offer_settlement")
	client.waitText("#settlement-latest", "nº 1, do Cliente: reembolso de R$ 40,00")
	client.waitText("#timeline", "Proposta de acordo")

	eval[bool](provider, `(localStorage.setItem('ordem.lang', 'en'), true)`)
	provider.open("/orders/" + o.ID)
	provider.orderStatus("disputed")
	provider.waitText("#settlement-terms", "Client gets R$50.00; provider gets R$57.00.")
	provider.click("#do-accept_settlement")
	provider.orderStatus("resolved")
	provider.waitText("#resolved-by", "the parties' settlement")

	require.Equal(t, "50.00/0.00", env.wallet(t, c))
	require.Equal(t, "57.00/0.00", env.wallet(t, p))
	env.requireLedgerClean(t)
}

package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parties is one order's cast plus strangers.
type parties struct {
	client, otherClient, provider, otherProvider, admin session
}

func newParties(t *testing.T) parties {
	return parties{
		client: env.newUser(t, "client"), otherClient: env.newUser(t, "client"),
		provider: env.newUser(t, "provider"), otherProvider: env.newUser(t, "provider"),
		admin: env.admin,
	}
}

// orderIn creates an order between p.client and p.provider and drives it
// to state: negotiating, in_progress, delivered or disputed.
func (p parties) orderIn(t *testing.T, state string) string {
	t.Helper()
	env.fund(t, p.client, "120.00")
	o := env.newOrder(t, p.client, p.provider, "100.00")
	steps := map[string][]struct {
		who    session
		action string
		body   any
	}{
		"negotiating": {},
		"in_progress": {{p.provider, "accept", nil}},
		"delivered":   {{p.provider, "accept", nil}, {p.provider, "deliver", nil}},
		"disputed":    {{p.provider, "accept", nil}, {p.provider, "deliver", nil}, {p.client, "contest", map[string]string{"reason": "incompleto"}}},
	}[state]
	for _, s := range steps {
		res := env.act(t, s.who, o.ID, s.action, s.body)
		require.Equal(t, 200, res.Status, "%s: %s", s.action, res.Body)
	}
	return o.ID
}

// Ensure every order route that takes an id answers each kind of caller
// exactly as this table says: the order's client, another client, the
// order's provider, another provider, an admin, and nobody.
func TestOrderAuthorizationMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	// Columns of want: the order's client, another client, the order's
	// provider, another provider, an admin, anonymous.
	names := []string{"client", "other client", "provider", "other provider", "admin", "anonymous"}
	reason := map[string]string{"reason": "motivo"}
	routes := []struct {
		method, path string // path has %s for the order id
		state        string
		body         any
		want         [6]int
	}{
		{"GET", "/v1/orders/%s", "negotiating", nil, [6]int{200, 404, 200, 404, 200, 401}},
		{"GET", "/v1/orders/%s/events", "negotiating", nil, [6]int{200, 404, 200, 404, 200, 401}},
		{"POST", "/v1/orders/%s/proposals", "negotiating", map[string]string{"amount": "90.00"}, [6]int{200, 404, 200, 404, 403, 401}},
		// The client made the latest proposal, so only the provider accepts.
		{"POST", "/v1/orders/%s/accept", "negotiating", map[string]int{"proposal_version": 1}, [6]int{409, 404, 200, 404, 403, 401}},
		{"POST", "/v1/orders/%s/deliver", "in_progress", nil, [6]int{403, 404, 200, 404, 403, 401}},
		{"POST", "/v1/orders/%s/confirm", "delivered", nil, [6]int{200, 404, 403, 404, 403, 401}},
		{"POST", "/v1/orders/%s/contest", "delivered", reason, [6]int{200, 404, 403, 404, 403, 401}},
		// A party cancelling an order in progress agrees to its 10% penalty;
		// an admin's cancellation costs nothing (the loop sends it a reason only).
		{"POST", "/v1/orders/%s/cancel", "in_progress", map[string]string{"reason": "motivo", "expected_penalty": "10.00"}, [6]int{200, 404, 200, 404, 200, 401}},
		{"POST", "/v1/admin/orders/%s/resolve", "disputed", map[string]string{"refund_amount": "10.00", "reason": "provas"}, [6]int{403, 403, 403, 403, 200, 401}},
		{"POST", "/v1/admin/orders/%s/extend-deadline", "delivered", map[string]string{"hours": "12", "reason": "viagem"}, [6]int{403, 403, 403, 403, 200, 401}},
	}
	for _, r := range routes {
		t.Run(r.method+" "+strings.ReplaceAll(r.path, "%s", "{id}"), func(t *testing.T) {
			p := newParties(t)
			who := []session{p.client, p.otherClient, p.provider, p.otherProvider, p.admin, {}}
			// Refusals change nothing, so they share one order; each
			// allowed mutation gets a fresh order in the right state.
			shared := p.orderIn(t, r.state)
			for i, want := range r.want {
				orderID := shared
				if want/100 == 2 && r.method == "POST" {
					orderID = p.orderIn(t, r.state)
				}
				body := r.body
				if strings.HasSuffix(r.path, "/cancel") && who[i] == p.admin {
					body = reason // the admin's cancellation costs no penalty
				}
				res := env.call(t, r.method, fmt.Sprintf(r.path, orderID), who[i].Token, body)
				require.Equal(t, want, res.Status, "%s as %s: %s", r.path, names[i], res.Body)
				if want >= 400 {
					require.NotEmpty(t, res.errorCode(), "error envelope")
				}
			}
			env.requireLedgerClean(t)
		})
	}
}

// Ensure bad input is refused with the right status and code and changes
// nothing: unknown fields (no mass assignment), bad amounts, malformed
// JSON, wrong types and oversized bodies.
func TestOrderBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	p := newParties(t)
	countOrders := func() int {
		var n int
		require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders WHERE client_id = $1`, p.client.uid()).Scan(&n))
		return n
	}
	valid := func() map[string]any {
		return map[string]any{"provider_id": p.provider.ID, "title": "Pintura", "amount": "100.00"}
	}
	with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }
	cases := []struct {
		name string
		body any
		want int
		code string
	}{
		{"unknown field status", with("status", "completed"), 400, "invalid_request"},
		{"unknown field client_id", with("client_id", p.otherClient.ID), 400, "invalid_request"},
		{"negative amount", with("amount", "-10.00"), 422, "validation_failed"},
		{"zero amount", with("amount", "0.00"), 422, "validation_failed"},
		{"three decimals", with("amount", "10.001"), 400, "invalid_request"},
		{"huge amount", with("amount", "1000000000000.00"), 422, "validation_failed"},
		{"amount as a JSON number", with("amount", 100.5), 400, "invalid_request"},
		{"amount in exponent form", with("amount", "1e3"), 400, "invalid_request"},
		{"title as a number", with("title", 7), 400, "invalid_request"},
		{"missing title", with("title", ""), 422, "validation_failed"},
		{"unknown provider", with("provider_id", "999999999"), 422, "validation_failed"},
		{"a client as provider", with("provider_id", p.otherClient.ID), 422, "validation_failed"},
		{"malformed JSON", `{"provider_id": "1", "title": `, 400, "invalid_request"},
		{"two JSON objects", `{} {}`, 400, "invalid_request"},
		{"a JSON array", `[]`, 400, "invalid_request"},
		{"empty body", ``, 400, "invalid_request"},
	}
	for _, c := range cases {
		res := env.call(t, "POST", "/v1/orders", p.client.Token, c.body)
		require.Equal(t, c.want, res.Status, "%s: %s", c.name, res.Body)
		require.Equal(t, c.code, res.errorCode(), c.name)
	}
	big, err := json.Marshal(with("description", strings.Repeat("x", 70*1024)))
	require.NoError(t, err)
	res := env.callLive(t, "POST", "/v1/orders", p.client.Token, big)
	require.Equal(t, 413, res.Status, string(res.Body))
	require.Equal(t, "too_large", res.errorCode())

	res = env.call(t, "POST", "/v1/orders", p.client.Token, with("amount", "-1"))
	var body struct {
		Error struct {
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	res.json(t, &body)
	require.Contains(t, body.Error.Fields, "amount", "validation errors name the field")
	require.Zero(t, countOrders(), "nothing was created")

	// Actions: bad input is refused before the workflow sees it.
	orderID := p.orderIn(t, "negotiating")
	for _, c := range []struct {
		action string
		body   any
		want   int
	}{
		{"proposals", map[string]any{"amount": "0.00"}, 422},
		{"proposals", map[string]any{"amount": "5.00", "status": "completed"}, 400},
		{"accept", map[string]any{"amount": "1.00"}, 400},
		{"cancel", map[string]any{"reason": 5}, 400},
	} {
		res := env.act(t, p.provider, orderID, c.action, c.body)
		require.Equal(t, c.want, res.Status, "%s %v: %s", c.action, c.body, res.Body)
	}
	res = env.call(t, "GET", "/v1/orders/"+orderID, p.client.Token, nil)
	require.Contains(t, string(res.Body), `"status":"negotiating"`)
	require.Contains(t, string(res.Body), `"proposal_version":1`)
	for _, bad := range []string{"abc", "-1", "0", "1.5"} {
		res := env.call(t, "GET", "/v1/orders/"+bad, p.client.Token, nil)
		require.Equal(t, 404, res.Status, bad)
	}
}

// Ensure a retried create with the same Idempotency-Key returns the first
// order and creates one; another body with that key is a conflict.
func TestCreateOrderIdempotency(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	p := newParties(t)
	body := map[string]any{"provider_id": p.provider.ID, "title": "Pintura", "amount": "100.00"}
	first := env.call(t, "POST", "/v1/orders", p.client.Token, body, "Idempotency-Key", "create-1")
	require.Equal(t, 201, first.Status, string(first.Body))
	again := env.call(t, "POST", "/v1/orders", p.client.Token, body, "Idempotency-Key", "create-1")
	require.Equal(t, 201, again.Status)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.JSONEq(t, string(first.Body), string(again.Body))
	body["amount"] = "101.00"
	conflict := env.call(t, "POST", "/v1/orders", p.client.Token, body, "Idempotency-Key", "create-1")
	require.Equal(t, 409, conflict.Status)
	require.Equal(t, "idempotency_conflict", conflict.errorCode())
	var n int
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders WHERE client_id = $1`, p.client.uid()).Scan(&n))
	require.Equal(t, 1, n)
}

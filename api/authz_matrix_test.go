package api_test

// The authorization matrix: every route of api/openapi.yaml × every kind of
// caller, with the status each one gets.
//
// HOW TO ADD A ROUTE. TestAuthorizationMatrix fails for any documented
// route without a rule in authzRules (and for a rule whose route is no
// longer documented). Add one entry, keyed "METHOD /path/{param}" exactly
// as in openapi.yaml:
//
//   - want lists the status for each column, in the order of callerNames:
//     anonymous, the client, the provider, an admin, another client,
//     another provider. "The client" and "the provider" own the fixture's
//     objects (authzFixture: a disputed order between them with one piece
//     of evidence, a payout of the provider, a notification of the
//     provider); the other two own nothing of it.
//   - path fills the route's {params} from the fixture (nil: the route
//     has none).
//   - body is sent as JSON. Where an allowed caller's success would change
//     something, pick a body that an allowed caller gets refused by
//     validation (422, e.g. no reason on an admin action) or by the
//     order's state (409): the matrix then proves the caller got past
//     authorization and changes nothing, so each column runs on the same
//     fixture.
//   - fresh makes each caller log in anew for the request (a route that
//     ends the session it is called with).
//
// The shorthands (public, anyUser, adminOnly, ownedBy) cover the usual
// shapes: prefer them, so the table reads as a policy.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ordem/ordem/api"
)

// callerNames are the matrix's columns, in the order of authzRule.want.
var callerNames = [6]string{"anonymous", "client", "provider", "admin", "other client", "other provider"}

// authzFixture is what the rules' paths point at.
type authzFixture struct {
	p parties
	// order is disputed, between p.client and p.provider.
	order string
	// evidence is p.client's evidence on order.
	evidence string
	// payout is a pending payout of p.provider.
	payout string
	// notification is one of p.provider's notifications.
	notification string
	// webhook is a live webhook endpoint.
	webhook string
}

// authzRule is the expected answer of one route to each kind of caller.
type authzRule struct {
	path  func(f authzFixture) string
	body  any
	fresh bool
	// ownAccountOnly marks a route that acts on the caller's own account
	// in a way no body can refuse (ending every other session): calling
	// it as the shared callers would end the sessions the matrix runs on.
	// Anonymous gets want[0]; a client registered for the call gets
	// want[1]; the other columns are the same policy and are not called.
	ownAccountOnly bool
	want           [6]int
}

// public: every caller, signed in or not, gets status.
func public(status int) [6]int { return [6]int{status, status, status, status, status, status} }

// anyUser: every signed-in user gets status, anonymous 401.
func anyUser(status int) [6]int { return [6]int{401, status, status, status, status, status} }

// adminOnly: admins get status; other users 403, anonymous 401.
func adminOnly(status int) [6]int { return [6]int{401, 403, 403, status, 403, 403} }

// ownedBy: the object's client, provider and an admin get the statuses
// given; users it does not belong to 404 (it does not exist for them),
// anonymous 401.
func ownedBy(client, provider, admin int) [6]int {
	return [6]int{401, client, provider, admin, 404, 404}
}

func fixed(path string) func(authzFixture) string { return func(authzFixture) string { return path } }

func orderPath(suffix string) func(authzFixture) string {
	return func(f authzFixture) string { return "/v1/orders/" + f.order + suffix }
}

// noReason is an admin action's body without its reason: 422
// reason_required for the admin, after authorization.
var noReason = map[string]any{}

// authzRules is the policy, one rule per documented route.
var authzRules = map[string]authzRule{
	// Public.
	"GET /healthz":           {want: public(200)},
	"GET /readyz":            {want: public(200)},
	"GET /metrics":           {want: public(200)},
	"GET /openapi.yaml":      {want: public(200)},
	"GET /v1/meta":           {want: public(200)},
	"POST /v1/auth/register": {body: map[string]any{}, want: public(422)},
	// A new unknown e-mail per call: the per-account login throttle would
	// answer 429 from the fourth failure on one e-mail.
	"POST /v1/auth/login": {body: func() any {
		return map[string]any{"email": fmt.Sprintf("nobody-%d@example.com", rand.Int64()), "password": "wrong-password"}
	}, want: public(401)},
	"POST /v1/webhooks/deposits": {body: map[string]any{}, want: public(401)}, // the HMAC signature, never a bearer token

	// Any signed-in user, about themselves.
	"GET /v1/me":                         {want: anyUser(200)},
	"PATCH /v1/me":                       {body: map[string]any{"locale": "xx"}, want: anyUser(422)},
	"GET /v1/providers":                  {want: anyUser(200)},
	"POST /v1/me/password":               {body: map[string]any{}, want: anyUser(422)},
	"GET /v1/me/sessions":                {want: anyUser(200)},
	"DELETE /v1/me/sessions/{id}":        {path: fixed("/v1/me/sessions/999999999"), want: anyUser(404)},
	"POST /v1/me/sessions/revoke-others": {ownAccountOnly: true, want: anyUser(200)},
	"POST /v1/auth/password-reset":       {body: map[string]any{}, want: public(422)},
	"POST /v1/auth/logout":               {fresh: true, want: anyUser(204)},
	"GET /v1/dashboard":                  {want: anyUser(200)},
	"GET /v1/notifications":              {want: anyUser(200)},
	"POST /v1/notifications/read-all":    {want: anyUser(204)},
	"POST /v1/notifications/{id}/read": {
		path: func(f authzFixture) string { return "/v1/notifications/" + f.notification + "/read" },
		want: [6]int{401, 404, 204, 404, 404, 404}},
	"GET /v1/orders":              {want: anyUser(200)},
	"POST /v1/orders":             {body: map[string]any{}, want: [6]int{401, 422, 403, 403, 422, 403}},
	"GET /v1/wallet":              {want: anyUser(200)},
	"GET /v1/wallet/transactions": {want: anyUser(200)},
	"GET /v1/wallet/payouts":      {want: anyUser(200)},
	"POST /v1/wallet/payouts":     {body: map[string]any{}, want: [6]int{401, 422, 422, 403, 422, 422}},
	"GET /v1/wallet/payouts/{id}": {
		path: func(f authzFixture) string { return "/v1/wallet/payouts/" + f.payout },
		want: [6]int{401, 404, 200, 404, 404, 404}},

	// The order's parties and admins; the order is disputed, so each
	// action below is refused by its state or its actor, never applied.
	"GET /v1/orders/{id}":            {path: orderPath(""), want: ownedBy(200, 200, 200)},
	"GET /v1/orders/{id}/events":     {path: orderPath("/events"), want: ownedBy(200, 200, 200)},
	"POST /v1/orders/{id}/proposals": {path: orderPath("/proposals"), body: map[string]any{"amount": "90.00"}, want: ownedBy(409, 409, 403)},
	"POST /v1/orders/{id}/accept":    {path: orderPath("/accept"), body: map[string]any{"proposal_version": 1}, want: ownedBy(409, 409, 403)},
	"POST /v1/orders/{id}/deliver":   {path: orderPath("/deliver"), want: ownedBy(403, 409, 403)},
	"POST /v1/orders/{id}/confirm":   {path: orderPath("/confirm"), want: ownedBy(409, 403, 403)},
	"POST /v1/orders/{id}/contest":   {path: orderPath("/contest"), body: map[string]any{"reason": "x"}, want: ownedBy(409, 403, 403)},
	"POST /v1/orders/{id}/cancel":    {path: orderPath("/cancel"), body: map[string]any{}, want: ownedBy(409, 409, 422)},
	// The parties' actions in a dispute: the parties get a body refused
	// by validation, the admin a valid one (validation comes before the
	// role check, so only a valid body shows the admin is forbidden; were
	// it allowed, the order would move and the matrix would fail).
	"POST /v1/orders/{id}/settlement-offers": {path: orderPath("/settlement-offers"),
		body: adminValid(map[string]any{"refund_amount": "-1.00"}, map[string]any{"refund_amount": "10.00"}), want: ownedBy(422, 422, 403)},
	"POST /v1/orders/{id}/settlement/accept": {path: orderPath("/settlement/accept"),
		body: adminValid(map[string]any{"offer_version": 0}, map[string]any{"offer_version": 1}), want: ownedBy(422, 422, 403)},
	"POST /v1/orders/{id}/request-ruling": {path: orderPath("/request-ruling"),
		body: adminValid(map[string]any{"reason": "a\nb"}, map[string]any{"reason": "decida"}), want: ownedBy(422, 422, 403)},
	"POST /v1/orders/{id}/revisions": {path: orderPath("/revisions"), body: map[string]any{"reason": "x"}, want: ownedBy(409, 403, 403)},
	"GET /v1/orders/{id}/evidence":   {path: orderPath("/evidence"), want: ownedBy(200, 200, 200)},
	"POST /v1/orders/{id}/evidence":  {path: orderPath("/evidence"), body: map[string]any{}, want: ownedBy(400, 400, 400)},
	"GET /v1/orders/{id}/evidence/{evidence_id}": {
		path: func(f authzFixture) string { return "/v1/orders/" + f.order + "/evidence/" + f.evidence },
		want: ownedBy(200, 200, 200)},
	"GET /v1/orders/{id}/evidence/{evidence_id}/content": {
		path: func(f authzFixture) string { return "/v1/orders/" + f.order + "/evidence/" + f.evidence + "/content" },
		want: ownedBy(200, 200, 200)},

	// Admins only.
	"POST /v1/admin/orders/{id}/resolve": {path: func(f authzFixture) string { return "/v1/admin/orders/" + f.order + "/resolve" },
		body: map[string]any{"refund_amount": "10.00"}, want: adminOnly(422)},
	"POST /v1/admin/orders/{id}/extend-deadline": {path: func(f authzFixture) string { return "/v1/admin/orders/" + f.order + "/extend-deadline" },
		body: map[string]any{"hours": "12"}, want: adminOnly(422)},
	"GET /v1/admin/audit":  {want: adminOnly(200)},
	"GET /v1/admin/config": {want: adminOnly(200)},
	"PUT /v1/admin/config/{key}": {path: fixed("/v1/admin/config/platform_fee_percentage"),
		body: map[string]any{"value": "5"}, want: adminOnly(422)},
	"GET /v1/admin/config/{key}/changes": {path: fixed("/v1/admin/config/platform_fee_percentage/changes"), want: adminOnly(200)},
	"GET /v1/admin/users":                {want: adminOnly(200)},
	"DELETE /v1/admin/users/{id}": {path: func(f authzFixture) string { return "/v1/admin/users/" + f.p.otherClient.ID },
		body: noReason, want: adminOnly(422)},
	"POST /v1/admin/users/{id}/password-reset": {path: func(f authzFixture) string { return "/v1/admin/users/" + f.p.otherClient.ID + "/password-reset" },
		body: noReason, want: adminOnly(422)},
	"POST /v1/admin/deposits": {body: noReason, want: adminOnly(422)},
	"GET /v1/admin/deposits":  {want: adminOnly(200)},
	"GET /v1/admin/wallets/{user_id}": {path: func(f authzFixture) string { return "/v1/admin/wallets/" + f.p.client.ID },
		want: adminOnly(200)},
	"GET /v1/admin/wallets/{user_id}/transactions": {
		path: func(f authzFixture) string { return "/v1/admin/wallets/" + f.p.client.ID + "/transactions" }, want: adminOnly(200)},
	"GET /v1/admin/payouts":      {want: adminOnly(200)},
	"GET /v1/admin/payouts/{id}": {path: func(f authzFixture) string { return "/v1/admin/payouts/" + f.payout }, want: adminOnly(200)},
	"POST /v1/admin/payouts/{id}/mark-paid": {path: func(f authzFixture) string { return "/v1/admin/payouts/" + f.payout + "/mark-paid" },
		body: noReason, want: adminOnly(422)},
	"POST /v1/admin/payouts/{id}/mark-failed": {path: func(f authzFixture) string { return "/v1/admin/payouts/" + f.payout + "/mark-failed" },
		body: noReason, want: adminOnly(422)},
	"GET /v1/admin/webhooks":  {want: adminOnly(200)},
	"POST /v1/admin/webhooks": {body: noReason, want: adminOnly(422)},
	"GET /v1/admin/webhooks/{id}": {path: func(f authzFixture) string { return "/v1/admin/webhooks/" + f.webhook },
		want: adminOnly(200)},
	"PATCH /v1/admin/webhooks/{id}": {path: func(f authzFixture) string { return "/v1/admin/webhooks/" + f.webhook },
		body: map[string]any{"active": false}, want: adminOnly(422)},
	"DELETE /v1/admin/webhooks/{id}": {path: func(f authzFixture) string { return "/v1/admin/webhooks/" + f.webhook },
		want: adminOnly(422)},
	"POST /v1/admin/webhooks/{id}/rotate-secret": {
		path: func(f authzFixture) string { return "/v1/admin/webhooks/" + f.webhook + "/rotate-secret" },
		body: noReason, want: adminOnly(422)},
	"GET /v1/admin/webhooks/{id}/deliveries": {
		path: func(f authzFixture) string { return "/v1/admin/webhooks/" + f.webhook + "/deliveries" }, want: adminOnly(200)},
	// No delivery in the fixture: the admin's 404 still comes after the
	// guard that refuses everyone else.
	"GET /v1/admin/webhook-deliveries/{id}": {path: fixed("/v1/admin/webhook-deliveries/999999999"), want: adminOnly(404)},
	"POST /v1/admin/webhook-deliveries/{id}/redeliver": {path: fixed("/v1/admin/webhook-deliveries/999999999/redeliver"),
		body: noReason, want: adminOnly(422)},
}

// adminValid sends invalid to every caller but the admin, who gets valid.
func adminValid(invalid, valid any) func(caller int) any {
	return func(caller int) any {
		if callerNames[caller] == "admin" {
			return valid
		}
		return invalid
	}
}

// documentedRoutes reads every "METHOD /path" of api/openapi.yaml.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc openapiDoc
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// Ensure the rule table covers exactly the documented routes: a new route
// without a rule fails here (add one to authzRules), and so does a rule
// left behind by a removed route. Runs without the stack.
func TestAuthorizationMatrixCoversEveryRoute(t *testing.T) {
	routes := documentedRoutes(t)
	var missing, stale []string
	documented := map[string]bool{}
	for _, r := range routes {
		documented[r] = true
		if _, ok := authzRules[r]; !ok {
			missing = append(missing, r)
		}
	}
	for r, rule := range authzRules {
		if !documented[r] {
			stale = append(stale, r)
		}
		if strings.Contains(r, "{") {
			require.NotNil(t, rule.path, "%s has path parameters: its rule must fill them", r)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	require.Empty(t, missing, "documented routes without an authorization rule: add them to authzRules (api/authz_matrix_test.go)")
	require.Empty(t, stale, "authorization rules for routes the OpenAPI document no longer has")
}

func newAuthzFixture(t *testing.T) authzFixture {
	t.Helper()
	f := authzFixture{p: newParties(t)}
	f.order = f.p.orderIn(t, "disputed")
	res := upload{name: "foto.png", data: pngFile(t)}.send(t, f.p.client, f.order)
	require.Equal(t, 201, res.Status, string(res.Body))
	var ev api.Evidence
	res.json(t, &ev)
	f.evidence = ev.ID

	env.fund(t, f.p.provider, "50.00")
	res = env.call(t, "POST", "/v1/wallet/payouts", f.p.provider.Token, map[string]string{"amount": "10.00"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var po api.PayoutResult
	res.json(t, &po)
	f.payout = po.Payout.ID

	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT id::text FROM notifications WHERE user_id = $1 ORDER BY id LIMIT 1`,
		f.p.provider.uid()).Scan(&f.notification))

	f.webhook = createHook(t, map[string]any{"url": "https://hooks.example.com/authz", "event_types": []string{"payout.paid"},
		"active": false}).ID
	t.Cleanup(func() { env.call(t, "DELETE", "/v1/admin/webhooks/"+f.webhook+"?reason=cleanup", env.admin.Token, nil) })
	return f
}

// relogin opens a new session for s (the admin's or a test user's).
func relogin(s session) session {
	if s.Token == env.admin.Token {
		return env.loginAs(env.cfg.AdminEmail, adminPassword)
	}
	return env.loginAs(s.Email, "s3cret-password")
}

// Ensure every documented route answers every kind of caller as
// authzRules says (see the top of this file), with the error envelope on
// refusals, and that running the matrix changes nothing of the fixture.
func TestAuthorizationMatrix(t *testing.T) {
	skipShort(t)
	f := newAuthzFixture(t)
	callers := [6]session{{}, f.p.client, f.p.provider, f.p.admin, f.p.otherClient, f.p.otherProvider}
	clientWallet, providerWallet := env.wallet(t, f.p.client), env.wallet(t, f.p.provider)
	orderBefore := orderOf(t, f.p.client, f.order)

	var mismatches []string
	for _, route := range documentedRoutes(t) {
		rule, ok := authzRules[route]
		if !ok {
			continue // TestAuthorizationMatrixCoversEveryRoute names it
		}
		method, path, _ := strings.Cut(route, " ")
		if rule.path != nil {
			path = rule.path(f)
		}
		for i, s := range callers {
			if rule.ownAccountOnly && i > 1 {
				continue
			}
			if rule.ownAccountOnly && i == 1 {
				s = env.newUser(t, "client")
			}
			if rule.fresh && s.Token != "" {
				s = relogin(s)
			}
			body := rule.body
			switch f := body.(type) { // a body made per call
			case func() any:
				body = f()
			case func(caller int) any:
				body = f(i)
			}
			res := env.call(t, method, path, s.Token, body)
			if res.Status != rule.want[i] {
				mismatches = append(mismatches, fmt.Sprintf("%s as %s: got %d, want %d: %.200s", route, callerNames[i], res.Status,
					rule.want[i], res.Body))
				continue
			}
			if res.Status >= 400 {
				require.NotEmpty(t, res.errorCode(), "%s as %s: the error envelope", route, callerNames[i])
			}
		}
	}
	require.Empty(t, mismatches)

	// Nothing moved: refusals change nothing, and the table picks bodies
	// that allowed callers get refused by validation or state.
	require.Equal(t, clientWallet, env.wallet(t, f.p.client))
	require.Equal(t, providerWallet, env.wallet(t, f.p.provider))
	after := orderOf(t, f.p.client, f.order)
	require.Equal(t, orderBefore.Status, after.Status)
	require.Equal(t, orderBefore.Version, after.Version)
	for _, s := range callers[1:] {
		require.Equal(t, 200, env.call(t, "GET", "/v1/me", s.Token, nil).Status, "the shared sessions are still live")
	}
	env.requireLedgerClean(t)
}

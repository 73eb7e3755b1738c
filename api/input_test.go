package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/sysconfig"
)

// inputError decodes a refusal's envelope.
func inputError(t testing.TB, res response) api.ErrorDetail {
	t.Helper()
	var e api.ErrorBody
	res.json(t, &e)
	return e.Error
}

// requireInvalidRequest checks a 400 invalid_request whose message has
// every part given.
func requireInvalidRequest(t testing.TB, res response, name string, parts ...string) {
	t.Helper()
	require.Equal(t, 400, res.Status, "%s: %s", name, res.Body)
	e := inputError(t, res)
	require.Equal(t, "invalid_request", e.Code, name)
	for _, p := range parts {
		require.Contains(t, e.Message, p, name)
	}
}

// requireFieldRefused checks a 422 validation_failed naming field.
func requireFieldRefused(t testing.TB, res response, name, field string) {
	t.Helper()
	require.Equal(t, 422, res.Status, "%s: %s", name, res.Body)
	e := inputError(t, res)
	require.Equal(t, "validation_failed", e.Code, name)
	require.Contains(t, e.Fields, field, "%s: %s", name, res.Body)
}

// Ensure request bodies are read strictly: a field named twice, a name
// that differs from a field only in case, a malformed amount, wrong types
// and trailing data are each a 400 naming the field, and nothing is
// created. (encoding/json took the last of two "amount"s and let
// "Amount" set amount.)
func TestStrictJSONBodies(t *testing.T) {
	skipShort(t)
	p := newParties(t)
	countOrders := func() int {
		var n int
		require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders WHERE client_id = $1`, p.client.uid()).Scan(&n))
		return n
	}
	// body is a create-order body with rest appended inside the object.
	body := func(rest string) string {
		return fmt.Sprintf(`{"provider_id":%q,"title":"Pintura"%s}`, p.provider.ID, rest)
	}
	cases := []struct {
		name  string
		body  string
		parts []string
	}{
		{"amount twice", body(`,"amount":"10.00","amount":"400.00"`), []string{`duplicate field "amount"`}},
		{"amount twice, same value", body(`,"amount":"10.00","amount":"10.00"`), []string{`duplicate field "amount"`}},
		{"title twice", `{"title":"a","provider_id":"1","title":"b","amount":"10.00"}`, []string{`duplicate field "title"`}},
		{"Amount beside amount", body(`,"amount":"10.00","Amount":"400.00"`), []string{`unknown field "Amount"`}},
		{"Amount alone", body(`,"Amount":"10.00"`), []string{`unknown field "Amount"`}},
		{"TITLE", `{"provider_id":"1","TITLE":"x","amount":"10.00"}`, []string{`unknown field "TITLE"`}},
		{"unknown field", body(`,"amount":"10.00","status":"completed"`), []string{`unknown field "status"`}},
		{"amount as a number", body(`,"amount":10`), []string{`field "amount"`, "string"}},
		{"amount as a boolean", body(`,"amount":true`), []string{`field "amount"`}},
		{"title as a number", `{"provider_id":"1","title":7,"amount":"10.00"}`, []string{`field "title" must be a string`}},
		{"due date not a date", body(`,"amount":"10.00","due_date":"tomorrow"`), []string{`field "due_date" must be a date-time`}},
		{"trailing object", body(`,"amount":"10.00"`) + `{}`, []string{"exactly one JSON object"}},
		{"trailing garbage", body(`,"amount":"10.00"`) + ` x`, []string{"exactly one JSON object"}},
		{"truncated", `{"provider_id":"1","title":`, []string{"unexpected end of input"}},
		{"invalid UTF-8", body(",\"amount\":\"10.00\",\"description\":\"caf\xe9\""), []string{"malformed JSON", `"description"`}},
		{"empty body", ``, []string{"must be a JSON object"}},
		{"null", `null`, []string{"must be a JSON object"}},
		{"array", `[]`, []string{"must be a JSON object"}},
		{"string", `"x"`, []string{"must be a JSON object"}},
	}
	for _, c := range cases {
		res := env.call(t, "POST", "/v1/orders", p.client.Token, c.body)
		requireInvalidRequest(t, res, c.name, c.parts...)
	}

	// An unknown name is quoted back, but not at any length.
	res := env.call(t, "POST", "/v1/orders", p.client.Token, body(`,"amount":"10.00","`+strings.Repeat("x", 5000)+`":1`))
	requireInvalidRequest(t, res, "long unknown name", `unknown field "xxxx`)
	require.Less(t, len(inputError(t, res).Message), 200)

	// Money has one spelling: digits, an optional leading "-", a dot with
	// one or two decimals.
	for _, bad := range []string{"5.", ".5", "05.00", "00", "+5", " 5", "5 ", "5.001", "5.0e1", "1e3", "5,00", "0x10",
		"-", "", "--5", "5.-1", "١٢٣", "NaN", "Infinity", "5\u00a0"} {
		res := env.call(t, "POST", "/v1/orders", p.client.Token, body(fmt.Sprintf(`,"amount":%q`, bad)))
		requireInvalidRequest(t, res, "amount "+bad, `field "amount"`)
	}
	require.Zero(t, countOrders(), "nothing was created")

	// A negative amount parses; the handler refuses it as a value.
	res = env.call(t, "POST", "/v1/orders", p.client.Token, body(`,"amount":"-1.00"`))
	requireFieldRefused(t, res, "negative amount", "amount")
	require.Zero(t, countOrders(), "nothing was created")

	for _, good := range []string{"5", "5.0", "5.00"} {
		res := env.call(t, "POST", "/v1/orders", p.client.Token, body(fmt.Sprintf(`,"amount":%q`, good)))
		require.Equal(t, 201, res.Status, "%s: %s", good, res.Body)
		var o api.Order
		res.json(t, &o)
		require.Equal(t, "5.00", o.Amount.StringFixed(2), good)
	}
	require.Equal(t, 3, countOrders())

	// Order actions read their bodies the same way.
	orderID := p.orderIn(t, "negotiating")
	res = env.act(t, p.provider, orderID, "proposals", `{"amount":"50.00","amount":"1.00"}`)
	requireInvalidRequest(t, res, "proposal amount twice", `duplicate field "amount"`)
	res = env.act(t, p.provider, orderID, "proposals", `{"amount":"50."}`)
	requireInvalidRequest(t, res, "proposal amount 50.", `field "amount"`)

	// Admin webhook bodies: a wrong element type is named with its index.
	res = env.call(t, "POST", "/v1/admin/webhooks", env.admin.Token,
		`{"url":"https://hooks.example.com/ordem","event_types":[1]}`)
	requireInvalidRequest(t, res, "event type as a number", `field "event_types[0]" must be a string`)
}

// Ensure hours (a decimal string or number) refuse the spellings money
// refuses, exponents included, while the plain forms parse and reach the
// handler's own range check (422, not 400).
func TestDecimalStringForms(t *testing.T) {
	skipShort(t)
	p := newParties(t)
	orderID := p.orderIn(t, "delivered")
	extend := func(hours string) response {
		return env.act(t, env.admin, orderID, "extend-deadline", `{"hours":`+hours+`,"reason":"pedido do cliente"}`)
	}
	for _, bad := range []string{`"5."`, `".5"`, `"1e1"`, `1e1`, `1E1`, `"+5"`, `" 5"`, `"5 "`, `"05"`, `"0x5"`, `""`,
		`"5,5"`, `true`, `[5]`, `{}`, `"Infinity"`} {
		res := extend(bad)
		requireInvalidRequest(t, res, "hours "+bad, `field "hours"`)
	}
	for _, parsed := range []string{`"0"`, `0`, `"0.0"`, `-1`, `"-0.5"`, `"721"`, `720.5`} {
		res := extend(parsed)
		requireFieldRefused(t, res, "hours "+parsed, "hours")
	}
	var deadline1, deadline2 string
	get := func() string {
		var s string
		require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT coalesce(confirm_deadline::text, '') FROM orders WHERE id = $1`, orderID).Scan(&s))
		return s
	}
	deadline1 = get()
	res := extend(`"0.5"`)
	require.Equal(t, 200, res.Status, string(res.Body))
	deadline2 = get()
	require.NotEqual(t, deadline1, deadline2, "the deadline moved")
}

// Ensure single-line fields refuse line breaks, control characters and
// invisible text-direction controls with a 422 naming the field, storing
// nothing, while ordinary accented text passes.
func TestSingleLineTextFields(t *testing.T) {
	skipShort(t)

	// Register: name, phone and e-mail.
	register := func(name, email, phone string) response {
		return env.call(t, "POST", "/v1/auth/register", "", map[string]string{
			"name": name, "email": email, "phone": phone, "password": "s3cret-password", "role": "client"})
	}
	userCount := func(email string) int {
		var n int
		require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE lower(email) = lower($1)`, email).Scan(&n))
		return n
	}
	newEmail := func() string { return fmt.Sprintf("text-%d@example.com", rand.Int64()) }
	for _, c := range []struct{ name, field, value string }{
		{"name with a line feed", "name", "Ana\nBcc: all@example.com"},
		{"name with a carriage return", "name", "Ana\rMaria"},
		{"name with a tab", "name", "Ana\tMaria"},
		{"name with a right-to-left override", "name", "Ana \u202eairaM"},
		{"name with a left-to-right isolate", "name", "Ana\u2066Maria"},
		{"name with a line separator", "name", "Ana\u2028Maria"},
		{"name with an escape", "name", "Ana\x1b[2J"},
		{"name with a C1 control", "name", "Ana\u0085Maria"},
		{"phone with a line feed", "phone", "11 9999\n9999"},
		{"phone with a right-to-left mark", "phone", "11\u200f99999999"},
		{"e-mail with a right-to-left override", "email", "ana\u202emoc@example.com"},
	} {
		name, email, phone := "Ana Maria", newEmail(), "11999999999"
		switch c.field {
		case "name":
			name = c.value
		case "phone":
			phone = c.value
		case "email":
			email = c.value
		}
		res := register(name, email, phone)
		requireFieldRefused(t, res, c.name, c.field)
		require.Zero(t, userCount(email), "%s: no user was created", c.name)
	}
	email := newEmail()
	res := register("José da Silva Conceição", email, "+55 (11) 99999-9999")
	require.Equal(t, 201, res.Status, string(res.Body))
	require.Equal(t, 1, userCount(email))

	// Admin deposit: the reason is one line.
	client := env.newUser(t, "client")
	ref := uniqueRef("text")
	res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": client.ID, "amount": "150.00", "reference": ref, "reason": "PIX recebido\rcrédito extra"})
	requireFieldRefused(t, res, "deposit reason with a CR", "reason")
	res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": client.ID, "amount": "150.00", "reference": ref, "reason": "PIX \u202erecebido"})
	requireFieldRefused(t, res, "deposit reason with U+202E", "reason")
	res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": client.ID, "amount": "150.00", "reference": ref + "\u202e", "reason": "PIX recebido"})
	requireFieldRefused(t, res, "deposit reference with U+202E", "reference")
	require.Equal(t, "0.00/0.00", env.wallet(t, client), "nothing was credited")
	var deposits int
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM deposits WHERE user_id = $1`, client.uid()).Scan(&deposits))
	require.Zero(t, deposits)

	// System config: the change's reason is one line.
	key := sysconfig.ConfirmationDeadlineHours
	before := configValueOf(t, key)
	reason := fmt.Sprintf("ajuste %d\nsegunda linha", rand.Int64())
	res = env.call(t, "PUT", "/v1/admin/config/"+key, env.admin.Token, map[string]any{"value": "47", "reason": reason})
	requireFieldRefused(t, res, "config reason with a LF", "reason")
	require.Equal(t, before, configValueOf(t, key), "the value did not change")
	var changes int
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM system_config_changes WHERE reason = $1`, reason).Scan(&changes))
	require.Zero(t, changes, "no change was recorded")

	// Webhook endpoints: the description and the reason are one line.
	url := fmt.Sprintf("https://hooks.example.com/text-%d", rand.Int64())
	for _, c := range []struct{ name, field, desc, reason string }{
		{"description with U+202E", "description", "Financeiro \u202etxt.exe", "ERP"},
		{"description with a LF", "description", "Financeiro\nERP", "ERP"},
		{"reason with a tab", "reason", "Financeiro", "a\tb"},
	} {
		res := env.call(t, "POST", "/v1/admin/webhooks", env.admin.Token,
			map[string]any{"url": url, "description": c.desc, "event_types": []string{"order.created"}, "reason": c.reason})
		requireFieldRefused(t, res, c.name, c.field)
	}
	var hooks int
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_endpoints WHERE url = $1`, url).Scan(&hooks))
	require.Zero(t, hooks, "no endpoint was created")
}

// configValueOf reads a system config value from the database ("" when
// the key has no row).
func configValueOf(t *testing.T, key string) string {
	t.Helper()
	var v string
	err := env.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT value FROM system_config WHERE key = $1), '')`, key).Scan(&v)
	require.NoError(t, err)
	return v
}

// Ensure an evidence description may span lines but refuses the
// invisible text-direction controls and other control characters, storing
// nothing.
func TestEvidenceDescriptionText(t *testing.T) {
	skipShort(t)
	p := newParties(t)
	orderID := p.orderIn(t, "disputed")
	for name, desc := range map[string]string{
		"right-to-left override": "Foto da parede \u202eafter",
		"escape":                 "Foto\x1b[2J",
		"NUL":                    "Foto\x00",
	} {
		res := upload{name: "foto.png", data: pngFile(t), description: desc}.send(t, p.client, orderID)
		requireFieldRefused(t, res, name, "description")
	}
	require.Empty(t, listEvidence(t, p.client, orderID), "nothing was stored")

	res := upload{name: "foto.png", data: pngFile(t), description: "Linha 1\nLinha 2\r\n\tdetalhe"}.send(t, p.client, orderID)
	require.Equal(t, 201, res.Status, string(res.Body))
	var ev api.Evidence
	res.json(t, &ev)
	require.Equal(t, "Linha 1\nLinha 2\r\n\tdetalhe", ev.Description)
}

// Ensure an evidence id is read only in the canonical form the API
// returns: urn:uuid:, braces, 32 digits without hyphens and upper case
// are no such evidence (404) on the download and the content routes,
// never a database error (urn:uuid: was a 500) nor another spelling of
// the same evidence.
func TestEvidenceIDCanonicalOnly(t *testing.T) {
	skipShort(t)
	p := newParties(t)
	orderID := p.orderIn(t, "disputed")
	res := upload{name: "foto.png", data: pngFile(t)}.send(t, p.client, orderID)
	require.Equal(t, 201, res.Status, string(res.Body))
	var ev api.Evidence
	res.json(t, &ev)

	path := func(id, suffix string) string { return evidencePath(orderID) + "/" + id + suffix }
	for _, suffix := range []string{"", "/content"} {
		res := env.call(t, "GET", path(ev.ID, suffix), p.client.Token, nil)
		require.Equal(t, 200, res.Status, "canonical%s: %s", suffix, res.Body)
		for name, id := range map[string]string{
			"urn:uuid:":  "urn:uuid:" + ev.ID,
			"braces":     "%7B" + ev.ID + "%7D",
			"raw braces": "{" + ev.ID + "}",
			"32 digits":  strings.ReplaceAll(ev.ID, "-", ""),
			"upper case": strings.ToUpper(ev.ID),
		} {
			res := env.call(t, "GET", path(id, suffix), p.client.Token, nil)
			require.Equal(t, 404, res.Status, "%s%s: %s", name, suffix, res.Body)
			e := inputError(t, res)
			require.Equal(t, "not_found", e.Code, name)
			require.Equal(t, "no such evidence", e.Message, name)
		}
	}
}

// corsHeaders returns the response's Access-Control-Allow-* headers.
func corsHeaders(res response) map[string]string {
	out := map[string]string{}
	for k, v := range res.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			out[k] = strings.Join(v, ",")
		}
	}
	return out
}

// Ensure that with CORS_ALLOWED_ORIGINS empty (same-origin only) no
// route answers any Access-Control-* header, to a simple request or a
// preflight from any origin; and that a server with an origin configured
// still grants that origin, and only it.
func TestCORS(t *testing.T) {
	skipShort(t)
	require.Empty(t, env.cfg.CORSAllowedOrigins, "the shared test server has no CORS origin")
	s := env.newUser(t, "client")
	preflight := []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,content-type"}
	for _, c := range []struct {
		method, path, token string
		headers             []string
	}{
		{"GET", "/v1/me", s.Token, []string{"Origin", "https://evil.example"}},
		{"GET", "/v1/meta", "", []string{"Origin", "https://evil.example"}},
		{"GET", "/healthz", "", []string{"Origin", "null"}},
		{"OPTIONS", "/v1/orders", "", preflight},
		{"OPTIONS", "/v1/me", "", preflight},
		{"OPTIONS", "/v1/auth/login", "", preflight},
	} {
		res := env.call(t, c.method, c.path, c.token, nil, c.headers...)
		require.Empty(t, corsHeaders(res), "%s %s: %d", c.method, c.path, res.Status)
	}
	res := env.call(t, "GET", "/v1/me", s.Token, nil, "Origin", "https://evil.example")
	require.Equal(t, 200, res.Status, "the request itself is served: %s", res.Body)

	cfg := *env.cfg
	cfg.CORSAllowedOrigins = []string{"https://app.example"}
	srv := &api.Server{Pool: env.pool, Temporal: env.temporal, Config: &cfg, Logger: env.server.Logger}
	app := srv.App()
	call := func(method, path, token string, headers ...string) response {
		return callApp(t, app, method, path, token, nil, headers...)
	}
	res = call("OPTIONS", "/v1/orders", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,content-type")
	require.Equal(t, 204, res.Status, string(res.Body))
	require.Equal(t, "https://app.example", res.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, res.Header.Get("Access-Control-Allow-Methods"), "POST")
	require.Contains(t, strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization")
	res = call("GET", "/v1/me", s.Token, "Origin", "https://app.example")
	require.Equal(t, 200, res.Status, string(res.Body))
	require.Equal(t, "https://app.example", res.Header.Get("Access-Control-Allow-Origin"))

	for _, r := range []response{
		call("GET", "/v1/me", s.Token, "Origin", "https://evil.example"),
		call("OPTIONS", "/v1/orders", "", preflight...),
	} {
		require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"), "another origin is not granted")
	}
}

package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/locale"
)

func me(t *testing.T, s session) api.User {
	t.Helper()
	res := env.call(t, "GET", "/v1/me", s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var u api.User
	res.json(t, &u)
	return u
}

// Ensure users start in pt-BR and America/Sao_Paulo, change both on PATCH
// /v1/me, and that a refused change (422, fields named) changes nothing.
func TestLocaleAndTimeZone(t *testing.T) {
	skipShort(t)
	u := env.newUser(t, "client")
	got := me(t, u)
	require.Equal(t, "pt-BR", got.Locale)
	require.Equal(t, "America/Sao_Paulo", got.TimeZone)

	res := env.call(t, "PATCH", "/v1/me", u.Token, map[string]string{"locale": "en"})
	require.Equal(t, 200, res.Status, string(res.Body))
	res.json(t, &got)
	require.Equal(t, "en", got.Locale)
	require.Equal(t, "America/Sao_Paulo", got.TimeZone)
	res = env.call(t, "PATCH", "/v1/me", u.Token, map[string]string{"time_zone": "Asia/Tokyo"})
	require.Equal(t, 200, res.Status, string(res.Body))
	got = me(t, u)
	require.Equal(t, "en", got.Locale)
	require.Equal(t, "Asia/Tokyo", got.TimeZone)

	for _, bad := range []struct {
		body   any
		status int
		fields []string
	}{
		{map[string]string{"locale": "fr"}, 422, []string{"locale"}},
		{map[string]string{"locale": "PT-br"}, 422, []string{"locale"}},
		{map[string]string{"locale": ""}, 422, []string{"locale"}},
		{map[string]string{"time_zone": "Mars/Olympus"}, 422, []string{"time_zone"}},
		{map[string]string{"time_zone": "Local"}, 422, []string{"time_zone"}},
		{map[string]string{"time_zone": ""}, 422, []string{"time_zone"}},
		// One bad field refuses the other, good one too.
		{map[string]string{"locale": "pt-BR", "time_zone": "Nowhere"}, 422, []string{"time_zone"}},
		{map[string]string{"locale": "xx", "time_zone": "UTC"}, 422, []string{"locale"}},
		{map[string]string{"name": "Outro Nome"}, 400, nil},
		{`{"locale": 5}`, 400, nil},
	} {
		res := env.call(t, "PATCH", "/v1/me", u.Token, bad.body)
		require.Equal(t, bad.status, res.Status, "%v: %s", bad.body, res.Body)
		var e api.ErrorBody
		res.json(t, &e)
		for _, f := range bad.fields {
			require.Contains(t, e.Error.Fields, f)
		}
		got := me(t, u)
		require.Equal(t, "en", got.Locale, "%v changed nothing", bad.body)
		require.Equal(t, "Asia/Tokyo", got.TimeZone, "%v changed nothing", bad.body)
	}
	require.Equal(t, 401, env.call(t, "PATCH", "/v1/me", "", map[string]string{"locale": "en"}).Status)

	// Registration may choose them too, validated the same way.
	email := fmt.Sprintf("en-%d@example.com", rand.Int64())
	res = env.call(t, "POST", "/v1/auth/register", "", map[string]string{"name": "English Speaker", "email": email,
		"password": "s3cret-password", "role": "provider", "locale": "en", "time_zone": "Europe/Lisbon"})
	require.Equal(t, 201, res.Status, string(res.Body))
	res.json(t, &got)
	require.Equal(t, "en", got.Locale)
	require.Equal(t, "Europe/Lisbon", got.TimeZone)
	res = env.call(t, "POST", "/v1/auth/register", "", map[string]string{"name": "Bad Zone", "email": "x" + email,
		"password": "s3cret-password", "role": "client", "time_zone": "Europe/Atlantis"})
	require.Equal(t, 422, res.Status, string(res.Body))
	var n int
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE email = $1`, "x"+email).Scan(&n))
	require.Zero(t, n)
}

// Ensure error messages follow Accept-Language while codes and statuses do
// not change.
func TestErrorMessagesFollowAcceptLanguage(t *testing.T) {
	skipShort(t)
	for header, want := range map[string]string{
		"":                     "wrong e-mail or password",
		"en-US,en;q=0.9":       "wrong e-mail or password",
		"de-DE":                "wrong e-mail or password",
		"pt-BR,pt;q=0.9":       "E-mail ou senha incorretos.",
		"fr;q=0.9, pt;q=0.8":   "E-mail ou senha incorretos.",
		"pt;q=0.1, en;q=0.5":   "wrong e-mail or password",
		"pt-PT":                "E-mail ou senha incorretos.",
		"en;q=0, pt-BR;q=0.01": "E-mail ou senha incorretos.",
	} {
		// A user of its own per language: the per-account login throttle
		// answers 429 from the fourth failure on one account.
		u := env.newUser(t, "client")
		login := map[string]string{"email": u.Email, "password": "wrong-password"}
		res := env.call(t, "POST", "/v1/auth/login", "", login, "Accept-Language", header)
		require.Equal(t, 401, res.Status, header)
		var e api.ErrorBody
		res.json(t, &e)
		require.Equal(t, "unauthenticated", e.Error.Code, header)
		require.Equal(t, want, e.Error.Message, header)
	}

	// Field messages too; the field names stay.
	u := env.newUser(t, "client")
	res := env.call(t, "PATCH", "/v1/me", u.Token, map[string]string{"locale": "fr", "time_zone": "Nowhere"},
		"Accept-Language", "pt-BR")
	require.Equal(t, 422, res.Status)
	var e api.ErrorBody
	res.json(t, &e)
	require.Equal(t, "validation_failed", e.Error.Code)
	require.Equal(t, "Dados recusados.", e.Error.Message)
	require.Equal(t, map[string]string{"locale": "deve ser pt-BR ou en",
		"time_zone": "deve ser um fuso horário IANA, como America/Sao_Paulo"}, e.Error.Fields)
	res = env.call(t, "PATCH", "/v1/me", u.Token, map[string]string{"locale": "fr"}, "Accept-Language", "en")
	res.json(t, &e)
	require.Equal(t, "must be pt-BR or en", e.Error.Fields["locale"])

	// A message the catalogue does not translate gets its code's meaning.
	env.fund(t, u, "10.00")
	res = env.call(t, "POST", "/v1/wallet/payouts", u.Token, map[string]string{"amount": "10.01"}, "Accept-Language", "pt-BR")
	require.Equal(t, 402, res.Status)
	res.json(t, &e)
	require.Equal(t, "insufficient_funds", e.Error.Code)
	require.Equal(t, "Saldo disponível insuficiente.", e.Error.Message)
	require.Equal(t, "10.00/0.00", env.wallet(t, u))
	env.requireLedgerClean(t)
}

// Ensure each party's notifications and e-mails come in their own
// language, with amounts in the deployment's currency and times in their
// own zone.
func TestNotificationsInEachUsersLanguage(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client") // pt-BR, America/Sao_Paulo
	provider := env.newUser(t, "provider")
	res := env.call(t, "PATCH", "/v1/me", provider.Token, map[string]string{"locale": "en", "time_zone": "Asia/Tokyo"})
	require.Equal(t, 200, res.Status, string(res.Body))
	env.fund(t, client, "2000.00")
	o := env.newOrder(t, client, provider, "1234.50")
	for _, a := range []string{"accept", "deliver"} {
		res := env.act(t, provider, o.ID, a, nil)
		require.Equal(t, 200, res.Status, string(res.Body))
	}
	deadline := *orderOf(t, client, o.ID).ConfirmDeadline
	inbox := func(s session) map[string]api.Notification {
		res := env.call(t, "GET", "/v1/notifications?limit=100", s.Token, nil)
		require.Equal(t, 200, res.Status, string(res.Body))
		var page api.NotificationPage
		res.json(t, &page)
		out := map[string]api.Notification{}
		for _, n := range page.Items {
			out[n.Kind] = n
		}
		return out
	}
	p, c := inbox(provider), inbox(client)
	require.Equal(t, "New order", p["order_created"].Title)
	require.Equal(t, "You received an order: Conserto do telhado (R$1,234.50)", p["order_created"].Body)
	require.Equal(t, "Order accepted", p["order_accepted"].Title)
	require.Equal(t, "Conserto do telhado was accepted for R$1,234.50; the amount is held in escrow.", p["order_accepted"].Body)
	require.Equal(t, "Pedido aceito", c["order_accepted"].Title)
	require.Equal(t, "Conserto do telhado foi aceito por R$ 1.234,50; o valor está retido em garantia.", c["order_accepted"].Body)
	// The deadline in the client's zone.
	want := locale.FormatTime(deadline, "America/Sao_Paulo", "pt-BR")
	require.Contains(t, c["order_delivered"].Body, "até "+want+";")
	require.True(t, strings.HasSuffix(want, "(-03)"), want)

	// The e-mail to the provider is in English too.
	var subject, body string
	var orderID int64
	fmt.Sscan(o.ID, &orderID)
	require.NoError(t, env.pool.QueryRow(context.Background(), `
		SELECT subject, body FROM email_outbox WHERE user_id = $1 AND kind = 'order_created' AND order_id = $2`,
		provider.uid(), orderID).Scan(&subject, &body))
	require.Equal(t, "[Ordem] New order", subject)
	require.Contains(t, body, "You received an order: Conserto do telhado (R$1,234.50)")
	env.requireLedgerClean(t)
}

package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/ledger"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
}

// platformBalance reads a platform account's balance.
func platformBalance(t *testing.T, code string) decimal.Decimal {
	t.Helper()
	b, err := ledger.AccountBalance(context.Background(), env.pool, code)
	require.NoError(t, err)
	return b
}

// requireDelta checks that account moved by exactly want since before.
func requireDelta(t *testing.T, code string, before decimal.Decimal, want string) {
	t.Helper()
	got := platformBalance(t, code).Sub(before)
	require.True(t, got.Equal(decimal.RequireFromString(want)), "%s moved by %s, want %s", code, got.StringFixed(2), want)
}

func count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, env.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func uniqueRef(prefix string) string { return fmt.Sprintf("%s-%d", prefix, rand.Int64()) }

// deposit credits amount to s through the admin route.
func deposit(t *testing.T, s session, amount string) api.DepositResult {
	t.Helper()
	res := env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": s.ID, "amount": amount, "reference": uniqueRef("dep"), "reason": "PIX recebido"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var out api.DepositResult
	res.json(t, &out)
	return out
}

func TestWalletBalanceAndTransactions(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	other := env.newUser(t, "client")

	res := env.call(t, "GET", "/v1/wallet", client.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	require.JSONEq(t, fmt.Sprintf(`{"user_id":%q,"available":"0.00","blocked":"0.00","currency":"BRL"}`, client.ID), string(res.Body))

	dep := deposit(t, client, "500.00")
	o := env.newOrder(t, client, provider, "150.00")
	res = env.act(t, provider, o.ID, "accept", nil)
	require.Equal(t, 200, res.Status, string(res.Body))

	res = env.call(t, "GET", "/v1/wallet", client.Token, nil)
	require.Equal(t, 200, res.Status)
	var w api.WalletBalance
	res.json(t, &w)
	require.Equal(t, "350.00", w.Available.StringFixed(2))
	require.Equal(t, "150.00", w.Blocked.StringFixed(2))
	require.Contains(t, string(res.Body), `"available":"350.00"`)

	// Newest first: the hold's two legs, then the deposit.
	res = env.call(t, "GET", "/v1/wallet/transactions", client.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var page api.Page[api.WalletEntry]
	res.json(t, &page)
	require.Len(t, page.Items, 3)
	require.Empty(t, page.NextCursor)
	byAccount := map[string]api.WalletEntry{}
	for _, e := range page.Items[:2] {
		require.Equal(t, "hold", e.Kind)
		require.Equal(t, o.ID, e.OrderID)
		require.Equal(t, page.Items[0].TransactionID, e.TransactionID)
		byAccount[e.Account] = e
	}
	require.Equal(t, "-150.00", byAccount["available"].Amount.StringFixed(2))
	require.Equal(t, "350.00", byAccount["available"].BalanceAfter.StringFixed(2))
	require.Equal(t, "150.00", byAccount["blocked"].Amount.StringFixed(2))
	require.Equal(t, "150.00", byAccount["blocked"].BalanceAfter.StringFixed(2))
	last := page.Items[2]
	require.Equal(t, "deposit", last.Kind)
	require.Equal(t, "available", last.Account)
	require.Empty(t, last.OrderID)
	require.Equal(t, dep.Deposit.TransactionID, last.TransactionID)
	require.Equal(t, "500.00", last.Amount.StringFixed(2))
	require.Equal(t, "500.00", last.BalanceAfter.StringFixed(2))
	require.NotEmpty(t, last.Memo)
	require.False(t, last.CreatedAt.IsZero())
	require.Contains(t, string(res.Body), `"amount":"-150.00"`)

	// Keyset pagination walks the same entries.
	var walked []api.WalletEntry
	cursor := ""
	for i := 0; i < 5; i++ {
		res = env.call(t, "GET", "/v1/wallet/transactions?limit=2&cursor="+cursor, client.Token, nil)
		require.Equal(t, 200, res.Status, string(res.Body))
		var p api.Page[api.WalletEntry]
		res.json(t, &p)
		walked = append(walked, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	require.Equal(t, page.Items, walked)

	res = env.call(t, "GET", "/v1/wallet/transactions?account=blocked", client.Token, nil)
	require.Equal(t, 200, res.Status)
	res.json(t, &page)
	require.Len(t, page.Items, 1)
	require.Equal(t, "blocked", page.Items[0].Account)

	// Refusals.
	require.Equal(t, 422, env.call(t, "GET", "/v1/wallet/transactions?account=revenue", client.Token, nil).Status)
	require.Equal(t, 422, env.call(t, "GET", "/v1/wallet/transactions?cursor=nonsense!", client.Token, nil).Status)
	require.Equal(t, 422, env.call(t, "GET", "/v1/wallet/transactions?limit=0", client.Token, nil).Status)
	res = env.call(t, "GET", "/v1/wallet", "", nil)
	require.Equal(t, 401, res.Status)
	require.Equal(t, "unauthenticated", res.errorCode())
	require.Equal(t, 401, env.call(t, "GET", "/v1/wallet/transactions", "", nil).Status)

	// Another user sees only their own (empty) wallet.
	res = env.call(t, "GET", "/v1/wallet/transactions", other.Token, nil)
	require.Equal(t, 200, res.Status)
	res.json(t, &page)
	require.Empty(t, page.Items)
	res = env.call(t, "GET", "/v1/wallet", other.Token, nil)
	res.json(t, &w)
	require.Equal(t, other.ID, w.UserID)
	require.True(t, w.Available.IsZero())

	// Admins read any wallet through the admin routes.
	res = env.call(t, "GET", "/v1/admin/wallets/"+client.ID, env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	res.json(t, &w)
	require.Equal(t, "350.00", w.Available.StringFixed(2))
	res = env.call(t, "GET", "/v1/admin/wallets/"+client.ID+"/transactions", env.admin.Token, nil)
	require.Equal(t, 200, res.Status)
	res.json(t, &page)
	require.Len(t, page.Items, 3)
	require.Equal(t, 403, env.call(t, "GET", "/v1/admin/wallets/"+client.ID, other.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "GET", "/v1/admin/wallets/999999999", env.admin.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "GET", "/v1/admin/wallets/abc", env.admin.Token, nil).Status)
	env.requireLedgerClean(t)
}

func TestAdminDeposit(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client")
	ref := uniqueRef("pix")
	worldBefore := platformBalance(t, ledger.WorldAccount)

	res := env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": client.ID, "amount": "150.00", "reference": ref, "reason": "PIX recebido"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var first api.DepositResult
	res.json(t, &first)
	d := first.Deposit
	require.NotEmpty(t, d.ID)
	require.Equal(t, client.ID, d.UserID)
	require.Equal(t, "150.00", d.Amount.StringFixed(2))
	require.Equal(t, "BRL", d.Currency)
	require.Equal(t, "admin", d.Source)
	require.Equal(t, ref, d.Reference)
	require.Equal(t, env.admin.ID, d.CreditedBy)
	require.NotEmpty(t, d.TransactionID)
	require.NotNil(t, first.Wallet)
	require.Equal(t, "150.00", first.Wallet.Available.StringFixed(2))
	require.Contains(t, string(res.Body), `"amount":"150.00"`)
	require.Equal(t, "150.00/0.00", env.wallet(t, client))
	requireDelta(t, ledger.WorldAccount, worldBefore, "-150.00")

	// Audited with the admin.
	var actor int64
	var reason, data string
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT actor_id, reason, data::text FROM audit_log
		WHERE action = 'credit_deposit' AND target_type = 'deposit' AND target_id = $1`, d.ID).Scan(&actor, &reason, &data))
	require.Equal(t, env.admin.ID, strconv.FormatInt(actor, 10))
	require.Equal(t, "PIX recebido", reason)
	require.Contains(t, data, ref)

	// The same reference credits once: the first deposit comes back.
	res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
		map[string]string{"user_id": client.ID, "amount": "150.00", "reference": ref, "reason": "PIX recebido"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var again api.DepositResult
	res.json(t, &again)
	require.Equal(t, d.ID, again.Deposit.ID)
	require.Equal(t, d.TransactionID, again.Deposit.TransactionID)
	require.Equal(t, "150.00", again.Wallet.Available.StringFixed(2))
	require.Equal(t, "150.00/0.00", env.wallet(t, client))
	require.Equal(t, 1, count(t, `SELECT count(*) FROM audit_log WHERE action = 'credit_deposit' AND target_id = $1`, d.ID))

	// The same reference for another amount or user is a conflict.
	other := env.newUser(t, "provider")
	for _, body := range []map[string]string{
		{"user_id": client.ID, "amount": "151.00", "reference": ref, "reason": "r"},
		{"user_id": other.ID, "amount": "150.00", "reference": ref, "reason": "r"},
	} {
		res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token, body)
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "idempotency_conflict", res.errorCode())
	}
	require.Equal(t, "150.00/0.00", env.wallet(t, client))
	require.Equal(t, "0.00/0.00", env.wallet(t, other))

	// Idempotency-Key: a retry gets the first response.
	key := uniqueRef("idem")
	body := map[string]string{"user_id": other.ID, "amount": "20.50", "reference": uniqueRef("ted"), "reason": "TED recebida"}
	res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token, body, "Idempotency-Key", key)
	require.Equal(t, 201, res.Status, string(res.Body))
	res2 := env.call(t, "POST", "/v1/admin/deposits", env.admin.Token, body, "Idempotency-Key", key)
	require.Equal(t, 201, res2.Status)
	require.Equal(t, "true", res2.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(res.Body), string(res2.Body))
	body["amount"] = "20.51"
	res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token, body, "Idempotency-Key", key)
	require.Equal(t, 409, res.Status)
	require.Equal(t, "idempotency_conflict", res.errorCode())
	require.Equal(t, "20.50/0.00", env.wallet(t, other))

	// Only admins credit deposits.
	res = env.call(t, "POST", "/v1/admin/deposits", client.Token,
		map[string]string{"user_id": client.ID, "amount": "1000.00", "reference": uniqueRef("self")})
	require.Equal(t, 403, res.Status)
	require.Equal(t, "forbidden", res.errorCode())
	require.Equal(t, 401, env.call(t, "POST", "/v1/admin/deposits", "",
		map[string]string{"user_id": client.ID, "amount": "1000.00", "reference": uniqueRef("anon")}).Status)

	// The user must be an active client or provider.
	gone := env.newUser(t, "client")
	res = env.call(t, "DELETE", "/v1/admin/users/"+gone.ID, env.admin.Token, map[string]string{"reason": "conta encerrada"})
	require.Equal(t, 204, res.Status, string(res.Body))
	for _, uid := range []string{"999999999", gone.ID, env.admin.ID} {
		res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token,
			map[string]string{"user_id": uid, "amount": "10.00", "reference": uniqueRef("x"), "reason": "r"})
		require.Equal(t, 422, res.Status, uid+": "+string(res.Body))
		require.Equal(t, "validation_failed", res.errorCode())
		require.Contains(t, string(res.Body), `"user_id"`)
	}
	require.Equal(t, "0.00/0.00", env.wallet(t, gone))

	// Bad input changes nothing.
	worldBefore = platformBalance(t, ledger.WorldAccount)
	depositsBefore := count(t, `SELECT count(*) FROM deposits`)
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"user_id":"` + client.ID + `","amount":"-5.00","reference":"r1"}`, 422},
		{`{"user_id":"` + client.ID + `","amount":"0.00","reference":"r2"}`, 422},
		{`{"user_id":"` + client.ID + `","amount":"1.005","reference":"r3"}`, 400},
		{`{"user_id":"` + client.ID + `","amount":10,"reference":"r4"}`, 400},
		{`{"user_id":"` + client.ID + `","amount":"1e3","reference":"r5"}`, 400},
		{`{"user_id":"` + client.ID + `","amount":"10.00","reference":"r6","status":"paid"}`, 400},
		{`{"user_id":"` + client.ID + `","amount":"10.00","reference":"  "}`, 422},
		{`{"user_id":"` + client.ID + `","amount":"10.00"}`, 422},
		{`{"user_id":"` + client.ID + `","reference":"r7"}`, 422},
		{`{"user_id":` + client.ID + `,"amount":"10.00","reference":"r8"}`, 400},
		{`{"user_id":"abc","amount":"10.00","reference":"r9"}`, 422},
		{`{"user_id":"` + client.ID + `","amount":"10.00","reference":"r10"} {}`, 400},
		{``, 400},
	} {
		res = env.call(t, "POST", "/v1/admin/deposits", env.admin.Token, tc.body)
		require.Equal(t, tc.status, res.Status, tc.body+": "+string(res.Body))
	}
	require.Equal(t, "150.00/0.00", env.wallet(t, client))
	require.Equal(t, depositsBefore, count(t, `SELECT count(*) FROM deposits`))
	requireDelta(t, ledger.WorldAccount, worldBefore, "0")

	// The admin list shows deposits, filterable.
	res = env.call(t, "GET", "/v1/admin/deposits?user_id="+client.ID, env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var list api.Page[api.Deposit]
	res.json(t, &list)
	require.Len(t, list.Items, 1)
	require.Equal(t, d.ID, list.Items[0].ID)
	require.Equal(t, 422, env.call(t, "GET", "/v1/admin/deposits?source=cash", env.admin.Token, nil).Status)
	require.Equal(t, 403, env.call(t, "GET", "/v1/admin/deposits", client.Token, nil).Status)
	env.requireLedgerClean(t)
}

// webhook sends a signed deposit webhook; ts 0 means now.
func webhook(t *testing.T, body string, ts int64, headers ...string) response {
	t.Helper()
	if ts == 0 {
		ts = time.Now().Unix()
	}
	h := []string{api.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10),
		api.HeaderWebhookSignature, api.SignDepositWebhook(env.cfg.DepositWebhookSecret, ts, []byte(body))}
	return env.call(t, "POST", "/v1/webhooks/deposits", "", body, append(h, headers...)...)
}

func TestDepositWebhook(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client")
	event := uniqueRef("evt")
	body := fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"80.00","reference":"E2E-123"}`, event, client.ID)
	worldBefore := platformBalance(t, ledger.WorldAccount)

	res := webhook(t, body, 0)
	require.Equal(t, 201, res.Status, string(res.Body))
	var first api.DepositResult
	res.json(t, &first)
	require.Equal(t, "webhook", first.Deposit.Source)
	require.Equal(t, event, first.Deposit.Reference)
	require.Equal(t, "E2E-123", first.Deposit.ExternalReference)
	require.Equal(t, "80.00", first.Deposit.Amount.StringFixed(2))
	require.Empty(t, first.Deposit.CreditedBy)
	require.Nil(t, first.Wallet, "the payment provider does not see balances")
	require.Equal(t, "80.00/0.00", env.wallet(t, client))
	requireDelta(t, ledger.WorldAccount, worldBefore, "-80.00")
	require.Equal(t, 1, count(t, `SELECT count(*) FROM webhook_receipts WHERE event_id = $1 AND deposit_id = $2`, event, first.Deposit.ID))
	require.Equal(t, 1, count(t, `SELECT count(*) FROM audit_log WHERE action = 'webhook_deposit' AND target_id = $1`, first.Deposit.ID))

	// A redelivery (new timestamp, same or re-serialised content) credits
	// nothing and answers with the same deposit.
	for _, b := range []string{body, fmt.Sprintf(`{"reference":"E2E-123","amount":"80.0","user_id":%q,"id":%q}`, client.ID, event)} {
		res = webhook(t, b, time.Now().Unix()-60)
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, "true", res.Header.Get("Idempotent-Replayed"))
		var again api.DepositResult
		res.json(t, &again)
		require.Equal(t, first.Deposit, again.Deposit)
	}
	require.Equal(t, "80.00/0.00", env.wallet(t, client))

	// The same event id with other content is a conflict.
	for _, b := range []string{
		fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"81.00","reference":"E2E-123"}`, event, client.ID),
		fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"80.00","reference":"E2E-999"}`, event, client.ID),
	} {
		res = webhook(t, b, 0)
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "idempotency_conflict", res.errorCode())
	}
	require.Equal(t, "80.00/0.00", env.wallet(t, client))

	// Signature and timestamp refusals credit nothing.
	fresh := fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"10.00"}`, uniqueRef("evt"), client.ID)
	now := time.Now().Unix()
	sign := func(ts int64, b string) string {
		return api.SignDepositWebhook(env.cfg.DepositWebhookSecret, ts, []byte(b))
	}
	ts := strconv.FormatInt(now, 10)
	tampered := fmt.Sprintf(`{"id":"x","user_id":%q,"amount":"10000.00"}`, client.ID)
	for name, h := range map[string][]string{
		"tampered body":     {api.HeaderWebhookTimestamp, ts, api.HeaderWebhookSignature, sign(now, tampered)},
		"stale timestamp":   {api.HeaderWebhookTimestamp, strconv.FormatInt(now-301, 10), api.HeaderWebhookSignature, sign(now-301, fresh)},
		"future timestamp":  {api.HeaderWebhookTimestamp, strconv.FormatInt(now+600, 10), api.HeaderWebhookSignature, sign(now+600, fresh)},
		"timestamp swapped": {api.HeaderWebhookTimestamp, strconv.FormatInt(now-1, 10), api.HeaderWebhookSignature, sign(now, fresh)},
		"missing signature": {api.HeaderWebhookTimestamp, ts},
		"missing timestamp": {api.HeaderWebhookSignature, sign(now, fresh)},
		"bad timestamp":     {api.HeaderWebhookTimestamp, "yesterday", api.HeaderWebhookSignature, sign(now, fresh)},
		"no prefix":         {api.HeaderWebhookTimestamp, ts, api.HeaderWebhookSignature, sign(now, fresh)[len("sha256="):]},
		"not hex":           {api.HeaderWebhookTimestamp, ts, api.HeaderWebhookSignature, "sha256=zz"},
		"wrong secret":      {api.HeaderWebhookTimestamp, ts, api.HeaderWebhookSignature, api.SignDepositWebhook("other-secret", now, []byte(fresh))},
	} {
		res = env.call(t, "POST", "/v1/webhooks/deposits", "", fresh, h...)
		require.Equal(t, 401, res.Status, name+": "+string(res.Body))
		require.Equal(t, "unauthenticated", res.errorCode(), name)
	}
	require.Equal(t, "80.00/0.00", env.wallet(t, client))

	// A bearer token is no substitute for the signature.
	res = env.call(t, "POST", "/v1/webhooks/deposits", env.admin.Token, fresh)
	require.Equal(t, 401, res.Status)

	// Signed but invalid content: refused, nothing recorded, so a corrected
	// delivery of the same event may still credit.
	gone := env.newUser(t, "client")
	require.Equal(t, 204, env.call(t, "DELETE", "/v1/admin/users/"+gone.ID, env.admin.Token, map[string]string{"reason": "conta encerrada"}).Status)
	badEvent := uniqueRef("evt")
	for _, tc := range []struct {
		body   string
		status int
	}{
		{fmt.Sprintf(`{"id":%q,"user_id":"999999999","amount":"10.00"}`, badEvent), 422},
		{fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"10.00"}`, badEvent, gone.ID), 422},
		{fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"-10.00"}`, badEvent, client.ID), 422},
		{fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"0.00"}`, badEvent, client.ID), 422},
		{fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"10.001"}`, badEvent, client.ID), 400},
		{fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":10}`, badEvent, client.ID), 400},
		{fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"10.00","fee":"1.00"}`, badEvent, client.ID), 400},
		{fmt.Sprintf(`{"id":"","user_id":%q,"amount":"10.00"}`, client.ID), 422},
		{`not json`, 400},
	} {
		res = webhook(t, tc.body, 0)
		require.Equal(t, tc.status, res.Status, tc.body+": "+string(res.Body))
	}
	require.Equal(t, 0, count(t, `SELECT count(*) FROM webhook_receipts WHERE event_id = $1`, badEvent))
	res = webhook(t, fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"10.00"}`, badEvent, client.ID), 0)
	require.Equal(t, 201, res.Status, string(res.Body))
	require.Equal(t, "90.00/0.00", env.wallet(t, client))
	require.Equal(t, "0.00/0.00", env.wallet(t, gone))

	// The user sees the webhook deposit in their statement.
	res = env.call(t, "GET", "/v1/wallet/transactions", client.Token, nil)
	var page api.Page[api.WalletEntry]
	res.json(t, &page)
	require.Len(t, page.Items, 2)
	require.Equal(t, "deposit", page.Items[1].Kind)
	require.Equal(t, first.Deposit.TransactionID, page.Items[1].TransactionID)
	env.requireLedgerClean(t)
}

// Without DEPOSIT_WEBHOOK_SECRET the webhook does not exist.
func TestDepositWebhookDisabled(t *testing.T) {
	skipShort(t)
	cfg := *env.cfg
	cfg.DepositWebhookSecret = ""
	off := *env
	off.server = &api.Server{Pool: env.pool, Temporal: env.temporal, Config: &cfg, Logger: env.server.Logger}
	off.app = off.server.App()
	client := env.newUser(t, "client")
	body := fmt.Sprintf(`{"id":%q,"user_id":%q,"amount":"10.00"}`, uniqueRef("evt"), client.ID)
	now := time.Now().Unix()
	res := off.call(t, "POST", "/v1/webhooks/deposits", "", body,
		api.HeaderWebhookTimestamp, strconv.FormatInt(now, 10), api.HeaderWebhookSignature, api.SignDepositWebhook("", now, []byte(body)))
	require.Equal(t, 404, res.Status, string(res.Body))
	require.Equal(t, "not_found", res.errorCode())
	require.Equal(t, "0.00/0.00", env.wallet(t, client))
}

func TestPayoutPaidAndFailed(t *testing.T) {
	skipShort(t)
	provider := env.newUser(t, "provider")
	otherProvider := env.newUser(t, "provider")
	client := env.newUser(t, "client")
	deposit(t, provider, "300.00")
	deposit(t, client, "50.00")
	pendingBefore := platformBalance(t, ledger.PayoutsPendingAccount)
	worldBefore := platformBalance(t, ledger.WorldAccount)

	// Admins have no wallet to withdraw from; clients and providers do
	// (TestClientWithdrawal).
	res := env.call(t, "POST", "/v1/wallet/payouts", env.admin.Token, map[string]string{"amount": "10.00"})
	require.Equal(t, 403, res.Status)
	require.Equal(t, "forbidden", res.errorCode())
	require.Equal(t, 401, env.call(t, "POST", "/v1/wallet/payouts", "", map[string]string{"amount": "10.00"}).Status)

	// More than the available balance: 402 and nothing written.
	payoutsBefore := count(t, `SELECT count(*) FROM payouts WHERE user_id = $1`, provider.uid())
	res = env.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "300.01"})
	require.Equal(t, 402, res.Status, string(res.Body))
	require.Equal(t, "insufficient_funds", res.errorCode())
	require.Equal(t, payoutsBefore, count(t, `SELECT count(*) FROM payouts WHERE user_id = $1`, provider.uid()))
	require.Equal(t, "300.00/0.00", env.wallet(t, provider))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "0")

	// Bad input: nothing changes.
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"amount":"-10.00"}`, 422},
		{`{"amount":"0.00"}`, 422},
		{`{"amount":"0"}`, 422},
		{`{"amount":"10.001"}`, 400},
		{`{"amount":10}`, 400},
		{`{"amount":"10.00","user_id":"1"}`, 400},
		{`{"amount":"10.00","status":"paid"}`, 400},
		{`{}`, 422},
		{``, 400},
	} {
		res = env.call(t, "POST", "/v1/wallet/payouts", provider.Token, tc.body)
		require.Equal(t, tc.status, res.Status, tc.body+": "+string(res.Body))
	}
	require.Equal(t, payoutsBefore, count(t, `SELECT count(*) FROM payouts WHERE user_id = $1`, provider.uid()))
	require.Equal(t, "300.00/0.00", env.wallet(t, provider))

	// Request 100.00: available → payouts_pending, payout pending.
	res = env.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "100.00"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var req1 api.PayoutResult
	res.json(t, &req1)
	p1 := req1.Payout
	require.Equal(t, "pending", p1.Status)
	require.Equal(t, "manual", p1.Gateway)
	require.Equal(t, provider.ID, p1.UserID)
	require.Equal(t, "100.00", p1.Amount.StringFixed(2))
	require.Equal(t, "BRL", p1.Currency)
	require.Equal(t, "200.00", req1.Wallet.Available.StringFixed(2))
	require.Contains(t, string(res.Body), `"amount":"100.00"`)
	require.Equal(t, "200.00/0.00", env.wallet(t, provider))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "100.00")
	requireDelta(t, ledger.WorldAccount, worldBefore, "0")
	env.requireLedgerClean(t)

	// Object-level authorization: the provider sees their payout, no one
	// else does, and only admins decide it.
	res = env.call(t, "GET", "/v1/wallet/payouts/"+p1.ID, provider.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	for _, s := range []session{otherProvider, client} {
		res = env.call(t, "GET", "/v1/wallet/payouts/"+p1.ID, s.Token, nil)
		require.Equal(t, 404, res.Status)
		require.Equal(t, "not_found", res.errorCode())
		res = env.call(t, "GET", "/v1/wallet/payouts", s.Token, nil)
		var none api.Page[api.Payout]
		res.json(t, &none)
		require.Empty(t, none.Items)
		require.Equal(t, 403, env.call(t, "POST", "/v1/admin/payouts/"+p1.ID+"/mark-paid", s.Token, nil).Status)
	}
	require.Equal(t, 403, env.call(t, "POST", "/v1/admin/payouts/"+p1.ID+"/mark-paid", provider.Token, nil).Status)
	require.Equal(t, 403, env.call(t, "GET", "/v1/admin/payouts", provider.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "GET", "/v1/wallet/payouts/abc", provider.Token, nil).Status)

	// The admin queue shows it.
	res = env.call(t, "GET", "/v1/admin/payouts?status=pending&user_id="+provider.ID, env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var queue api.Page[api.Payout]
	res.json(t, &queue)
	require.Len(t, queue.Items, 1)
	require.Equal(t, p1.ID, queue.Items[0].ID)
	res = env.call(t, "GET", "/v1/admin/payouts?status=pending", env.admin.Token, nil)
	require.Equal(t, 200, res.Status)
	require.Equal(t, 422, env.call(t, "GET", "/v1/admin/payouts?status=lost", env.admin.Token, nil).Status)
	require.Equal(t, 422, env.call(t, "GET", "/v1/admin/payouts?user_id=x", env.admin.Token, nil).Status)

	// Mark paid: payouts_pending → world.
	res = env.call(t, "POST", "/v1/admin/payouts/"+p1.ID+"/mark-paid", env.admin.Token,
		map[string]string{"gateway_ref": "E2E-PAID-1", "reason": "PIX enviado"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var paid api.Payout
	res.json(t, &paid)
	require.Equal(t, "paid", paid.Status)
	require.Equal(t, "E2E-PAID-1", paid.GatewayRef)
	require.Equal(t, env.admin.ID, paid.DecidedBy)
	require.NotNil(t, paid.DecidedAt)
	require.Equal(t, "200.00/0.00", env.wallet(t, provider))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "0")
	requireDelta(t, ledger.WorldAccount, worldBefore, "100.00")
	require.Equal(t, 1, count(t, `SELECT count(*) FROM audit_log WHERE action = 'mark_payout_paid' AND target_id = $1 AND actor_id = $2`,
		p1.ID, env.admin.uid()))
	env.requireLedgerClean(t)

	// Not pending any more: both decisions are refused and nothing moves.
	for _, action := range []string{"mark-paid", "mark-failed"} {
		res = env.call(t, "POST", "/v1/admin/payouts/"+p1.ID+"/"+action, env.admin.Token, map[string]string{"reason": "again"})
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "invalid_transition", res.errorCode())
	}
	require.Equal(t, "200.00/0.00", env.wallet(t, provider))
	requireDelta(t, ledger.WorldAccount, worldBefore, "100.00")

	// The provider sees the decision but not which admin made it.
	res = env.call(t, "GET", "/v1/wallet/payouts/"+p1.ID, provider.Token, nil)
	var seen api.Payout
	res.json(t, &seen)
	require.Equal(t, "paid", seen.Status)
	require.Empty(t, seen.DecidedBy)

	// A second payout, with an Idempotency-Key retried: one payout.
	key := uniqueRef("idem")
	res = env.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "50.00"}, "Idempotency-Key", key)
	require.Equal(t, 201, res.Status, string(res.Body))
	retry := env.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "50.00"}, "Idempotency-Key", key)
	require.Equal(t, 201, retry.Status)
	require.Equal(t, "true", retry.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(res.Body), string(retry.Body))
	var req2 api.PayoutResult
	res.json(t, &req2)
	p2 := req2.Payout
	require.Equal(t, "150.00/0.00", env.wallet(t, provider))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "50.00")

	// Mark failed needs a reason; with one, the money goes back.
	for _, body := range []string{``, `{}`, `{"reason":"  "}`, `{"reason":"x","gateway_ref":"E2E"}`, `{"reason":"x","amount":"1.00"}`} {
		res = env.call(t, "POST", "/v1/admin/payouts/"+p2.ID+"/mark-failed", env.admin.Token, body)
		require.Contains(t, []int{400, 422}, res.Status, body+": "+string(res.Body))
	}
	require.Equal(t, "150.00/0.00", env.wallet(t, provider))
	res = env.call(t, "POST", "/v1/admin/payouts/"+p2.ID+"/mark-failed", env.admin.Token, map[string]string{"reason": "chave PIX inválida"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var failed api.Payout
	res.json(t, &failed)
	require.Equal(t, "failed", failed.Status)
	require.Equal(t, "chave PIX inválida", failed.FailureReason)
	require.Equal(t, "200.00/0.00", env.wallet(t, provider))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "0")
	requireDelta(t, ledger.WorldAccount, worldBefore, "100.00")
	require.Equal(t, 1, count(t, `SELECT count(*) FROM audit_log WHERE action = 'mark_payout_failed' AND target_id = $1 AND reason = $2`,
		p2.ID, "chave PIX inválida"))
	res = env.call(t, "POST", "/v1/admin/payouts/"+p2.ID+"/mark-paid", env.admin.Token, map[string]string{"reason": "again"})
	require.Equal(t, 409, res.Status)
	require.Equal(t, "invalid_transition", res.errorCode())
	require.Equal(t, "200.00/0.00", env.wallet(t, provider))
	env.requireLedgerClean(t)

	// The provider's list, newest first, paginated; filterable by status.
	res = env.call(t, "GET", "/v1/wallet/payouts?limit=1", provider.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var pg api.Page[api.Payout]
	res.json(t, &pg)
	require.Len(t, pg.Items, 1)
	require.Equal(t, p2.ID, pg.Items[0].ID)
	require.NotEmpty(t, pg.NextCursor)
	res = env.call(t, "GET", "/v1/wallet/payouts?limit=1&cursor="+pg.NextCursor, provider.Token, nil)
	pg = api.Page[api.Payout]{} // next_cursor is omitted on the last page
	res.json(t, &pg)
	require.Len(t, pg.Items, 1)
	require.Equal(t, p1.ID, pg.Items[0].ID)
	require.Empty(t, pg.NextCursor)
	res = env.call(t, "GET", "/v1/wallet/payouts?status=failed", provider.Token, nil)
	pg = api.Page[api.Payout]{}
	res.json(t, &pg)
	require.Len(t, pg.Items, 1)
	require.Equal(t, p2.ID, pg.Items[0].ID)

	// The statement shows the payout legs of the available account.
	res = env.call(t, "GET", "/v1/wallet/transactions?limit=4", provider.Token, nil)
	var st api.Page[api.WalletEntry]
	res.json(t, &st)
	require.Empty(t, st.NextCursor)
	kinds := []string{}
	for _, e := range st.Items {
		kinds = append(kinds, e.Kind+" "+e.Amount.StringFixed(2)+" "+e.BalanceAfter.StringFixed(2))
	}
	require.Equal(t, []string{"payout_failed 50.00 200.00", "payout_request -50.00 150.00",
		"payout_request -100.00 200.00", "deposit 300.00 300.00"}, kinds)

	// Unknown payouts.
	require.Equal(t, 404, env.call(t, "POST", "/v1/admin/payouts/999999999/mark-paid", env.admin.Token, map[string]string{"reason": "x"}).Status)
	require.Equal(t, 404, env.call(t, "POST", "/v1/admin/payouts/abc/mark-failed", env.admin.Token, map[string]string{"reason": "x"}).Status)
	require.Equal(t, 404, env.call(t, "GET", "/v1/admin/payouts/999999999", env.admin.Token, nil).Status)
	res = env.call(t, "GET", "/v1/admin/payouts/"+p2.ID, env.admin.Token, nil)
	require.Equal(t, 200, res.Status)
	res.json(t, &seen)
	require.Equal(t, env.admin.ID, seen.DecidedBy)
	env.requireLedgerClean(t)
}

// fakeGateway records submissions and answers with a reference, or fails.
type fakeGateway struct{ fail bool }

func (fakeGateway) Name() string { return "fake" }

func (g fakeGateway) Submit(_ context.Context, payoutID, _ int64, _ decimal.Decimal) (string, error) {
	if g.fail {
		return "", errors.New("gateway down")
	}
	return "fake-" + strconv.FormatInt(payoutID, 10), nil
}

// A pluggable gateway gets the committed payout; a failing one leaves it
// pending for an admin.
func TestPayoutGateway(t *testing.T) {
	skipShort(t)
	provider := env.newUser(t, "provider")
	deposit(t, provider, "100.00")
	for _, g := range []fakeGateway{{}, {fail: true}} {
		other := *env
		other.server = &api.Server{Pool: env.pool, Temporal: env.temporal, Config: env.cfg, Logger: env.server.Logger, Payouts: g}
		other.app = other.server.App()
		res := other.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "10.00"})
		require.Equal(t, 201, res.Status, string(res.Body))
		var out api.PayoutResult
		res.json(t, &out)
		require.Equal(t, "fake", out.Payout.Gateway)
		require.Equal(t, "pending", out.Payout.Status)
		if g.fail {
			require.Empty(t, out.Payout.GatewayRef)
		} else {
			require.Equal(t, "fake-"+out.Payout.ID, out.Payout.GatewayRef)
		}
	}
	require.Equal(t, "80.00/0.00", env.wallet(t, provider))
	env.requireLedgerClean(t)
}

// The wallet JSON carries money as strings and ids as strings.
func TestWalletJSONShapes(t *testing.T) {
	skipShort(t)
	provider := env.newUser(t, "provider")
	deposit(t, provider, "12.30")
	res := env.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "2.3"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var raw map[string]map[string]any
	require.NoError(t, json.Unmarshal(res.Body, &raw))
	require.Equal(t, "2.30", raw["payout"]["amount"])
	require.IsType(t, "", raw["payout"]["id"])
	require.IsType(t, "", raw["payout"]["user_id"])
	require.Equal(t, "10.00", raw["wallet"]["available"])
	require.Equal(t, "0.00", raw["wallet"]["blocked"])
	env.requireLedgerClean(t)
}

// Ensure a client withdraws their available balance (a refund must never be
// trapped) through the same payout flow as providers.
func TestClientWithdrawal(t *testing.T) {
	skipShort(t)
	client := env.newUser(t, "client")
	deposit(t, client, "80.00")
	pendingBefore := platformBalance(t, ledger.PayoutsPendingAccount)
	worldBefore := platformBalance(t, ledger.WorldAccount)
	res := env.call(t, "POST", "/v1/wallet/payouts", client.Token, map[string]string{"amount": "80.01"})
	require.Equal(t, 402, res.Status, string(res.Body))
	res = env.call(t, "POST", "/v1/wallet/payouts", client.Token, map[string]string{"amount": "80.00"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var out api.PayoutResult
	res.json(t, &out)
	require.Equal(t, "pending", out.Payout.Status)
	require.Equal(t, "0.00", out.Wallet.Available.StringFixed(2))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "80.00")
	res = env.call(t, "POST", "/v1/admin/payouts/"+out.Payout.ID+"/mark-paid", env.admin.Token, map[string]string{"gateway_ref": "E2E-1", "reason": "PIX enviado"})
	require.Equal(t, 200, res.Status, string(res.Body))
	requireDelta(t, ledger.PayoutsPendingAccount, pendingBefore, "0")
	requireDelta(t, ledger.WorldAccount, worldBefore, "80.00")
	require.Equal(t, "0.00/0.00", env.wallet(t, client))
	env.requireLedgerClean(t)
}

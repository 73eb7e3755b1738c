package api_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/orderstats"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/seed"
	"github.com/ordem/ordem/worker"
)

// newIsolatedEnv starts a complete stack of its own (fresh migrated
// database, Temporal server, worker, app, admin) for a test that asserts
// global numbers, which the shared stack's other orders would blur.
func newIsolatedEnv(t *testing.T) *testEnv {
	t.Helper()
	ctx := context.Background()
	url, drop, err := pgtest.CreateMigrated()
	require.NoError(t, err)
	t.Cleanup(drop)
	pool, err := postgres.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{Logger: sdklog.NewStructuredLogger(quiet)}))
	t.Cleanup(ts.Stop)
	c := ts.GetDefaultClient()
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "test", "DATABASE_URL": url, "RATELIMIT_ENABLED": "false",
			"TEMPORAL_TASK_QUEUE": "api-isolated-test", "ADMIN_EMAIL": "admin@isolated.test", "ADMIN_PASSWORD": adminPassword}[k]
		return v, ok
	})
	require.NoError(t, err)
	_, err = seed.Run(ctx, pool, seed.Admin{Name: "Admin", Email: cfg.AdminEmail, Password: cfg.AdminPassword})
	require.NoError(t, err)
	w := worker.New(c, cfg.TemporalTaskQueue, &activities.Activities{Pool: pool, AutoConfirmEnabled: true})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	srv := &api.Server{Pool: pool, Temporal: c, Config: cfg, Logger: quiet}
	e := &testEnv{pool: pool, temporal: c, server: srv, app: srv.App(), cfg: cfg}
	e.admin = e.loginAs(cfg.AdminEmail, adminPassword)
	return e
}

type step struct {
	who    session
	action string
	body   any
}

// drive posts the actions in order, each of which must succeed.
func drive(t *testing.T, e *testEnv, orderID string, steps ...step) {
	t.Helper()
	for _, s := range steps {
		res := e.act(t, s.who, orderID, s.action, s.body)
		require.Equal(t, 200, res.Status, "order %s %s: %s", orderID, s.action, res.Body)
	}
}

func getOrder(t *testing.T, e *testEnv, s session, orderID string) api.Order {
	t.Helper()
	res := e.call(t, "GET", "/v1/orders/"+orderID, s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o
}

func rateOf(t *testing.T, r api.Rate, num, den int64) {
	t.Helper()
	require.Equal(t, num, r.Numerator)
	require.Equal(t, den, r.Denominator)
	require.NotNil(t, r.Value)
	require.InDelta(t, float64(num)/float64(den), *r.Value, 0.00005)
}

func statusCounts(kv ...any) api.StatusCounts {
	c := api.StatusCounts{"negotiating": 0, "in_progress": 0, "delivered": 0, "completed": 0,
		"disputed": 0, "resolved": 0, "cancelled": 0, "expired": 0}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[0+i].(string)] = int64(kv[i+1].(int))
	}
	return c
}

// Ensure every KPI, count and queue of the three dashboards is exactly
// what a scripted set of orders implies. The numbers are global, so the
// script runs on a stack of its own: with the shared stack, the other
// tests' orders (and any timers they left running) would move them.
func TestDashboardKPIs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	e := newIsolatedEnv(t)

	// An empty marketplace: every ratio has a zero denominator (null),
	// sums are zero.
	res := e.call(t, "GET", "/v1/dashboard", e.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var empty api.AdminDashboard
	res.json(t, &empty)
	require.Nil(t, empty.KPIs.AutoConfirmationRate.Value)
	require.Nil(t, empty.KPIs.ContestRate.Value)
	require.Nil(t, empty.KPIs.CancellationRate.Value)
	require.Nil(t, empty.KPIs.MeanClientResponse.Seconds)
	require.Equal(t, "0.00", empty.KPIs.Volume.StringFixed(2))
	require.Equal(t, "0.00", empty.KPIs.PlatformRevenue.StringFixed(2))
	require.Equal(t, statusCounts(), empty.OrdersByStatus)
	require.Empty(t, empty.DisputeQueue)

	client := e.newUser(t, "client")
	provider := e.newUser(t, "provider")
	otherClient := e.newUser(t, "client")
	otherProvider := e.newUser(t, "provider")
	e.fund(t, client, "2000.00")
	e.fund(t, otherClient, "100.00")

	accept := step{provider, "accept", nil}
	deliver := step{provider, "deliver", nil}
	contest := func(reason string) step { return step{client, "contest", map[string]string{"reason": reason}} }

	// The script (amounts are distinct, so every sum below names its
	// orders):
	//   A 100.00 confirmed by the client           completed
	//   B 300.00 contested, resolved refunding 100  resolved
	//   X  50.00 cancelled while negotiating        cancelled
	//   E  80.00 contested                          disputed (oldest)
	//   F  60.00 contested                          disputed
	//   G  70.00 counter-proposed by the provider   negotiating (client's move)
	//   J  90.00 just created                       negotiating (provider's move)
	//   H  40.00 accepted, due in 10 days           in_progress
	//   I 120.00 delivered, not answered            delivered
	//   D 200.00 auto-confirmed (short deadline)    completed
	//   K  30.00 other client, other provider       negotiating
	a := e.newOrder(t, client, provider, "100.00")
	drive(t, e, a.ID, accept, deliver, step{client, "confirm", nil})
	b := e.newOrder(t, client, provider, "300.00")
	drive(t, e, b.ID, accept, deliver, contest("serviço incompleto"),
		step{e.admin, "resolve", map[string]string{"refund_amount": "100.00", "reason": "entrega parcial"}})
	x := e.newOrder(t, client, provider, "50.00")
	drive(t, e, x.ID, step{client, "cancel", nil})
	eo := e.newOrder(t, client, provider, "80.00")
	// E and F enter the admins' queue at the provider's request (issue 17:
	// otherwise after the 72 h negotiation window).
	ruling := step{provider, "request-ruling", nil}
	drive(t, e, eo.ID, accept, deliver, contest("não entregue"), ruling)
	f := e.newOrder(t, client, provider, "60.00")
	drive(t, e, f.ID, accept, deliver, contest("qualidade ruim"), ruling)
	g := e.newOrder(t, client, provider, "70.00")
	drive(t, e, g.ID, step{provider, "proposals", map[string]any{"amount": "75.00", "note": "material extra"}})
	j := e.newOrder(t, client, provider, "90.00")
	due := time.Now().Add(240 * time.Hour).UTC().Truncate(time.Second)
	res = e.call(t, "POST", "/v1/orders", client.Token, map[string]any{
		"provider_id": provider.ID, "title": "Pintura", "amount": "40.00", "due_date": due})
	require.Equal(t, 201, res.Status, string(res.Body))
	var h api.Order
	res.json(t, &h)
	drive(t, e, h.ID, accept)
	i := e.newOrder(t, client, provider, "120.00")
	drive(t, e, i.ID, accept, deliver)
	k := e.newOrder(t, otherClient, otherProvider, "30.00")

	// D auto-confirms: only orders created after the change get the short
	// deadline (1.8 s), and no reminder.
	setConfig(t, e, "confirmation_deadline_hours", "0.0005", "teste de confirmação automática")
	setConfig(t, e, "confirmation_reminder_hours", "0", "teste de confirmação automática")
	d := e.newOrder(t, client, provider, "200.00")
	drive(t, e, d.ID, accept, deliver)
	require.Eventually(t, func() bool {
		o := getOrder(t, e, e.admin, d.ID)
		return o.Status == "completed" && o.AutoConfirmed
	}, 60*time.Second, 200*time.Millisecond, "order D auto-confirms")
	require.Equal(t, "delivered", getOrder(t, e, e.admin, i.ID).Status, "I kept its 36-hour snapshot")

	// A payout request, for the pending sums.
	res = e.call(t, "POST", "/v1/wallet/payouts", provider.Token, map[string]string{"amount": "50.00"})
	require.Contains(t, []int{200, 201}, res.Status, string(res.Body))

	// Expected values, from the orders as stored.
	orders := map[string]api.Order{}
	for name, id := range map[string]string{"a": a.ID, "b": b.ID, "x": x.ID, "e": eo.ID, "f": f.ID, "g": g.ID,
		"j": j.ID, "h": h.ID, "i": i.ID, "d": d.ID, "k": k.ID} {
		orders[name] = getOrder(t, e, e.admin, id)
	}
	// Mean client response: A's confirmation and the contests of B, E
	// and F; D (auto-confirmed) and I (unanswered) are excluded.
	var sum float64
	sum += orders["a"].ClosedAt.Sub(*orders["a"].DeliveredAt).Seconds()
	for _, n := range []string{"b", "e", "f"} {
		sum += orders[n].ContestedAt.Sub(*orders[n].DeliveredAt).Seconds()
	}
	meanResponse := sum / 4
	// Revenue: 5% of A (5.00) and D (10.00), 5% of B's provider share
	// 200.00 (10.00); B's contestation fee went back (refund > 0).
	revenue := decimal.Zero
	for _, o := range orders {
		revenue = revenue.Add(o.Outcome.PlatformRevenue.Decimal)
	}
	require.Equal(t, "25.00", revenue.StringFixed(2))

	res = e.call(t, "GET", "/v1/dashboard", e.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var admin api.AdminDashboard
	res.json(t, &admin)
	require.Equal(t, "admin", string(admin.Role))
	require.Equal(t, statusCounts("negotiating", 3, "in_progress", 1, "delivered", 1, "completed", 2,
		"disputed", 2, "resolved", 1, "cancelled", 1), admin.OrdersByStatus)
	kpi := admin.KPIs
	rateOf(t, kpi.AutoConfirmationRate, 1, 2) // D / {A, D}
	rateOf(t, kpi.ContestRate, 3, 6)          // {B, E, F} / {A, B, D, E, F, I}
	rateOf(t, kpi.CancellationRate, 1, 4)     // X / {A, B, D, X}
	require.Equal(t, int64(4), kpi.MeanClientResponse.Count)
	require.NotNil(t, kpi.MeanClientResponse.Seconds)
	require.InDelta(t, meanResponse, *kpi.MeanClientResponse.Seconds, 0.0006) // rounded to the millisecond
	require.Equal(t, "600.00", kpi.Volume.StringFixed(2))                     // A + B + D
	require.Equal(t, "25.00", kpi.PlatformRevenue.StringFixed(2))
	require.Equal(t, "BRL", kpi.Currency)
	require.Equal(t, int64(1), admin.PendingPayouts.Count)
	require.Equal(t, "50.00", admin.PendingPayouts.Total.StringFixed(2))

	require.Len(t, admin.DisputeQueue, 2)
	require.Equal(t, int64(0), admin.DisputesNegotiating)
	// B was ruled by an admin: none settled by the parties yet.
	require.Equal(t, int64(0), kpi.SettledByParties.Numerator)
	require.Equal(t, int64(1), kpi.SettledByParties.Denominator)
	require.Nil(t, kpi.MeanTimeToSettle.Seconds)
	for n, want := range []api.Order{orders["e"], orders["f"]} {
		got := admin.DisputeQueue[n]
		require.Equal(t, want.ID, got.ID, "oldest contest first")
		require.Equal(t, want.Title, got.Title)
		require.Equal(t, client.ID, got.Client.ID)
		require.Equal(t, "Test client", got.Client.Name)
		require.Equal(t, provider.ID, got.Provider.ID)
		require.Equal(t, "Test provider", got.Provider.Name)
		require.Equal(t, want.Amount.StringFixed(2), got.Amount.StringFixed(2))
		require.True(t, want.ContestedAt.Equal(got.ContestedAt))
		require.Equal(t, *want.ContestReason, got.ContestReason)
		require.Equal(t, 0, got.EvidenceCount)
		require.True(t, want.DisputeQueuedAt.Equal(got.QueuedAt))
		require.True(t, want.DisputeQueuedAt.Add(48*time.Hour).Equal(got.SLADeadline), "default dispute SLA of 48 h, from the queue time")
	}

	// The client sees only their own orders (not K), their balances and
	// what waits on them: I to confirm or contest, G's counter-proposal.
	res = e.call(t, "GET", "/v1/dashboard", client.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var cd api.ClientDashboard
	res.json(t, &cd)
	require.Equal(t, "client", string(cd.Role))
	require.Equal(t, statusCounts("negotiating", 2, "in_progress", 1, "delivered", 1, "completed", 2,
		"disputed", 2, "resolved", 1, "cancelled", 1), cd.OrdersByStatus)
	// 2000 − A 100 − D 200 − B (300 − 100 refunded); blocked: holds of
	// E 80, F 60, H 40, I 120 and the contestation fees of E and F.
	require.Equal(t, "1180.00", cd.Balances.Available.StringFixed(2))
	require.Equal(t, "320.00", cd.Balances.Blocked.StringFixed(2))
	require.Equal(t, "1180.00/320.00", e.wallet(t, client))
	require.Equal(t, "BRL", cd.Balances.Currency)
	require.Len(t, cd.AwaitingAction, 2)
	byID := map[string]api.AwaitingOrder{}
	for _, a := range cd.AwaitingAction {
		byID[a.ID] = a
	}
	require.Equal(t, "delivered", byID[i.ID].Status)
	require.True(t, orders["i"].ConfirmDeadline.Equal(*byID[i.ID].Deadline))
	require.Equal(t, "negotiating", byID[g.ID].Status)
	require.Equal(t, "75.00", byID[g.ID].Amount.StringFixed(2))
	require.True(t, orders["g"].ProposalExpiresAt.Equal(*byID[g.ID].Deadline))
	require.True(t, !cd.AwaitingAction[1].Deadline.Before(*cd.AwaitingAction[0].Deadline), "soonest deadline first")
	// Each names the other party.
	require.Equal(t, api.Party{ID: orders["i"].ProviderID, Name: orders["i"].ProviderName}, byID[i.ID].Counterparty)
	require.Equal(t, "Test provider", byID[g.ID].Counterparty.Name)

	// The provider: jobs, released earnings (A 95.00 + D 190.00 + B's
	// share 190.00), the pending payout, and what waits on them: J to
	// accept and H to deliver.
	res = e.call(t, "GET", "/v1/dashboard", provider.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var pd api.ProviderDashboard
	res.json(t, &pd)
	require.Equal(t, "provider", string(pd.Role))
	require.Equal(t, cd.OrdersByStatus, pd.JobsByStatus)
	require.Equal(t, "475.00", pd.EarningsReleased.StringFixed(2))
	require.Equal(t, int64(1), pd.PendingPayouts.Count)
	require.Equal(t, "50.00", pd.PendingPayouts.Total.StringFixed(2))
	require.Equal(t, "425.00", pd.Balances.Available.StringFixed(2))
	require.Equal(t, "425.00/0.00", e.wallet(t, provider))
	require.Len(t, pd.AwaitingAction, 2)
	byID = map[string]api.AwaitingOrder{}
	for _, a := range pd.AwaitingAction {
		byID[a.ID] = a
	}
	require.Equal(t, "in_progress", byID[h.ID].Status)
	require.True(t, due.Equal(*byID[h.ID].Deadline))
	require.Equal(t, "negotiating", byID[j.ID].Status)
	require.True(t, orders["j"].ProposalExpiresAt.Equal(*byID[j.ID].Deadline))
	require.Equal(t, api.Party{ID: orders["h"].ClientID, Name: "Test client"}, byID[h.ID].Counterparty)

	// The other client's dashboard counts only K.
	res = e.call(t, "GET", "/v1/dashboard", otherClient.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var od api.ClientDashboard
	res.json(t, &od)
	require.Equal(t, statusCounts("negotiating", 1), od.OrdersByStatus)
	require.Empty(t, od.AwaitingAction)
	e.requireLedgerClean(t)

	// The admin's numbers come from the maintained counters, which the
	// transitions above kept equal to a recount of the orders.
	ctx := context.Background()
	rep, err := orderstats.Check(ctx, e.pool)
	require.NoError(t, err)
	require.Empty(t, rep.Mismatches)
	require.Equal(t, int64(11), rep.Orders)
	// So a counter off by 1,000 shows on the dashboard (and the recount
	// names it), where a scan of the orders would not see it.
	_, err = e.pool.Exec(ctx, `UPDATE order_stats SET orders = orders + 1000 WHERE status = 'expired' AND slot = 63`)
	require.NoError(t, err)
	res = e.call(t, "GET", "/v1/dashboard", e.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var tampered api.AdminDashboard
	res.json(t, &tampered)
	require.Equal(t, int64(1000), tampered.OrdersByStatus["expired"])
	rateOf(t, tampered.KPIs.CancellationRate, 1, 1004)
	rep, err = orderstats.Check(ctx, e.pool)
	require.NoError(t, err)
	require.Equal(t, []orderstats.Mismatch{{Status: "expired", Field: "orders", Maintained: "1000", Recounted: "0"}}, rep.Mismatches)
	_, err = e.pool.Exec(ctx, `UPDATE order_stats SET orders = orders - 1000 WHERE status = 'expired' AND slot = 63`)
	require.NoError(t, err)
}

// Ensure the dashboard needs a session.
func TestDashboardUnauthenticated(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	res := env.call(t, "GET", "/v1/dashboard", "", nil)
	require.Equal(t, 401, res.Status)
	require.Equal(t, "unauthenticated", res.errorCode())
}

func listNotifications(t *testing.T, s session, query string) api.NotificationPage {
	t.Helper()
	res := env.call(t, "GET", "/v1/notifications"+query, s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var p api.NotificationPage
	res.json(t, &p)
	return p
}

// Ensure the inbox lists only the caller's notifications, newest first,
// page by page, filters unread ones, and marks them read; another user's
// notification is not_found.
func TestNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	var orderIDs []string
	for range 3 {
		orderIDs = append(orderIDs, env.newOrder(t, client, provider, "10.00").ID)
	}
	// Each creation notifies the provider (order_created), newest first.
	var all api.NotificationPage
	require.Eventually(t, func() bool {
		all = listNotifications(t, provider, "")
		return len(all.Items) == 3
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, int64(3), all.UnreadCount)
	require.Empty(t, all.NextCursor)
	for n, it := range all.Items {
		require.Equal(t, "order_created", it.Kind)
		require.NotNil(t, it.OrderID)
		require.Equal(t, orderIDs[2-n], *it.OrderID)
		require.False(t, it.Read)
		require.Nil(t, it.ReadAt)
		require.NotEmpty(t, it.Title)
	}

	// Pages of two.
	first := listNotifications(t, provider, "?limit=2")
	require.Len(t, first.Items, 2)
	require.NotEmpty(t, first.NextCursor)
	second := listNotifications(t, provider, "?limit=2&cursor="+first.NextCursor)
	require.Len(t, second.Items, 1)
	require.Empty(t, second.NextCursor)
	require.Equal(t, all.Items[2].ID, second.Items[0].ID)

	// Only their own: the client's inbox holds none of these.
	for _, it := range listNotifications(t, client, "?limit=100").Items {
		for _, p := range all.Items {
			require.NotEqual(t, p.ID, it.ID)
		}
	}

	// Another user's notification is not found, and stays unread.
	target := all.Items[1].ID
	res := env.call(t, "POST", "/v1/notifications/"+target+"/read", client.Token, nil)
	require.Equal(t, 404, res.Status, string(res.Body))
	require.Equal(t, "not_found", res.errorCode())
	res = env.call(t, "POST", "/v1/notifications/"+target+"/read", env.admin.Token, nil)
	require.Equal(t, 404, res.Status, "admins read only their own inbox too")

	res = env.call(t, "POST", "/v1/notifications/"+target+"/read", provider.Token, nil)
	require.Equal(t, 204, res.Status, string(res.Body))
	got := listNotifications(t, provider, "")
	require.Equal(t, int64(2), got.UnreadCount)
	require.True(t, got.Items[1].Read)
	require.NotNil(t, got.Items[1].ReadAt)
	readAt := *got.Items[1].ReadAt
	// Again: fine, and the first read time stays.
	res = env.call(t, "POST", "/v1/notifications/"+target+"/read", provider.Token, nil)
	require.Equal(t, 204, res.Status, string(res.Body))
	require.True(t, readAt.Equal(*listNotifications(t, provider, "").Items[1].ReadAt))

	unread := listNotifications(t, provider, "?unread=true")
	require.Len(t, unread.Items, 2)
	for _, it := range unread.Items {
		require.NotEqual(t, target, it.ID)
	}

	res = env.call(t, "POST", "/v1/notifications/read-all", provider.Token, nil)
	require.Equal(t, 204, res.Status, string(res.Body))
	require.Empty(t, listNotifications(t, provider, "?unread=true").Items)
	require.Equal(t, int64(0), listNotifications(t, provider, "").UnreadCount)
}

// Ensure the inbox's refusals.
func TestNotificationRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	user := env.newUser(t, "client")
	for query, field := range map[string]string{"?unread=maybe": "unread", "?cursor=garbage": "cursor", "?limit=0": "limit"} {
		res := env.call(t, "GET", "/v1/notifications"+query, user.Token, nil)
		require.Equal(t, 422, res.Status, "%s: %s", query, res.Body)
		var body api.ErrorBody
		res.json(t, &body)
		require.Contains(t, body.Error.Fields, field)
	}
	for _, nid := range []string{"abc", "0", "-1", "999999999999"} {
		res := env.call(t, "POST", "/v1/notifications/"+nid+"/read", user.Token, nil)
		require.Equal(t, 404, res.Status, "%s: %s", nid, res.Body)
		require.Equal(t, "not_found", res.errorCode())
	}
	res := env.call(t, "GET", "/v1/notifications", "", nil)
	require.Equal(t, 401, res.Status)
	res = env.call(t, "POST", "/v1/notifications/1/read", "", nil)
	require.Equal(t, 401, res.Status)
}

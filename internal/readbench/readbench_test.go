package readbench_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/orderstats"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/readbench"
	"github.com/ordem/ordem/internal/seed"
	"github.com/ordem/ordem/worker"
)

const adminPassword = "readbench-admin-password"

// stack is a real Ordem stack of the test's own: a migrated database, a
// Temporal server with the worker, and the API on a loopback listener.
func stack(t *testing.T) (apiURL, dbURL string) {
	t.Helper()
	ctx := context.Background()
	dbURL = pgtest.NewDBURL(t)
	pool := pgtest.Connect(t, dbURL)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "test", "DATABASE_URL": dbURL, "RATELIMIT_ENABLED": "false",
			"TEMPORAL_TASK_QUEUE": "readbench-test", "ADMIN_EMAIL": "admin@readbench.test", "ADMIN_PASSWORD": adminPassword}[k]
		return v, ok
	})
	require.NoError(t, err)
	_, err = seed.Run(ctx, pool, seed.Admin{Name: "Admin", Email: cfg.AdminEmail, Password: cfg.AdminPassword})
	require.NoError(t, err)
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: sdklog.NewStructuredLogger(quiet)}))
	c := ts.GetDefaultClient()
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	w := worker.New(c, cfg.TemporalTaskQueue, &activities.Activities{Pool: pool, AutoConfirmEnabled: true})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	app := (&api.Server{Pool: pool, Temporal: c, Config: cfg, Logger: quiet}).App()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String(), dbURL
}

// Ensure a short run of `ordem bench reads` (a few thousand orders, a few
// requests per route) works end to end against a real stack: the data
// is generated with consistent money (the ledger verifies) and counters
// (they equal a recount), every list and dashboard route answers 200 as
// the users who see it, the report names each, and a second run adds
// orders to the first's users. No latency is asserted: timings belong to
// the benchmark, not to tests.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	apiURL, dbURL := stack(t)
	var log bytes.Buffer
	o := readbench.Options{
		APIURL: apiURL, AdminEmail: "admin@readbench.test", AdminPassword: adminPassword, DatabaseURL: dbURL,
		Gen:      readbench.GenOptions{Orders: 3000, Clients: 60, Providers: 15, BatchSize: 1000, Seed: 7},
		Requests: 3, Warmup: 1, Concurrency: 2, Target: time.Hour, Command: "ordem bench reads (test)", Log: &log,
	}
	rep, err := readbench.Run(ctx, o)
	require.NoError(t, err, log.String())
	require.Empty(t, rep.Missed(), "every route answers 200")
	require.Equal(t, 3000, rep.Gen.Orders)
	require.Equal(t, "added per batch", rep.Gen.Counters)
	require.Len(t, rep.Gen.Clients, 60)
	require.Len(t, rep.Gen.Providers, 15)

	routes := map[string]bool{}
	for _, r := range rep.Results {
		require.Equal(t, 3, r.Requests, r.Name)
		require.Positive(t, r.Bytes, r.Name)
		require.LessOrEqual(t, r.P50, r.P99, r.Name)
		path, _, _ := strings.Cut(r.Path, "?")
		routes[r.As+" "+path] = true
	}
	for _, want := range []string{
		"heaviest client /v1/orders", "heaviest provider /v1/orders", "admin /v1/orders", "churned client /v1/orders",
		"heaviest client /v1/dashboard", "median client /v1/dashboard", "heaviest provider /v1/dashboard",
		"median provider /v1/dashboard", "admin /v1/dashboard", "anonymous /metrics",
		"heaviest client /v1/wallet/transactions", "heaviest provider /v1/wallet/payouts",
		"heaviest provider /v1/notifications", "admin /v1/admin/users", "admin /v1/admin/deposits",
		"admin /v1/admin/payouts", "admin /v1/admin/webhooks", "admin /v1/admin/config",
	} {
		require.True(t, routes[want], "route %s measured; have %v", want, routes)
	}
	var webhookDeliveries bool
	for r := range routes {
		webhookDeliveries = webhookDeliveries || strings.HasSuffix(r, "/deliveries")
	}
	require.True(t, webhookDeliveries, "the webhook delivery log is measured")

	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	require.Contains(t, md.String(), "- command: `ordem bench reads (test)`")
	require.Contains(t, md.String(), "3,000 orders")
	require.Contains(t, md.String(), "| dashboard (KPIs, counts, dispute queue) `GET /v1/dashboard` | admin | 3 |")
	require.Contains(t, md.String(), "cursor=…", "deep pages are measured, their cursors shortened")

	pool := pgtest.Connect(t, dbURL)
	check := func() {
		t.Helper()
		stats, err := orderstats.Check(ctx, pool)
		require.NoError(t, err)
		require.Empty(t, stats.Mismatches)
		verify, err := ledger.VerifySnapshot(ctx, pool)
		require.NoError(t, err)
		require.Empty(t, verify.Violations)
	}
	check()
	var ids, payouts, pending int64
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM payouts),
		       (SELECT count(*) FROM payouts WHERE status = 'pending')`).Scan(&ids, &payouts, &pending))
	require.Equal(t, int64(3000), ids)
	require.Positive(t, payouts)

	// Again, adding 500 orders to the same users.
	o.Gen.Orders = 500
	rep2, err := readbench.Run(ctx, o)
	require.NoError(t, err, log.String())
	require.Empty(t, rep2.Missed())
	require.Equal(t, rep.Gen.Clients, rep2.Gen.Clients)
	require.Equal(t, rep.Gen.LastOrderID+1, rep2.Gen.FirstOrderID)
	check()
}

// Ensure the benchmark refuses anything but this machine.
func TestLoopbackOnly(t *testing.T) {
	for _, o := range []readbench.Options{
		{APIURL: "http://example.com:8080", DatabaseURL: "postgres://postgres@127.0.0.1/x"},
		{APIURL: "http://127.0.0.1:8080", DatabaseURL: "postgres://postgres@10.1.2.3/x"},
		{APIURL: "ftp://127.0.0.1", DatabaseURL: "postgres://postgres@127.0.0.1/x"},
	} {
		o.Requests, o.Concurrency = 1, 1
		_, err := readbench.Run(context.Background(), o)
		require.Error(t, err, "%+v", o)
	}
}

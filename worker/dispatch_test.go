package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/delivery"
)

// enqueue commits one event for an endpoint subscribed to it and returns
// when the transaction committed.
func enqueue(t *testing.T, pool *pgxpool.Pool, key string) time.Time {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		n, err := webhook.Enqueue(ctx, tx, webhook.Event{Key: key, Type: webhook.OrderCreated, At: time.Now(),
			Data: map[string]any{"order_id": "1"}})
		if err == nil && n != 1 {
			t.Errorf("enqueued %d deliveries", n)
		}
		return err
	}))
	return time.Now()
}

// dispatchKeyring seals the test endpoint's secret.
func dispatchKeyring(t *testing.T) *secretbox.Keyring {
	t.Helper()
	kr, err := webhook.NewKeyring("dispatch-test-key-0123456789abcdef0123456789", "")
	require.NoError(t, err)
	return kr
}

// dispatchedWithin waits for every delivery to be dispatched and returns
// how long after from the last one was.
func dispatchedWithin(t *testing.T, pool *pgxpool.Pool, want int, from time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	var latest time.Time
	require.Eventually(t, func() bool {
		var n int
		var last *time.Time
		err := pool.QueryRow(context.Background(), `SELECT count(*), max(dispatched_at) FROM webhook_deliveries WHERE dispatched_at IS NOT NULL`).Scan(&n, &last)
		if err != nil || n < want {
			return false
		}
		latest = *last
		return true
	}, timeout, 5*time.Millisecond)
	return latest.Sub(from)
}

// Ensure the dispatcher is woken by the outbox's notification: with the
// safety sweep an hour away, a delivery is dispatched within a fraction of
// a second of its commit; and a notification missed while the listener's
// connection was gone is caught when it reconnects.
func TestDispatcherWokenByNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	_, err := webhook.InsertEndpoint(ctx, pool, dispatchKeyring(t), webhook.Endpoint{URL: "https://example.invalid/hook",
		Secret: "whsec_0123456789abcdef0123456789abcdef", EventTypes: []string{webhook.OrderCreated}, Active: true})
	require.NoError(t, err)
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}))
	d := &worker.Dispatcher{Pool: pool, Temporal: ts.GetDefaultClient(), TaskQueue: "no-worker",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: time.Hour,
		Retry: delivery.Retry{InitialInterval: time.Second, Expiration: time.Minute}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The listener is up once the first delivery is dispatched at all.
	dispatchedWithin(t, pool, 1, enqueue(t, pool, "warm-up"), 30*time.Second)
	for i, key := range []string{"a", "b", "c"} {
		lag := dispatchedWithin(t, pool, i+2, enqueue(t, pool, key), 5*time.Second)
		require.Less(t, lag, 500*time.Millisecond, "dispatched %s after its commit: woken, not swept", lag)
	}

	// The listener's connection dies; what is enqueued meanwhile notifies
	// nobody, and is dispatched when the dispatcher reconnects.
	var killed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed))
	require.Equal(t, 1, killed, "the listener's session")
	enqueue(t, pool, "missed-1")
	from := enqueue(t, pool, "missed-2")
	lag := dispatchedWithin(t, pool, 6, from, 30*time.Second)
	t.Logf("dispatched %s after the listener was cut", lag)
}

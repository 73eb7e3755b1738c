// Package stacktest starts a whole Ordem stack inside a test process: a
// fresh migrated Postgres database with the admin seeded, a real Temporal
// server (temporaltest), a real S3-compatible store (versitygw), the worker
// with the real activities and the API on a loopback listener. Tools that
// drive a stack over HTTP (the load generator, the read benchmark) test
// themselves against it.
package stacktest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/seed"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/worker"
)

// Admin credentials of every stack.
const (
	AdminEmail    = "admin@stack.test"
	AdminPassword = "stack-admin-password"
)

// Stack is a running stack; the test's cleanup stops it.
type Stack struct {
	// URL is the API's base URL (loopback).
	URL         string
	DatabaseURL string
	Pool        *pgxpool.Pool
	Temporal    client.Client
	Namespace   string
}

// Start starts a stack for t. The rate limiter is off (a load generator
// is the only client).
func Start(t *testing.T) *Stack {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	pool := pgtest.Connect(t, url)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	store, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
	require.NoError(t, err)

	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: sdklog.NewStructuredLogger(quiet)}))
	c := ts.GetDefaultClient()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, worker.EnsureSearchAttributes(sctx, c, ts.GetDefaultNamespace()))

	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "test", "DATABASE_URL": url, "RATELIMIT_ENABLED": "false",
			"TEMPORAL_TASK_QUEUE": "stacktest", "ADMIN_EMAIL": AdminEmail, "ADMIN_PASSWORD": AdminPassword,
			"S3_ENDPOINT": srv.Endpoint, "S3_REGION": srv.Region, "S3_BUCKET": bucket,
			"S3_ACCESS_KEY_ID": srv.AccessKey, "S3_SECRET_ACCESS_KEY": srv.SecretKey, "S3_USE_PATH_STYLE": "true"}[k]
		return v, ok
	})
	require.NoError(t, err)
	_, err = seed.Run(ctx, pool, seed.Admin{Name: "Admin", Email: AdminEmail, Password: AdminPassword})
	require.NoError(t, err)

	w := worker.New(c, cfg.TemporalTaskQueue, &activities.Activities{Pool: pool, AutoConfirmEnabled: true, Evidence: store})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop) // before the server's own cleanup

	app := (&api.Server{Pool: pool, Temporal: c, Config: cfg, Logger: quiet, Storage: store}).App()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return &Stack{URL: "http://" + ln.Addr().String(), DatabaseURL: url, Pool: pool, Temporal: c, Namespace: ts.GetDefaultNamespace()}
}

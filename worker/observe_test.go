package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/health"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/ledgerverify"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// Ensure worker.Run, as `ordem worker` runs it, serves /healthz, /readyz
// (Postgres, Temporal and S3 checked) and /metrics (Ordem's and the
// Temporal SDK's) on WORKER_HTTP_ADDR, creates the ledger verification
// schedule whose first run records a verification, and stops cleanly.
func TestRunServesHealthAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, Temporal and S3")
	}
	dbURL := pgtest.NewDBURL(t)
	pool := pgtest.Connect(t, dbURL)
	s3 := s3test.Start(t)
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{Logger: quietLogger()}))
	addr := freeAddr(t)
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "test", "DATABASE_URL": dbURL,
			"TEMPORAL_ADDRESS": ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE": ts.GetDefaultNamespace(),
			"TEMPORAL_TASK_QUEUE": "worker-run-test", "WORKER_HTTP_ADDR": addr,
			"S3_ENDPOINT": s3.Endpoint, "S3_REGION": s3.Region, "S3_BUCKET": s3.NewBucket(t),
			"S3_ACCESS_KEY_ID": s3.AccessKey, "S3_SECRET_ACCESS_KEY": s3.SecretKey}[k]
		return v, ok
	})
	require.NoError(t, err)
	logger, _, err := logging.New("worker", logging.Options{Level: "ERROR", Stderr: io.Discard})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, cfg, logger) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("worker.Run did not stop")
		}
		// The HTTP listener is closed with the worker.
		_, err := net.DialTimeout("tcp", addr, time.Second)
		require.Error(t, err)
	}()

	base := "http://" + addr
	require.Eventually(t, func() bool { code, _ := get(t, base+"/readyz"); return code == 200 }, 30*time.Second, 100*time.Millisecond)
	code, body := get(t, base+"/readyz")
	require.Equal(t, 200, code)
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "ok", "s3": "ok"}, ready.Checks)
	code, body = get(t, base+"/healthz")
	require.Equal(t, 200, code)
	require.JSONEq(t, `{"status":"ok"}`, body)

	// The schedule ran once at creation: one verification, clean.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger_verifications WHERE ok`).Scan(&n))
		return n == 1
	}, 30*time.Second, 100*time.Millisecond)
	desc, err := ts.GetDefaultClient().ScheduleClient().GetHandle(context.Background(), ledgerverify.ScheduleID).Describe(context.Background())
	require.NoError(t, err)
	require.Equal(t, ledgerverify.DefaultInterval, desc.Schedule.Spec.Intervals[0].Every)

	require.Eventually(t, func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `temporal_workflow_completed_total{`) && strings.Contains(body, `workflow_type="LedgerVerify"`) &&
			strings.Contains(body, "go_goroutines")
	}, 15*time.Second, 200*time.Millisecond)
}

// Ensure /readyz names the dependency that does not answer.
func TestReadyzNamesTheDownDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	pool := pgtest.NewDB(t)
	// Nothing listens on the address: Temporal is down.
	c, err := client.NewLazyClient(client.Options{HostPort: freeAddr(t), Logger: quietLogger()})
	require.NoError(t, err)
	defer c.Close()
	ready, checks := health.Probes{Pool: pool, Temporal: c}.Ready(context.Background())
	require.False(t, ready)
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "unreachable"}, checks)
}

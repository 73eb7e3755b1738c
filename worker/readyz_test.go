package worker_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/internal/devstack"
	"github.com/ordem/ordem/internal/health"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/worker"
)

// Ensure /readyz turns unready while a real PostgreSQL server is stopped
// (pg_ctl stop on a private cluster, not a proxy) and ready again once it
// is started on the same data directory, without restarting the worker.
func TestReadyzFollowsPostgresStopAndStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb and a Postgres server")
	}
	ctx := context.Background()
	// As root the server runs as the postgres user, which must be able to
	// enter the directories above the cluster.
	parent, err := os.MkdirTemp("", "ordem-readyz-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(parent) })
	require.NoError(t, os.Chmod(parent, 0o755))
	dir := filepath.Join(parent, "postgres")
	_, portText, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)

	cluster, err := devstack.StartCluster(ctx, dir, port)
	if err == devstack.ErrNoPostgres {
		t.Skip("no PostgreSQL server binaries on this machine")
	}
	require.NoError(t, err)
	running := true
	t.Cleanup(func() {
		if running {
			_ = cluster.Stop()
		}
	})
	pool, err := pgxpool.New(ctx, cluster.URL("postgres"))
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{Logger: quietLogger()}))
	srv := httptest.NewServer(worker.HTTPHandler(metrics.New(), health.Probes{Pool: pool, Temporal: ts.GetDefaultClient()}, false))
	t.Cleanup(srv.Close)

	readyz := func() (int, map[string]string) {
		code, body := get(t, srv.URL+"/readyz")
		var res struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &res), body)
		require.Equal(t, code == 200, res.Ready, body)
		return code, res.Checks
	}

	code, checks := readyz()
	require.Equal(t, 200, code)
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "ok"}, checks)

	require.NoError(t, cluster.Stop())
	running = false
	code, checks = readyz()
	require.Equal(t, 503, code)
	require.Equal(t, map[string]string{"postgres": "unreachable", "temporal": "ok"}, checks)
	code, _ = get(t, srv.URL+"/healthz")
	require.Equal(t, 200, code, "the process is alive: only readiness follows Postgres")

	cluster, err = devstack.StartCluster(ctx, dir, port)
	require.NoError(t, err)
	running = true
	require.Eventually(t, func() bool { code, _ := readyz(); return code == 200 }, 15*time.Second, 100*time.Millisecond)
	_, checks = readyz()
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "ok"}, checks)
}

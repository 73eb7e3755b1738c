package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	v12 "go.temporal.io/server/schema/postgresql/v12"
	_ "modernc.org/sqlite" // the driver Temporal's SQLite plugin uses

	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/workflows/order"
)

// temporalDev is a running `ordem dev --temporal-only` child process.
type temporalDev struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

// temporalDevPorts: the Temporal ones, and those of the parts
// --temporal-only must not start (checked to stay closed).
type temporalDevPorts struct{ temporal, ui, http, s3, worker, pg int }

func newTemporalDevPorts(t *testing.T) temporalDevPorts {
	p := freePorts(t, 6)
	return temporalDevPorts{temporal: p[0], ui: p[1], http: p[2], s3: p[3], worker: p[4], pg: p[5]}
}

// startTemporalDev runs `ordem dev --temporal-only` with extra args and
// waits for its banner, retrying on new ports when one was taken meanwhile.
func startTemporalDev(t *testing.T, dataDir string, env []string, p *temporalDevPorts, args ...string) *temporalDev {
	t.Helper()
	for attempt := 1; ; attempt++ {
		d, clash := tryStartTemporalDev(t, dataDir, env, *p, args...)
		if !clash {
			return d
		}
		if attempt == 3 {
			t.Fatalf("ordem dev --temporal-only: ports kept being taken:\n%s", d.out.String())
		}
		*p = newTemporalDevPorts(t)
	}
}

func tryStartTemporalDev(t *testing.T, dataDir string, env []string, p temporalDevPorts, args ...string) (*temporalDev, bool) {
	t.Helper()
	args = append([]string{"dev", "--temporal-only", "--data-dir", dataDir,
		"--temporal-port", strconv.Itoa(p.temporal), "--ui-port", strconv.Itoa(p.ui),
		"--http-port", strconv.Itoa(p.http), "--s3-port", strconv.Itoa(p.s3),
		"--worker-port", strconv.Itoa(p.worker), "--pg-port", strconv.Itoa(p.pg)}, args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	d := &temporalDev{t: t, cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ordem dev --temporal-only output:\n%s", d.out.String())
			if log, err := os.ReadFile(filepath.Join(dataDir, "temporal.log")); err == nil {
				lines := strings.Split(strings.TrimSpace(string(log)), "\n")
				t.Logf("temporal.log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
			}
		}
		select {
		case <-d.exited:
		default:
			_ = cmd.Process.Kill()
			<-d.exited
		}
	})
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(d.out.String(), "Temporal dev server is up") {
		select {
		case <-d.exited:
			if strings.Contains(d.out.String(), "already in use") {
				return d, true
			}
			t.Fatalf("ordem dev --temporal-only exited before it was up:\n%s", d.out.String())
		case <-deadline:
			t.Fatalf("ordem dev --temporal-only not up within 2 minutes:\n%s", d.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return d, false
}

// stop sends sig (SIGINT is Ctrl-C, SIGTERM a supervisor) and requires a
// clean exit.
func (d *temporalDev) stop(sig os.Signal) {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(sig))
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		d.t.Fatalf("ordem dev --temporal-only did not stop within a minute after %v:\n%s", sig, d.out.String())
	}
	require.Equal(d.t, 0, d.cmd.ProcessState.ExitCode(), d.out.String())
	require.Contains(d.t, d.out.String(), "ordem dev: stopping")
}

// devGreet and devGreeting are the trivial workflow the tests run on the
// dev server: an activity, a durable timer, and one of Ordem's search
// attributes set, so the visibility store must know it.
func devGreet(_ context.Context, name string) (string, error) { return "olá " + name, nil }

func devGreeting(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var s string
	if err := workflow.ExecuteActivity(ctx, devGreet, name).Get(ctx, &s); err != nil {
		return "", err
	}
	if err := workflow.Sleep(ctx, 500*time.Millisecond); err != nil {
		return "", err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, order.SearchOrderStatus.ValueSet("completed")); err != nil {
		return "", err
	}
	return s, nil
}

func dialTemporal(t *testing.T, address, namespace string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: address, Namespace: namespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// exercise checks the namespace has Ordem's search attributes, runs
// devGreeting to completion with a worker of its own and finds it by
// OrderStatus; it returns the workflow id.
func exercise(t *testing.T, c client.Client, namespace string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	require.NoError(t, err)
	for _, key := range order.SearchAttributes {
		require.Equal(t, key.GetValueType(), sa.GetCustomAttributes()[key.GetName()], key.GetName())
	}

	queue := fmt.Sprintf("dev-test-%d", rand.Int64())
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(devGreeting)
	w.RegisterActivity(devGreet)
	require.NoError(t, w.Start())
	defer w.Stop()
	id := "greeting-" + queue
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, devGreeting, "dev")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "olá dev", got)

	// Visibility is written asynchronously.
	require.Eventually(t, func() bool {
		res, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: fmt.Sprintf("OrderStatus = 'completed' AND WorkflowId = '%s'", id)})
		return err == nil && len(res.GetExecutions()) == 1 &&
			res.GetExecutions()[0].GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, 20*time.Second, 100*time.Millisecond, "the completed workflow is found by Ordem's search attribute")
	return id
}

// requireCompleted checks a workflow run before a restart is still there.
func requireCompleted(t *testing.T, c client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
}

// requireClosed checks nothing listens on port: --temporal-only started
// no API, worker, S3 store or Postgres.
func requireClosed(t *testing.T, name string, port int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		c.Close()
	}
	require.Error(t, err, "--temporal-only must not start the %s", name)
}

// TestDevTemporalOnly runs `ordem dev --temporal-only` on SQLite: the
// banner says what to export, a client runs a workflow in the namespace
// (with Ordem's search attributes), nothing but Temporal runs, the file
// is in WAL mode, and a restart on the same data directory keeps it all.
func TestDevTemporalOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Temporal dev server; skipped with -short")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	namespace := "ordem-dev-test"
	env := []string{
		"TEMPORAL_NAMESPACE=" + namespace,
		// Nothing answers there: --temporal-only on SQLite must not need
		// (nor start) a Postgres.
		"DATABASE_URL=postgres://postgres@127.0.0.1:1/ordem?sslmode=disable",
	}
	p := newTemporalDevPorts(t)
	d := startTemporalDev(t, dataDir, env, &p)
	address := fmt.Sprintf("127.0.0.1:%d", p.temporal)
	uiURL := fmt.Sprintf("http://127.0.0.1:%d", p.ui)
	require.Contains(t, d.out.String(), "export ORDEM_ENV=dev TEMPORAL_ADDRESS="+address+" TEMPORAL_NAMESPACE="+namespace+" TEMPORAL_UI_URL="+uiURL)
	require.Contains(t, d.out.String(), "SQLite "+filepath.Join(dataDir, "temporal.db"))

	t.Run("Ensure only Temporal and its Web UI run", func(t *testing.T) {
		res, err := http.Get(uiURL + "/")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
		requireClosed(t, "API", p.http)
		requireClosed(t, "S3 store", p.s3)
		requireClosed(t, "worker", p.worker)
		requireClosed(t, "private PostgreSQL", p.pg)
		require.NoDirExists(t, filepath.Join(dataDir, "postgres"))
		require.NoDirExists(t, filepath.Join(dataDir, "s3"))
	})

	t.Run("Ensure the SQLite file is in WAL mode", func(t *testing.T) {
		// The connect attributes once had names SQLite ignored: the file
		// stayed in rollback-journal mode without a word.
		// Waiting for locks: out of WAL mode the server's writes block this
		// reader, and the failure should say "delete", not "locked".
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "temporal.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		require.NoError(t, err)
		defer db.Close()
		var mode string
		require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
		require.Equal(t, "wal", mode)
	})

	c := dialTemporal(t, address, namespace)
	id := exercise(t, c, namespace)
	c.Close()

	d.stop(syscall.SIGTERM)
	d = startTemporalDev(t, dataDir, env, &p)
	address = fmt.Sprintf("127.0.0.1:%d", p.temporal)
	c = dialTemporal(t, address, namespace)
	requireCompleted(t, c, id)
	exercise(t, c, namespace)
	d.stop(os.Interrupt)
}

// TestDevTemporalOnPostgres runs `ordem dev --temporal-only
// --temporal-store postgres` against the test server: Temporal's two
// databases are created and brought to the server's schema versions by its
// schema tool, a workflow runs, and a restart finds the schema current
// (no update applied) and the workflow still there.
func TestDevTemporalOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Temporal dev server on Postgres; skipped with -short")
	}
	ctx := context.Background()
	dbName := fmt.Sprintf("ordem_tpg_%d", rand.Int64N(1e12))
	databases := []string{dbName, dbName + "_temporal", dbName + "_temporal_visibility"}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, pgtest.ServerURL())
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for _, db := range databases {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		}
	})
	dataDir := filepath.Join(t.TempDir(), "data")
	env := []string{"DATABASE_URL=" + pgtest.URLFor(t, dbName)}
	p := newTemporalDevPorts(t)
	d := startTemporalDev(t, dataDir, env, &p, "--temporal-store", "postgres")
	require.Contains(t, d.out.String(), fmt.Sprintf("Postgres databases %s and %s", databases[1], databases[2]))
	require.NoFileExists(t, filepath.Join(dataDir, "temporal.db"))
	requireClosed(t, "private PostgreSQL", p.pg)

	// schema reads the version and the update history of each database.
	schema := func() (versions, history []string) {
		for _, db := range databases[1:] {
			conn, err := pgx.Connect(ctx, pgtest.URLFor(t, db))
			require.NoError(t, err)
			var v string
			var n int
			require.NoError(t, conn.QueryRow(ctx, `SELECT curr_version FROM schema_version WHERE db_name = $1`, db).Scan(&v))
			require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM schema_update_history`).Scan(&n))
			require.NoError(t, conn.Close(ctx))
			versions = append(versions, v)
			history = append(history, strconv.Itoa(n))
		}
		return versions, history
	}
	versions, history := schema()
	require.Equal(t, []string{v12.Version, v12.VisibilityVersion}, versions, "both schemas at the server's versions")

	address := fmt.Sprintf("127.0.0.1:%d", p.temporal)
	c := dialTemporal(t, address, "default")
	id := exercise(t, c, "default")
	c.Close()

	d.stop(os.Interrupt)
	// The variable instead of the flag this time.
	d = startTemporalDev(t, dataDir, append(env, "ORDEM_DEV_TEMPORAL_STORE=postgres"), &p)
	require.Contains(t, d.out.String(), fmt.Sprintf("Postgres databases %s and %s", databases[1], databases[2]))
	again, historyAgain := schema()
	require.Equal(t, versions, again)
	require.Equal(t, history, historyAgain, "the restart's update-schema applied nothing")
	c = dialTemporal(t, fmt.Sprintf("127.0.0.1:%d", p.temporal), "default")
	requireCompleted(t, c, id)
	d.stop(syscall.SIGTERM)
}

package faults_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/devstack"
)

// Fault 3b: the whole `ordem dev` process (Temporal, worker, API and the
// S3 store in one) is killed (SIGKILL) under load and started again on
// its data directory, as an operator tried it: clients retry through the
// outage with the same Idempotency-Key.
func TestDevProcessKilledAndRestarted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	dir, err := os.MkdirTemp("", "ordem-faults-dev-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	s := &stack{t: t, dir: dir, pgPort: freePort(t)}
	t.Cleanup(func() {
		for _, p := range s.apis {
			p.stop()
		}
		if s.pg != nil {
			_ = s.pg.Stop()
		}
		if t.Failed() {
			s.dumpLogs()
		}
		_ = os.RemoveAll(dir)
	})
	s.startPostgres()
	s.dbURL = s.pg.URL("ordem")
	_, err = devstack.EnsureDatabase(context.Background(), s.dbURL)
	require.NoError(t, err)

	httpPort, workerPort := freePort(t), freePort(t)
	dev := &proc{name: "dev", log: filepath.Join(dir, "dev.log"), url: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		env: []string{"DATABASE_URL=" + s.dbURL, "RATELIMIT_ENABLED=false", "LOG_LEVEL=WARNING", "ADMIN_EMAIL=" + adminEmail,
			"ADMIN_PASSWORD=" + adminPassword, "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")},
		args: []string{"dev", "--data-dir", filepath.Join(dir, "dev"), "--http-port", strconv.Itoa(httpPort),
			"--temporal-port", strconv.Itoa(freePort(t)), "--ui-port", strconv.Itoa(freePort(t)),
			"--s3-port", strconv.Itoa(freePort(t)), "--worker-port", strconv.Itoa(workerPort)}}
	dev.start(t)
	s.apis, s.apiURLs = []*proc{dev}, []string{dev.url}
	waitDevReady(t, dev)

	r := s.startLoad(t, defaultLoad)
	time.Sleep(8 * time.Second)
	dev.kill()
	t0 := time.Now()
	since := s.lastEvent(t)
	dev.start(t)
	waitDevReady(t, dev)
	recovery := s.waitProgress(t, since, t0)
	res := s.wait(t, r)
	record("`kill -9` of the whole `ordem dev` process under load, restarted at once on its data directory", res, recovery,
		"start it again on the same data directory: Temporal's SQLite file (WAL) keeps every workflow and timer")
}

// waitDevReady waits for `ordem dev`'s banner and its API's readiness.
func waitDevReady(t *testing.T, p *proc) {
	t.Helper()
	require.Eventually(t, func() bool {
		if !bytes.Contains(readFile(p.log), []byte("Admin login")) {
			return false
		}
		res, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 2*time.Minute, 200*time.Millisecond, "ordem dev ready:\n%s", readFile(p.log))
}

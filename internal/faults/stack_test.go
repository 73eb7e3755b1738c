package faults_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/devstack"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/storage"
)

// ordemBin is the ordem binary under test, built once by TestMain.
var ordemBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ordem-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ordemBin = filepath.Join(dir, "ordem")
	build := exec.Command("go", "build", "-o", ordemBin, "../../cmd/ordem")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ordem:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := writeReliabilityDoc(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	adminEmail    = "admin@faults.test"
	adminPassword = "faults-admin-password"
	taskQueue     = "ordem-faults"
	bucket        = "ordem-faults"
)

// stack is one Ordem deployment of separate processes on loopback.
type stack struct {
	t   *testing.T
	dir string

	pg      *devstack.Cluster
	pgPort  int
	dbURL   string
	s3      *devstack.S3
	s3Addr  string
	tempDir string // the Temporal server's data directory

	temporal     *proc
	temporalPort int
	apis         []*proc
	apiURLs      []string
	workers      []*proc
	// workerDB is the database URL the workers use (a proxy's, in the
	// network-fault test).
	workerDB string
	// extraEnv is added to every process (e.g. to shorten a deadline).
	extraEnv []string
	// admin is the admin's bearer token, once logged in.
	admin string
}

// freePort asks the kernel for a port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newStack starts Postgres, S3 and Temporal, migrates and seeds, then
// apis API and workers worker processes. Options run once the database
// is up, before any Ordem process starts.
func newStack(t *testing.T, apis, workers int, opts ...func(*stack)) *stack {
	t.Helper()
	ctx := context.Background()
	// As root Postgres runs as the postgres user, which must be able to
	// enter the directories above the cluster.
	dir, err := os.MkdirTemp("", "ordem-faults-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	s := &stack{t: t, dir: dir, pgPort: freePort(t), temporalPort: freePort(t), s3Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		tempDir: filepath.Join(dir, "temporal")}
	t.Cleanup(func() {
		s.stopAll()
		if t.Failed() {
			s.dumpLogs()
		}
		_ = os.RemoveAll(dir)
	})

	s.startPostgres()
	s.dbURL = s.pg.URL("ordem")
	_, err = devstack.EnsureDatabase(ctx, s.dbURL)
	require.NoError(t, err)
	s.workerDB = s.dbURL
	for _, o := range opts {
		o(s)
	}
	s.startS3()
	st, err := storage.New(storage.Options{Endpoint: s.s3.Endpoint, Region: devstack.S3Region, Bucket: bucket,
		AccessKey: devstack.S3AccessKey, SecretKey: devstack.S3SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	require.NoError(t, st.EnsureBucket(ctx))
	s.startTemporal()

	s.run("migrate", "migrate", "up")
	s.run("seed", "seed")
	for range workers {
		s.addWorker()
	}
	for range apis {
		s.addAPI()
	}
	return s
}

// env is every Ordem process's configuration.
func (s *stack) env(dbURL string) []string {
	env := []string{
		"ORDEM_ENV=test", "DATABASE_URL=" + dbURL, "LOG_LEVEL=WARNING",
		"TEMPORAL_ADDRESS=127.0.0.1:" + strconv.Itoa(s.temporalPort), "TEMPORAL_NAMESPACE=default", "TEMPORAL_TASK_QUEUE=" + taskQueue,
		"RATELIMIT_ENABLED=false", "ADMIN_EMAIL=" + adminEmail, "ADMIN_PASSWORD=" + adminPassword,
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
	}
	// The `ordem dev` test has no S3 of its own (dev runs one inside);
	// its helper commands (ledger verify) need none.
	if s.s3 != nil {
		env = append(env, "S3_ENDPOINT="+s.s3.Endpoint, "S3_REGION="+devstack.S3Region, "S3_BUCKET="+bucket, "S3_USE_PATH_STYLE=true",
			"S3_ACCESS_KEY_ID="+devstack.S3AccessKey, "S3_SECRET_ACCESS_KEY="+devstack.S3SecretKey)
	}
	return append(env, s.extraEnv...)
}

// run runs an ordem command to completion.
func (s *stack) run(name string, args ...string) {
	s.t.Helper()
	cmd := exec.Command(ordemBin, args...)
	cmd.Env = s.env(s.dbURL)
	out, err := cmd.CombinedOutput()
	require.NoError(s.t, err, "ordem %s:\n%s", name, out)
}

func (s *stack) startPostgres() {
	s.t.Helper()
	pg, err := devstack.StartCluster(context.Background(), filepath.Join(s.dir, "postgres"), s.pgPort)
	if errors.Is(err, devstack.ErrNoPostgres) {
		s.t.Skip("no PostgreSQL server binaries on this machine")
	}
	require.NoError(s.t, err)
	s.pg = pg
}

func (s *stack) stopPostgres() {
	s.t.Helper()
	require.NoError(s.t, s.pg.Stop())
}

func (s *stack) startS3() {
	s.t.Helper()
	var err error
	s.s3, err = devstack.StartS3(s.s3Addr, filepath.Join(s.dir, "s3"), s.logFile("s3"))
	require.NoError(s.t, err)
}

// startTemporal runs the Temporal server as its own process on its data
// directory (SQLite kept across restarts).
func (s *stack) startTemporal() {
	s.t.Helper()
	p := s.spawn("temporal", nil, "dev", "--temporal-only", "--data-dir", s.tempDir,
		"--temporal-port", strconv.Itoa(s.temporalPort), "--ui-port", strconv.Itoa(freePort(s.t)))
	s.temporal = p
	require.Eventually(s.t, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.temporalPort), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil && bytes.Contains(readFile(p.log), []byte("TEMPORAL_ADDRESS"))
	}, 90*time.Second, 200*time.Millisecond, "Temporal started:\n%s", readFile(p.log))
}

func (s *stack) addWorker() *proc {
	s.t.Helper()
	port := freePort(s.t)
	p := s.spawn(fmt.Sprintf("worker-%d", len(s.workers)), append(s.env(s.workerDB), "WORKER_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port)), "worker")
	p.url = "http://127.0.0.1:" + strconv.Itoa(port)
	s.workers = append(s.workers, p)
	s.waitReady(p)
	return p
}

func (s *stack) addAPI() *proc {
	s.t.Helper()
	port := freePort(s.t)
	p := s.spawn(fmt.Sprintf("api-%d", len(s.apis)), append(s.env(s.dbURL), "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port)), "api")
	p.url = "http://127.0.0.1:" + strconv.Itoa(port)
	s.apis = append(s.apis, p)
	s.apiURLs = append(s.apiURLs, p.url)
	s.waitReady(p)
	return p
}

// restart starts a process again with the same command (same port).
func (s *stack) restart(p *proc) {
	s.t.Helper()
	p.start(s.t)
	if p.url != "" {
		s.waitReady(p)
	}
}

// waitReady waits for the process's /readyz to answer 200.
func (s *stack) waitReady(p *proc) {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		res, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "%s ready:\n%s", p.name, readFile(p.log))
}

func (s *stack) logFile(name string) *os.File {
	f, err := os.Create(filepath.Join(s.dir, name+".log"))
	require.NoError(s.t, err)
	s.t.Cleanup(func() { f.Close() })
	return f
}

// spawn starts an ordem process (env nil: the common environment).
func (s *stack) spawn(name string, env []string, args ...string) *proc {
	s.t.Helper()
	if env == nil {
		env = s.env(s.dbURL)
	}
	p := &proc{name: name, args: args, env: env, log: filepath.Join(s.dir, name+".log")}
	p.start(s.t)
	return p
}

func (s *stack) stopAll() {
	for _, p := range append(append(append([]*proc{}, s.apis...), s.workers...), s.temporal) {
		if p != nil {
			p.stop()
		}
	}
	if s.s3 != nil {
		s.s3.Stop()
	}
	if s.pg != nil {
		_ = s.pg.Stop()
	}
}

// dumpLogs prints the tail of every process's log when a test failed.
func (s *stack) dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	for _, l := range logs {
		b := readFile(l)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		s.t.Logf("---- %s ----\n%s", filepath.Base(l), b)
	}
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// proc is one ordem process.
type proc struct {
	name string
	args []string
	env  []string
	log  string
	url  string // its HTTP base URL, if it serves one

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	cmd := exec.Command(ordemBin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start(), "start %s", p.name)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// kill ends the process with SIGKILL: no shutdown, no flush, as a crash.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL, 10*time.Second)
}

// stop asks the process to exit (SIGTERM), killing it after a while.
func (p *proc) stop() {
	if !p.signal(syscall.SIGTERM, 20*time.Second) {
		p.signal(syscall.SIGKILL, 10*time.Second)
	}
}

func (p *proc) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// pool opens the stack's database.
func (s *stack) query(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, s.dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var n int64
	require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&n))
	return n
}

// ledgerVerify runs `ordem ledger verify` and returns its exit status and
// output.
func (s *stack) ledgerVerify(t *testing.T) (int, string) {
	t.Helper()
	cmd := exec.Command(ordemBin, "ledger", "verify")
	cmd.Env = s.env(s.dbURL)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err, string(out))
	return 0, strings.TrimSpace(string(out))
}

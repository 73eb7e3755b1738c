package faults_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/postgres"
)

// lastEvent is the newest timeline event's id: steps committed after it
// show the stack is making progress again.
func (s *stack) lastEvent(t *testing.T) int64 {
	return s.query(t, `SELECT coalesce(max(id), 0) FROM order_events`)
}

// waitProgress waits until a step commits after event id since, and
// returns how long it took from from.
func (s *stack) waitProgress(t *testing.T, since int64, from time.Time) time.Duration {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, s.dbURL)
	require.NoError(t, err)
	defer pool.Close()
	require.Eventually(t, func() bool {
		var n int64
		err := pool.QueryRow(ctx, `SELECT count(*) FROM order_events WHERE id > $1`, since).Scan(&n)
		return err == nil && n > 0
	}, 3*time.Minute, 50*time.Millisecond, "no step committed after the fault")
	return time.Since(from)
}

// Fault 1: the worker is killed (SIGKILL) three times in a row while
// orders are in flight; each time a new worker starts a second later.
// Temporal hands the dead worker's workflow and activity tasks to the new
// one; every step is idempotent, so nothing runs twice.
func TestWorkerKilledRepeatedly(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	s := newStack(t, 1, 1)
	r := s.startLoad(t, defaultLoad)
	recovery := s.killRepeatedly(t, s.workers[0], 3, 5*time.Second, time.Second)
	res := s.wait(t, r)
	record("`kill -9` of the worker, 3 times 5 s apart, a new worker started 1 s after each", res, recovery,
		"none: run more than one worker so a crash stalls nothing; Temporal gives the dead worker's tasks to the next (workflow task timeout 10 s)")
}

// Fault 2: the API is killed (SIGKILL) with requests in flight and
// started again; clients retry through the connection errors with the
// same Idempotency-Key. The key's lease runs out, the retry takes it over
// and resumes the request: the same order, the same update.
func TestAPIKilledMidRequest(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	s := newStack(t, 1, 1)
	r := s.startLoad(t, defaultLoad)
	recovery := s.killRepeatedly(t, s.apis[0], 2, 6*time.Second, 2*time.Second)
	res := s.wait(t, r)
	record("`kill -9` of the API with requests in flight, twice; restarted 2 s later, clients retrying with the same Idempotency-Key", res, recovery,
		"none: run two or more API processes behind the proxy; a request cut mid-way is resumed by the client's retry once its key's lease (35 s) runs out")
}

// Fault 3: PostgreSQL is stopped for 30 seconds under load and started
// again. Meanwhile the API answers 503 unavailable with Retry-After, never
// a 500; workflows wait on their retrying steps; afterwards every order
// completes.
func TestPostgresStoppedAndStarted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	s := newStack(t, 1, 1)
	token := s.login(t)
	r := s.startLoad(t, defaultLoad)
	time.Sleep(6 * time.Second)
	s.stopPostgres()
	outage := time.Now()
	for time.Since(outage) < 30*time.Second {
		res, body := s.get(t, "/v1/orders", token)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)
		require.Contains(t, body, `"unavailable"`)
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		time.Sleep(2 * time.Second)
	}
	t0 := time.Now()
	s.startPostgres()
	since := s.lastEvent(t)
	recovery := s.waitProgress(t, since, t0)
	res := s.wait(t, r)
	require.Contains(t, strings.Join(sortedKeys(res.Retried), " "), "503 unavailable", "clients met the outage as 503s")
	record("PostgreSQL stopped for 30 s under load, then started", res, recovery,
		"restore the database; nothing to replay: the API answered 503 unavailable with Retry-After meanwhile, and every step retried until it committed")
}

// Fault 4: the Temporal server is stopped under load and started again on
// its SQLite file. The API answers 503 unavailable meanwhile; deadlines
// that fell due during the outage release their orders once it is back.
func TestTemporalStoppedAndStarted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	s := newStack(t, 1, 1)
	l := defaultLoad
	l.mix = "confirmed=2,auto_confirmed=3,disputed=1,cancelled=1"
	r := s.startLoad(t, l)
	time.Sleep(8 * time.Second)
	s.temporal.kill()
	time.Sleep(15 * time.Second) // longer than the deadline: some fall due meanwhile
	t0 := time.Now()
	since := s.lastEvent(t)
	s.startTemporal()
	recovery := s.waitProgress(t, since, t0)
	res := s.wait(t, r)
	require.Positive(t, res.Completed["auto_confirmed"])
	record("Temporal server killed under load, down 15 s (longer than the 6 s confirmation window), restarted on its data", res, recovery,
		"start it again on the same persistence; timers that fell due meanwhile fire at once, workers reconnect by themselves")
}

// login returns the admin's bearer token.
func (s *stack) login(t *testing.T) string {
	t.Helper()
	res, body := s.post(t, "/v1/auth/login", "", `{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	i := strings.Index(body, `"token":"`)
	require.Positive(t, i, body)
	rest := body[i+len(`"token":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// killRepeatedly kills p (SIGKILL) times times, every apart, restarting
// it down later each time, and returns the longest time from a restart to
// the next committed order step.
func (s *stack) killRepeatedly(t *testing.T, p *proc, times int, every, down time.Duration) time.Duration {
	t.Helper()
	var recovery time.Duration
	for range times {
		time.Sleep(every)
		p.kill()
		time.Sleep(down)
		since, t0 := s.lastEvent(t), time.Now()
		s.restart(p)
		recovery = max(recovery, s.waitProgress(t, since, t0))
	}
	return recovery
}

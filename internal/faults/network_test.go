package faults_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Fault 6: the network between the workers and PostgreSQL turns slow
// (every packet delayed) and then drops every open connection, twice.
// Steps retry; none runs twice; no order is left stuck.
func TestWorkerDatabaseLinkSlowThenCut(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	var proxy *faultyProxy
	s := newStack(t, 1, 1, func(s *stack) {
		proxy = startFaultyProxy(t, "127.0.0.1:"+strconv.Itoa(s.pgPort))
		u, _ := url.Parse(s.dbURL)
		u.Host = proxy.addr()
		s.workerDB = u.String()
	})
	r := s.startLoad(t, defaultLoad)
	time.Sleep(4 * time.Second)
	proxy.slow(200 * time.Millisecond) // every chunk 200 ms late
	time.Sleep(6 * time.Second)
	cut := proxy.cut()
	proxy.slow(0)
	time.Sleep(4 * time.Second)
	cut += proxy.cut()
	since, t0 := s.lastEvent(t), time.Now()
	recovery := s.waitProgress(t, since, t0)
	res := s.wait(t, r)
	t.Logf("connections cut: %d", cut)
	record("worker ↔ PostgreSQL link: every packet delayed 200 ms for 6 s, then every open connection cut, twice", res, recovery,
		"none: pgx reconnects; a step cut mid-transaction rolls back and retries (as a local activity, then an activity)")
}

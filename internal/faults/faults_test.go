package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/loadgen"
)

// load is the steady stream of orders every fault test runs under.
type load struct {
	users    int
	duration time.Duration
	deadline time.Duration
	mix      string
}

// The confirmation deadline outlasts every outage the suite injects (the
// longest, Postgres stopped, is ~30 s, plus the clients' retry backoff):
// with a shorter one, a confirm or contest held up by the fault meets an
// order the deadline already completed, which is the rules working, not a
// fault's effect, and the test could not tell the two apart.
var defaultLoad = load{users: 6, duration: 20 * time.Second, deadline: 75 * time.Second,
	mix: "confirmed=4,auto_confirmed=2,disputed=1,cancelled=1"}

// started is a load run in the background.
type started struct {
	done  chan struct{}
	res   *loadgen.Result
	err   error
	log   bytes.Buffer
	began time.Time
}

// startLoad runs l against s's APIs; clients retry every failed request
// with the same Idempotency-Key for up to two minutes, as a real client
// would through an outage.
func (s *stack) startLoad(t *testing.T, l load) *started {
	t.Helper()
	mix, err := loadgen.ParseMix(l.mix)
	require.NoError(t, err)
	r := &started{done: make(chan struct{}), began: time.Now()}
	go func() {
		defer close(r.done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		r.res, r.err = loadgen.Run(ctx, loadgen.Config{
			BaseURLs: s.apiURLs, AdminEmail: adminEmail, AdminPassword: adminPassword, Users: l.users,
			Duration: l.duration, Mix: mix, ConfirmDeadline: l.deadline, DrainTimeout: 3 * time.Minute,
			RetryFor: 2 * time.Minute, DatabaseURL: s.dbURL, Processes: []string{"ordem", "postgres", "versitygw"},
			Seed: uint64(time.Now().UnixNano()), Log: &r.log,
		})
	}()
	return r
}

// wait waits for the load to end and checks everything a fault must not
// break; it returns the result for the report.
func (s *stack) wait(t *testing.T, r *started) *loadgen.Result {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(12 * time.Minute):
		t.Fatalf("the load did not end:\n%s", r.log.String())
	}
	require.NoError(t, r.err, r.log.String())
	var report bytes.Buffer
	loadgen.WriteReport(&report, r.res)
	t.Logf("load under the fault:\n%s", report.String())
	res := r.res

	// Every order reached the state its actions imply: each client
	// retried until its request had its one effect, so nothing failed.
	require.Zero(t, res.Failed, "orders that failed despite retries:\n%s%s", report.String(), r.log.String())
	require.Empty(t, res.Errors, report.String())
	started := 0
	for _, sc := range loadgen.Scenarios {
		require.Equal(t, res.Started[sc], res.Completed[sc], "%s: %s", sc, report.String())
		started += res.Started[sc]
	}
	require.Positive(t, started)
	// No request retried with the same key made a second order.
	require.EqualValues(t, started, s.query(t, `SELECT count(*) FROM orders WHERE client_id = ANY($1::bigint[])`, res.ClientIDs),
		"one order per create request")
	// Money: each user holds exactly what its orders imply, and the total
	// deposited is held by the users and the platform, to the cent.
	require.True(t, res.MoneyConserved, report.String())
	require.Empty(t, res.MoneyMismatches, report.String())
	require.True(t, res.LedgerVerified, res.LedgerViolations)
	// No posting was duplicated: one ledger transaction per order and kind.
	require.Zero(t, s.query(t, `SELECT count(*) FROM (SELECT order_id, kind FROM ledger_transactions
		WHERE order_id IS NOT NULL GROUP BY order_id, kind HAVING count(*) > 1) d`), "duplicated postings")
	code, out := s.ledgerVerify(t)
	require.Equal(t, 0, code, out)
	// A refusal that is not the client's to fix never reached a client.
	for k := range res.Retried {
		require.False(t, strings.HasPrefix(k, "500 "), "a client saw a 500: %v", res.Retried)
	}
	return res
}

// row is one line of docs/reliability.md.
type row struct {
	fault     string
	inFlight  string
	seen      string
	recovery  string
	moneyLost string
	operators string
}

// rows are the table's lines, one per fault test; the tests run in
// parallel (two stacks at a time on two cores keeps the suite well inside
// CI's time), so they append under rowsMu and the table sorts them.
var (
	rowsMu sync.Mutex
	rows   []row
)

func addRow(r row) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	rows = append(rows, r)
}

// record adds a fault's row from what the run measured.
func record(fault string, res *loadgen.Result, recovery time.Duration, operators string) {
	started := 0
	for _, n := range res.Started {
		started += n
	}
	deposited := decimal.RequireFromString(res.Deposited)
	held := decimal.RequireFromString(res.Held)
	revenue := decimal.Zero
	if res.RevenueDelta != "" {
		revenue = decimal.RequireFromString(res.RevenueDelta)
	}
	seen := "none"
	if len(res.Retried) > 0 {
		var parts []string
		for _, k := range sortedKeys(res.Retried) {
			parts = append(parts, fmt.Sprintf("%s ×%d", describe(k), res.Retried[k]))
		}
		seen = strings.Join(parts, ", ") + " (all retried to success)"
	}
	addRow(row{fault: fault, inFlight: fmt.Sprintf("%d orders (%d users)", started, res.Users), seen: seen,
		recovery: recovery.Round(100 * time.Millisecond).String(), moneyLost: deposited.Sub(held).Sub(revenue).StringFixed(2),
		operators: operators})
}

// describe turns "503 unavailable" / "0 network" into words.
func describe(k string) string {
	if strings.HasPrefix(k, "0 ") {
		return "connection errors"
	}
	return k
}

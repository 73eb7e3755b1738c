// Package loadgen drives a running Ordem stack the way a marketplace
// does: many virtual users, each a client and a provider, running orders
// of every kind end to end through the public HTTP API only. It reports
// orders per second, every action's latency percentiles, errors by code
// and the CPU the stack's processes spent per completed order, then
// checks that money was conserved to the cent and that the ledger
// verifies. `ordem bench orders` is its command; the fault suite reuses it.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/postgres"
)

// Mix weighs the scenarios: each virtual user picks its next order's
// scenario with these weights.
type Mix map[Scenario]int

// ParseMix reads "confirmed=6,auto_confirmed=2,disputed=1,cancelled=1".
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(weight)
		if !ok || err != nil || w < 0 || !slices.Contains(Scenarios, Scenario(name)) {
			return nil, fmt.Errorf("mix %q: want scenario=weight (a whole number), comma-separated; scenarios: %v", s, Scenarios)
		}
		m[Scenario(name)] = w
		total += w
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: the weights sum to zero", s)
	}
	return m, nil
}

// pick draws a scenario.
func (m Mix) pick(rng *rand.Rand) Scenario {
	total := 0
	for _, s := range Scenarios {
		total += m[s]
	}
	n := rng.IntN(total)
	for _, s := range Scenarios {
		if n < m[s] {
			return s
		}
		n -= m[s]
	}
	return Confirmed
}

// nth returns the n-th scenario of the mix's (weighted > 0) scenarios,
// cyclically.
func (m Mix) nth(n int) Scenario {
	var in []Scenario
	for _, s := range Scenarios {
		if m[s] > 0 {
			in = append(in, s)
		}
	}
	return in[n%len(in)]
}

// Config is one run.
type Config struct {
	// BaseURLs are the API processes to drive (virtual users are spread
	// over them); loopback only.
	BaseURLs []string
	// AdminEmail and AdminPassword log in the admin who funds the users,
	// sets the run's deadline and rules on disputes.
	AdminEmail, AdminPassword string
	// Users is the number of virtual users (each a client and a provider)
	// running orders concurrently.
	Users int
	// Duration is the load window; MaxOrders, when set, stops starting
	// orders after that many (a test's short run).
	Duration  time.Duration
	MaxOrders int
	Mix       Mix
	// ConfirmDeadline is the confirmation window set in system config for
	// the run (restored after it), so auto-confirmed orders complete
	// within it; confirmations and contests always come much sooner.
	ConfirmDeadline time.Duration
	// DrainTimeout bounds the wait for auto-confirmations after the window.
	DrainTimeout time.Duration
	// RetryFor makes clients retry failed requests (same Idempotency-Key)
	// for that long, as a real client would through an outage.
	RetryFor time.Duration
	// DatabaseURL, when set, lets the run read platform revenue and verify
	// the ledger at the end.
	DatabaseURL string
	// Processes names the stack's processes whose CPU is measured (by
	// /proc/<pid>/comm, e.g. "ordem", "postgres", "versitygw").
	Processes []string
	// Seed makes the scenario draws repeatable.
	Seed uint64
	// Cycle makes each virtual user run the mix's scenarios in turn (user
	// i starting at the i-th) instead of drawing them: a short run then
	// covers every scenario.
	Cycle bool
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Result is what a run measured and checked.
type Result struct {
	Users  int           `json:"users"`
	Window time.Duration `json:"-"`
	// Elapsed runs from the first order to the last completion (the drain
	// of auto-confirmations included).
	Elapsed         time.Duration          `json:"-"`
	WindowSeconds   float64                `json:"window_seconds"`
	ElapsedSeconds  float64                `json:"elapsed_seconds"`
	Started         map[Scenario]int       `json:"started"`
	Completed       map[Scenario]int       `json:"completed"`
	Failed          int                    `json:"failed"`
	OrdersPerSecond float64                `json:"orders_per_second"`
	Actions         map[string]Percentiles `json:"actions"`
	Errors          map[string]int         `json:"errors"`
	// Retried counts the failed attempts clients sent again (RetryFor),
	// by "status code": what they met during an outage.
	Retried map[string]int `json:"retried,omitempty"`
	// OrderLatency is the time from create to the last action of a
	// completed order (auto-confirmed ones excluded: their end is a timer).
	OrderLatency Percentiles `json:"order_latency"`
	// AutoConfirmLag is from an auto-confirmed order's deadline to its
	// release (closed_at).
	AutoConfirmLag Percentiles        `json:"auto_confirm_lag"`
	CPUSeconds     float64            `json:"cpu_seconds"`
	CPUPerOrder    float64            `json:"cpu_seconds_per_order"`
	CPUByProcess   map[string]float64 `json:"cpu_by_process"`
	// Money: what the users were given, what they and the platform hold
	// now, and each user whose balance is not what its orders imply.
	Deposited        string   `json:"deposited"`
	Held             string   `json:"held"`
	RevenueDelta     string   `json:"revenue_delta"`
	MoneyConserved   bool     `json:"money_conserved"`
	MoneyMismatches  []string `json:"money_mismatches,omitempty"`
	LedgerVerified   bool     `json:"ledger_verified"`
	LedgerViolations []string `json:"ledger_violations,omitempty"`
	// ClientIDs and ProviderIDs are the run's users.
	ClientIDs   []string `json:"-"`
	ProviderIDs []string `json:"-"`
}

// OK reports whether the run had no error and every check passed.
func (r *Result) OK() bool {
	return r.Failed == 0 && len(r.Errors) == 0 && r.MoneyConserved && len(r.MoneyMismatches) == 0 &&
		(r.LedgerVerified || r.LedgerViolations == nil)
}

type runner struct {
	cfg   Config
	stats *Stats
	admin session
	c     *apiClient // the admin's
	terms terms
	pool  *pgxpool.Pool
}

// deposit each client receives before the clock starts: enough for every
// order a user can run.
var deposit = decimal.RequireFromString("1000000.00")

// userRecord is one virtual user's bookkeeping.
type userRecord struct {
	pair
	// clientDelta/providerDelta: the money its completed orders moved;
	// exact is false once an order failed midway (its money state is then
	// whatever the order's state says, checked by conservation only).
	clientDelta, providerDelta, revenue decimal.Decimal
	exact                               bool
}

type autoOrder struct {
	rec   *userRecord
	order apiOrder
}

// Run drives the stack and returns what it measured. An error means the
// run could not be set up or checked; failures of orders are in Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.BaseURLs) == 0 || cfg.Users < 1 || (cfg.Duration <= 0 && cfg.MaxOrders <= 0) || len(cfg.Mix) == 0 {
		return nil, errors.New("loadgen: base URLs, users, a duration or an order count, and a mix are required")
	}
	for _, u := range cfg.BaseURLs {
		if err := checkLoopback(u); err != nil {
			return nil, err
		}
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = cfg.ConfirmDeadline + 2*time.Minute
	}
	httpc := newHTTPClient(2*cfg.Users + 8)
	stats := newStats()
	clients := make([]*apiClient, len(cfg.BaseURLs))
	for i, u := range cfg.BaseURLs {
		clients[i] = &apiClient{http: httpc, base: strings.TrimSuffix(u, "/"), retryFor: cfg.RetryFor, onRetry: stats.retry}
	}
	r := &runner{cfg: cfg, stats: stats, c: clients[0]}
	if cfg.DatabaseURL != "" {
		pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("loadgen: connect to the database: %w", err)
		}
		defer pool.Close()
		r.pool = pool
	}

	users, restore, err := r.setUp(ctx, clients)
	if err != nil {
		return nil, err
	}
	defer restore()

	revenueBefore, err := r.revenue(ctx)
	if err != nil {
		return nil, err
	}
	cpuBefore := sampleCPU(cfg.Processes)
	res := &Result{Users: cfg.Users, Started: map[Scenario]int{}, Completed: map[Scenario]int{}}
	for _, u := range users {
		res.ClientIDs = append(res.ClientIDs, u.client.ID)
		res.ProviderIDs = append(res.ProviderIDs, u.provider.ID)
	}
	var (
		mu          sync.Mutex
		autos       []autoOrder
		orderLat    []time.Duration
		started     atomic.Int64
		lastDone    time.Time
		windowStart = time.Now()
	)
	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	r.logf("running %d virtual users for %s (mix %v)", cfg.Users, cfg.Duration, cfg.Mix)
	var g errgroup.Group
	for i, u := range users {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		turn := 0
		g.Go(func() error {
			for runCtx.Err() == nil {
				if cfg.MaxOrders > 0 && started.Add(1) > int64(cfg.MaxOrders) {
					return nil
				}
				s := cfg.Mix.pick(rng)
				if cfg.Cycle {
					s = cfg.Mix.nth(i + turn)
					turn++
				}
				t0 := time.Now()
				o, err := r.play(ctx, u.pair, s)
				done := time.Now()
				mu.Lock()
				res.Started[s]++
				switch {
				case err != nil:
					res.Failed++
					u.exact = false
					r.logf("order %s (%s) failed: %v", o.ID, s, err)
				case s == AutoConfirmed:
					autos = append(autos, autoOrder{rec: u, order: o})
				default:
					res.Completed[s]++
					orderLat = append(orderLat, done.Sub(t0))
					r.credit(u, s)
					lastDone = done
				}
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	cancel()
	res.Window = time.Since(windowStart)

	// Auto-confirmations: wait for each order's deadline to release it.
	lags, drained := r.drain(ctx, autos, res)
	if !drained.IsZero() && drained.After(lastDone) {
		lastDone = drained
	}
	cpu := sampleCPU(cfg.Processes).since(cpuBefore)
	if lastDone.IsZero() {
		lastDone = time.Now()
	}
	res.Elapsed = lastDone.Sub(windowStart)
	res.WindowSeconds, res.ElapsedSeconds = res.Window.Seconds(), res.Elapsed.Seconds()
	completed := 0
	for _, n := range res.Completed {
		completed += n
	}
	if res.Elapsed > 0 {
		res.OrdersPerSecond = float64(completed) / res.Elapsed.Seconds()
	}
	res.Actions, res.Errors, res.Retried = r.stats.Actions(), r.stats.Errors(), r.stats.Retried()
	res.OrderLatency, res.AutoConfirmLag = summarize(orderLat), summarize(lags)
	res.CPUByProcess = cpu
	for _, v := range cpu {
		res.CPUSeconds += v
	}
	if completed > 0 {
		res.CPUPerOrder = res.CPUSeconds / float64(completed)
	}
	if err := r.checkMoney(ctx, users, revenueBefore, res); err != nil {
		return res, err
	}
	if r.pool != nil {
		rep, err := ledger.VerifySnapshot(ctx, r.pool)
		if err != nil {
			return res, fmt.Errorf("loadgen: verify the ledger: %w", err)
		}
		res.LedgerVerified = len(rep.Violations) == 0
		res.LedgerViolations = []string{}
		for _, v := range rep.Violations {
			res.LedgerViolations = append(res.LedgerViolations, fmt.Sprint(v))
		}
	}
	return res, nil
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
}

// credit books a completed scenario's money on its user.
func (r *runner) credit(u *userRecord, s Scenario) {
	o := expected(s, r.terms)
	u.clientDelta = u.clientDelta.Add(o.client)
	u.providerDelta = u.providerDelta.Add(o.provider)
	u.revenue = u.revenue.Add(o.revenue)
}

// drain waits for the auto-confirm orders to be released and returns the
// lag of each from its deadline, and when the last was seen released.
func (r *runner) drain(ctx context.Context, autos []autoOrder, res *Result) ([]time.Duration, time.Time) {
	if len(autos) == 0 {
		return nil, time.Time{}
	}
	r.logf("waiting for %d auto-confirmations (deadline %s)", len(autos), r.cfg.ConfirmDeadline)
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	pending := autos
	var lags []time.Duration
	var last time.Time
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var next []autoOrder
		for _, a := range pending {
			var o apiOrder
			err := a.rec.c.call(ctx, "GET", "/v1/orders/"+a.order.ID, a.rec.client.Token, nil, &o)
			switch {
			case err != nil:
				r.stats.fail("poll", codeOf(err))
				next = append(next, a)
			case o.Status == "completed" && o.AutoConfirmed:
				res.Completed[AutoConfirmed]++
				r.credit(a.rec, AutoConfirmed)
				if o.ClosedAt != nil && o.ConfirmDeadline != nil {
					lags = append(lags, o.ClosedAt.Sub(*o.ConfirmDeadline))
					if o.ClosedAt.After(last) {
						last = *o.ClosedAt
					}
				}
			case o.Status == "delivered":
				next = append(next, a)
			default:
				res.Failed++
				a.rec.exact = false
				r.stats.fail("auto_confirm", "ended_"+o.Status)
			}
		}
		pending = next
		if len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	for _, a := range pending {
		res.Failed++
		a.rec.exact = false
		r.stats.fail("auto_confirm", "not_released")
	}
	return lags, last
}

// checkMoney compares every user's balances with what its orders imply,
// and the total with what was deposited: nothing lost, nothing invented.
func (r *runner) checkMoney(ctx context.Context, users []*userRecord, revenueBefore decimal.Decimal, res *Result) error {
	total := decimal.Zero
	deposited := decimal.Zero
	for _, u := range users {
		deposited = deposited.Add(deposit)
		cw, err := r.wallet(ctx, u.client.ID)
		if err != nil {
			return err
		}
		pw, err := r.wallet(ctx, u.provider.ID)
		if err != nil {
			return err
		}
		total = total.Add(cw).Add(pw)
		if !u.exact {
			continue
		}
		if want := deposit.Add(u.clientDelta); !cw.Equal(want) {
			res.MoneyMismatches = append(res.MoneyMismatches, fmt.Sprintf("client %s holds %s, its orders imply %s", u.client.ID, cw, want))
		}
		if !pw.Equal(u.providerDelta) {
			res.MoneyMismatches = append(res.MoneyMismatches, fmt.Sprintf("provider %s holds %s, its orders imply %s", u.provider.ID, pw, u.providerDelta))
		}
	}
	sort.Strings(res.MoneyMismatches)
	res.Deposited, res.Held = deposited.StringFixed(2), total.StringFixed(2)
	if r.pool == nil {
		res.MoneyConserved = true // checked per user only
		return nil
	}
	after, err := r.revenue(ctx)
	if err != nil {
		return err
	}
	delta := after.Sub(revenueBefore)
	res.RevenueDelta = delta.StringFixed(2)
	wantRevenue := decimal.Zero
	for _, u := range users {
		wantRevenue = wantRevenue.Add(u.revenue)
	}
	// Other users' orders must not run on the stack meanwhile: the
	// platform's revenue is shared.
	res.MoneyConserved = total.Add(delta).Equal(deposited)
	if allExact(users) && !delta.Equal(wantRevenue) {
		res.MoneyMismatches = append(res.MoneyMismatches, fmt.Sprintf("platform revenue moved by %s, the orders imply %s", delta, wantRevenue))
	}
	return nil
}

func allExact(users []*userRecord) bool {
	for _, u := range users {
		if !u.exact {
			return false
		}
	}
	return true
}

// wallet is a user's available + blocked balance, as the admin sees it.
func (r *runner) wallet(ctx context.Context, userID string) (decimal.Decimal, error) {
	var w struct{ Available, Blocked decimal.Decimal }
	if err := r.c.call(ctx, "GET", "/v1/admin/wallets/"+userID, r.admin.Token, nil, &w); err != nil {
		return decimal.Zero, fmt.Errorf("loadgen: wallet of user %s: %w", userID, err)
	}
	return w.Available.Add(w.Blocked), nil
}

// revenue reads platform revenue (zero without a database).
func (r *runner) revenue(ctx context.Context) (decimal.Decimal, error) {
	if r.pool == nil {
		return decimal.Zero, nil
	}
	b, err := ledger.AccountBalance(ctx, r.pool, ledger.RevenueAccount)
	if err != nil {
		return decimal.Zero, fmt.Errorf("loadgen: read platform revenue: %w", err)
	}
	return b, nil
}

// WriteReport prints a run's result for humans.
func WriteReport(w io.Writer, r *Result) {
	fmt.Fprintf(w, "virtual users: %d; window %.1f s; elapsed (to the last completion) %.1f s\n", r.Users, r.WindowSeconds, r.ElapsedSeconds)
	for _, s := range Scenarios {
		if r.Started[s] > 0 {
			fmt.Fprintf(w, "  %-15s started %d, completed %d\n", s, r.Started[s], r.Completed[s])
		}
	}
	fmt.Fprintf(w, "orders/s: %.2f (failed: %d)\n", r.OrdersPerSecond, r.Failed)
	fmt.Fprintf(w, "order latency (create to last action): p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
		r.OrderLatency.P50ms, r.OrderLatency.P95ms, r.OrderLatency.P99ms)
	if r.AutoConfirmLag.Count > 0 {
		fmt.Fprintf(w, "auto-confirm lag (deadline to release): p50 %.0f ms, p99 %.0f ms (%d orders)\n",
			r.AutoConfirmLag.P50ms, r.AutoConfirmLag.P99ms, r.AutoConfirmLag.Count)
	}
	writeActions(w, r.Actions)
	writeErrors(w, r.Errors)
	if len(r.Retried) > 0 {
		fmt.Fprint(w, "retried attempts (clients sent them again): ")
		writeCounts(w, r.Retried)
	}
	if len(r.CPUByProcess) > 0 {
		names := make([]string, 0, len(r.CPUByProcess))
		for n := range r.CPUByProcess {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, 0, len(names))
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.1f s", n, r.CPUByProcess[n]))
		}
		fmt.Fprintf(w, "CPU: %.1f s (%s); %.3f CPU-s per completed order\n", r.CPUSeconds, strings.Join(parts, ", "), r.CPUPerOrder)
	}
	fmt.Fprintf(w, "money: deposited %s, held by the run's users %s, platform revenue %+s: conserved %v\n",
		r.Deposited, r.Held, r.RevenueDelta, r.MoneyConserved)
	for _, m := range r.MoneyMismatches {
		fmt.Fprintln(w, "  MISMATCH "+m)
	}
	if r.LedgerViolations != nil {
		fmt.Fprintf(w, "ledger verify: ok=%v\n", r.LedgerVerified)
		for _, v := range r.LedgerViolations {
			fmt.Fprintln(w, "  VIOLATION "+v)
		}
	}
}

// Package readbench is `ordem bench reads`: it generates a marketplace of
// a given size directly in SQL (Generate) and measures every list and
// dashboard route of a running API over real HTTP, as the users who see
// them (Run), reporting p50/p95/p99 per route.
package readbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordem/ordem/internal/postgres"
)

// Options configure a run.
type Options struct {
	// APIURL is the API's base URL, e.g. http://127.0.0.1:8080; it must be
	// a loopback address.
	APIURL string
	// AdminEmail and AdminPassword log in as an admin.
	AdminEmail, AdminPassword string
	// DatabaseURL is the API's database, on a loopback address (or a local
	// socket): the data is generated there.
	DatabaseURL string
	// Gen sizes the data to add first; Gen.Orders 0 measures what is
	// there (the generated users must exist).
	Gen GenOptions
	// Requests is the number of measured requests per route, after Warmup
	// unmeasured ones.
	Requests, Warmup int
	// Concurrency is the number of requests in flight at once.
	Concurrency int
	// Round is how many requests a route gets before the next route's
	// turn: routes are measured in interleaved rounds, so a burst of
	// other work on the machine spreads over all routes instead of
	// landing on one. 0 is 20.
	Round int
	// MaxRouteTime stops measuring a route early (with the requests done
	// so far) so one slow route cannot hold the run; 0 is no limit.
	MaxRouteTime time.Duration
	// Target is the p99 each route must stay under.
	Target time.Duration
	// Command is the command line, for the report.
	Command string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Route is one measured request: a path as one user.
type Route struct {
	// Name says what the request is, e.g. "client orders by status".
	Name string
	// Path is what is requested, with its query.
	Path string
	// As names the caller, e.g. "heaviest client".
	As    string
	token string
}

// Result is a route's measurement.
type Result struct {
	Route
	Requests int
	// Errors counts answers other than 200; FirstError shows one.
	Errors             int
	FirstError         string
	P50, P95, P99, Max time.Duration
	// Bytes is the size of the last answer.
	Bytes int
}

// Report is a run's outcome.
type Report struct {
	Command  string
	Started  time.Time
	Machine  string
	Load     string
	Data     string
	Subjects []string
	Options  Options
	Gen      *Generated
	Results  []Result
}

// Missed returns the routes that failed a request or whose p99 reached
// the target.
func (r *Report) Missed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Errors > 0 || res.P99 >= r.Options.Target {
			out = append(out, res)
		}
	}
	return out
}

// Run generates the data (when o.Gen.Orders > 0), logs in as the admin
// and as the heaviest, a median and a churned client and the heaviest and
// a median provider, and measures every route.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Requests <= 0 || o.Concurrency <= 0 {
		return nil, errors.New("readbench: requests and concurrency must be positive")
	}
	if err := checkLoopbackURL(o.APIURL); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if err := checkLoopbackHost("database", pcfg.ConnConfig.Host); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "readbench: "+format+"\n", args...)
		}
	}
	rep := &Report{Command: o.Command, Started: time.Now().UTC(), Options: o, Machine: machine(), Load: loadAvg()}
	pcfg.MaxConns = 4
	pool, err := postgres.ConnectConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var pgVersion string
	if err := pool.QueryRow(ctx, `SHOW server_version`).Scan(&pgVersion); err != nil {
		return nil, fmt.Errorf("read server version: %w", err)
	}
	rep.Machine += ", PostgreSQL " + strings.Fields(pgVersion)[0]

	c := &client{base: strings.TrimRight(o.APIURL, "/"), http: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency + 1, DisableCompression: true},
	}}
	admin, err := c.login(ctx, o.AdminEmail, o.AdminPassword)
	if err != nil {
		return nil, fmt.Errorf("log in as the admin: %w", err)
	}
	webhookID, err := c.webhookEndpoint(ctx, pool, admin)
	if err != nil {
		logf("no webhook endpoint, its delivery log is not measured: %v", err)
	}
	gen := o.Gen
	gen.WebhookEndpointID = webhookID
	if gen.Log == nil {
		gen.Log = o.Log
	}
	if rep.Gen, err = Generate(ctx, pool, gen); err != nil {
		return nil, err
	}
	if gen.Orders > 0 {
		logf("generated %d orders in %s", gen.Orders, rep.Gen.Took.Round(time.Second))
	}
	routes, err := c.plan(ctx, pool, rep, admin, webhookID)
	if err != nil {
		return nil, err
	}
	rep.Results = c.measure(ctx, routes, o, logf)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, res := range rep.Results {
		logf("%-60s p50 %6.1f  p95 %6.1f  p99 %6.1f ms (%d requests, %d errors)", res.Name+" ["+res.As+"]",
			ms(res.P50), ms(res.P95), ms(res.P99), res.Requests, res.Errors)
	}
	rep.Load += "; after: " + loadAvg()
	return rep, nil
}

// subject is a user the routes are called as.
type subject struct {
	label  string
	id     int64
	orders int64
	token  string
}

// plan picks the users, logs them in, prepares deep-page cursors and
// returns the routes.
func (c *client) plan(ctx context.Context, pool *pgxpool.Pool, rep *Report, adminToken string, webhookID int64) ([]Route, error) {
	g := rep.Gen
	var total, users, entries, notes int64
	var spread string
	if err := pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM users), (SELECT count(*) FROM ledger_entries),
		       (SELECT count(*) FROM notifications),
		       (SELECT string_agg(status || ' ' || n, ', ' ORDER BY n DESC) FROM (SELECT status, count(*) n FROM orders GROUP BY 1) s)`).
		Scan(&total, &users, &entries, &notes, &spread); err != nil {
		return nil, fmt.Errorf("describe data: %w", err)
	}
	rep.Data = fmt.Sprintf("%s orders (%s); %s users; %s ledger entries; %s notifications",
		thousands(total), spread, thousands(users), thousands(entries), thousands(notes))

	rank := func(column string, ids []int64, heaviest bool) (subject, error) {
		q := `SELECT ` + column + `, count(*) FROM orders WHERE ` + column + ` = ANY($1) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1`
		if !heaviest {
			q = `SELECT ` + column + `, count(*) FROM orders WHERE ` + column + ` = ANY($1) GROUP BY 1 ORDER BY 2 DESC, 1
			     OFFSET (SELECT count(DISTINCT ` + column + `) / 2 FROM orders WHERE ` + column + ` = ANY($1)) LIMIT 1`
		}
		var s subject
		err := pool.QueryRow(ctx, q, ids).Scan(&s.id, &s.orders)
		if err != nil {
			return s, fmt.Errorf("pick a user by %s: %w (no generated orders? run with --orders)", column, err)
		}
		return s, nil
	}
	var (
		subjects = map[string]*subject{}
		err      error
	)
	for _, p := range []struct {
		key, label, column string
		ids                []int64
		heaviest           bool
	}{
		{"client", "heaviest client", "client_id", g.Clients, true},
		{"client-median", "median client", "client_id", g.Clients, false},
		{"provider", "heaviest provider", "provider_id", g.Providers, true},
		{"provider-median", "median provider", "provider_id", g.Providers, false},
	} {
		s, err := rank(p.column, p.ids, p.heaviest)
		if err != nil {
			return nil, err
		}
		s.label = p.label
		subjects[p.key] = &s
	}
	// Client index 2 churned: no recent orders, so no open ones.
	churned := &subject{label: "churned client", id: g.Clients[1]}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE client_id = $1`, churned.id).Scan(&churned.orders); err != nil {
		return nil, fmt.Errorf("count churned client's orders: %w", err)
	}
	subjects["churned"] = churned
	emails := map[int64]string{}
	for i, id := range g.Clients {
		emails[id] = userEmail("client", i+1)
	}
	for i, id := range g.Providers {
		emails[id] = userEmail("provider", i+1)
	}
	for _, key := range []string{"client", "client-median", "churned", "provider", "provider-median"} {
		s := subjects[key]
		if s.token, err = c.login(ctx, emails[s.id], UserPassword); err != nil {
			return nil, fmt.Errorf("log in as the %s: %w", s.label, err)
		}
		rep.Subjects = append(rep.Subjects, fmt.Sprintf("%s: user %d, %s orders", s.label, s.id, thousands(s.orders)))
	}
	subjects["admin"] = &subject{label: "admin", token: adminToken}

	var newest int64
	if err := pool.QueryRow(ctx, `SELECT id FROM orders WHERE client_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
		subjects["client"].id).Scan(&newest); err != nil {
		return nil, fmt.Errorf("pick an order: %w", err)
	}
	cl, pr := subjects["client"], subjects["provider"]
	type spec struct {
		name, who, path string
		// deep: measure page 6 (five next_cursor hops in), or the last
		// page when there are fewer.
		deep bool
	}
	specs := []spec{
		// What the machine itself adds: no database, no session.
		{"noise floor: health check", "", "/healthz", false},
		{"orders, newest first", "client", "/v1/orders", false},
		{"orders", "client", "/v1/orders", true},
		{"orders by status (completed)", "client", "/v1/orders?status=completed", false},
		{"orders by status (in_progress)", "client", "/v1/orders?status=in_progress", false},
		{"orders by status (in_progress), none", "churned", "/v1/orders?status=in_progress", false},
		{"orders, newest first", "client-median", "/v1/orders", false},
		{"orders, newest first", "provider", "/v1/orders", false},
		{"orders by status (delivered)", "provider", "/v1/orders?status=delivered", false},
		{"orders, newest first", "admin", "/v1/orders", false},
		{"orders", "admin", "/v1/orders", true},
		{"orders by status (disputed)", "admin", "/v1/orders?status=disputed", false},
		{"orders by status (negotiating)", "admin", "/v1/orders?status=negotiating", true},
		{"orders of a client", "admin", fmt.Sprintf("/v1/orders?client_id=%d", cl.id), false},
		{"orders of a provider by status (completed)", "admin", fmt.Sprintf("/v1/orders?provider_id=%d&status=completed", pr.id), false},
		{"orders of a client by status (disputed)", "admin", fmt.Sprintf("/v1/orders?client_id=%d&status=disputed", subjects["client-median"].id), false},
		{"order timeline", "client", fmt.Sprintf("/v1/orders/%d/events", newest), false},
		{"order evidence", "client", fmt.Sprintf("/v1/orders/%d/evidence", newest), false},
		{"dashboard", "client", "/v1/dashboard", false},
		{"dashboard", "client-median", "/v1/dashboard", false},
		{"dashboard", "churned", "/v1/dashboard", false},
		{"dashboard", "provider", "/v1/dashboard", false},
		{"dashboard", "provider-median", "/v1/dashboard", false},
		{"dashboard (KPIs, counts, dispute queue)", "admin", "/v1/dashboard", false},
		{"metrics (KPI collector)", "", "/metrics", false},
		{"wallet balances", "client", "/v1/wallet", false},
		{"wallet statement", "client", "/v1/wallet/transactions", false},
		{"wallet statement", "client", "/v1/wallet/transactions", true},
		{"wallet statement (blocked)", "client", "/v1/wallet/transactions?account=blocked", false},
		{"wallet statement", "client-median", "/v1/wallet/transactions", false},
		{"wallet statement", "provider", "/v1/wallet/transactions", false},
		{"own payouts", "provider", "/v1/wallet/payouts", false},
		{"notifications", "provider", "/v1/notifications", false},
		{"notifications", "provider", "/v1/notifications", true},
		{"notifications (unread)", "provider", "/v1/notifications?unread=true", false},
		{"notifications", "client", "/v1/notifications", false},
		{"users", "admin", "/v1/admin/users", false},
		{"users", "admin", "/v1/admin/users", true},
		{"users by role (provider)", "admin", "/v1/admin/users?role=provider", false},
		{"deposits", "admin", "/v1/admin/deposits", false},
		{"deposits", "admin", "/v1/admin/deposits", true},
		{"deposits of a user", "admin", fmt.Sprintf("/v1/admin/deposits?user_id=%d", cl.id), false},
		{"deposits by source (webhook)", "admin", "/v1/admin/deposits?source=webhook", false},
		{"payouts", "admin", "/v1/admin/payouts", false},
		{"payouts by status (pending)", "admin", "/v1/admin/payouts?status=pending", false},
		{"payouts of a user", "admin", fmt.Sprintf("/v1/admin/payouts?user_id=%d", pr.id), false},
		{"a user's wallet", "admin", fmt.Sprintf("/v1/admin/wallets/%d", cl.id), false},
		{"a user's statement", "admin", fmt.Sprintf("/v1/admin/wallets/%d/transactions", cl.id), false},
		{"config", "admin", "/v1/admin/config", false},
		{"config changes", "admin", "/v1/admin/config/platform_fee_percentage/changes", false},
		{"webhook endpoints", "admin", "/v1/admin/webhooks", false},
	}
	if webhookID != 0 {
		specs = append(specs,
			spec{"webhook deliveries", "admin", fmt.Sprintf("/v1/admin/webhooks/%d/deliveries", webhookID), false},
			spec{"webhook deliveries", "admin", fmt.Sprintf("/v1/admin/webhooks/%d/deliveries", webhookID), true})
	}
	var routes []Route
	for _, s := range specs {
		r := Route{Name: s.name, Path: s.path, As: "anonymous"}
		if s.who != "" {
			r.As, r.token = subjects[s.who].label, subjects[s.who].token
		}
		if s.deep {
			var page int
			if r.Path, page, err = c.deepPage(ctx, r, 5); err != nil {
				return nil, err
			}
			r.Name += fmt.Sprintf(", page %d", page)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

// client calls the API.
type client struct {
	base string
	http *http.Client
}

func (c *client) do(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

func (c *client) login(ctx context.Context, email, password string) (string, error) {
	status, raw, err := c.do(ctx, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("login %s: %d %s%s", email, status, raw, rateLimitHint(status))
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login %s: no token in %s", email, raw)
	}
	return out.Token, nil
}

func rateLimitHint(status int) string {
	if status == http.StatusTooManyRequests {
		return " (the API's rate limiter: run it with RATELIMIT_ENABLED=false)"
	}
	return ""
}

// webhookURL marks the endpoint the benchmark registers (inactive: it
// only holds a delivery log to list). A .invalid name (RFC 2606) never
// resolves, and passes the webhook target check of any environment.
const webhookURL = "https://readbench.invalid/ordem"

func (c *client) webhookEndpoint(ctx context.Context, pool *pgxpool.Pool, token string) (int64, error) {
	var id int64
	err := pool.QueryRow(ctx, `SELECT id FROM webhook_endpoints WHERE url = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1`,
		webhookURL).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("find webhook endpoint: %w", err)
	}
	status, raw, err := c.do(ctx, "POST", "/v1/admin/webhooks", token, map[string]any{
		"url": webhookURL, "event_types": []string{"order.created"}, "active": false,
		"description": "ordem bench reads: a delivery log to list", "reason": "read benchmark"})
	if err != nil {
		return 0, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return 0, fmt.Errorf("create webhook endpoint: %d %s", status, raw)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, fmt.Errorf("create webhook endpoint: %w", err)
	}
	_, err = fmt.Sscan(out.ID, &id)
	return id, err
}

// deepPage follows next_cursor up to hops times from r's first page and
// returns the path of the page reached and its number.
func (c *client) deepPage(ctx context.Context, r Route, hops int) (string, int, error) {
	path, page := r.Path, 1
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for range hops {
		status, raw, err := c.do(ctx, "GET", path, r.token, nil)
		if err != nil {
			return "", 0, err
		}
		var body struct {
			NextCursor string `json:"next_cursor"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &body) != nil {
			return "", 0, fmt.Errorf("page through %s as %s: %d %.200s", path, r.As, status, raw)
		}
		if body.NextCursor == "" {
			break
		}
		path, page = r.Path+sep+"cursor="+url.QueryEscape(body.NextCursor), page+1
	}
	return path, page, nil
}

// routeRun is a route being measured.
type routeRun struct {
	res   Result
	times []time.Duration
	spent time.Duration
}

// measure sends each route o.Warmup requests one by one, then measures
// o.Requests per route with o.Concurrency in flight, in interleaved
// rounds of o.Round requests per route.
func (c *client) measure(ctx context.Context, routes []Route, o Options, logf func(string, ...any)) []Result {
	round := o.Round
	if round <= 0 {
		round = 20
	}
	runs := make([]*routeRun, len(routes))
	for i, r := range routes {
		runs[i] = &routeRun{res: Result{Route: r}}
		for range o.Warmup {
			status, raw, err := c.do(ctx, "GET", r.Path, r.token, nil)
			runs[i].record(status, raw, err) // warm-up answers are checked, not timed
		}
		runs[i].res.Errors, runs[i].res.FirstError = 0, ""
	}
	rounds := (o.Requests + round - 1) / round
	for k := range rounds {
		if ctx.Err() != nil {
			break
		}
		logf("round %d of %d", k+1, rounds)
		for _, run := range runs {
			n := min(round, o.Requests-len(run.times))
			if n <= 0 || (o.MaxRouteTime > 0 && run.spent >= o.MaxRouteTime) {
				continue
			}
			t := time.Now()
			c.batch(ctx, run, n, o.Concurrency)
			run.spent += time.Since(t)
		}
	}
	out := make([]Result, len(runs))
	for i, run := range runs {
		sort.Slice(run.times, func(a, b int) bool { return run.times[a] < run.times[b] })
		res := run.res
		res.Requests = len(run.times)
		res.P50, res.P95, res.P99 = percentile(run.times, 0.50), percentile(run.times, 0.95), percentile(run.times, 0.99)
		if len(run.times) > 0 {
			res.Max = run.times[len(run.times)-1]
		}
		out[i] = res
	}
	return out
}

// record counts an answer: anything but 200 is an error.
func (run *routeRun) record(status int, raw []byte, err error) {
	run.res.Bytes = len(raw)
	if err == nil && status == http.StatusOK {
		return
	}
	run.res.Errors++
	if run.res.FirstError == "" {
		if err != nil {
			run.res.FirstError = err.Error()
		} else {
			run.res.FirstError = fmt.Sprintf("%d %.200s%s", status, raw, rateLimitHint(status))
		}
	}
}

// batch sends n requests of run's route, concurrency at a time, timing
// each from before it is sent until its whole answer is read.
func (c *client) batch(ctx context.Context, run *routeRun, n, concurrency int) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		jobs = make(chan struct{})
	)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t := time.Now()
				status, raw, err := c.do(ctx, "GET", run.res.Path, run.res.token, nil)
				took := time.Since(t)
				mu.Lock()
				run.record(status, raw, err)
				run.times = append(run.times, took)
				mu.Unlock()
			}
		}()
	}
	for range n {
		if ctx.Err() != nil {
			break
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("API URL %q: want http://host:port", raw)
	}
	return checkLoopbackHost("API", u.Hostname())
}

// checkLoopbackHost refuses anything but this machine: the benchmark
// writes millions of rows and sends thousands of requests.
func checkLoopbackHost(what, host string) error {
	if host == "" || strings.HasPrefix(host, "/") || host == "localhost" {
		return nil // a local socket
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s host %q is not a loopback address: the read benchmark runs on this machine only", what, host)
}

// machine describes this machine for the report.
func machine() string {
	model, mem := "unknown CPU", ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %d GiB RAM", (kb+512*1024)/(1024*1024))
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && r != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WriteMarkdown writes the report: how it was produced, then one table
// row per route.
func (r *Report) WriteMarkdown(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "## ordem bench reads, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- command: `%s`\n", r.Command)
	fmt.Fprintf(w, "- machine: %s; load average before: %s\n", r.Machine, r.Load)
	fmt.Fprintf(w, "- data: %s\n", r.Data)
	if r.Gen != nil && r.Gen.Orders > 0 {
		fmt.Fprintf(w, "- generated now: %s orders in %s (counters: %s)\n", thousands(int64(r.Gen.Orders)),
			r.Gen.Took.Round(time.Second), r.Gen.Counters)
	}
	fmt.Fprintf(w, "- callers: %s\n", strings.Join(r.Subjects, "; "))
	round := o.Round
	if round <= 0 {
		round = 20
	}
	fmt.Fprintf(w, "- load: %d requests per route after %d warm-up, %d in flight, routes interleaved in rounds of %d, "+
		"over loopback HTTP; target p99 < %s\n\n", o.Requests, o.Warmup, o.Concurrency, round, o.Target)
	fmt.Fprintln(w, "| route | as | requests | p50 ms | p95 ms | p99 ms | max ms | |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, res := range r.Results {
		verdict := "ok"
		switch {
		case res.Errors > 0:
			verdict = fmt.Sprintf("**%d errors**: %s", res.Errors, res.FirstError)
		case res.P99 >= o.Target:
			verdict = "**missed**"
		}
		fmt.Fprintf(w, "| %s `GET %s` | %s | %d | %.1f | %.1f | %.1f | %.1f | %s |\n", res.Name, shortPath(res.Path), res.As,
			res.Requests, ms(res.P50), ms(res.P95), ms(res.P99), ms(res.Max), verdict)
	}
}

// shortPath hides cursors, which are long and say nothing.
func shortPath(p string) string {
	path, query, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	var kept []string
	for _, kv := range strings.Split(query, "&") {
		if strings.HasPrefix(kv, "cursor=") {
			kv = "cursor=…"
		}
		kept = append(kept, kv)
	}
	return path + "?" + strings.Join(kept, "&")
}

package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/orderstats"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/seed"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/ledgerverify"
)

// syncBuffer is a log sink shared by the API and the worker's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tcpProxy forwards a port to Postgres and can be cut and restored, so a
// test sees the database go away and come back without touching the
// shared server.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// stop refuses new connections and cuts the open ones: to the pool,
// Postgres is down.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restart listens again on the same port: Postgres is back.
func (p *tcpProxy) restart(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

// obsStack is a private real stack for the observability test: a fresh
// database (so the KPIs are exact), its own Temporal server (order
// workflow ids restart at order-1), a worker, and an API whose pool goes
// through a cuttable proxy, all logging JSON into one buffer.
type obsStack struct {
	app    *fiber.App
	pool   *pgxpool.Pool // direct: the worker's and the test's
	proxy  *tcpProxy
	logs   *syncBuffer
	client client.Client
	admin  session
}

const obsQueue = "observability-test"

func newObsStack(t *testing.T) *obsStack {
	t.Helper()
	ctx := context.Background()
	dbURL := pgtest.NewDBURL(t)
	pool := pgtest.Connect(t, dbURL)
	_, err := seed.Run(ctx, pool, seed.Admin{Name: "Admin", Email: "admin@obs.test", Password: adminPassword})
	require.NoError(t, err)

	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr
	pcfg, err := metrics.InstrumentPool(u.String())
	require.NoError(t, err)
	apiPool, err := postgres.ConnectConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(apiPool.Close)

	logs := &syncBuffer{}
	logger, _, err := logging.New("api", logging.Options{Level: "INFO", Stderr: logs})
	require.NoError(t, err)
	m := metrics.New()
	mh, closer := m.TemporalHandler()
	t.Cleanup(func() { _ = closer.Close() })
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{
		Logger: sdklog.NewStructuredLogger(logger.With("component", "temporal")), MetricsHandler: mh}))
	c := ts.GetDefaultClient()
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	w := worker.New(c, obsQueue, &activities.Activities{Pool: pool, AutoConfirmEnabled: true, Evidence: env.store})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	cfg := *env.cfg
	cfg.DatabaseURL, cfg.TemporalTaskQueue = u.String(), obsQueue
	srv := &api.Server{Pool: apiPool, Temporal: c, Config: &cfg, Logger: logger, Storage: env.store, Metrics: m}
	s := &obsStack{app: srv.App(), pool: pool, proxy: proxy, logs: logs, client: c}
	s.admin = s.login(t, "admin@obs.test", adminPassword)
	return s
}

func (s *obsStack) call(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	return callApp(t, s.app, method, path, token, body, headers...)
}

func (s *obsStack) login(t *testing.T, email, password string) session {
	t.Helper()
	res := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	require.Equal(t, 200, res.Status, string(res.Body))
	var out api.LoginResponse
	res.json(t, &out)
	return session{ID: out.User.ID, Token: out.Token, Email: email}
}

const obsPassword = "obs-secret-password"

func (s *obsStack) newUser(t *testing.T, role string) session {
	t.Helper()
	email := fmt.Sprintf("%s-%d@obs.test", role, rand.Int64())
	res := s.call(t, "POST", "/v1/auth/register", "", map[string]string{
		"name": "Obs " + role, "email": email, "phone": "11999999999", "password": obsPassword, "role": role})
	require.Equal(t, 201, res.Status, string(res.Body))
	return s.login(t, email, obsPassword)
}

func (s *obsStack) fund(t *testing.T, who session, amount string) {
	t.Helper()
	ctx := context.Background()
	d := decimal.RequireFromString(amount)
	require.NoError(t, postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "obs-fund:" + who.ID, Kind: "deposit",
			Legs: []ledger.Leg{{Account: ledger.WorldAccount, Amount: d.Neg()}, {Account: ledger.UserAccount(who.uid(), ledger.Available), Amount: d}}})
		return err
	}))
}

func (s *obsStack) order(t *testing.T, client, provider session) string {
	t.Helper()
	res := s.call(t, "POST", "/v1/orders", client.Token, map[string]any{
		"provider_id": provider.ID, "title": "Pintura da sala", "description": "Duas demãos", "amount": "100.00"})
	require.Equal(t, 201, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o.ID
}

func (s *obsStack) act(t *testing.T, who session, orderID, action string, body any) api.Order {
	t.Helper()
	if action == "accept" && body == nil {
		got := s.call(t, "GET", "/v1/orders/"+orderID, who.Token, nil)
		require.Equal(t, 200, got.Status, string(got.Body))
		var o api.Order
		got.json(t, &o)
		body = map[string]int{"proposal_version": o.ProposalVersion}
	}
	res := s.call(t, "POST", "/v1/orders/"+orderID+"/"+action, who.Token, body)
	require.Equal(t, 200, res.Status, "%s: %s", action, res.Body)
	var o api.Order
	res.json(t, &o)
	return o
}

func (s *obsStack) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	res := s.call(t, "GET", "/metrics", "", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(res.Body))
	require.NoError(t, err)
	return fams
}

// value returns the sample of family name whose labels include want
// (name=value pairs); it fails when there is none.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	v, ok := lookup(fams, name, want...)
	require.True(t, ok, "no sample %s%v", name, want)
	return v
}

func lookup(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

// findLog returns the first line whose fields include want.
func findLog(lines []map[string]any, want map[string]any) map[string]any {
next:
	for _, l := range lines {
		for k, v := range want {
			if fmt.Sprint(l[k]) != fmt.Sprint(v) {
				continue next
			}
		}
		return l
	}
	return nil
}

// Ensure, through the real stack (HTTP → Temporal → activities →
// Postgres), that a scripted set of orders (one confirmed, one
// auto-confirmed, one contested, one cancelled) shows on /metrics as the
// exact KPIs it implies; that an order left past its confirmation
// deadline shows in the overdue gauges (held ones excluded); that its logs
// carry request, user and order ids
// and never a password or token; and that /readyz follows Postgres going
// away (through a proxy cut) and coming back.
func TestObservability(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real stack")
	}
	ctx := context.Background()
	s := newObsStack(t)
	postsBefore, _ := lookup(s.metrics(t), "ordem_ledger_postings_total", "kind", "hold", "outcome", "posted")

	client, provider := s.newUser(t, "client"), s.newUser(t, "provider")
	s.fund(t, client, "1000.00")

	confirmed := s.order(t, client, provider)
	s.act(t, provider, confirmed, "accept", nil)
	s.act(t, provider, confirmed, "deliver", nil)
	s.act(t, client, confirmed, "confirm", nil)

	contested := s.order(t, client, provider)
	s.act(t, provider, contested, "accept", nil)
	s.act(t, provider, contested, "deliver", nil)
	s.act(t, client, contested, "contest", map[string]string{"reason": "Serviço incompleto"})
	// The dispute SLA runs once the dispute is in the admins' queue: the
	// provider asks for a ruling instead of waiting out the negotiation.
	s.act(t, provider, contested, "request-ruling", nil)
	// Evidence whose bytes carry a marker the logs must never show.
	evidenceMarker := fmt.Sprintf("evidence-bytes-%d", rand.Int64())
	upBody, upType := upload{name: "laudo.pdf", data: append(pdfFile(), "% "+evidenceMarker+"\n"...),
		description: "Laudo técnico"}.body(t)
	upRes := s.call(t, "POST", evidencePath(contested), client.Token, upBody, "Content-Type", upType)
	require.Equal(t, 201, upRes.Status, string(upRes.Body))

	cancelled := s.order(t, client, provider)
	s.act(t, client, cancelled, "cancel", nil)

	// The auto-confirmed order snapshots a 1.8-second confirmation window.
	_, err := s.pool.Exec(ctx, `UPDATE system_config SET value = '0.0005' WHERE key = 'confirmation_deadline_hours'`)
	require.NoError(t, err)
	auto := s.order(t, client, provider)
	_, err = s.pool.Exec(ctx, `UPDATE system_config SET value = '36' WHERE key = 'confirmation_deadline_hours'`)
	require.NoError(t, err)
	s.act(t, provider, auto, "accept", nil)
	s.act(t, provider, auto, "deliver", nil)
	require.Eventually(t, func() bool {
		var st string
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, auto).Scan(&st))
		return st == "completed"
	}, 30*time.Second, 100*time.Millisecond)

	// The schedule's first run verifies the ledger at once; a second
	// EnsureLedgerVerifySchedule finds it and changes nothing.
	require.NoError(t, worker.EnsureLedgerVerifySchedule(ctx, s.client, obsQueue, time.Hour))
	require.NoError(t, worker.EnsureLedgerVerifySchedule(ctx, s.client, obsQueue, time.Hour))
	t.Cleanup(func() { _ = s.client.ScheduleClient().GetHandle(ctx, ledgerverify.ScheduleID).Delete(ctx) })
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_verifications`).Scan(&n))
		return n == 1
	}, 30*time.Second, 100*time.Millisecond)

	t.Run("metrics", func(t *testing.T) {
		// What the script implies, response times from the rows it left.
		var meanResponse float64
		require.NoError(t, s.pool.QueryRow(ctx, `
			SELECT (extract(epoch FROM c.closed_at - c.delivered_at) + extract(epoch FROM d.contested_at - d.delivered_at))::float8 / 2
			FROM orders c, orders d WHERE c.id = $1 AND d.id = $2`, confirmed, contested).Scan(&meanResponse))
		var contestedAt time.Time // the queue time, from which the SLA runs
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT dispute_queued_at FROM orders WHERE id = $1`, contested).Scan(&contestedAt))

		before := time.Now()
		fams := s.metrics(t)
		for st, n := range map[string]float64{"negotiating": 0, "in_progress": 0, "delivered": 0, "completed": 2,
			"disputed": 1, "resolved": 0, "cancelled": 1, "expired": 0} {
			require.Equal(t, n, value(t, fams, "ordem_orders", "status", st), st)
		}
		require.Equal(t, 1.0, value(t, fams, "ordem_kpi_up"))
		require.Equal(t, 0.5, value(t, fams, "ordem_auto_confirmation_ratio")) // 1 of 2 completed
		require.Equal(t, 1.0/3, value(t, fams, "ordem_contest_ratio"))         // 1 of 3 delivered
		require.Equal(t, 1.0/3, value(t, fams, "ordem_cancellation_ratio"))    // 1 of 3 closed
		require.Equal(t, 2.0, value(t, fams, "ordem_client_responses"))        // confirm + contest
		// marketplaceKPIs rounds the mean to the millisecond.
		require.InDelta(t, meanResponse, value(t, fams, "ordem_client_response_seconds_mean"), 0.001)
		require.Equal(t, 200.0, value(t, fams, "ordem_transaction_volume", "currency", "BRL"))
		require.Equal(t, 10.0, value(t, fams, "ordem_platform_revenue", "currency", "BRL")) // 5% of 2 × 100.00
		require.Equal(t, 1.0, value(t, fams, "ordem_disputes_open"))
		require.Equal(t, 0.0, value(t, fams, "ordem_disputes_negotiating"))
		require.Equal(t, 0.0, value(t, fams, "ordem_disputes_settled"))
		age := value(t, fams, "ordem_dispute_oldest_age_seconds")
		require.GreaterOrEqual(t, age, before.Sub(contestedAt).Seconds()-1)
		require.LessOrEqual(t, age, time.Since(contestedAt).Seconds()+1)
		require.Equal(t, 0.0, value(t, fams, "ordem_orders_past_confirm_deadline"))
		require.Equal(t, 1.0, value(t, fams, "ordem_ledger_verify_ok"))
		require.Equal(t, 0.0, value(t, fams, "ordem_ledger_verify_violations"))
		require.InDelta(t, float64(time.Now().Unix()), value(t, fams, "ordem_ledger_verify_last_run_timestamp_seconds"), 60)
		// The configured hours the alert rules compare with, as stored now.
		require.Equal(t, 48.0, value(t, fams, "ordem_config_hours", "key", "dispute_sla_hours"))
		require.Equal(t, 36.0, value(t, fams, "ordem_config_hours", "key", "confirmation_deadline_hours"))
		_, err := s.pool.Exec(ctx, `UPDATE system_config SET value = '24' WHERE key = 'dispute_sla_hours'`)
		require.NoError(t, err)
		require.Equal(t, 24.0, value(t, s.metrics(t), "ordem_config_hours", "key", "dispute_sla_hours"))

		// Requests by route template, never by raw path.
		require.Equal(t, 3.0, value(t, fams, "ordem_http_requests_total", "method", "POST", "route", "/v1/orders/:id/accept", "status", "200"))
		require.Equal(t, 4.0, value(t, fams, "ordem_http_requests_total", "method", "POST", "route", "/v1/orders", "status", "201"))
		require.Equal(t, 3.0, value(t, fams, "ordem_http_request_duration_seconds", "method", "POST", "route", "/v1/orders/:id/accept"))
		for name := range fams {
			require.NotContains(t, name, confirmed+"_")
		}
		// Three holds (the cancelled order never held money), process-wide.
		require.GreaterOrEqual(t, value(t, fams, "ordem_ledger_postings_total", "kind", "hold", "outcome", "posted")-postsBefore, 3.0)
		require.Positive(t, value(t, fams, "ordem_ledger_posting_duration_seconds", "outcome", "posted"))
		var temporal int
		for name := range fams {
			if strings.HasPrefix(name, "temporal_") {
				temporal++
			}
		}
		require.Positive(t, temporal, "Temporal SDK metrics are exported")
		// The SDK's scope reports every second.
		require.Eventually(t, func() bool {
			v, _ := lookup(s.metrics(t), "temporal_workflow_completed_total", "workflow_type", ledgerverify.WorkflowName)
			return v == 1
		}, 10*time.Second, 200*time.Millisecond)
	})

	t.Run("overdue confirmation", func(t *testing.T) {
		// A delivered order whose deadline (in the read model) passed three
		// hours ago without auto-confirmation acting: what the
		// OrdemAutoConfirmationStalled alert watches.
		late := s.order(t, client, provider)
		s.act(t, provider, late, "accept", nil)
		s.act(t, provider, late, "deliver", nil)
		_, err := s.pool.Exec(ctx, `UPDATE orders SET confirm_deadline = now() - interval '3 hours' WHERE id = $1`, late)
		require.NoError(t, err)
		fams := s.metrics(t)
		require.Equal(t, 1.0, value(t, fams, "ordem_orders_past_confirm_deadline"))
		require.InDelta(t, 3*3600, value(t, fams, "ordem_orders_past_confirm_deadline_oldest_seconds"), 60)
		// Held on purpose (AUTO_CONFIRM_JOB_ENABLED=false): admins were
		// alerted by the workflow; not a stall.
		_, err = s.pool.Exec(ctx, `UPDATE orders SET auto_confirm_held = true WHERE id = $1`, late)
		require.NoError(t, err)
		fams = s.metrics(t)
		require.Equal(t, 0.0, value(t, fams, "ordem_orders_past_confirm_deadline"))
		require.Equal(t, 0.0, value(t, fams, "ordem_orders_past_confirm_deadline_oldest_seconds"))

		// The counters behind the KPIs followed every write above, the
		// workflow's and these direct ones, in their transactions.
		rep, err := orderstats.Check(ctx, s.pool)
		require.NoError(t, err)
		require.Empty(t, rep.Mismatches)
		require.Equal(t, int64(5), rep.Orders)
	})

	t.Run("logs", func(t *testing.T) {
		out := s.logs.String()
		require.NotContains(t, out, evidenceMarker, "an evidence file's contents")
		require.NotContains(t, out, obsPassword)
		require.NotContains(t, out, adminPassword)
		for _, tok := range []string{client.Token, provider.Token, s.admin.Token} {
			require.NotContains(t, out, tok)
		}
		lines := logLines(t, out)
		login := findLog(lines, map[string]any{"msg": "HTTP request", "route": "/v1/auth/login", "user_id": client.ID})
		require.NotNil(t, login, "the client's login is logged")
		require.Equal(t, "client", login["role"])
		require.Equal(t, "api", login["service"])
		require.NotEmpty(t, login["request_id"])
		require.EqualValues(t, 200, login["status"])

		accept := findLog(lines, map[string]any{"msg": "HTTP request", "route": "/v1/orders/:id/accept", "order_id": confirmed})
		require.NotNil(t, accept, "an order action is logged with its order id")
		require.Equal(t, provider.ID, fmt.Sprint(accept["user_id"]))
		require.Equal(t, "provider", accept["role"])
		require.NotEmpty(t, accept["request_id"])
		require.Equal(t, "/v1/orders/"+confirmed+"/accept", accept["path"])

		for _, activity := range []string{"AcceptOrder", "ConfirmOrder"} {
			l := findLog(lines, map[string]any{"msg": "Activity completed", "activity": activity, "order_id": confirmed,
				"workflow_id": "order-" + confirmed})
			require.NotNil(t, l, "activity %s logs its order and workflow", activity)
		}
		upLine := findLog(lines, map[string]any{"msg": "HTTP request", "route": "/v1/orders/:id/evidence", "order_id": contested})
		require.NotNil(t, upLine, "the evidence upload is logged with its order id")
		require.EqualValues(t, 201, upLine["status"])
		require.Equal(t, client.ID, fmt.Sprint(upLine["user_id"]))
		require.NotNil(t, findLog(lines, map[string]any{"msg": "Activity completed", "activity": "AddEvidence", "order_id": contested}),
			"the activity attaching the evidence logs its order")

		autoLine := findLog(lines, map[string]any{"msg": "Activity completed", "order_id": auto, "workflow_id": "order-" + auto,
			"activity": "AutoConfirmOrder"})
		require.NotNil(t, autoLine, "the auto-confirmation is logged with its order")
	})

	t.Run("readyz", func(t *testing.T) {
		res := s.call(t, "GET", "/readyz", "", nil)
		require.Equal(t, 200, res.Status, string(res.Body))
		errsBefore, _ := lookup(s.metrics(t), "ordem_db_errors_total", "kind", "connection")

		s.proxy.stop()
		res = s.call(t, "GET", "/readyz", "", nil)
		require.Equal(t, 503, res.Status, string(res.Body))
		var body struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}
		res.json(t, &body)
		require.False(t, body.Ready)
		require.Equal(t, map[string]string{"postgres": "unreachable", "temporal": "ok", "s3": "ok"}, body.Checks)
		// /metrics still answers; the KPIs say they could not be read.
		fams := s.metrics(t)
		require.Equal(t, 0.0, value(t, fams, "ordem_kpi_up"))
		_, ok := lookup(fams, "ordem_orders", "status", "completed")
		require.False(t, ok)
		// Collectors are gathered concurrently: the KPI queries' failure
		// shows in the error counter from the next scrape on.
		require.Greater(t, value(t, s.metrics(t), "ordem_db_errors_total", "kind", "connection"), errsBefore)

		s.proxy.restart(t)
		require.Eventually(t, func() bool {
			return s.call(t, "GET", "/readyz", "", nil).Status == 200
		}, 15*time.Second, 100*time.Millisecond)
		require.Equal(t, 1.0, value(t, s.metrics(t), "ordem_kpi_up"))
	})
}

// Ensure the HTTP metrics are labelled by route template whatever the
// path: ids, unknown routes and the web console's files never become
// label values (one series per order would grow without bound).
func TestMetricsRouteLabelsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real stack")
	}
	token := fmt.Sprintf("%d", 900000000+rand.Int64N(99999999))
	for _, path := range []string{"/v1/orders/" + token, "/v1/orders/" + token + "/events", "/v1/no-such-route/" + token,
		"/no-such-page-" + token, "/v1/admin/users/" + token} {
		// The console answers any other page with its index (200).
		env.call(t, "GET", path, env.admin.Token, nil)
	}
	fams, err := env.server.Metrics.Registry.Gather()
	require.NoError(t, err)
	routes := map[string]bool{}
	for _, f := range fams {
		if f.GetName() != "ordem_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				require.NotContains(t, l.GetValue(), token, "label %s", l.GetName())
				if l.GetName() == "route" {
					routes[l.GetValue()] = true
				}
			}
		}
	}
	require.True(t, routes["/v1/orders/:id"], "%v", routes)
	require.True(t, routes["/v1/orders/:id/events"], "%v", routes)
}

// Ensure two servers may share one registry (one process serving the API
// twice, as a dev stack might): the second keeps the first's KPI
// collector instead of failing.
func TestSharedMetricsRegistry(t *testing.T) {
	skipShort(t)
	m := metrics.New()
	a := &api.Server{Config: env.cfg, Logger: env.server.Logger, Metrics: m}
	b := &api.Server{Config: env.cfg, Logger: env.server.Logger, Metrics: m}
	require.NotPanics(t, func() { a.App(); b.App() })
	require.Same(t, m, b.Metrics)
}

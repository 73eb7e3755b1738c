package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/workflows/order"
)

// initMetrics creates the server's registry when none was given and adds
// the marketplace KPI collector to it, once per Server.
func (s *Server) initMetrics() {
	s.metricsOnce.Do(func() {
		if s.Metrics == nil {
			s.Metrics = metrics.New()
		}
		// Servers sharing a registry (and a database) share the first
		// server's collector: the same KPIs twice would be refused anyway.
		var dup prometheus.AlreadyRegisteredError
		if err := s.Metrics.Registry.Register(NewKPICollector(s.Pool, s.Config.Currency, s.Logger)); err != nil && !errors.As(err, &dup) {
			panic(fmt.Sprintf("register KPI collector: %v", err))
		}
	})
}

// metricsHandler serves GET /metrics. A failed KPI query shows as
// ordem_kpi_up 0 and leaves the other metrics served.
func (s *Server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{
		Registry: s.Metrics.Registry, ErrorHandling: promhttp.ContinueOnError}))
}

// probeRoutes are logged at DEBUG only: load balancers and Prometheus
// call them every few seconds.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe logs every request once it is answered and counts it in the
// HTTP metrics by route template (never the raw path, whose ids would
// make a series per order). It runs the error handler itself, as Fiber's
// logger does, so the logged status is the one sent. Bodies are never
// logged; the path is logged without its query string.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	took := time.Since(start)
	status := c.Response().StatusCode()
	route := c.Route().Path
	if len(route) > 1 {
		route = strings.TrimRight(route, "/") // a group's root: /v1/orders/ is /v1/orders
	}
	if status == fiber.StatusNotFound && !strings.HasPrefix(route, "/v1/") && route != c.Path() {
		// No route matched: the last middleware's path is not a route.
		route = "unmatched"
	}
	// Fiber's strings point into buffers reused by the next request; the
	// metric keeps its label values, so they are copied.
	method := strings.Clone(c.Method())
	s.Metrics.HTTPRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	s.Metrics.HTTPDuration.WithLabelValues(method, route).Observe(took.Seconds())

	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelWarn // the error itself is logged at ERROR by errorHandler
	case probeRoutes[route]:
		level = slog.LevelDebug
	}
	ctx := c.UserContext()
	if !s.Logger.Enabled(ctx, level) {
		return nil
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID(c)),
		slog.String("method", method),
		slog.String("route", route),
		slog.String("path", c.Path()),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(took.Microseconds())/1000),
		slog.String("ip", c.IP()),
	}
	if p := caller(c); p != nil {
		attrs = append(attrs, slog.Int64("user_id", p.ID), slog.String("role", string(p.Role)))
	}
	if strings.Contains(route, "/orders/:id") {
		if oid, err := strconv.ParseInt(c.Params("id"), 10, 64); err == nil {
			attrs = append(attrs, slog.Int64("order_id", oid))
		}
	}
	s.Logger.LogAttrs(ctx, level, "HTTP request", attrs...)
	return nil
}

// KPICollector publishes the marketplace KPIs, read from Postgres at each
// scrape (the numbers of the admin dashboard, MarketplaceKPIs: maintained
// counters, not a scan of the orders), the dispute queue, confirmations
// overdue and the last ledger verification.
// Amounts are decimal until the exposition, where Prometheus needs float.
type KPICollector struct {
	pool     *pgxpool.Pool
	currency string
	logger   *slog.Logger
	// timeout bounds one scrape's queries.
	timeout time.Duration

	up, orders, autoConfirm, contest, cancel, response, responses, volume, revenue,
	disputes, disputeAge, overdue, overdueAge, verifyOK, verifyViolations, verifyLast, configHours *prometheus.Desc
	settled, settleTime, settlements, disputesNegotiating *prometheus.Desc
}

func kpiDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(metrics.Namespace+"_"+name, help, labels, nil)
}

// NewKPICollector returns the collector over pool; currency labels the
// money gauges.
func NewKPICollector(pool *pgxpool.Pool, currency string, logger *slog.Logger) *KPICollector {
	return &KPICollector{
		pool: pool, currency: currency, logger: logger, timeout: 5 * time.Second,
		up:                  kpiDesc("kpi_up", "1 when the KPI queries of this scrape succeeded, 0 when they failed (the KPI series are then absent)."),
		orders:              kpiDesc("orders", "Orders by current status.", "status"),
		autoConfirm:         kpiDesc("auto_confirmation_ratio", "Completed orders released by the confirmation deadline / all completed orders (absent while none completed)."),
		contest:             kpiDesc("contest_ratio", "Orders ever contested / orders ever delivered (absent while none delivered)."),
		cancel:              kpiDesc("cancellation_ratio", "Cancelled orders / closed orders (completed, resolved, cancelled, expired; absent while none closed)."),
		response:            kpiDesc("client_response_seconds_mean", "Mean time from delivery to the client's confirm or contest (auto-confirmed orders excluded; absent while no answer)."),
		responses:           kpiDesc("client_responses", "Client answers (confirm or contest) the mean response time is computed over."),
		volume:              kpiDesc("transaction_volume", "Sum of the amounts of completed and resolved orders, in currency units.", "currency"),
		revenue:             kpiDesc("platform_revenue", "Balance of the platform revenue account (fees and forfeited contestation fees), in currency units.", "currency"),
		disputes:            kpiDesc("disputes_open", "Orders in dispute: negotiating between the parties (ordem_disputes_negotiating) or in the admins' queue."),
		disputeAge:          kpiDesc("dispute_oldest_age_seconds", "Age of the oldest dispute in the admins' queue (since it entered the queue: its negotiation window ended or a party asked for a ruling); 0 when none."),
		overdue:             kpiDesc("orders_past_confirm_deadline", "Delivered orders past their confirmation deadline that auto-confirmation has not released (held orders, AUTO_CONFIRM_JOB_ENABLED=false, excluded)."),
		overdueAge:          kpiDesc("orders_past_confirm_deadline_oldest_seconds", "How long the most overdue of those orders has been past its deadline; 0 when none."),
		verifyOK:            kpiDesc("ledger_verify_ok", "1 when the latest periodic ledger verification found no violation, 0 when it found some (absent before the first)."),
		verifyViolations:    kpiDesc("ledger_verify_violations", "Violations found by the latest periodic ledger verification."),
		verifyLast:          kpiDesc("ledger_verify_last_run_timestamp_seconds", "Unix time the latest periodic ledger verification finished; 0 before the first."),
		settled:             kpiDesc("disputes_settled_ratio", "Resolved disputes the parties settled themselves / all resolved disputes (absent while none resolved)."),
		settleTime:          kpiDesc("dispute_settle_seconds_mean", "Mean time from the contest to the accepted settlement (absent while none settled)."),
		settlements:         kpiDesc("disputes_settled", "Disputes the parties settled themselves, which the mean time to settle is computed over."),
		disputesNegotiating: kpiDesc("disputes_negotiating", "Open disputes still in their negotiation window (not yet in the admins' queue)."),
		configHours:         kpiDesc("config_hours", "Current value of each *_hours system configuration key (dispute_sla_hours, confirmation_deadline_hours, …), so alert rules follow the configuration instead of copying it.", "key"),
	}
}

// Describe implements prometheus.Collector.
func (k *KPICollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{k.up, k.orders, k.autoConfirm, k.contest, k.cancel, k.response, k.responses,
		k.volume, k.revenue, k.disputes, k.disputeAge, k.overdue, k.overdueAge, k.verifyOK, k.verifyViolations, k.verifyLast, k.configHours,
		k.settled, k.settleTime, k.settlements, k.disputesNegotiating} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one read-only snapshot per
// scrape.
func (k *KPICollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	ms, err := k.collect(ctx)
	if err != nil {
		k.logger.Error("KPI metrics failed", "error", err)
		ch <- prometheus.MustNewConstMetric(k.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(k.up, prometheus.GaugeValue, 1)
	for _, m := range ms {
		ch <- m
	}
}

func ratio(num, den int64) float64 { return float64(num) / float64(den) }

// float is the exposition edge: Prometheus samples are float64.
func float(d decimal.Decimal) float64 { return d.InexactFloat64() }

func (k *KPICollector) collect(ctx context.Context) ([]prometheus.Metric, error) {
	tx, err := k.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	counts, kpis, err := MarketplaceKPIs(ctx, tx)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	for st, n := range counts {
		gauge(k.orders, float64(n), st)
	}
	for _, r := range []struct {
		d *prometheus.Desc
		r Rate
	}{{k.autoConfirm, kpis.AutoConfirmationRate}, {k.contest, kpis.ContestRate}, {k.cancel, kpis.CancellationRate},
		{k.settled, kpis.SettledByParties}} {
		if r.r.Denominator > 0 {
			gauge(r.d, ratio(r.r.Numerator, r.r.Denominator))
		}
	}
	if kpis.MeanClientResponse.Seconds != nil {
		gauge(k.response, *kpis.MeanClientResponse.Seconds)
	}
	gauge(k.responses, float64(kpis.MeanClientResponse.Count))
	if kpis.MeanTimeToSettle.Seconds != nil {
		gauge(k.settleTime, *kpis.MeanTimeToSettle.Seconds)
	}
	gauge(k.settlements, float64(kpis.MeanTimeToSettle.Count))
	gauge(k.volume, float(kpis.Volume.Decimal), k.currency)
	gauge(k.revenue, float(kpis.PlatformRevenue.Decimal), k.currency)

	var (
		overdue, negotiating   int64
		disputeAge, overdueAge float64
		verified               bool
		verifyOK               bool
		violations             int64
		lastRun                float64
	)
	// Open disputes are counted with the orders; the oldest is the first
	// entry of orders_disputed_idx. Overdue confirmations depend on the
	// clock, which no transition sees, so no counter can keep them: they
	// are an index-only range of orders_overdue_idx, which holds only
	// delivered orders not held, so the work is the overdue ones (none
	// while auto-confirmation keeps up).
	disputes := counts[string(order.StatusDisputed)]
	err = tx.QueryRow(ctx, `
		SELECT coalesce((SELECT extract(epoch FROM now() - min(dispute_queued_at))::float8 FROM orders WHERE status = 'disputed'), 0),
		       (SELECT count(*) FROM orders WHERE status = 'disputed' AND dispute_queued_at IS NULL),
		       (SELECT count(*) FROM orders WHERE status = 'delivered' AND NOT auto_confirm_held AND confirm_deadline < now()),
		       coalesce((SELECT extract(epoch FROM now() - min(confirm_deadline))::float8 FROM orders
		                 WHERE status = 'delivered' AND NOT auto_confirm_held AND confirm_deadline < now()), 0)`).
		Scan(&disputeAge, &negotiating, &overdue, &overdueAge)
	if err != nil {
		return nil, err
	}
	gauge(k.disputes, float64(disputes))
	gauge(k.disputeAge, disputeAge)
	gauge(k.disputesNegotiating, float64(negotiating))
	gauge(k.overdue, float64(overdue))
	gauge(k.overdueAge, overdueAge)

	err = tx.QueryRow(ctx, `
		SELECT ok, violations, extract(epoch FROM finished_at)::float8 FROM ledger_verifications
		ORDER BY finished_at DESC, id DESC LIMIT 1`).Scan(&verifyOK, &violations, &lastRun)
	switch {
	case err == nil:
		verified = true
	case errors.Is(err, pgx.ErrNoRows):
	default:
		return nil, err
	}
	if verified {
		ok := 0.0
		if verifyOK {
			ok = 1
		}
		gauge(k.verifyOK, ok)
	}
	gauge(k.verifyViolations, float64(violations))
	gauge(k.verifyLast, lastRun)

	values, err := sysconfig.Load(ctx, tx)
	if err != nil {
		return nil, err
	}
	for name, v := range values {
		if strings.HasSuffix(name, "_hours") {
			gauge(k.configHours, float(v), name)
		}
	}
	return out, nil
}

// workflowSummary is an order workflow's one-line summary in the Web UI.
func workflowSummary(in order.Input, currency string) string {
	return fmt.Sprintf("Order %d: %s %s, client %d → provider %d", in.OrderID, in.Amount.StringFixed(2), currency,
		in.ClientID, in.ProviderID)
}

// workflowDetails is the Markdown block on an order workflow's page.
func workflowDetails(in order.Input, currency string) string {
	due := "none"
	if in.DueDate != nil {
		due = in.DueDate.UTC().Format(time.RFC3339)
	}
	title := strings.NewReplacer("\n", " ", "\r", " ", "|", "/").Replace(in.Title)
	return fmt.Sprintf("**Order %d** — %s\n\n| | |\n|---|---|\n| amount at creation | %s %s |\n| client | user %d |\n| provider | user %d |\n| due date | %s |\n",
		in.OrderID, title, in.Amount.StringFixed(2), currency, in.ClientID, in.ProviderID, due)
}

// uploadFailed counts an evidence upload that failed at stage for a
// reason of ours (ordem_evidence_upload_failures_total); refusals (bad
// state, too many files) and requests the client abandoned are not
// failures.
func (s *Server) uploadFailed(c *fiber.Ctx, stage string, err error) {
	if toDomain(err).Code != ordem.EInternal || c.UserContext().Err() != nil {
		return
	}
	s.Metrics.EvidenceUploadFailures.WithLabelValues(stage).Inc()
}

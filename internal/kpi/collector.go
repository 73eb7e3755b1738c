package kpi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/orders"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/workflows/order"
)

// Collector publishes the marketplace KPIs, read from Postgres at each
// scrape (the numbers of the admin dashboard, Read: maintained counters,
// not a scan of the orders), the dispute queue, confirmations overdue and
// the last ledger verification.
// Amounts are decimal until the exposition, where Prometheus needs float.
type Collector struct {
	db       postgres.Beginner
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

// NewCollector returns the collector over db (a pool); currency labels
// the money gauges.
func NewCollector(db postgres.Beginner, currency string, logger *slog.Logger) *Collector {
	return &Collector{
		db: db, currency: currency, logger: logger, timeout: 5 * time.Second,
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
func (k *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{k.up, k.orders, k.autoConfirm, k.contest, k.cancel, k.response, k.responses,
		k.volume, k.revenue, k.disputes, k.disputeAge, k.overdue, k.overdueAge, k.verifyOK, k.verifyViolations, k.verifyLast, k.configHours,
		k.settled, k.settleTime, k.settlements, k.disputesNegotiating} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one read-only snapshot per
// scrape.
func (k *Collector) Collect(ch chan<- prometheus.Metric) {
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

func (k *Collector) collect(ctx context.Context) ([]prometheus.Metric, error) {
	tx, err := k.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin KPI snapshot: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	m, err := Read(ctx, tx)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	// Every status has a series, 0 included, so a rule or a panel never
	// finds a status missing.
	for _, st := range order.Statuses {
		gauge(k.orders, float64(m.Orders[st]), string(st))
	}
	for _, r := range []struct {
		d *prometheus.Desc
		r Ratio
	}{{k.autoConfirm, m.AutoConfirmation}, {k.contest, m.Contest}, {k.cancel, m.Cancellation}, {k.settled, m.SettledByParties}} {
		if v, ok := r.r.Value(); ok {
			gauge(r.d, v)
		}
	}
	if v, ok := m.ClientResponse.Seconds(); ok {
		gauge(k.response, v)
	}
	gauge(k.responses, float64(m.ClientResponse.Count))
	if v, ok := m.TimeToSettle.Seconds(); ok {
		gauge(k.settleTime, v)
	}
	gauge(k.settlements, float64(m.TimeToSettle.Count))
	gauge(k.volume, m.Volume.InexactFloat64(), k.currency)
	gauge(k.revenue, m.PlatformRevenue.InexactFloat64(), k.currency)

	// Open disputes are counted with the orders.
	gauge(k.disputes, float64(m.Orders[order.StatusDisputed]))
	b, err := orders.ReadBacklog(ctx, tx)
	if err != nil {
		return nil, err
	}
	gauge(k.disputeAge, b.OldestQueuedDisputeSeconds)
	gauge(k.disputesNegotiating, float64(b.DisputesNegotiating))
	gauge(k.overdue, float64(b.Overdue))
	gauge(k.overdueAge, b.OldestOverdueSeconds)

	v, verified, err := ledger.LatestVerification(ctx, tx)
	if err != nil {
		return nil, err
	}
	if verified {
		ok := 0.0
		if v.OK {
			ok = 1
		}
		gauge(k.verifyOK, ok)
		gauge(k.verifyLast, float64(v.FinishedAt.UnixMicro())/1e6)
	} else {
		gauge(k.verifyLast, 0)
	}
	gauge(k.verifyViolations, float64(v.Violations))

	values, err := sysconfig.Load(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("read system config: %w", err)
	}
	for name, v := range values {
		if strings.HasSuffix(name, "_hours") {
			gauge(k.configHours, v.InexactFloat64(), name)
		}
	}
	return out, nil
}

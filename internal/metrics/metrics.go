// Package metrics holds Ordem's Prometheus metrics: the registry each
// process serves at /metrics, HTTP request metrics, ledger postings,
// database errors, evidence upload failures and the Temporal SDK's own
// metrics (through tally). Business KPIs computed from Postgres are a
// collector of the api package (it owns the KPI queries).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
)

// Namespace prefixes every Ordem metric.
const Namespace = "ordem"

// Metrics is one process's registry and the metrics its code updates.
type Metrics struct {
	// Registry is what /metrics serves.
	Registry *prometheus.Registry
	// HTTPRequests counts finished requests by method, route template
	// and status code.
	HTTPRequests *prometheus.CounterVec
	// HTTPDuration is request latency by method and route template.
	HTTPDuration *prometheus.HistogramVec
	// EvidenceUploadFailures counts evidence uploads that failed on our
	// side (storage or workflow), by stage; refusals of bad files are not
	// failures.
	EvidenceUploadFailures *prometheus.CounterVec
}

// Process-wide metrics: the ledger and the database are shared by
// everything in the process (the dev stack runs the API and the worker in
// one), so their counters are one set registered in every registry.
var (
	ledgerPostings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "ledger_postings_total",
		Help: "Ledger postings by kind and outcome: posted, replayed (same idempotency key and request), refused (a domain refusal such as insufficient funds) or error (anything else: a financial error).",
	}, []string{"kind", "outcome"})
	ledgerPostDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "ledger_posting_duration_seconds",
		Help:    "Time spent in ledger.Post by outcome (inside the caller's transaction, commit excluded).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"outcome"})
	dbErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "db_errors_total",
		Help: "Database errors by kind: connection (acquire or connect failed), or the SQLSTATE class of a failed statement. Integrity violations (class 23, which the code turns into refusals) and cancelled requests are not counted.",
	}, []string{"kind"})
	observeLedger sync.Once
)

// HTTP latency buckets: from a cached read to a slow Update that waits on
// a workflow's activity.
var httpBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a registry with the Go runtime and process collectors and
// every Ordem metric, and starts counting ledger postings.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by method and route template.", Buckets: httpBuckets,
		}, []string{"method", "route"}),
		EvidenceUploadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "evidence_upload_failures_total",
			Help: "Evidence uploads that failed on Ordem's side, by stage (storage: writing to S3; workflow: attaching to the order).",
		}, []string{"stage"}),
	}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.EvidenceUploadFailures, ledgerPostings, ledgerPostDuration, dbErrors)
	observeLedger.Do(func() { ledger.SetObserver(ledgerObserver{}) })
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

type ledgerObserver struct{}

func (ledgerObserver) ObservePost(kind string, replayed bool, took time.Duration, err error) {
	outcome := "posted"
	switch {
	case err != nil && ordem.ErrorCode(err) != ordem.EInternal:
		outcome = "refused"
	case err != nil:
		outcome = "error"
	case replayed:
		outcome = "replayed"
	}
	ledgerPostings.WithLabelValues(kind, outcome).Inc()
	ledgerPostDuration.WithLabelValues(outcome).Observe(took.Seconds())
}

// TemporalHandler returns a Temporal SDK metrics handler whose metrics
// (temporal_request_*, temporal_workflow_*, temporal_activity_*, …) are
// registered in m.Registry, and a closer that flushes and stops it.
// Timers are histograms in seconds, so latency quantiles can be computed
// across workers.
func (m *Metrics) TemporalHandler() (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       m.Registry,
		DefaultTimerType: tallyprom.HistogramTimerType,
		// A metric the SDK registers twice with other tags would panic
		// otherwise; it is dropped instead.
		OnRegisterError: func(error) {},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}

// DBTracer counts database errors (see db_errors_total); install it as
// the pool's ConnConfig.Tracer (InstrumentPool does).
type DBTracer struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (DBTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (DBTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	countDBError(ctx, d.Err)
}

// TraceBatchStart implements pgx.BatchTracer.
func (DBTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (DBTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	countDBError(ctx, d.Err)
}

// TraceBatchEnd implements pgx.BatchTracer; the failed query was counted.
func (DBTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceAcquireStart implements pgxpool.AcquireTracer.
func (DBTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return ctx
}

// TraceAcquireEnd implements pgxpool.AcquireTracer: a pool that cannot
// get a connection (the server is down) is a connection error.
func (DBTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, d pgxpool.TraceAcquireEndData) {
	if d.Err != nil && ctx.Err() == nil && !errors.Is(d.Err, context.Canceled) && !errors.Is(d.Err, context.DeadlineExceeded) {
		dbErrors.WithLabelValues("connection").Inc()
	}
}

func countDBError(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		class := pgErr.Code[:2]
		if class == "23" {
			return
		}
		dbErrors.WithLabelValues("sqlstate_" + class).Inc()
		return
	}
	dbErrors.WithLabelValues("connection").Inc()
}

// InstrumentPool parses a DATABASE_URL into a pool config whose
// connections count their errors in db_errors_total.
func InstrumentPool(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.Tracer = DBTracer{}
	return cfg, nil
}

var _ interface {
	pgx.QueryTracer
	pgx.BatchTracer
	pgxpool.AcquireTracer
} = DBTracer{}

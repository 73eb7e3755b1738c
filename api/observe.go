package api

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/kpi"
	"github.com/ordem/ordem/internal/metrics"
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
		if err := s.Metrics.Registry.Register(kpi.NewCollector(s.Pool, s.Config.Currency, s.Logger)); err != nil && !errors.As(err, &dup) {
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

// Package worker wires the order workflow and its activities to a Temporal
// worker, and prepares the namespace (search attributes) it needs.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/connect"
	"github.com/ordem/ordem/internal/health"
	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/workflows/delivery"
	"github.com/ordem/ordem/workflows/ledgerverify"
	"github.com/ordem/ordem/workflows/order"
)

// New returns a worker on taskQueue with the order workflow and acts
// registered. The caller starts and stops it.
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		// On stop, running activities (one Postgres transaction each, or
		// a webhook POST) get this long to finish instead of being cut off
		// and retried elsewhere.
		WorkerStopTimeout: 30 * time.Second,
		// A new order's first workflow task (update-with-start: its
		// create) goes to the normal task queue, every later one to this
		// worker's sticky queue. With the SDK's default of 2 pollers
		// shared by both, creates waited for a free poller behind the
		// sticky traffic: create p95 was 2.1 s against 185 ms for the
		// other actions under 8 clients (make bench); with 8 it is
		// 0.49 s against 0.29 s (BENCHMARKS.md).
		MaxConcurrentWorkflowTaskPollers: 8,
		// Activity log lines carry workflow_id and order_id.
		Interceptors: []interceptor.WorkerInterceptor{&logInterceptor{}},
	})
	Register(w, acts)
	return w
}

// Registry is what both a worker and the SDK test environment offer.
type Registry interface {
	sdkworker.WorkflowRegistry
	activities.Registry
}

// Register registers the order workflow and activities, and the periodic
// ledger verification, on r.
func Register(r Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(order.Workflow, workflow.RegisterOptions{Name: order.WorkflowName})
	acts.Register(r)
	r.RegisterWorkflowWithOptions(ledgerverify.Workflow, workflow.RegisterOptions{Name: ledgerverify.WorkflowName})
	r.RegisterActivityWithOptions(acts.VerifyLedger, activity.RegisterOptions{Name: ledgerverify.ActivityVerify})
	r.RegisterWorkflowWithOptions(delivery.Webhook, workflow.RegisterOptions{Name: delivery.WorkflowWebhook})
	r.RegisterWorkflowWithOptions(delivery.Email, workflow.RegisterOptions{Name: delivery.WorkflowEmail})
}

// EnsureSearchAttributes registers the order search attributes that the
// namespace lacks; existing ones are left alone.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, key := range order.SearchAttributes {
		if _, ok := list.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = key.GetValueType()
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// Run runs a worker until ctx is cancelled, then stops it gracefully
// (in-flight activities get the worker's stop timeout to finish).
// It also serves /metrics, /healthz and /readyz on cfg.WorkerHTTPAddr and
// keeps the ledger verification schedule.
func Run(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	d, err := connect.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	m, pool, c, store := d.Metrics, d.Pool, d.Temporal, d.Storage
	if err := EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace); err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("evidence bucket: %w", err)
	}
	if cfg.WorkerHTTPAddr != "" {
		stopHTTP, err := serveHTTP(ctx, cfg.WorkerHTTPAddr, HTTPHandler(m, health.Probes{Pool: pool, Temporal: c, Storage: store}, cfg.Pprof), logger)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	// The schedule is housekeeping: a Temporal server slow to answer for it
	// (a dev server just restarted, say) must not keep orders waiting.
	go keepLedgerVerifySchedule(ctx, c, cfg.TemporalTaskQueue, cfg.LedgerVerifyInterval, logger)
	hooks, err := connect.SealSecrets(ctx, pool, cfg, logger)
	if err != nil {
		return err
	}
	w := New(c, cfg.TemporalTaskQueue, &activities.Activities{Pool: pool, AutoConfirmEnabled: cfg.AutoConfirmEnabled, Evidence: store,
		Currency: cfg.Currency, Mail: mail.New(cfg, logger.With("component", "mail")), WebhookSecrets: hooks,
		WebhookTargets: webhook.TargetPolicy{AllowPrivate: cfg.WebhookAllowPrivateTargets, AllowHTTP: cfg.IsDev()}})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("Worker started", "task_queue", cfg.TemporalTaskQueue, "namespace", cfg.TemporalNamespace,
		"auto_confirm_enabled", cfg.AutoConfirmEnabled)
	go cleanStaging(ctx, store, logger)
	// The outbox dispatcher starts the webhook and e-mail deliveries.
	go (&Dispatcher{Pool: pool, Temporal: c, TaskQueue: cfg.TemporalTaskQueue, Logger: logger.With("component", "outbox"),
		Retry: delivery.Retry{InitialInterval: cfg.WebhookRetryInitial, Expiration: cfg.WebhookRetryExpiration}}).Run(ctx)
	<-ctx.Done()
	logger.Info("Worker stopping")
	w.Stop()
	return nil
}

// Staged uploads never attached (the API died between upload and update)
// are removed once older than stagingMaxAge: far longer than any upload
// takes to be attached, even with the worker down for a while.
const (
	stagingMaxAge        = 24 * time.Hour
	stagingCleanupPeriod = time.Hour
)

func cleanStaging(ctx context.Context, store *storage.Store, logger *slog.Logger) {
	t := time.NewTicker(stagingCleanupPeriod)
	defer t.Stop()
	for {
		if n, err := store.CleanupStaging(ctx, stagingMaxAge); err != nil {
			logger.Warn("Staging cleanup failed", "error", err)
		} else if n > 0 {
			logger.Info("Removed stale staged uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keepLedgerVerifySchedule ensures the ledger verify schedule, retrying
// every 30 seconds until it succeeds or ctx ends.
func keepLedgerVerifySchedule(ctx context.Context, c client.Client, taskQueue string, interval time.Duration, logger *slog.Logger) {
	for {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := EnsureLedgerVerifySchedule(sctx, c, taskQueue, interval)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		logger.Warn("Ledger verify schedule not ensured; retrying in 30s", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}

package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/internal/postgres"
	webhookwf "github.com/ordem/ordem/workflows/webhook"
)

// Dispatcher hands the outbox to Temporal: every Interval it starts one
// delivery workflow per pending, not yet dispatched webhook delivery and
// e-mail, and marks the row dispatched. Rows are claimed with FOR UPDATE
// SKIP LOCKED, so several workers share the work. A start repeated after
// a crash is harmless: the workflow id is fixed (webhook-delivery-<id>,
// email-<id>), a running workflow is reused, and a new run of a finished
// one finds the row no longer pending and sends nothing.
type Dispatcher struct {
	Pool      *pgxpool.Pool
	Temporal  client.Client
	TaskQueue string
	Logger    *slog.Logger
	// Interval between polls; zero is one second.
	Interval time.Duration
	// Retry is the delivery workflows' retry policy.
	Retry webhookwf.Retry
}

// dispatchBatch bounds the rows one poll claims.
const dispatchBatch = 100

// Run polls until ctx is cancelled.
func (d *Dispatcher) Run(ctx context.Context) {
	every := d.Interval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, q := range queues {
			n, err := d.dispatch(ctx, q)
			if err != nil && ctx.Err() == nil {
				d.Logger.Warn("Outbox dispatch failed", "table", q.table, "error", err)
			} else if n > 0 {
				d.Logger.Debug("Outbox dispatched", "table", q.table, "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DispatchOnce runs one poll of both outboxes and returns how many
// workflows it started.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	total := 0
	for _, q := range queues {
		n, err := d.dispatch(ctx, q)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

type queue struct {
	table      string
	workflow   string
	workflowID func(int64) string
}

var queues = []queue{
	{table: "webhook_deliveries", workflow: webhookwf.WorkflowDelivery, workflowID: webhookwf.WorkflowID},
	{table: "email_outbox", workflow: webhookwf.WorkflowEmail, workflowID: webhookwf.EmailWorkflowID},
}

func (d *Dispatcher) dispatch(ctx context.Context, q queue) (int, error) {
	started := 0
	err := postgres.InTx(ctx, d.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM `+q.table+`
			WHERE status = 'pending' AND dispatched_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, dispatchBatch)
		if err != nil {
			return fmt.Errorf("claim %s: %w", q.table, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("claim %s: %w", q.table, err)
		}
		var done []int64
		var startErr error
		for _, id := range ids {
			_, err := d.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:        q.workflowID(id),
				TaskQueue: d.TaskQueue,
				// A finished run (a redelivery) may start again; a running
				// one is reused, so a second dispatch starts nothing.
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			}, q.workflow, webhookwf.Input{ID: id, Retry: d.Retry})
			if err != nil {
				// Temporal unreachable: keep what started, retry the rest
				// at the next poll.
				startErr = fmt.Errorf("start %s: %w", q.workflowID(id), err)
				break
			}
			done = append(done, id)
		}
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE `+q.table+` SET dispatched_at = now() WHERE id = ANY($1)`, done); err != nil {
				return fmt.Errorf("mark %s dispatched: %w", q.table, err)
			}
		}
		started = len(done)
		if startErr != nil {
			// Commit the dispatched marks anyway; report the error after.
			d.Logger.Warn("Outbox dispatch stopped", "table", q.table, "error", startErr)
		}
		return nil
	})
	return started, err
}

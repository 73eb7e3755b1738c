package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/delivery"
)

// Dispatcher hands the outbox to Temporal (it lives with the worker, not
// in internal/webhook, because it starts workflows: the packages that own
// tables must not depend on the workflows above them): it starts one delivery
// workflow per pending, not yet dispatched webhook delivery and e-mail,
// and marks the row dispatched. It is woken by Postgres: the outbox tables
// notify channel OutboxChannel when a row to dispatch commits (migration
// 00013), so a delivery starts within a moment of its order step; a slow
// safety sweep (Interval) catches what a lost connection missed. Rows are
// claimed with FOR UPDATE SKIP LOCKED, so several workers share the work.
// A start repeated after a crash is harmless: the workflow id is fixed
// (webhook-delivery-<id>, email-<id>), a running workflow is reused, and a
// new run of a finished one finds the row no longer pending and sends
// nothing.
type Dispatcher struct {
	Pool      *pgxpool.Pool
	Temporal  client.Client
	TaskQueue string
	Logger    *slog.Logger
	// Interval is the safety sweep's period; zero is 30 seconds.
	Interval time.Duration
	// Retry is the delivery workflows' retry policy.
	Retry delivery.Retry
}

// OutboxChannel is the Postgres notification channel of the outbox tables
// (webhook deliveries and e-mails, migration 00013).
const OutboxChannel = "ordem_outbox"

// dispatchBatch bounds the rows one sweep claims.
const dispatchBatch = 100

// defaultSweep is the safety sweep's period: notifications do the work,
// the sweep only covers a listener that was down.
const defaultSweep = 30 * time.Second

// Run dispatches until ctx is cancelled: on every notification, on every
// safety sweep, and while the listening connection is down, on the sweep
// alone (reconnecting meanwhile).
func (d *Dispatcher) Run(ctx context.Context) {
	sweep := d.Interval
	if sweep <= 0 {
		sweep = defaultSweep
	}
	backoff := time.Second
	for ctx.Err() == nil {
		err := d.listen(ctx, sweep)
		if ctx.Err() != nil {
			return
		}
		d.Logger.Warn("Outbox listener lost its connection; sweeping until it is back", "error", err, "retry_in", backoff)
		d.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, sweep)
	}
}

// listen holds a connection of its own LISTENing on OutboxChannel and sweeps on
// every notification and every sweep period; it returns when the
// connection fails.
func (d *Dispatcher) listen(ctx context.Context, sweep time.Duration) error {
	pc, err := d.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire the listener's connection: %w", err)
	}
	// The connection leaves the pool: a LISTENing session must not serve
	// anyone else, and it is closed, not returned, when done.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return fmt.Errorf("listen on %s: %w", OutboxChannel, err)
	}
	// Rows committed before the LISTEN notified nobody.
	d.sweep(ctx)
	for {
		wctx, cancel := context.WithTimeout(ctx, sweep)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("wait for a notification: %w", err)
		}
		// A notification (drain the ones already queued), or the sweep.
		for {
			qctx, qcancel := context.WithTimeout(ctx, time.Millisecond)
			_, err := conn.WaitForNotification(qctx)
			qcancel()
			if err != nil {
				break
			}
		}
		if conn.IsClosed() {
			return errors.New("the listener's connection closed")
		}
		d.sweep(ctx)
	}
}

// sweep dispatches both outboxes, logging what fails.
func (d *Dispatcher) sweep(ctx context.Context) {
	for _, q := range queues {
		n, err := d.dispatch(ctx, q)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("Outbox dispatch failed", "table", q.table, "error", err)
		} else if n > 0 {
			d.Logger.Debug("Outbox dispatched", "table", q.table, "count", n)
		}
	}
}

// DispatchOnce runs one sweep of both outboxes and returns how many
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
	{table: "webhook_deliveries", workflow: delivery.WorkflowWebhook, workflowID: delivery.WebhookWorkflowID},
	{table: "email_outbox", workflow: delivery.WorkflowEmail, workflowID: delivery.EmailWorkflowID},
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
			}, q.workflow, delivery.Input{ID: id, Retry: d.Retry})
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

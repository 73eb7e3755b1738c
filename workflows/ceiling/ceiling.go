// Package ceiling is the benchmark's ceiling: a workflow shaped like an
// order that does no work. It is started with an update (as the API creates
// an order), runs one activity per step (create, accept, deliver, confirm)
// that returns at once, takes three more updates and races a 36-hour timer
// against the confirmation, as an order's deadline does. Ordem's
// throughput is reported as a ratio of this workflow's on the same
// Temporal server (`ordem bench noop`). No I/O.
package ceiling

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the workflow, its updates and its activity.
const (
	WorkflowName    = "OrderShapedNoop"
	ActivityName    = "NoopStep"
	UpdateCreated   = "await_created"
	UpdateAccept    = "accept"
	UpdateDeliver   = "deliver"
	UpdateConfirm   = "confirm"
	deadline        = 36 * time.Hour
	activityTimeout = 30 * time.Second
)

// WorkflowID names the ceiling workflow number n of a run.
func WorkflowID(run string, n int64) string { return fmt.Sprintf("noop-%s-%d", run, n) }

// Input starts a ceiling workflow.
type Input struct {
	ID int64 `json:"id"`
}

// StepInput is the activity's argument.
type StepInput struct {
	ID   int64  `json:"id"`
	Step string `json:"step"`
}

// Step is the activity: it does nothing.
func Step(context.Context, StepInput) error { return nil }

// Workflow is the order-shaped no-op.
func Workflow(ctx workflow.Context, in Input) error {
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: activityTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	created, done := false, false
	status := "negotiating"
	// Update handlers get a context of their own: the options go on each.
	step := func(ctx workflow.Context, name string) error {
		ctx = workflow.WithActivityOptions(ctx, opts)
		return workflow.ExecuteActivity(ctx, ActivityName, StepInput{ID: in.ID, Step: name}).Get(ctx, nil)
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateCreated, func(ctx workflow.Context) (string, error) {
		return status, workflow.Await(ctx, func() bool { return created })
	}); err != nil {
		return fmt.Errorf("register %s: %w", UpdateCreated, err)
	}
	for _, u := range []struct{ name, from, to string }{
		{UpdateAccept, "negotiating", "in_progress"},
		{UpdateDeliver, "in_progress", "delivered"},
		{UpdateConfirm, "delivered", "completed"},
	} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, func(ctx workflow.Context) (string, error) {
			if err := step(ctx, u.name); err != nil {
				return status, err
			}
			status = u.to
			done = u.to == "completed"
			return status, nil
		}, workflow.UpdateHandlerOptions{Validator: func(workflow.Context) error {
			if status != u.from {
				return temporal.NewApplicationError("cannot "+u.name+" when "+status, "invalid_transition")
			}
			return nil
		}})
		if err != nil {
			return fmt.Errorf("register %s: %w", u.name, err)
		}
	}
	if err := step(ctx, "create"); err != nil {
		return err
	}
	created = true
	if err := workflow.Await(ctx, func() bool { return status == "delivered" || done }); err != nil {
		return err
	}
	// The confirmation deadline, raced against the confirmation.
	tctx, cancel := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(tctx, deadline)
	if err := workflow.Await(ctx, func() bool { return done || timer.IsReady() }); err != nil {
		return err
	}
	cancel()
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

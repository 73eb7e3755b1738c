package delivery

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Webhook, workflow.RegisterOptions{Name: WorkflowWebhook})
	env.RegisterWorkflowWithOptions(Email, workflow.RegisterOptions{Name: WorkflowEmail})
	env.RegisterActivityWithOptions(func(context.Context, int64) (Result, error) { return Result{}, nil },
		activity.RegisterOptions{Name: ActivityDeliverWebhook})
	env.RegisterActivityWithOptions(func(context.Context, FailInput) (Result, error) { return Result{}, nil },
		activity.RegisterOptions{Name: ActivityMarkWebhookFailed})
	env.RegisterActivityWithOptions(func(context.Context, int64) (Result, error) { return Result{}, nil },
		activity.RegisterOptions{Name: ActivitySendEmail})
	env.RegisterActivityWithOptions(func(context.Context, FailInput) (Result, error) { return Result{}, nil },
		activity.RegisterOptions{Name: ActivityMarkEmailFailed})
	return env
}

// Ensure an endpoint that keeps failing is retried with doubling pauses
// until the expiration, then the failure is recorded with the last error
// and is the workflow's result, not its error.
func TestDeliveryGivesUpAtExpiration(t *testing.T) {
	env := newEnv(t)
	var attempts []time.Time
	env.OnActivity(ActivityDeliverWebhook, mock.Anything, int64(7)).Return(func(context.Context, int64) (Result, error) {
		attempts = append(attempts, env.Now())
		return Result{}, temporal.NewApplicationError("endpoint answered 500", TypeWebhookEndpointError)
	})
	var failed FailInput
	env.OnActivity(ActivityMarkWebhookFailed, mock.Anything, mock.Anything).Return(func(_ context.Context, in FailInput) (Result, error) {
		failed = in
		return Result{Status: "failed", Attempts: len(attempts), ResponseCode: 500}, nil
	})
	env.ExecuteWorkflow(WorkflowWebhook, Input{ID: 7, Retry: Retry{InitialInterval: time.Minute, MaximumInterval: 8 * time.Minute,
		Expiration: time.Hour}})
	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "failed", res.Status)
	require.Equal(t, int64(7), failed.ID)
	require.Contains(t, failed.Error, "endpoint answered 500")
	require.GreaterOrEqual(t, len(attempts), 8)
	require.LessOrEqual(t, attempts[len(attempts)-1].Sub(attempts[0]), time.Hour, "no attempt after the expiration")
	// Pauses double from the initial interval up to the maximum.
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 8 * time.Minute} {
		require.InDelta(t, want.Seconds(), attempts[i+1].Sub(attempts[i]).Seconds(), 1, "pause %d", i+1)
	}
}

// Ensure a success is returned as is, with no failure recorded.
func TestEmailDelivered(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(ActivitySendEmail, mock.Anything, int64(3)).Return(Result{Status: "sent", Attempts: 1}, nil)
	marked := false
	env.OnActivity(ActivityMarkEmailFailed, mock.Anything, mock.Anything).Return(func(context.Context, FailInput) (Result, error) {
		marked = true
		return Result{}, nil
	}).Maybe()
	env.ExecuteWorkflow(WorkflowEmail, Input{ID: 3})
	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, Result{Status: "sent", Attempts: 1}, res)
	require.False(t, marked)
}

// Ensure zero retry fields take the documented defaults.
func TestRetryDefaults(t *testing.T) {
	require.Equal(t, Retry{InitialInterval: DefaultInitialInterval, MaximumInterval: DefaultMaximumInterval,
		Expiration: DefaultExpiration}, Retry{}.withDefaults())
	require.Equal(t, "webhook-delivery-12", WebhookWorkflowID(12))
	require.Equal(t, "email-12", EmailWorkflowID(12))
}

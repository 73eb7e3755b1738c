package ceiling_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem/workflows/ceiling"
)

// Ensure the ceiling workflow runs its order shape to the end: created,
// accept, deliver, confirm, each running its activity, and it ends at the
// confirmation, not at the 36-hour deadline.
func TestCeilingRunsTheOrderShape(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ceiling.Workflow, workflow.RegisterOptions{Name: ceiling.WorkflowName})
	env.RegisterActivityWithOptions(ceiling.Step, activity.RegisterOptions{Name: ceiling.ActivityName})
	steps := 0
	env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { steps++ })
	start := env.Now()
	var statuses []string
	for i, u := range []string{ceiling.UpdateCreated, ceiling.UpdateAccept, ceiling.UpdateDeliver, ceiling.UpdateConfirm} {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(u, "", &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { t.Errorf("%s rejected: %v", u, err) },
				OnComplete: func(v any, err error) {
					require.NoError(t, err, u)
					statuses = append(statuses, v.(string))
				},
			})
		}, time.Duration(i+1)*time.Minute)
	}
	env.ExecuteWorkflow(ceiling.WorkflowName, ceiling.Input{ID: 1})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"negotiating", "in_progress", "delivered", "completed"}, statuses)
	require.Equal(t, 4, steps)
	require.Less(t, env.Now().Sub(start), time.Hour, "ended at the confirmation")
}

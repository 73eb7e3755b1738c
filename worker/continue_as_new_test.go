package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/workflows/order"
)

// Ensure an order continues as new when the server suggests it, on a real
// Temporal server whose update limit is lowered to 12 (the suggestion
// comes at 6): the second run carries the whole state and completes the
// order with exactly the money of an uninterrupted one. Both runs'
// histories replay against the current code, and are recorded for
// TestReplay (continued_as_new: the first run, ending in
// ContinuedAsNew; continued_completed: the second).
func TestContinueAsNewOnServerSuggestion(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	dc := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():                       []dynamicconfig.ConstrainedValue{{Value: true}},
		dynamicconfig.WorkflowExecutionMaxTotalUpdates.Key():                              []dynamicconfig.ConstrainedValue{{Value: 12}},
		dynamicconfig.WorkflowExecutionMaxTotalUpdatesSuggestContinueAsNewThreshold.Key(): []dynamicconfig.ConstrainedValue{{Value: 0.5}},
	}
	e := newIT(t, temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dc)))
	p := e.newPair(t)
	e.f.Deposit(t, p.client.UserID, "300.00")
	id := e.create(t, taskQueue, p, "100.00", nil)
	// Negotiation: five counter-proposals are the sixth update (with
	// await_created): the server suggests continuing as new.
	for i, amount := range []string{"110.00", "120.00", "130.00", "140.00", "150.00"} {
		by := p.provider
		if i%2 == 1 {
			by = p.client
		}
		e.act(t, id, order.ActionPropose, order.ProposeInput{Actor: by, Amount: d(amount)})
	}
	require.Eventually(t, func() bool { return e.runs(t, id) == 2 }, 30*time.Second, 50*time.Millisecond, "continued as new")
	st := e.query(t, id)
	require.Equal(t, 6, st.ProposalVersion)
	require.Equal(t, "150.00", st.Amount.StringFixed(2))
	require.Equal(t, 6, st.Version)

	// The second run goes on from the same state.
	e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: p.client, ProposalVersion: 6})
	e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: p.provider})
	e.act(t, id, order.ActionConfirm, order.ConfirmInput{Actor: p.client, IfVersion: 8})
	final := e.result(t, id)
	require.Equal(t, order.StatusCompleted, final.Status)
	require.Equal(t, 9, final.Version)
	require.Equal(t, []string{"150.00/0.00", "142.50/0.00"}, e.f.Wallets(t, p.client.UserID, p.provider.UserID))
	require.Equal(t, 1, e.ledgerTxns(t, id, "hold"))
	require.Equal(t, 1, e.ledgerTxns(t, id, "release"))
	e.f.RequireLedgerClean(t)

	first, second := e.runHistories(t, id)
	require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, first.Events[len(first.Events)-1].GetEventType())
	require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, second.Events[len(second.Events)-1].GetEventType())
	replayAndRecordRun(t, first, "continued_as_new")
	replayAndRecordRun(t, second, "continued_completed")
}

// runs counts the order workflow's runs so far.
func (e *it) runs(t testing.TB, id int64) int {
	t.Helper()
	res, err := e.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowId = '" + order.WorkflowID(id) + "'"})
	require.NoError(t, err)
	return len(res.GetExecutions())
}

// runHistories returns the histories of the order's first and latest runs.
func (e *it) runHistories(t testing.TB, id int64) (first, latest *historypb.History) {
	t.Helper()
	d, err := e.c.DescribeWorkflowExecution(context.Background(), order.WorkflowID(id), "")
	require.NoError(t, err)
	fetch := func(runID string) *historypb.History {
		iter := e.c.GetWorkflowHistory(context.Background(), order.WorkflowID(id), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		h := &historypb.History{}
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, ev)
		}
		return h
	}
	info := d.GetWorkflowExecutionInfo()
	return fetch(info.GetFirstRunId()), fetch(info.GetExecution().GetRunId())
}

// replayAndRecordRun replays one run's history against the current
// workflow code and, with ORDEM_RECORD_HISTORIES=1, writes it to
// workflows/order/testdata/name.json in the format of `temporal workflow
// show --output json`.
func replayAndRecordRun(t testing.TB, h *historypb.History, name string) {
	t.Helper()
	r := sdkworker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(order.Workflow, workflow.RegisterOptions{Name: order.WorkflowName})
	require.NoError(t, r.ReplayWorkflowHistory(quietLogger(), h), "replay %s", name)
	if recordHistories {
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
		require.NoError(t, err)
		path := filepath.Join("..", "workflows", "order", "testdata", name+".json")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
		t.Logf("recorded %s (%d events)", path, len(h.Events))
	}
}

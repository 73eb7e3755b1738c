package ledgerverify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/workflows/ledgerverify"
)

func quiet() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quiet())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ledgerverify.Workflow, workflow.RegisterOptions{Name: ledgerverify.WorkflowName})
	return env
}

// Ensure the workflow returns the activity's result, violations included
// (a result, not a failure).
func TestWorkflowReturnsResult(t *testing.T) {
	env := newEnv(t)
	want := ledgerverify.Result{VerificationID: 7, OK: false, Violations: 3, Accounts: 5, Transactions: 4, Entries: 8}
	env.RegisterActivityWithOptions(func(context.Context) (ledgerverify.Result, error) { return want, nil },
		activity.RegisterOptions{Name: ledgerverify.ActivityVerify})
	env.ExecuteWorkflow(ledgerverify.WorkflowName)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var got ledgerverify.Result
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, want, got)
}

// Ensure a failing activity is retried MaximumAttempts times, then fails
// the run.
func TestWorkflowRetriesThenFails(t *testing.T) {
	env := newEnv(t)
	calls := 0
	env.RegisterActivityWithOptions(func(context.Context) (ledgerverify.Result, error) {
		calls++
		return ledgerverify.Result{}, errors.New("database down")
	}, activity.RegisterOptions{Name: ledgerverify.ActivityVerify})
	env.ExecuteWorkflow(ledgerverify.WorkflowName)
	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "database down")
	require.Equal(t, int(ledgerverify.ActivityOptions.RetryPolicy.MaximumAttempts), calls)
}

type row struct {
	OK         bool
	Violations int
	Entries    int64
	Details    []map[string]string
}

func rows(t *testing.T, f *ordertest.Fixture) []row {
	t.Helper()
	r, err := f.Pool.Query(context.Background(), `SELECT ok, violations, entries, details FROM ledger_verifications ORDER BY id`)
	require.NoError(t, err)
	defer r.Close()
	var out []row
	for r.Next() {
		var x row
		var raw []byte
		require.NoError(t, r.Scan(&x.OK, &x.Violations, &x.Entries, &raw))
		require.NoError(t, json.Unmarshal(raw, &x.Details))
		out = append(out, x)
	}
	require.NoError(t, r.Err())
	return out
}

// Ensure the real activity on real Postgres records a clean ledger as an
// ok row, then a corrupted one with its violations named, through the
// workflow as the schedule runs it.
func TestVerifyLedgerActivity(t *testing.T) {
	f := ordertest.New(t)
	u := f.User(t, ordem.RoleClient)
	f.Deposit(t, u, "25.00")
	acts := &activities.Activities{Pool: f.Pool}
	runs := 0
	run := func() ledgerverify.Result {
		env := newEnv(t)
		// Each scheduled run has its own workflow id.
		runs++
		env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", ledgerverify.ScheduleID, runs)})
		env.RegisterActivityWithOptions(acts.VerifyLedger, activity.RegisterOptions{Name: ledgerverify.ActivityVerify})
		env.ExecuteWorkflow(ledgerverify.WorkflowName)
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		var r ledgerverify.Result
		require.NoError(t, env.GetWorkflowResult(&r))
		return r
	}

	clean := run()
	require.True(t, clean.OK)
	require.Zero(t, clean.Violations)
	require.NotZero(t, clean.VerificationID)
	got := rows(t, f)
	require.Len(t, got, 1)
	require.Equal(t, row{OK: true, Violations: 0, Entries: clean.Entries, Details: []map[string]string{}}, got[0])

	code := ledger.UserAccount(u, ledger.Available)
	_, err := f.Pool.Exec(context.Background(), `UPDATE ledger_accounts SET balance = balance + 1 WHERE code = $1`, code)
	require.NoError(t, err)
	bad := run()
	require.False(t, bad.OK)
	// The cached balance disagrees with its entries, and the balances no
	// longer sum to zero.
	require.Equal(t, 2, bad.Violations)
	got = rows(t, f)
	require.Len(t, got, 2)
	require.False(t, got[1].OK)
	require.Equal(t, 2, got[1].Violations)
	checks := map[string]string{}
	for _, d := range got[1].Details {
		checks[d["check"]] = d["subject"]
	}
	require.Equal(t, map[string]string{"cached_balance": "account " + code, "grand_total": "ledger"}, checks)
}

// Ensure a retried activity of the same run rewrites its row instead of
// adding one.
func TestVerifyLedgerRetryKeepsOneRow(t *testing.T) {
	f := ordertest.New(t)
	acts := &activities.Activities{Pool: f.Pool}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quiet())
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(acts.VerifyLedger, activity.RegisterOptions{Name: ledgerverify.ActivityVerify})
	first, err := env.ExecuteActivity(ledgerverify.ActivityVerify)
	require.NoError(t, err)
	second, err := env.ExecuteActivity(ledgerverify.ActivityVerify)
	require.NoError(t, err)
	var a, b ledgerverify.Result
	require.NoError(t, first.Get(&a))
	require.NoError(t, second.Get(&b))
	require.Equal(t, a.VerificationID, b.VerificationID)
	require.Len(t, rows(t, f), 1)
}

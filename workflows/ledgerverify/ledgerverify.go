// Package ledgerverify is the periodic ledger check: a Temporal schedule
// (ScheduleID, created by the worker) starts Workflow every few minutes;
// its one activity runs every ledger invariant check on a snapshot and
// records the outcome in ledger_verifications, which the
// ordem_ledger_verify_* metrics read. The package does no I/O: the
// activity lives in package activities.
package ledgerverify

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names registered on the worker and used by the schedule.
const (
	WorkflowName = "LedgerVerify"
	// ActivityVerify runs ledger.VerifySnapshot and stores the Result.
	ActivityVerify = "VerifyLedger"
	// ScheduleID is the schedule's fixed id; the workflows it starts are
	// named ScheduleID-<start time>.
	ScheduleID = "ordem-ledger-verify"
	// DefaultInterval is how often the ledger is verified (the
	// LEDGER_VERIFY_INTERVAL default).
	DefaultInterval = 10 * time.Minute
)

// Result is one verification's outcome as recorded.
type Result struct {
	// VerificationID is the row of ledger_verifications written.
	VerificationID int64 `json:"verification_id"`
	OK             bool  `json:"ok"`
	Violations     int   `json:"violations"`
	Accounts       int64 `json:"accounts"`
	Transactions   int64 `json:"transactions"`
	Entries        int64 `json:"entries"`
}

// ActivityOptions bound one verification: a big ledger takes seconds to
// check, a stuck one is retried twice and then the run fails, visible in
// the Web UI and as a stale ordem_ledger_verify_last_run_timestamp_seconds.
var ActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
	},
}

// Workflow runs one verification and returns its Result. Violations are
// a result, not a failure: the workflow succeeds, the activity logs them
// at ERROR, and the metrics and alerts report them.
func Workflow(ctx workflow.Context) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, ActivityOptions)
	var r Result
	err := workflow.ExecuteActivity(ctx, ActivityVerify).Get(ctx, &r)
	return r, err
}

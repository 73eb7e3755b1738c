package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/workflows/ledgerverify"
)

// maxRecordedViolations bounds the details kept per verification: a badly
// broken ledger can have one violation per entry.
const maxRecordedViolations = 100

// VerifyLedger checks every ledger invariant on one snapshot and records
// the outcome in ledger_verifications (the metrics read the latest row).
// A retry of the same workflow run rewrites its own row.
func (a *Activities) VerifyLedger(ctx context.Context) (ledgerverify.Result, error) {
	info := activity.GetInfo(ctx)
	runKey := info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID
	started := time.Now()
	rep, err := ledger.VerifySnapshot(ctx, a.Pool)
	if err != nil {
		return ledgerverify.Result{}, fmt.Errorf("verify ledger: %w", err)
	}
	type detail struct {
		Check   string `json:"check"`
		Subject string `json:"subject"`
		Detail  string `json:"detail"`
	}
	details := []detail{}
	for i, v := range rep.Violations {
		if i == maxRecordedViolations {
			break
		}
		details = append(details, detail{v.Check, v.Subject, v.Detail})
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return ledgerverify.Result{}, fmt.Errorf("encode violations: %w", err)
	}
	r := ledgerverify.Result{OK: rep.OK(), Violations: len(rep.Violations), Accounts: rep.Accounts,
		Transactions: rep.Transactions, Entries: rep.Entries}
	r.VerificationID, err = ledger.RecordVerification(ctx, a.Pool, ledger.Verification{RunKey: runKey, StartedAt: started,
		OK: r.OK, Violations: r.Violations, Accounts: r.Accounts, Transactions: r.Transactions, Entries: r.Entries,
		Total: rep.Total, Details: raw})
	if err != nil {
		return ledgerverify.Result{}, err
	}
	log := activity.GetLogger(ctx)
	if r.OK {
		log.Info("Ledger verified", "accounts", r.Accounts, "transactions", r.Transactions, "entries", r.Entries,
			"verification_id", r.VerificationID)
		return r, nil
	}
	for i, v := range rep.Violations {
		if i == 10 { // the rest are in the row's details
			break
		}
		log.Error("Ledger violation", logging.ConcernKey, logging.Concerns(logging.Critical),
			"check", v.Check, "subject", v.Subject, "detail", v.Detail)
	}
	log.Error("Ledger verification found violations", logging.ConcernKey, logging.Concerns(logging.Critical),
		"violations", r.Violations, "verification_id", r.VerificationID)
	return r, nil
}

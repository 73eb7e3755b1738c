package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/postgres"
)

// Verification is one recorded run of the periodic ledger verification
// (the ledger_verifications table).
type Verification struct {
	// RunKey names the run (its workflow run), so a retried record
	// rewrites its own row.
	RunKey                          string
	StartedAt, FinishedAt           time.Time
	OK                              bool
	Violations                      int
	Accounts, Transactions, Entries int64
	Total                           decimal.Decimal
	// Details are the first violations, as JSON.
	Details []byte
}

// RecordVerification writes v (FinishedAt is the database's now) and
// returns its row id; recording the same RunKey again replaces the row.
func RecordVerification(ctx context.Context, db postgres.DBTX, v Verification) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO ledger_verifications (run_key, started_at, finished_at, ok, violations, accounts, transactions, entries, total, details)
		VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (run_key) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
		    ok = EXCLUDED.ok, violations = EXCLUDED.violations, accounts = EXCLUDED.accounts,
		    transactions = EXCLUDED.transactions, entries = EXCLUDED.entries, total = EXCLUDED.total, details = EXCLUDED.details
		RETURNING id`,
		v.RunKey, v.StartedAt, v.OK, v.Violations, v.Accounts, v.Transactions, v.Entries, v.Total, v.Details).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record ledger verification: %w", err)
	}
	return id, nil
}

// LatestVerification reads the outcome of the latest recorded run; found
// is false before the first.
func LatestVerification(ctx context.Context, db postgres.DBTX) (v Verification, found bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT ok, violations, finished_at FROM ledger_verifications
		ORDER BY finished_at DESC, id DESC LIMIT 1`).Scan(&v.OK, &v.Violations, &v.FinishedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Verification{}, false, nil
	case err != nil:
		return Verification{}, false, fmt.Errorf("read latest ledger verification: %w", err)
	}
	return v, true, nil
}

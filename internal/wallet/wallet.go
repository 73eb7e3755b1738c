// Package wallet moves a user's money in and out of Ordem and reads it:
// deposits credited by an admin or announced by a payment provider,
// payouts requested by the user and decided by an admin, and the balances
// and statement of a user's accounts. It owns the deposits, payouts and
// webhook_receipts tables.
//
// Like order money, which moves in the activities, every movement here is
// one ledger posting written in the caller's transaction together with
// the row that explains it, so the HTTP handlers only validate, call these
// functions and answer. Refusals are *ordem.Error values the API maps to
// statuses as they are; any other error is internal and says what failed.
package wallet

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
)

// Ledger transaction kinds of the wallet (ledger_transactions.kind; the
// statement shows them to users, so they are never renamed).
const (
	KindDeposit       = "deposit"
	KindPayoutRequest = "payout_request"
	KindPayoutPaid    = "payout_paid"
	KindPayoutFailed  = "payout_failed"
)

// UserExists reports whether userID is a user, deleted ones included: a
// deleted user's wallet and history stay readable by admins.
func UserExists(ctx context.Context, db postgres.DBTX, userID int64) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT true FROM users WHERE id = $1`, userID).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read user %d: %w", userID, err)
	}
	return true, nil
}

package wallet

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/postgres"
)

// Entry is one movement of one of a user's accounts.
type Entry struct {
	ID            int64
	TransactionID int64
	// Account is available or blocked.
	Account string
	// Kind is the ledger transaction's kind: deposit, hold, release,
	// cancel, contest_fee_hold, resolve, payout_request, payout_paid,
	// payout_failed.
	Kind string
	// OrderID is 0 for movements that are not about an order.
	OrderID int64
	// Amount is signed: positive credits the account, negative debits it.
	Amount       decimal.Decimal
	BalanceAfter decimal.Decimal
	Memo         string
	CreatedAt    time.Time
}

// Statement reads a user's ledger entries, newest first (the ledger's own
// order, in which balance_after runs): at most limit entries with an id
// below beforeID (0: from the newest), of one account kind or, when
// account is "", of both.
func Statement(ctx context.Context, db postgres.DBTX, userID int64, account ledger.AccountKind, beforeID int64, limit int) ([]Entry, error) {
	// Per account, the page's worth of its newest entries
	// (ledger_entries_account_idx backwards), then the newest of those:
	// joining first would fetch and join every entry of a busy user.
	rows, err := db.Query(ctx, `
		SELECT e.id, e.transaction_id, a.kind, t.kind, t.order_id, e.amount, e.balance_after, t.memo, e.created_at
		FROM ledger_accounts a
		CROSS JOIN LATERAL (
		    SELECT * FROM ledger_entries e
		    WHERE e.account_id = a.id AND ($3::bigint = 0 OR e.id < $3)
		    ORDER BY e.id DESC LIMIT $4) e
		JOIN ledger_transactions t ON t.id = e.transaction_id
		WHERE a.user_id = $1 AND ($2::text = '' OR a.kind = $2)
		ORDER BY e.id DESC LIMIT $4`, userID, string(account), beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("read statement of user %d: %w", userID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var (
			x       Entry
			orderID *int64
		)
		err := r.Scan(&x.ID, &x.TransactionID, &x.Account, &x.Kind, &orderID, &x.Amount, &x.BalanceAfter, &x.Memo, &x.CreatedAt)
		if orderID != nil {
			x.OrderID = *orderID
		}
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("read statement of user %d: %w", userID, err)
	}
	return list, nil
}

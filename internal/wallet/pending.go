package wallet

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/postgres"
)

// SumPending counts and sums the payouts still pending: of userID, or of
// everyone when userID is 0 (the dashboards; payouts_user_idx and
// payouts_pending_idx serve the two).
func SumPending(ctx context.Context, db postgres.DBTX, userID int64) (count int64, total decimal.Decimal, err error) {
	query := `SELECT count(*), coalesce(sum(amount), 0) FROM payouts WHERE user_id = $1 AND status = 'pending'`
	args := []any{userID}
	if userID == 0 {
		query, args = `SELECT count(*), coalesce(sum(amount), 0) FROM payouts WHERE status = 'pending'`, nil
	}
	if err := db.QueryRow(ctx, query, args...).Scan(&count, &total); err != nil {
		return 0, decimal.Zero, fmt.Errorf("sum pending payouts: %w", err)
	}
	return count, total, nil
}

package orders

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

// openStatuses are the statuses an order is still open in, the ones not
// terminal: every one an admin may cancel (spec §3: in_progress,
// delivered and disputed with a full refund; negotiating, where nothing is
// held, too).
var openStatuses = func() []string {
	var open []string
	for _, st := range order.Statuses {
		if !st.Terminal() {
			open = append(open, string(st))
		}
	}
	return open
}()

// OpenOrder is an order still open, by id and status.
type OpenOrder struct {
	ID     int64
	Status order.Status
}

// OpenOf lists the open orders in which userID is the client or the
// provider, oldest first.
func OpenOf(ctx context.Context, db postgres.DBTX, userID int64) ([]OpenOrder, error) {
	return postgres.Collect(ctx, db, fmt.Sprintf("list open orders of user %d", userID), pgx.RowToStructByPos[OpenOrder], `
		SELECT id, status FROM orders WHERE (client_id = $1 OR provider_id = $1) AND status = ANY($2)
		ORDER BY id`, userID, openStatuses)
}

// StatusOf reads an order's current status.
func StatusOf(ctx context.Context, db postgres.DBTX, orderID int64) (order.Status, error) {
	var st order.Status
	if err := db.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, orderID).Scan(&st); err != nil {
		return "", fmt.Errorf("read status of order %d: %w", orderID, err)
	}
	return st, nil
}

package orders

import (
	"context"
	"fmt"

	"github.com/ordem/ordem/internal/postgres"
)

// Backlog is the work waiting on people that no counter can keep: open
// disputes by age, and confirmations overdue (they depend on the clock,
// which no transition sees).
type Backlog struct {
	// OldestQueuedDisputeSeconds is the age of the oldest dispute in the
	// admins' queue (since it entered it); 0 when none.
	OldestQueuedDisputeSeconds float64
	// DisputesNegotiating are open disputes still in their negotiation
	// window (not yet queued).
	DisputesNegotiating int64
	// Overdue are delivered orders past their confirmation deadline that
	// auto-confirmation has not released (held orders excluded), and
	// OldestOverdueSeconds how long the most overdue has waited; 0 when none.
	Overdue              int64
	OldestOverdueSeconds float64
}

// ReadBacklog reads the Backlog: the oldest dispute is the first entry of
// orders_disputed_idx; the overdue ones an index-only range of
// orders_overdue_idx, which holds only delivered orders not held, so the
// work is the overdue ones (none while auto-confirmation keeps up).
func ReadBacklog(ctx context.Context, db postgres.DBTX) (Backlog, error) {
	var b Backlog
	err := db.QueryRow(ctx, `
		SELECT coalesce((SELECT extract(epoch FROM now() - min(dispute_queued_at))::float8 FROM orders WHERE status = 'disputed'), 0),
		       (SELECT count(*) FROM orders WHERE status = 'disputed' AND dispute_queued_at IS NULL),
		       (SELECT count(*) FROM orders WHERE status = 'delivered' AND NOT auto_confirm_held AND confirm_deadline < now()),
		       coalesce((SELECT extract(epoch FROM now() - min(confirm_deadline))::float8 FROM orders
		                 WHERE status = 'delivered' AND NOT auto_confirm_held AND confirm_deadline < now()), 0)`).
		Scan(&b.OldestQueuedDisputeSeconds, &b.DisputesNegotiating, &b.Overdue, &b.OldestOverdueSeconds)
	if err != nil {
		return Backlog{}, fmt.Errorf("read order backlog: %w", err)
	}
	return b, nil
}

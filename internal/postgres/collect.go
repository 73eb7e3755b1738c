package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Collect runs a query on db and reads every row with scan (for example
// pgx.RowToStructByPos[T]); what says what was read, and prefixes the
// error of either step, so a failed list names its query. It is the one
// copy of the query-then-collect the table owners' list functions share.
func Collect[T any](ctx context.Context, db DBTX, what string, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	list, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return list, nil
}

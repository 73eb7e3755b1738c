package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// EndpointRecord is a registered endpoint as read back: every column but
// its secret, which only LoadSecret opens (to sign), so no listing can
// leak it.
type EndpointRecord struct {
	ID          int64
	URL         string
	Description string
	EventTypes  []string
	Active      bool
	CreatedBy   *int64 // nil for endpoints not created by an admin (seeds)
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const endpointColumns = `id, url, description, event_types, active, created_by, created_at, updated_at`

func scanEndpoint(r pgx.Row) (EndpointRecord, error) {
	var e EndpointRecord
	err := r.Scan(&e.ID, &e.URL, &e.Description, &e.EventTypes, &e.Active, &e.CreatedBy, &e.CreatedAt, &e.UpdatedAt)
	return e, err
}

// NoSuchEndpoint is the not_found error of an endpoint that does not
// exist or is deleted: the same for both, a deleted one is gone to
// admins. The API answers it for a malformed id too.
func NoSuchEndpoint() error { return ordem.Errorf(ordem.ENotFound, "no such webhook") }

// LiveEndpoint reads endpoint id unless it is deleted (a not_found
// *ordem.Error then). With lock it holds the row lock until the caller's
// transaction ends, so a change is decided on the row it replaces.
func LiveEndpoint(ctx context.Context, db postgres.DBTX, id int64, lock bool) (EndpointRecord, error) {
	return readByID(ctx, db, "webhook endpoint", `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL`,
		id, lock, scanEndpoint, NoSuchEndpoint)
}

// readByID reads the one row query selects by id ($1) with scan; with
// lock it holds the row lock until the caller's transaction ends. No row
// is notFound's error; another failure names what was read.
func readByID[T any](ctx context.Context, db postgres.DBTX, what, query string, id int64, lock bool,
	scan func(pgx.Row) (T, error), notFound func() error) (T, error) {
	if lock {
		query += ` FOR UPDATE`
	}
	v, err := scan(db.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		var zero T
		return zero, notFound()
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("read %s %d: %w", what, id, err)
	}
	return v, nil
}

// ListEndpoints lists the live endpoints, newest first, at most limit.
func ListEndpoints(ctx context.Context, db postgres.DBTX, limit int) ([]EndpointRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE deleted_at IS NULL ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EndpointRecord, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return list, nil
}

// EndpointChange is a partial update of an endpoint: nil fields keep
// their value. The caller has validated the values (CheckURL,
// ValidEventType).
type EndpointChange struct {
	URL         *string
	Description *string
	EventTypes  []string
	Active      *bool
}

// UpdateEndpoint applies ch to endpoint id and returns the row as it now
// stands. Deliveries already recorded follow the endpoint's new URL: they
// keep only the endpoint id.
func UpdateEndpoint(ctx context.Context, db postgres.DBTX, id int64, ch EndpointChange) (EndpointRecord, error) {
	e, err := scanEndpoint(db.QueryRow(ctx, `
		UPDATE webhook_endpoints SET url = coalesce($2, url), description = coalesce($3, description),
		    event_types = coalesce($4, event_types), active = coalesce($5, active), updated_at = now()
		WHERE id = $1 RETURNING `+endpointColumns, id, ch.URL, ch.Description, ch.EventTypes, ch.Active))
	if err != nil {
		return EndpointRecord{}, fmt.Errorf("update webhook endpoint %d: %w", id, err)
	}
	return e, nil
}

// DeleteEndpoint deletes endpoint id softly (its delivery log stays
// readable) and disables it, so its pending deliveries fail instead of
// being sent.
func DeleteEndpoint(ctx context.Context, db postgres.DBTX, id int64) error {
	if _, err := db.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now(), active = false, updated_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete webhook endpoint %d: %w", id, err)
	}
	return nil
}

// endpointExists reports whether endpoint id was ever registered
// (deleted ones included: their delivery log stays readable).
func endpointExists(ctx context.Context, db postgres.DBTX, id int64) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT true FROM webhook_endpoints WHERE id = $1`, id).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up webhook endpoint %d: %w", id, err)
	}
	return true, nil
}

// endpointLive reports whether endpoint id is active and not deleted: a
// delivery may be sent to it.
func endpointLive(ctx context.Context, db postgres.DBTX, id int64) (bool, error) {
	var live bool
	if err := db.QueryRow(ctx, `SELECT active AND deleted_at IS NULL FROM webhook_endpoints WHERE id = $1`, id).Scan(&live); err != nil {
		return false, fmt.Errorf("read webhook endpoint %d: %w", id, err)
	}
	return live, nil
}

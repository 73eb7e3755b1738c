package evidence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// The evidence table: one row per recorded piece of evidence, written by
// the add-evidence step in its transaction once the bytes are at their
// final key, and read by the API.

// Row is a recorded piece of evidence.
type Row struct {
	ID           string
	OrderID      int64
	UploaderID   int64
	UploaderRole ordem.Role
	// ObjectKey is where the bytes are in the object store; it is never
	// shown to users (they get a presigned link).
	ObjectKey   string
	FileName    string
	ContentType string
	Size        int64
	SHA256      string
	Description string
	CreatedAt   time.Time
}

// Record writes a piece of evidence.
func Record(ctx context.Context, db postgres.DBTX, r Row) error {
	_, err := db.Exec(ctx, `
		INSERT INTO evidence (id, order_id, uploader_id, uploader_role, object_key, original_name,
		    content_type, size_bytes, sha256, description, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, r.OrderID, r.UploaderID, string(r.UploaderRole), r.ObjectKey, r.FileName,
		r.ContentType, r.Size, r.SHA256, r.Description, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert evidence %s: %w", r.ID, err)
	}
	return nil
}

const rowColumns = `id::text, order_id, uploader_id, uploader_role, object_key, original_name, content_type,
	size_bytes, sha256, description, created_at`

func scanRow(r pgx.Row) (Row, error) {
	var e Row
	err := r.Scan(&e.ID, &e.OrderID, &e.UploaderID, &e.UploaderRole, &e.ObjectKey, &e.FileName, &e.ContentType,
		&e.Size, &e.SHA256, &e.Description, &e.CreatedAt)
	return e, err
}

// Find reads the evidence with id (its canonical spelling), of any
// order; found is false when there is none.
func Find(ctx context.Context, db postgres.DBTX, id string) (r Row, found bool, err error) {
	r, err = scanRow(db.QueryRow(ctx, `SELECT `+rowColumns+` FROM evidence WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Row{}, false, nil
	}
	if err != nil {
		return Row{}, false, fmt.Errorf("look up evidence %s: %w", id, err)
	}
	return r, true, nil
}

// OfOrder reads a piece of an order's evidence by its id as the API shows
// it; any other spelling of the id (urn:uuid:, braces, upper case, no
// hyphens), or another order's evidence, is not_found.
func OfOrder(ctx context.Context, db postgres.DBTX, orderID int64, id string) (Row, error) {
	eid, ok := ParseID(id)
	if !ok {
		return Row{}, ordem.Errorf(ordem.ENotFound, "no such evidence")
	}
	r, err := scanRow(db.QueryRow(ctx, `SELECT `+rowColumns+` FROM evidence WHERE order_id = $1 AND id = $2`,
		orderID, eid.String()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Row{}, ordem.Errorf(ordem.ENotFound, "no such evidence")
	}
	if err != nil {
		return Row{}, fmt.Errorf("read evidence %s of order %d: %w", id, orderID, err)
	}
	return r, nil
}

// List reads an order's evidence, oldest first.
func List(ctx context.Context, db postgres.DBTX, orderID int64) ([]Row, error) {
	return postgres.Collect(ctx, db, fmt.Sprintf("list evidence of order %d", orderID),
		func(r pgx.CollectableRow) (Row, error) { return scanRow(r) },
		`SELECT `+rowColumns+` FROM evidence WHERE order_id = $1 ORDER BY created_at, id`, orderID)
}

// Package notifications owns the notifications table: the users' in-app
// inboxes. The order activities write a step's notifications in the
// step's transaction; the API lists them and marks them read. Every
// function takes the caller's handle (postgres.DBTX).
package notifications

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
)

// Notice is one notification, the same for each of its recipients.
type Notice struct {
	UserIDs []int64
	OrderID int64
	Kind    string
	Title   string
	Body    string
	// Data is the JSON of what the notification is about.
	Data json.RawMessage
	At   time.Time
}

// Write writes n to each recipient's inbox, one row each.
func Write(ctx context.Context, db postgres.DBTX, n Notice) error {
	_, err := db.Exec(ctx, `
		INSERT INTO notifications (user_id, order_id, kind, title, body, data, created_at)
		SELECT u, $2, $3, $4, $5, $6, $7 FROM unnest($1::bigint[]) AS u`,
		n.UserIDs, n.OrderID, n.Kind, n.Title, n.Body, []byte(n.Data), n.At)
	if err != nil {
		return fmt.Errorf("write notification %s: %w", n.Kind, err)
	}
	return nil
}

// Row is a notification as its recipient reads it.
type Row struct {
	ID int64
	// OrderID is nil for a notification about no order.
	OrderID   *int64
	Kind      string
	Title     string
	Body      string
	Data      json.RawMessage
	ReadAt    *time.Time
	CreatedAt time.Time
}

// List reads a user's notifications with ids below before, newest first
// (by id: the order they were written in), at most limit; unread keeps
// only those not read yet.
func List(ctx context.Context, db postgres.DBTX, userID, before int64, unread bool, limit int) ([]Row, error) {
	// The page is a range of notifications_user_idx (user_id, id DESC);
	// the unread filter is spelled out so the planner may use
	// notifications_user_unread_idx.
	query := `SELECT id, order_id, kind, title, body, data, read_at, created_at FROM notifications
		WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`
	if unread {
		query = `SELECT id, order_id, kind, title, body, data, read_at, created_at FROM notifications
		WHERE user_id = $1 AND read_at IS NULL AND id < $2 ORDER BY id DESC LIMIT $3`
	}
	return postgres.Collect(ctx, db, "list notifications", pgx.RowToStructByPos[Row], query, userID, before, limit)
}

// UnreadCount counts a user's unread notifications
// (notifications_user_unread_idx).
func UnreadCount(ctx context.Context, db postgres.DBTX, userID int64) (int64, error) {
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).
		Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// MarkRead marks one of a user's notifications read at at (again is fine:
// the first read time stays); found is false when the user has no such
// notification.
func MarkRead(ctx context.Context, db postgres.DBTX, id, userID int64, at time.Time) (found bool, err error) {
	tag, err := db.Exec(ctx, `
		UPDATE notifications SET read_at = coalesce(read_at, $3) WHERE id = $1 AND user_id = $2`, id, userID, at)
	if err != nil {
		return false, fmt.Errorf("mark notification %d read: %w", id, err)
	}
	return tag.RowsAffected() > 0, nil
}

// MarkAllRead marks every unread notification of a user read at at.
func MarkAllRead(ctx context.Context, db postgres.DBTX, userID int64, at time.Time) error {
	if _, err := db.Exec(ctx, `
		UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`, userID, at); err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	return nil
}

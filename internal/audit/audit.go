// Package audit owns the audit_log table: every admin action, and the
// system events operators must be able to trace (deposits), written in
// the transaction of the change it records.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/postgres"
)

// Entry is one audit row. ActorID 0 is no user (the system, a gateway).
type Entry struct {
	ActorID    int64
	ActorRole  string
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	// Data is marshalled to the row's JSON data (nil: {}).
	Data any
	// Before and After are the object as it was and as the action left
	// it, for actions that replace something (nil: not applicable, stored
	// as SQL NULL).
	Before, After any
	// RequestID is the X-Request-Id of the API request that made the
	// change ("" for changes made outside a request: the workflow's
	// activities, the system).
	RequestID string
	// At is the time of the change (zero: the transaction's now()).
	At time.Time
}

// Record writes e in db (the caller's transaction).
func Record(ctx context.Context, db postgres.DBTX, e Entry) error {
	payload := []byte("{}")
	if e.Data != nil {
		var err error
		if payload, err = json.Marshal(e.Data); err != nil {
			return fmt.Errorf("encode audit data of %s: %w", e.Action, err)
		}
	}
	before, err := optionalJSON(e.Before)
	if err != nil {
		return fmt.Errorf("encode audit before of %s: %w", e.Action, err)
	}
	after, err := optionalJSON(e.After)
	if err != nil {
		return fmt.Errorf("encode audit after of %s: %w", e.Action, err)
	}
	var actor *int64
	if e.ActorID != 0 {
		actor = &e.ActorID
	}
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO audit_log (actor_id, actor_role, action, target_type, target_id, reason, data, before_data, after_data,
		                       request_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()))`,
		actor, e.ActorRole, e.Action, e.TargetType, e.TargetID, e.Reason, payload, before, after, e.RequestID, at); err != nil {
		return fmt.Errorf("write audit log %s: %w", e.Action, err)
	}
	// The operators' audit file (LOG_DIR) gets the line once the row is
	// committed, so it never shows an action a rollback undid.
	postgres.AfterCommit(db, func() {
		slog.Default().LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "audit", logging.ConcernAttr(logging.Audit),
			slog.String("action", e.Action), slog.Int64("actor_id", e.ActorID), slog.String("actor_role", e.ActorRole),
			slog.String("target", e.TargetType+":"+e.TargetID), slog.String("reason", e.Reason), slog.Any("data", json.RawMessage(payload)))
	})
	return nil
}

// optionalJSON marshals v, or returns nil (SQL NULL) for a nil v.
func optionalJSON(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// Row is an audit row as read back.
type Row struct {
	ID         int64
	ActorID    *int64
	ActorRole  string
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	Data       json.RawMessage
	// Before and After are nil where the action records none.
	Before, After json.RawMessage
	RequestID     string
	CreatedAt     time.Time
}

// Filter selects audit rows; zero fields do not filter. Rows come newest
// first, by (created_at, id) descending.
type Filter struct {
	ActorID    int64
	Action     string
	TargetType string
	TargetID   string
	// From and To bound created_at: From <= created_at < To.
	From, To *time.Time
	// AfterAt and AfterID continue a listing: only rows strictly after
	// (AfterAt, AfterID) in the descending order.
	AfterAt *time.Time
	AfterID int64
	// Limit caps the rows returned (it must be positive).
	Limit int
}

// List reads the rows f selects.
func List(ctx context.Context, db postgres.DBTX, f Filter) ([]Row, error) {
	rows, err := db.Query(ctx, `
		SELECT id, actor_id, actor_role, action, target_type, target_id, reason, data, before_data, after_data,
		       request_id, created_at
		FROM audit_log
		WHERE ($1::bigint = 0 OR actor_id = $1)
		  AND ($2 = '' OR action = $2)
		  AND ($3 = '' OR target_type = $3)
		  AND ($4 = '' OR target_id = $4)
		  AND ($5::timestamptz IS NULL OR created_at >= $5)
		  AND ($6::timestamptz IS NULL OR created_at < $6)
		  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8))
		ORDER BY created_at DESC, id DESC
		LIMIT $9`,
		f.ActorID, f.Action, f.TargetType, f.TargetID, f.From, f.To, f.AfterAt, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		if err := rows.Scan(&r.ID, &r.ActorID, &r.ActorRole, &r.Action, &r.TargetType, &r.TargetID, &r.Reason, &r.Data,
			&r.Before, &r.After, &r.RequestID, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("read audit row: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}

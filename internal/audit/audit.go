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
	var actor *int64
	if e.ActorID != 0 {
		actor = &e.ActorID
	}
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO audit_log (actor_id, actor_role, action, target_type, target_id, reason, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()))`,
		actor, e.ActorRole, e.Action, e.TargetType, e.TargetID, e.Reason, payload, at); err != nil {
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

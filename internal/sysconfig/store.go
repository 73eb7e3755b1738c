package sysconfig

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
)

// The stored values and their change history (system_config and
// system_config_changes), as the admins read and change them.

// Stored is a key's stored value and its last change (By is nil for a
// value nobody changed: a seeded default).
type Stored struct {
	Value string
	At    time.Time
	By    *int64
}

// ReadStored reads every stored key's value, by key name.
func ReadStored(ctx context.Context, db postgres.DBTX) (map[string]Stored, error) {
	rows, err := db.Query(ctx, `SELECT key, value, updated_at, updated_by FROM system_config`)
	if err != nil {
		return nil, fmt.Errorf("read system config: %w", err)
	}
	got := map[string]Stored{}
	var (
		key string
		st  Stored
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &st.Value, &st.At, &st.By}, func() error {
		got[key] = st
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read system config: %w", err)
	}
	return got, nil
}

// Change is one recorded change of a key.
type Change struct {
	ID        int64
	Key       string
	OldValue  *string
	NewValue  string
	ChangedBy *int64
	Reason    string
	ChangedAt time.Time
}

// Set changes k's value to value (already validated) in tx, with its
// change history row, and returns the value it replaced and the id of the
// history row. The key's row is created with its default if it was never
// stored, and locked, so concurrent changes of one key line up and each
// history row names the value it replaced.
func Set(ctx context.Context, tx pgx.Tx, k Key, value string, by int64, reason string, at time.Time) (old string, changeID int64, err error) {
	if _, err := tx.Exec(ctx, `
		INSERT INTO system_config (key, value, description, category) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO NOTHING`, k.Name, k.Default, k.Description, k.Category); err != nil {
		return "", 0, fmt.Errorf("create config key %s: %w", k.Name, err)
	}
	if err := tx.QueryRow(ctx, `SELECT value FROM system_config WHERE key = $1 FOR UPDATE`, k.Name).Scan(&old); err != nil {
		return "", 0, fmt.Errorf("lock config key %s: %w", k.Name, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE system_config SET value = $2, updated_at = $3, updated_by = $4 WHERE key = $1`,
		k.Name, value, at, by); err != nil {
		return "", 0, fmt.Errorf("update config key %s: %w", k.Name, err)
	}
	if err := tx.QueryRow(ctx, `
		INSERT INTO system_config_changes (key, old_value, new_value, changed_by, reason, changed_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, k.Name, old, value, by, reason, at).Scan(&changeID); err != nil {
		return "", 0, fmt.Errorf("record change of config key %s: %w", k.Name, err)
	}
	return old, changeID, nil
}

// Changes reads a key's change history, newest first, at most limit.
func Changes(ctx context.Context, db postgres.DBTX, key string, limit int) ([]Change, error) {
	return postgres.Collect(ctx, db, "read changes of config key "+key, pgx.RowToStructByPos[Change], `
		SELECT id, key, old_value, new_value, changed_by, reason, changed_at FROM system_config_changes
		WHERE key = $1 ORDER BY changed_at DESC, id DESC LIMIT $2`, key, limit)
}

package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
)

// NewReset is a password reset an admin issues.
type NewReset struct {
	UserID int64
	// TokenHash is auth.HashToken of the one-time token; the token itself
	// goes to the user (e-mail) and the admin (the answer), not here.
	TokenHash []byte
	CreatedBy int64
	Reason    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// IssueReset stores a reset and supersedes the user's earlier unused
// ones, so only the newest token works. The caller holds the user's row
// lock (LockLive), so two resets at once supersede in turn.
func IssueReset(ctx context.Context, tx pgx.Tx, n NewReset) (int64, error) {
	if _, err := tx.Exec(ctx, `
		UPDATE password_resets SET superseded_at = $2 WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL`,
		n.UserID, n.CreatedAt); err != nil {
		return 0, fmt.Errorf("supersede password resets: %w", err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO password_resets (user_id, token_hash, created_by, reason, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, n.UserID, n.TokenHash, n.CreatedBy, n.Reason, n.CreatedAt, n.ExpiresAt).Scan(&id); err != nil {
		return 0, fmt.Errorf("create password reset: %w", err)
	}
	return id, nil
}

// Reset is a stored password reset with what its consumer needs of the
// user it is for.
type Reset struct {
	ID        int64
	UserID    int64
	Email     string
	Role      string
	ExpiresAt time.Time
	// UsedAt, SupersededAt and the user's DeletedAt each make the token
	// unusable.
	UsedAt, SupersededAt, UserDeletedAt *time.Time
}

// Usable reports whether the reset may still be consumed, expiry aside
// (an expired token gets its own answer).
func (r Reset) Usable() bool {
	return r.UsedAt == nil && r.SupersededAt == nil && r.UserDeletedAt == nil
}

// FindReset returns the reset whose token hashes to tokenHash; found is
// false when there is none.
func FindReset(ctx context.Context, db postgres.DBTX, tokenHash []byte) (r Reset, found bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT r.id, r.user_id, u.email, u.role, r.expires_at, r.used_at, r.superseded_at, u.deleted_at
		FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.token_hash = $1`, tokenHash).
		Scan(&r.ID, &r.UserID, &r.Email, &r.Role, &r.ExpiresAt, &r.UsedAt, &r.SupersededAt, &r.UserDeletedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reset{}, false, nil
	}
	if err != nil {
		return Reset{}, false, fmt.Errorf("find password reset: %w", err)
	}
	return r, true, nil
}

// UseReset marks reset id used at at if it is still usable then, and
// reports whether it was: of requests racing with one token, only one
// flips used_at.
func UseReset(ctx context.Context, db postgres.DBTX, id int64, at time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE password_resets SET used_at = $2
		WHERE id = $1 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2`, id, at)
	if err != nil {
		return false, fmt.Errorf("use password reset: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

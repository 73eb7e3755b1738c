package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
)

// Session is an api_sessions row. Only the token's hash is stored: the
// token itself is known to its holder alone.
type Session struct {
	ID         int64
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	IP         string
}

// NewSession is what a login stores.
type NewSession struct {
	TokenHash []byte
	UserID    int64
	ExpiresAt time.Time
	UserAgent string
	IP        string
}

// CreateSession stores a session opened by a login.
func CreateSession(ctx context.Context, db postgres.DBTX, n NewSession) error {
	if _, err := db.Exec(ctx, `
		INSERT INTO api_sessions (token_hash, user_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5)`,
		n.TokenHash, n.UserID, n.ExpiresAt, n.UserAgent, n.IP); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// FindSession returns the live session (not revoked, not expired at now)
// whose token hashes to tokenHash, with its live user; found is false
// when there is none, which a bearer token's check answers with 401.
func FindSession(ctx context.Context, db postgres.DBTX, tokenHash []byte, now time.Time) (s Session, u User, found bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT u.id, u.name, u.email, u.phone, u.role, u.created_at, u.locale, u.time_zone, s.id, s.last_seen_at
		FROM api_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.deleted_at IS NULL`,
		tokenHash, now).Scan(&u.ID, &u.Name, &u.Email, &u.Phone, &u.Role, &u.CreatedAt,
		&u.Locale, &u.TimeZone, &s.ID, &s.LastSeenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, User{}, false, nil
	}
	if err != nil {
		return Session{}, User{}, false, fmt.Errorf("find session: %w", err)
	}
	s.UserID = u.ID
	return s, u, true, nil
}

// TouchSession moves the last use of session id forward to now (never
// back: a slower request racing a newer one does not undo it).
func TouchSession(ctx context.Context, db postgres.DBTX, id int64, now time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE api_sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2`, id, now); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// ListSessions returns at most limit live sessions of user uid at now,
// newest first, after the keyset (after, afterID) when after is set.
func ListSessions(ctx context.Context, db postgres.DBTX, uid int64, now time.Time, after *time.Time, afterID int64, limit int) ([]Session, error) {
	rows, err := db.Query(ctx, `
		SELECT id, created_at, last_seen_at, expires_at, user_agent, ip FROM api_sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $5`, uid, now, after, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		s := Session{UserID: uid}
		err := r.Scan(&s.ID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.UserAgent, &s.IP)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return list, nil
}

// RevokeToken ends the session of a token (a logout); an unknown or
// already revoked token is no error.
func RevokeToken(ctx context.Context, db postgres.DBTX, tokenHash []byte, at time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE api_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`,
		tokenHash, at); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeSession ends session id of user uid if it is live at at, and
// reports whether it was: another user's session is not theirs to end.
func RevokeSession(ctx context.Context, db postgres.DBTX, id, uid int64, at time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE api_sessions SET revoked_at = $3
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3`, id, uid, at)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// RevokeOtherSessions ends every session of user uid still live at at
// but keep (the caller's own), and counts them.
func RevokeOtherSessions(ctx context.Context, db postgres.DBTX, uid, keep int64, at time.Time) (int64, error) {
	return revokeSessions(ctx, db, uid, keep, at, true)
}

// EndSessions ends every session of user uid not yet revoked but keep (0:
// none), expired ones included, and counts them. It is what a credential
// change does (new password, reset, deletion): whatever session was open
// with the old credential is closed for good.
func EndSessions(ctx context.Context, db postgres.DBTX, uid, keep int64, at time.Time) (int64, error) {
	return revokeSessions(ctx, db, uid, keep, at, false)
}

// revokeSessions revokes the sessions of uid but keep; liveOnly leaves
// the expired ones out (and out of the count).
func revokeSessions(ctx context.Context, db postgres.DBTX, uid, keep int64, at time.Time, liveOnly bool) (int64, error) {
	// Session ids start at 1, so keep = 0 keeps none.
	tag, err := db.Exec(ctx, `
		UPDATE api_sessions SET revoked_at = $3
		WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL AND (NOT $4 OR expires_at > $3)`, uid, keep, at, liveOnly)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %d: %w", uid, err)
	}
	return tag.RowsAffected(), nil
}

// Package accounts owns the tables of who may log in: users, their API
// sessions (api_sessions), admin-issued password resets (password_resets)
// and the per-account login throttle (login_throttle). Every function
// takes the caller's handle (postgres.DBTX, or a pgx.Tx where rows must be
// locked), so the API handler decides which transaction a change belongs
// to. Pure credential logic (hashing, tokens, password rules) stays in
// internal/auth; this package only stores what it produces.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// User is a users row without its password hash.
type User struct {
	ID        int64
	Name      string
	Email     string
	Phone     string
	Role      ordem.Role
	Locale    string
	TimeZone  string
	CreatedAt time.Time
	// DeletedAt is set once an admin soft-deleted the user.
	DeletedAt *time.Time
}

// NewUser is what registering a user stores.
type NewUser struct {
	Name, Email, Phone string
	// PasswordHash is auth.HashPassword's encoding, never the password.
	PasswordHash     string
	Role             ordem.Role
	Locale, TimeZone string
}

// ErrEmailTaken is the refusal of a registration whose e-mail a user
// already has (the unique index on users.email).
var ErrEmailTaken = &ordem.Error{Code: ordem.EEmailTaken, Message: "this e-mail is already registered",
	Fields: map[string]string{"email": "is already registered"}}

// Create inserts a user and returns it as stored (id, created_at).
func Create(ctx context.Context, db postgres.DBTX, n NewUser) (User, error) {
	u := User{}
	err := db.QueryRow(ctx, `
		INSERT INTO users (name, email, phone, password_hash, role, locale, time_zone) VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING id, name, email, phone, role, created_at, locale, time_zone`,
		n.Name, n.Email, n.Phone, n.PasswordHash, string(n.Role), n.Locale, n.TimeZone).Scan(&u.ID, &u.Name, &u.Email, &u.Phone,
		&u.Role, &u.CreatedAt, &u.Locale, &u.TimeZone)
	if postgres.IsUniqueViolation(err) {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// FindLogin returns the live user whose e-mail is email (lower case) with
// their password hash; found is false when no live user has it, which is
// no error: a login must answer the same either way.
func FindLogin(ctx context.Context, db postgres.DBTX, email string) (u User, hash string, found bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT id, name, email, phone, role, created_at, password_hash, locale, time_zone FROM users
		WHERE lower(email) = $1 AND deleted_at IS NULL`, email).Scan(&u.ID, &u.Name, &u.Email, &u.Phone, &u.Role, &u.CreatedAt, &hash,
		&u.Locale, &u.TimeZone)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, "", false, nil
	}
	if err != nil {
		return User{}, "", false, fmt.Errorf("find user by e-mail: %w", err)
	}
	return u, hash, true, nil
}

// LiveID is the id of the live user whose e-mail is email (lower case),
// or 0 when none has it.
func LiveID(ctx context.Context, db postgres.DBTX, email string) (int64, error) {
	var uid int64
	err := db.QueryRow(ctx, `SELECT id FROM users WHERE lower(email) = $1 AND deleted_at IS NULL`, email).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find user by e-mail: %w", err)
	}
	return uid, nil
}

// IsLive reports whether user uid exists and is not deleted.
func IsLive(ctx context.Context, db postgres.DBTX, uid int64) (bool, error) {
	var live bool
	err := db.QueryRow(ctx, `SELECT true FROM users WHERE id = $1 AND deleted_at IS NULL`, uid).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up user %d: %w", uid, err)
	}
	return true, nil
}

// LockLive locks the row of user uid in tx when the user is live, and
// reports whether it is. Changes that must not interleave for one user
// (two password resets, a deletion and an order creation, which takes a
// key-share lock on its parties) serialise on this lock.
func LockLive(ctx context.Context, tx pgx.Tx, uid int64) (bool, error) {
	var live bool
	err := tx.QueryRow(ctx, `SELECT true FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, uid).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock user %d: %w", uid, err)
	}
	return true, nil
}

// List returns at most limit users, newest first, of the given role (""
// for all, deleted ones included), after the keyset (after, afterID)
// when after is set.
func List(ctx context.Context, db postgres.DBTX, role string, after *time.Time, afterID int64, limit int) ([]User, error) {
	rows, err := db.Query(ctx, `
		SELECT id, name, email, phone, role, created_at, deleted_at, locale, time_zone FROM users
		WHERE ($1 = '' OR role = $1) AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, role, after, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var u User
		err := r.Scan(&u.ID, &u.Name, &u.Email, &u.Phone, &u.Role, &u.CreatedAt, &u.DeletedAt, &u.Locale, &u.TimeZone)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return list, nil
}

// PasswordHash returns the stored password hash of user uid.
func PasswordHash(ctx context.Context, db postgres.DBTX, uid int64) (string, error) {
	var hash string
	if err := db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, uid).Scan(&hash); err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return hash, nil
}

// SetPassword replaces the password hash of user uid if the user is live,
// and reports whether it was.
func SetPassword(ctx context.Context, db postgres.DBTX, uid int64, hash string, at time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL`, uid, hash, at)
	if err != nil {
		return false, fmt.Errorf("set password: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// SetPreferences changes the locale and time zone of live user uid (a nil
// one stays as it is) and returns both as they now are.
func SetPreferences(ctx context.Context, db postgres.DBTX, uid int64, locale, timeZone *string, at time.Time) (string, string, error) {
	var l, z string
	err := db.QueryRow(ctx, `
		UPDATE users SET locale = coalesce($2, locale), time_zone = coalesce($3, time_zone), updated_at = $4
		WHERE id = $1 AND deleted_at IS NULL RETURNING locale, time_zone`,
		uid, locale, timeZone, at).Scan(&l, &z)
	if err != nil {
		return "", "", fmt.Errorf("update preferences of user %d: %w", uid, err)
	}
	return l, z, nil
}

// SoftDelete marks user uid deleted at at: they can no longer log in, and
// their history (orders, ledger, audit) keeps pointing at the row. Their
// sessions are ended separately (EndSessions), in the same transaction.
func SoftDelete(ctx context.Context, db postgres.DBTX, uid int64, at time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1`, uid, at); err != nil {
		return fmt.Errorf("delete user %d: %w", uid, err)
	}
	return nil
}

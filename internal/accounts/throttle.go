package accounts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/postgres"
)

// Throttle is the per-account budget of failed logins (and failed
// current-password checks of POST /v1/me/password), kept in Postgres
// (login_throttle) so every API process shares it. It is counted per
// e-mail tried, whether an account has it or not, so the answers do not
// tell which accounts exist. It adds to the API's per-IP rate limits,
// which a guesser spreading over many addresses escapes.
//
// Failures count within Window from the first one. After SlowAfter of them
// each further attempt must wait 2^(failures-SlowAfter) seconds (at most
// MaxDelay) after the previous one, or is refused with 429 rate_limited and
// Retry-After; at LockAfter failures the account is locked for LockFor:
// every login, right password or not, is refused with 429 account_locked
// until then. A success clears the count. The lock and its end are written
// to audit_log (account_locked, account_unlocked): the end when the next
// login attempt finds the period over, or when a password reset replaces
// the password. Zero (or negative) fields take the defaults.
type Throttle struct {
	Window    time.Duration
	SlowAfter int
	MaxDelay  time.Duration
	LockAfter int
	LockFor   time.Duration
}

// Default login throttle.
const (
	DefaultWindow    = 15 * time.Minute
	DefaultSlowAfter = 3
	DefaultMaxDelay  = time.Minute
	DefaultLockAfter = 10
	DefaultLockFor   = 15 * time.Minute
)

func (l Throttle) withDefaults() Throttle {
	// max(…, 0) makes a negative field zero, which cmp.Or replaces.
	return Throttle{
		Window:    cmp.Or(max(l.Window, 0), DefaultWindow),
		SlowAfter: cmp.Or(max(l.SlowAfter, 0), DefaultSlowAfter),
		MaxDelay:  cmp.Or(max(l.MaxDelay, 0), DefaultMaxDelay),
		LockAfter: cmp.Or(max(l.LockAfter, 0), DefaultLockAfter),
		LockFor:   cmp.Or(max(l.LockFor, 0), DefaultLockFor),
	}
}

// delay is how long an attempt must wait after the previous one once
// failures have been counted.
func (l Throttle) delay(failures int) time.Duration {
	if failures < l.SlowAfter {
		return 0
	}
	n := failures - l.SlowAfter
	if n > 20 {
		return l.MaxDelay
	}
	return min(time.Duration(1<<n)*time.Second, l.MaxDelay)
}

// retryAfter rounds a wait up to whole seconds, at least one.
func retryAfter(d time.Duration) time.Duration {
	return max(d.Round(time.Second), time.Second)
}

// Admit admits a login attempt for email at now or refuses it (locked,
// too soon after the last failure), in tx. An admitted attempt is counted
// as a failure at once, so attempts racing in parallel cannot all pass
// the gate on the same count; Succeeded clears it.
func (l Throttle) Admit(ctx context.Context, tx pgx.Tx, email string, now time.Time) error {
	l = l.withDefaults()
	if _, err := tx.Exec(ctx, `
		INSERT INTO login_throttle (email, failures, window_start, last_attempt_at) VALUES ($1, 0, $2, $2)
		ON CONFLICT (email) DO NOTHING`, email, now); err != nil {
		return fmt.Errorf("open login throttle: %w", err)
	}
	var (
		failures    int
		windowStart time.Time
		lastAttempt time.Time
		lockedUntil *time.Time
	)
	if err := tx.QueryRow(ctx, `
		SELECT failures, window_start, last_attempt_at, locked_until FROM login_throttle WHERE email = $1 FOR UPDATE`,
		email).Scan(&failures, &windowStart, &lastAttempt, &lockedUntil); err != nil {
		return fmt.Errorf("read login throttle: %w", err)
	}
	if lockedUntil != nil {
		if now.Before(*lockedUntil) {
			return lockedError(lockedUntil.Sub(now))
		}
		if err := Unlock(ctx, tx, email, "the lock period is over", now); err != nil {
			return err
		}
		failures, windowStart = 0, now
	}
	if now.Sub(windowStart) > l.Window {
		failures, windowStart = 0, now
	}
	if wait := lastAttempt.Add(l.delay(failures)).Sub(now); failures >= l.SlowAfter && wait > 0 {
		return &ordem.Error{Code: ordem.ERateLimited, RetryAfter: retryAfter(wait),
			Message: fmt.Sprintf("too many failed logins for this account; retry in %d seconds", int(retryAfter(wait)/time.Second))}
	}
	// An upsert: unlocking deleted the row.
	if _, err := tx.Exec(ctx, `
		INSERT INTO login_throttle (email, failures, window_start, last_attempt_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (email) DO UPDATE SET failures = $2, window_start = $3, last_attempt_at = $4, locked_until = NULL`,
		email, failures+1, windowStart, now); err != nil {
		return fmt.Errorf("count login attempt: %w", err)
	}
	return nil
}

func lockedError(left time.Duration) *ordem.Error {
	return &ordem.Error{Code: ordem.EAccountLocked, RetryAfter: retryAfter(left),
		Message: fmt.Sprintf("this account is locked after too many failed logins; retry in %d minutes, or ask an admin for a password reset",
			int((left+time.Minute-1)/time.Minute))}
}

// Failed settles an admitted attempt as failed (Admit has counted it) in
// tx and locks the account once LockAfter failures are reached, recording
// the lock (ip is the guesser's, for the audit row). It reports whether
// this failure locked the account; Locked is the refusal to answer then.
func (l Throttle) Failed(ctx context.Context, tx pgx.Tx, email, ip string, now time.Time) (bool, error) {
	l = l.withDefaults()
	// Rows of e-mails tried and abandoned (most of them no account's)
	// would pile up: each failure prunes a few idle past the window.
	if _, err := tx.Exec(ctx, `
		DELETE FROM login_throttle WHERE email IN (
			SELECT email FROM login_throttle WHERE locked_until IS NULL AND last_attempt_at < $1 LIMIT 20)`,
		now.Add(-l.Window)); err != nil {
		return false, fmt.Errorf("prune login throttle: %w", err)
	}
	var failures int
	err := tx.QueryRow(ctx, `
		UPDATE login_throttle SET locked_until = $3
		WHERE email = $1 AND failures >= $2 AND locked_until IS NULL
		RETURNING failures`, email, l.LockAfter, now.Add(l.LockFor)).Scan(&failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock account: %w", err)
	}
	uid, err := LiveID(ctx, tx, email)
	if err != nil || uid == 0 {
		return true, err
	}
	return true, audit.Record(ctx, tx, audit.Entry{Action: "account_locked", TargetType: "user", TargetID: strconv.FormatInt(uid, 10),
		Reason: fmt.Sprintf("%d failed logins within %s", failures, l.Window),
		Data:   map[string]any{"failures": failures, "locked_until": now.Add(l.LockFor).UTC(), "ip": ip}, At: now})
}

// Locked is the refusal of the attempt that locked the account: locked
// for the whole LockFor.
func (l Throttle) Locked() error {
	return lockedError(l.withDefaults().LockFor)
}

// Succeeded clears the count of email after a right password (a lock
// stays: only its end or a reset lifts it).
func Succeeded(ctx context.Context, db postgres.DBTX, email string) error {
	if _, err := db.Exec(ctx, `DELETE FROM login_throttle WHERE email = $1 AND locked_until IS NULL`, email); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}

// Unlock clears the count of email (in tx) and ends its lock, recording
// the end (with reason) when the address is a live account's and was
// locked.
func Unlock(ctx context.Context, tx pgx.Tx, email, reason string, at time.Time) error {
	var lockedUntil *time.Time
	err := tx.QueryRow(ctx, `SELECT locked_until FROM login_throttle WHERE email = $1 FOR UPDATE`, email).Scan(&lockedUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read login throttle: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE email = $1`, email); err != nil {
		return fmt.Errorf("unlock account: %w", err)
	}
	if lockedUntil == nil {
		return nil
	}
	uid, err := LiveID(ctx, tx, email)
	if err != nil || uid == 0 {
		return err
	}
	return audit.Record(ctx, tx, audit.Entry{Action: "account_unlocked", TargetType: "user", TargetID: strconv.FormatInt(uid, 10),
		Reason: reason, Data: map[string]any{"locked_until": lockedUntil.UTC()}, At: at})
}

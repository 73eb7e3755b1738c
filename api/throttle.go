package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/postgres"
)

// LoginThrottle is the per-account budget of failed logins (and failed
// current-password checks of POST /v1/me/password), kept in Postgres
// (login_throttle) so every API process shares it. It is counted per
// e-mail tried, whether an account has it or not, so the answers do not
// tell which accounts exist. It adds to the per-IP limits of ratelimit.go,
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
// the password.
type LoginThrottle struct {
	Window    time.Duration
	SlowAfter int
	MaxDelay  time.Duration
	LockAfter int
	LockFor   time.Duration
}

// Default login throttle.
const (
	DefaultLoginWindow    = 15 * time.Minute
	DefaultLoginSlowAfter = 3
	DefaultLoginMaxDelay  = time.Minute
	DefaultLoginLockAfter = 10
	DefaultLoginLockFor   = 15 * time.Minute
)

func (l LoginThrottle) withDefaults() LoginThrottle {
	if l.Window <= 0 {
		l.Window = DefaultLoginWindow
	}
	if l.SlowAfter <= 0 {
		l.SlowAfter = DefaultLoginSlowAfter
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = DefaultLoginMaxDelay
	}
	if l.LockAfter <= 0 {
		l.LockAfter = DefaultLoginLockAfter
	}
	if l.LockFor <= 0 {
		l.LockFor = DefaultLoginLockFor
	}
	return l
}

// delay is how long an attempt must wait after the previous one once
// failures have been counted.
func (l LoginThrottle) delay(failures int) time.Duration {
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

// throttleGate admits a login attempt for email or refuses it (locked,
// too soon after the last failure). An admitted attempt is counted as a
// failure at once, so attempts racing in parallel cannot all pass the
// gate on the same count; throttleSucceeded clears it.
func (s *Server) throttleGate(ctx context.Context, email string) error {
	l := s.LoginThrottle.withDefaults()
	now := s.now()
	return postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
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
			if err := unlockAccount(ctx, tx, email, "the lock period is over", now); err != nil {
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
	})
}

func lockedError(left time.Duration) *ordem.Error {
	return &ordem.Error{Code: ordem.EAccountLocked, RetryAfter: retryAfter(left),
		Message: fmt.Sprintf("this account is locked after too many failed logins; retry in %d minutes, or ask an admin for a password reset",
			int((left+time.Minute-1)/time.Minute))}
}

// throttleFailed settles an admitted attempt as failed (throttleGate has
// counted it) and locks the account once LockAfter failures are reached,
// answering account_locked then.
func (s *Server) throttleFailed(ctx context.Context, email, ip string) error {
	l := s.LoginThrottle.withDefaults()
	now := s.now()
	var locked bool
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// Rows of e-mails tried and abandoned (most of them no account's)
		// would pile up: each failure prunes a few idle past the window.
		if _, err := tx.Exec(ctx, `
			DELETE FROM login_throttle WHERE email IN (
				SELECT email FROM login_throttle WHERE locked_until IS NULL AND last_attempt_at < $1 LIMIT 20)`,
			now.Add(-l.Window)); err != nil {
			return fmt.Errorf("prune login throttle: %w", err)
		}
		var failures int
		err := tx.QueryRow(ctx, `
			UPDATE login_throttle SET locked_until = $3
			WHERE email = $1 AND failures >= $2 AND locked_until IS NULL
			RETURNING failures`, email, l.LockAfter, now.Add(l.LockFor)).Scan(&failures)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock account: %w", err)
		}
		locked = true
		uid, err := liveUserID(ctx, tx, email)
		if err != nil || uid == 0 {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{Action: "account_locked", TargetType: "user", TargetID: id(uid),
			Reason: fmt.Sprintf("%d failed logins within %s", failures, l.Window),
			Data:   map[string]any{"failures": failures, "locked_until": now.Add(l.LockFor).UTC(), "ip": ip}, At: now})
	})
	if err != nil {
		return err
	}
	if locked {
		return lockedError(l.LockFor)
	}
	return nil
}

// throttleSucceeded clears the count of email after a right password.
func (s *Server) throttleSucceeded(ctx context.Context, email string) error {
	if _, err := s.Pool.Exec(ctx, `DELETE FROM login_throttle WHERE email = $1 AND locked_until IS NULL`, email); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}

// unlockAccount clears the count of email (in tx) and ends its lock,
// recording the end when the address is a live account's and was locked.
func unlockAccount(ctx context.Context, tx pgx.Tx, email, reason string, at time.Time) error {
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
	uid, err := liveUserID(ctx, tx, email)
	if err != nil || uid == 0 {
		return err
	}
	return audit.Record(ctx, tx, audit.Entry{Action: "account_unlocked", TargetType: "user", TargetID: id(uid), Reason: reason,
		Data: map[string]any{"locked_until": lockedUntil.UTC()}, At: at})
}

// liveUserID is the id of the live account with email (0: none).
func liveUserID(ctx context.Context, db postgres.DBTX, email string) (int64, error) {
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

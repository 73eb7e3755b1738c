package api

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/postgres"
)

// LoginThrottle is the per-account budget of failed logins and failed
// current-password checks; accounts.Throttle documents it. It adds to the
// per-IP limits of ratelimit.go, which a guesser spreading over many
// addresses escapes.
type LoginThrottle = accounts.Throttle

// throttleGate admits a login attempt for email or refuses it (locked,
// too soon after the last failure); throttleSucceeded or throttleFailed
// settles an admitted one.
func (s *Server) throttleGate(ctx context.Context, email string) error {
	now := s.now()
	return postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		return s.LoginThrottle.Admit(ctx, tx, email, now)
	})
}

// throttleFailed settles an admitted attempt as failed, answering
// account_locked when this failure locked the account. The lock is
// committed before the refusal is returned, so it holds.
func (s *Server) throttleFailed(ctx context.Context, email, ip string) error {
	now := s.now()
	var locked bool
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) (err error) {
		locked, err = s.LoginThrottle.Failed(ctx, tx, email, ip, now)
		return err
	})
	if err != nil {
		return err
	}
	if locked {
		return s.LoginThrottle.Locked()
	}
	return nil
}

// throttleSucceeded clears the count of email after a right password.
func (s *Server) throttleSucceeded(ctx context.Context, email string) error {
	return accounts.Succeeded(ctx, s.Pool, email)
}

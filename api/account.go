package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/auth"
	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/postgres"
)

// DefaultPasswordResetLifetime is how long an admin-issued reset token
// stays valid.
const DefaultPasswordResetLifetime = time.Hour

// lastSeenResolution bounds the writes of last_seen_at: at most one a
// minute per session, not one per request.
const lastSeenResolution = time.Minute

// mountAccount adds the password and session routes (issue 16): the
// caller's own under /v1/me, the admin's reset under /v1/admin.
func (s *Server) mountAccount(r, admin fiber.Router) {
	r.Post("/me/password", s.authenticate, s.changePassword)
	r.Get("/me/sessions", s.authenticate, s.listSessions)
	r.Post("/me/sessions/revoke-others", s.authenticate, s.revokeOtherSessions)
	r.Delete("/me/sessions/:id", s.authenticate, s.revokeSession)
	r.Post("/auth/password-reset", s.consumePasswordReset)
	admin.Post("/users/:id/password-reset", s.issuePasswordReset)
}

// touchSession records that a session was used, at most once a minute.
func (s *Server) touchSession(c *fiber.Ctx, sessionID int64, lastSeen, now time.Time) error {
	if now.Sub(lastSeen) < lastSeenResolution {
		return nil
	}
	if _, err := s.Pool.Exec(c.UserContext(), `UPDATE api_sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2`,
		sessionID, now); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// passwordRule moves a password rule's refusal onto the request's field.
func passwordRule(e *ordem.Error, field string) *ordem.Error {
	if e == nil {
		return nil
	}
	return &ordem.Error{Code: e.Code, Message: e.Message, Fields: map[string]string{field: e.Fields["password"]}}
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// PasswordChanged is the answer to POST /v1/me/password.
type PasswordChanged struct {
	// RevokedSessions counts the caller's other sessions ended.
	RevokedSessions int64 `json:"revoked_sessions"`
}

// changePassword replaces the caller's password after checking the
// current one, and ends every other session of theirs: whoever else held
// one (a stolen token) is out. The current password's failures count in
// the login throttle, so a stolen session cannot guess it faster than a
// login could.
func (s *Server) changePassword(c *fiber.Ctx) error {
	var req changePasswordRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := caller(c)
	email := strings.ToLower(p.User.Email)
	if req.CurrentPassword == "" || len(req.CurrentPassword) > auth.MaxPasswordLen {
		return (fieldErrors{"current_password": "is required"}).err()
	}
	if err := passwordRule(auth.CheckPasswordRules(req.NewPassword, email), "new_password"); err != nil {
		return err
	}
	if req.NewPassword == req.CurrentPassword {
		return (fieldErrors{"new_password": "must differ from the current password"}).err()
	}
	ctx := c.UserContext()
	if err := s.throttleGate(ctx, email); err != nil {
		return err
	}
	var hash string
	if err := s.Pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, p.ID).Scan(&hash); err != nil {
		return fmt.Errorf("read password: %w", err)
	}
	ok, err := auth.CheckPassword(req.CurrentPassword, hash)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.throttleFailed(ctx, email, c.IP()); err != nil {
			return err
		}
		return &ordem.Error{Code: ordem.EWrongPassword, Message: "the current password is wrong",
			Fields: map[string]string{"current_password": "is wrong"}}
	}
	if err := s.throttleSucceeded(ctx, email); err != nil {
		return err
	}
	newHash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	now := s.now()
	var out PasswordChanged
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`, p.ID, newHash, now); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE api_sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, p.ID, p.SessionID, now)
		if err != nil {
			return fmt.Errorf("revoke other sessions: %w", err)
		}
		out.RevokedSessions = tag.RowsAffected()
		if err := audit.Record(ctx, tx, audit.Entry{ActorID: p.ID, ActorRole: string(p.Role), Action: "change_password",
			TargetType: "user", TargetID: id(p.ID), Data: map[string]any{"revoked_sessions": out.RevokedSessions}, At: now}); err != nil {
			return err
		}
		// Told by e-mail too: if it was not them, they know at once.
		return mail.Enqueue(ctx, tx, mail.Notice{UserIDs: []int64{p.ID}, Kind: "password_changed", At: now,
			Subject: "Sua senha foi alterada / Your password was changed",
			Body: "A senha da sua conta Ordem foi alterada e as outras sessões foram encerradas. Se não foi você, fale com o suporte.\n\n" +
				"Your Ordem password was changed and your other sessions were ended. If it was not you, contact support.\n"})
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// Session is one of the caller's live sessions. Its token is never shown:
// only the token's holder has it.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	// Current is the session of the request's own token.
	Current bool `json:"current"`
}

// listSessions lists the caller's live (neither revoked nor expired)
// sessions, newest first.
func (s *Server) listSessions(c *fiber.Ctx) error {
	page, err := parsePage(c)
	if err != nil {
		return err
	}
	p := caller(c)
	rows, err := s.Pool.Query(c.UserContext(), `
		SELECT id, created_at, last_seen_at, expires_at, user_agent, ip FROM api_sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $5`, p.ID, s.now(), page.after, page.afterID, page.limit+1)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	type row struct {
		Session
		sid int64
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.sid, &x.CreatedAt, &x.LastSeenAt, &x.ExpiresAt, &x.UserAgent, &x.IP)
		x.ID, x.Current = id(x.sid), x.sid == p.SessionID
		return x, err
	})
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	return c.JSON(pageOf(items, page.limit, func(x row) (time.Time, int64) { return x.CreatedAt, x.sid },
		func(x row) Session { return x.Session }))
}

// revokeSession ends one of the caller's live sessions (the current one
// too: that is a logout). Another user's session is not found.
func (s *Server) revokeSession(c *fiber.Ctx) error {
	sid, err := pathID(c, "id")
	if err != nil {
		return err
	}
	now := s.now()
	tag, err := s.Pool.Exec(c.UserContext(), `
		UPDATE api_sessions SET revoked_at = $3
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3`, sid, caller(c).ID, now)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ordem.Errorf(ordem.ENotFound, "no such session")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// SessionsRevoked is the answer to POST /v1/me/sessions/revoke-others.
type SessionsRevoked struct {
	Revoked int64 `json:"revoked"`
}

// revokeOtherSessions ends every live session of the caller but the
// current one.
func (s *Server) revokeOtherSessions(c *fiber.Ctx) error {
	p := caller(c)
	now := s.now()
	tag, err := s.Pool.Exec(c.UserContext(), `
		UPDATE api_sessions SET revoked_at = $3
		WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL AND expires_at > $3`, p.ID, p.SessionID, now)
	if err != nil {
		return fmt.Errorf("revoke other sessions: %w", err)
	}
	return c.JSON(SessionsRevoked{Revoked: tag.RowsAffected()})
}

type issueResetRequest struct {
	Reason string `json:"reason"`
}

// PasswordReset is a reset token as issued to the admin: the token is in
// this answer and in the user's e-mail, and stored nowhere in clear.
type PasswordReset struct {
	UserID    string    `json:"user_id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// issuePasswordReset creates a one-time reset token for a live user,
// superseding their earlier unused ones, e-mails it to them through the
// outbox and shows it once to the admin (who may hand it over another way).
func (s *Server) issuePasswordReset(c *fiber.Ctx) error {
	uid, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req issueResetRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	f := fieldErrors{}
	checkLine(f, "reason", req.Reason, true, 500)
	if err := f.err(); err != nil {
		return err
	}
	lifetime := s.PasswordResetLifetime
	if lifetime <= 0 {
		lifetime = DefaultPasswordResetLifetime
	}
	ctx := c.UserContext()
	p := caller(c)
	now := s.now()
	token, tokenHash := auth.NewToken()
	out := PasswordReset{UserID: id(uid), Token: token, ExpiresAt: now.Add(lifetime).UTC().Truncate(time.Second)}
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// The user's row is locked so two resets at once supersede in turn.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT true FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, uid).Scan(&exists); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ordem.Errorf(ordem.ENotFound, "no such user")
			}
			return fmt.Errorf("find user: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE password_resets SET superseded_at = $2 WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL`,
			uid, now); err != nil {
			return fmt.Errorf("supersede password resets: %w", err)
		}
		var resetID int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO password_resets (user_id, token_hash, created_by, reason, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, uid, tokenHash, p.ID, req.Reason, now, out.ExpiresAt).Scan(&resetID); err != nil {
			return fmt.Errorf("create password reset: %w", err)
		}
		if err := audit.Record(ctx, tx, audit.Entry{ActorID: p.ID, ActorRole: string(p.Role), Action: "password_reset_issued",
			TargetType: "user", TargetID: id(uid), Reason: req.Reason,
			Data: map[string]any{"reset_id": id(resetID), "expires_at": out.ExpiresAt}, At: now}); err != nil {
			return err
		}
		return mail.Enqueue(ctx, tx, mail.Notice{UserIDs: []int64{uid}, Kind: "password_reset", At: now,
			Subject: "Redefinição de senha / Password reset",
			Body: fmt.Sprintf("Um administrador iniciou a redefinição da sua senha no Ordem. Abra /reset-password no console "+
				"e use este código até %s:\n\n%s\n\n"+
				"An administrator started a reset of your Ordem password. Open /reset-password on the console "+
				"and use this code before %s.\n", out.ExpiresAt.Format(time.RFC3339), token, out.ExpiresAt.Format(time.RFC3339))})
	})
	if err != nil {
		return err
	}
	// A credential: no cache on the way may keep it.
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(out)
}

type consumeResetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

var errResetTokenInvalid = &ordem.Error{Code: ordem.EResetTokenInvalid,
	Message: "this reset token is not valid: it is unknown, was already used or was replaced by a newer one; ask an admin for a new one",
	Fields:  map[string]string{"token": "is not valid"}}

// consumePasswordReset sets a new password with a reset token: once, and
// before its expiry. Every session of the user ends and a login lock is
// lifted (the password the guesser was after is gone).
func (s *Server) consumePasswordReset(c *fiber.Ctx) error {
	var req consumeResetRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	req.Token = strings.TrimSpace(req.Token)
	if req.Token == "" || len(req.Token) > 200 {
		return errResetTokenInvalid
	}
	ctx := c.UserContext()
	now := s.now()
	var (
		resetID, uid     int64
		email, role      string
		expires          time.Time
		used, superseded *time.Time
		deleted          *time.Time
	)
	err := s.Pool.QueryRow(ctx, `
		SELECT r.id, r.user_id, u.email, u.role, r.expires_at, r.used_at, r.superseded_at, u.deleted_at
		FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.token_hash = $1`, auth.HashToken(req.Token)).
		Scan(&resetID, &uid, &email, &role, &expires, &used, &superseded, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return errResetTokenInvalid
	}
	if err != nil {
		return fmt.Errorf("find password reset: %w", err)
	}
	if used != nil || superseded != nil || deleted != nil {
		return errResetTokenInvalid
	}
	if !now.Before(expires) {
		return &ordem.Error{Code: ordem.EResetTokenExpired, Fields: map[string]string{"token": "has expired"},
			Message: "this reset token expired at " + expires.UTC().Format(time.RFC3339) + "; ask an admin for a new one"}
	}
	email = strings.ToLower(email)
	if err := passwordRule(auth.CheckPasswordRules(req.NewPassword, email), "new_password"); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// Single use under races: only one request flips used_at.
		tag, err := tx.Exec(ctx, `
			UPDATE password_resets SET used_at = $2
			WHERE id = $1 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2`, resetID, now)
		if err != nil {
			return fmt.Errorf("use password reset: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return errResetTokenInvalid
		}
		tag, err = tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL`, uid, hash, now)
		if err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return errResetTokenInvalid
		}
		revoked, err := tx.Exec(ctx, `UPDATE api_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, uid, now)
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		if err := unlockAccount(ctx, tx, email, "password reset", now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{ActorID: uid, ActorRole: role, Action: "password_reset_completed", TargetType: "user",
			TargetID: id(uid), Data: map[string]any{"reset_id": id(resetID), "revoked_sessions": revoked.RowsAffected()}, At: now})
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

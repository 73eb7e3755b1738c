package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
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
	return accounts.TouchSession(c.UserContext(), s.Pool, sessionID, now)
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
	hash, err := accounts.PasswordHash(ctx, s.Pool, p.ID)
	if err != nil {
		return err
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
		// The caller's session proved them live; a deletion racing this
		// request ends every session anyway, so a row left unchanged
		// needs no answer of its own.
		if _, err := accounts.SetPassword(ctx, tx, p.ID, newHash, now); err != nil {
			return err
		}
		var err error
		if out.RevokedSessions, err = accounts.EndSessions(ctx, tx, p.ID, p.SessionID, now); err != nil {
			return err
		}
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
	// One more than the page: pageOf tells from it whether a next exists.
	items, err := accounts.ListSessions(c.UserContext(), s.Pool, p.ID, s.now(), page.after, page.afterID, page.limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(items, page.limit, func(x accounts.Session) (time.Time, int64) { return x.CreatedAt, x.ID },
		func(x accounts.Session) Session {
			return Session{ID: id(x.ID), CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt, ExpiresAt: x.ExpiresAt,
				UserAgent: x.UserAgent, IP: x.IP, Current: x.ID == p.SessionID}
		}))
}

// revokeSession ends one of the caller's live sessions (the current one
// too: that is a logout). Another user's session is not found.
func (s *Server) revokeSession(c *fiber.Ctx) error {
	sid, err := pathID(c, "id")
	if err != nil {
		return err
	}
	revoked, err := accounts.RevokeSession(c.UserContext(), s.Pool, sid, caller(c).ID, s.now())
	if err != nil {
		return err
	}
	if !revoked {
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
	n, err := accounts.RevokeOtherSessions(c.UserContext(), s.Pool, p.ID, p.SessionID, s.now())
	if err != nil {
		return err
	}
	return c.JSON(SessionsRevoked{Revoked: n})
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
		if live, err := accounts.LockLive(ctx, tx, uid); err != nil {
			return err
		} else if !live {
			return ordem.Errorf(ordem.ENotFound, "no such user")
		}
		resetID, err := accounts.IssueReset(ctx, tx, accounts.NewReset{UserID: uid, TokenHash: tokenHash, CreatedBy: p.ID,
			Reason: req.Reason, CreatedAt: now, ExpiresAt: out.ExpiresAt})
		if err != nil {
			return err
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
	r, found, err := accounts.FindReset(ctx, s.Pool, auth.HashToken(req.Token))
	if err != nil {
		return err
	}
	if !found || !r.Usable() {
		return errResetTokenInvalid
	}
	if !now.Before(r.ExpiresAt) {
		return &ordem.Error{Code: ordem.EResetTokenExpired, Fields: map[string]string{"token": "has expired"},
			Message: "this reset token expired at " + r.ExpiresAt.UTC().Format(time.RFC3339) + "; ask an admin for a new one"}
	}
	email := strings.ToLower(r.Email)
	if err := passwordRule(auth.CheckPasswordRules(req.NewPassword, email), "new_password"); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// Single use under races: only one request flips used_at.
		if used, err := accounts.UseReset(ctx, tx, r.ID, now); err != nil {
			return err
		} else if !used {
			return errResetTokenInvalid
		}
		// A user deleted since the token was read keeps no password.
		if set, err := accounts.SetPassword(ctx, tx, r.UserID, hash, now); err != nil {
			return err
		} else if !set {
			return errResetTokenInvalid
		}
		revoked, err := accounts.EndSessions(ctx, tx, r.UserID, 0, now)
		if err != nil {
			return err
		}
		if err := accounts.Unlock(ctx, tx, email, "password reset", now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{ActorID: r.UserID, ActorRole: r.Role, Action: "password_reset_completed", TargetType: "user",
			TargetID: id(r.UserID), Data: map[string]any{"reset_id": id(r.ID), "revoked_sessions": revoked}, At: now})
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

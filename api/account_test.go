package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/auth"
)

// registerAs registers a client with email and password, returning the
// response.
func registerAs(t *testing.T, email, password string) response {
	t.Helper()
	return env.call(t, "POST", "/v1/auth/register", "", map[string]string{
		"name": "Conta " + email, "email": email, "phone": "", "password": password, "role": "client"})
}

// login logs in through app, returning the response.
func login(t *testing.T, email, password string) response {
	t.Helper()
	return env.call(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
}

func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@example.com", prefix, rand.Int64())
}

// countRows runs a count(*) query.
func countRows(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, env.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// auditCount counts the audit rows of action on user uid.
func auditCount(t *testing.T, action string, uid int64) int {
	t.Helper()
	return countRows(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_type = 'user' AND target_id = $2`,
		action, fmt.Sprint(uid))
}

// Ensure a second registration of an e-mail (in any case or spacing) is
// 409 email_taken and creates nothing: no user, no ledger accounts.
func TestRegisterDuplicateEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	email := uniqueEmail("dup")
	res := registerAs(t, email, "first-password-42")
	require.Equal(t, 201, res.Status, string(res.Body))
	users := `SELECT count(*) FROM users WHERE lower(email) = $1`
	accounts := `SELECT count(*) FROM ledger_accounts a JOIN users u ON a.user_id = u.id WHERE lower(u.email) = $1`
	nAccounts := countRows(t, accounts, email)

	for _, again := range []string{email, strings.ToUpper(email), "  " + email + " "} {
		res = registerAs(t, again, "second-password-42")
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "email_taken", res.errorCode())
		var body api.ErrorBody
		res.json(t, &body)
		require.Equal(t, "is already registered", body.Error.Fields["email"])
	}
	require.Equal(t, 1, countRows(t, users, email))
	require.Equal(t, nAccounts, countRows(t, accounts, email))
	// The first password is still the one.
	require.Equal(t, 200, login(t, email, "first-password-42").Status)
	require.Equal(t, 401, login(t, email, "second-password-42").Status)
}

// Ensure the password rules refuse at registration with their own codes,
// creating nothing, and that with other fields wrong too the answer names
// them all.
func TestRegisterPasswordRules(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	email := uniqueEmail("rules")
	for password, code := range map[string]string{
		"short7!":                   "password_too_short",
		strings.Repeat("p", 1025):   "password_too_long",
		email:                       "password_contains_email",
		"my " + email + " password": "password_contains_email",
		"password1":                 "password_too_common",
		"Sunshine":                  "password_too_common",
	} {
		res := registerAs(t, email, password)
		require.Equal(t, 422, res.Status, string(res.Body))
		require.Equal(t, code, res.errorCode())
		var body api.ErrorBody
		res.json(t, &body)
		require.NotEmpty(t, body.Error.Fields["password"])
	}
	res := env.call(t, "POST", "/v1/auth/register", "", map[string]string{
		"name": "", "email": email, "password": "password1", "role": "client"})
	require.Equal(t, 422, res.Status, string(res.Body))
	require.Equal(t, "validation_failed", res.errorCode())
	var body api.ErrorBody
	res.json(t, &body)
	require.Contains(t, body.Error.Fields, "name")
	require.Contains(t, body.Error.Fields, "password")
	require.Zero(t, countRows(t, `SELECT count(*) FROM users WHERE lower(email) = $1`, email))
}

// Ensure a logged-out token is refused everywhere, and logging out twice
// is refused too (the token no longer exists for the API).
func TestLogout(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	u := env.newUser(t, "client")
	other := env.loginAs(u.Email, "s3cret-password")
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", u.Token, nil).Status)
	require.Equal(t, 204, env.call(t, "POST", "/v1/auth/logout", u.Token, nil).Status)
	for _, path := range []string{"/v1/me", "/v1/wallet", "/v1/me/sessions"} {
		res := env.call(t, "GET", path, u.Token, nil)
		require.Equal(t, 401, res.Status, path)
		require.Equal(t, "unauthenticated", res.errorCode())
	}
	require.Equal(t, 401, env.call(t, "POST", "/v1/auth/logout", u.Token, nil).Status)
	// Only that session ended.
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", other.Token, nil).Status)
}

// Ensure an expired session is refused and no longer listed, while the
// user's other sessions go on.
func TestSessionExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	u := env.newUser(t, "provider")
	other := env.loginAs(u.Email, "s3cret-password")
	var sid int64
	require.NoError(t, env.pool.QueryRow(context.Background(), `
		UPDATE api_sessions SET expires_at = now() - interval '1 second'
		WHERE id = (SELECT id FROM api_sessions WHERE user_id = $1 ORDER BY id LIMIT 1) RETURNING id`, u.uid()).Scan(&sid))
	res := env.call(t, "GET", "/v1/me", u.Token, nil)
	require.Equal(t, 401, res.Status)
	require.Equal(t, "unauthenticated", res.errorCode())

	res = env.call(t, "GET", "/v1/me/sessions", other.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var list api.Page[api.Session]
	res.json(t, &list)
	require.Len(t, list.Items, 1)
	require.NotEqual(t, fmt.Sprint(sid), list.Items[0].ID)
	require.True(t, list.Items[0].Current)

	// The lifetime knob: a server whose sessions last a second.
	cfg := *env.cfg
	cfg.SessionLifetime = time.Second
	now := time.Now()
	clock := &fakeClock{t: now}
	app := (&api.Server{Pool: env.pool, Temporal: env.temporal, Config: &cfg, Storage: env.store, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).App()
	res = callApp(t, app, "POST", "/v1/auth/login", "", map[string]string{"email": u.Email, "password": "s3cret-password"})
	require.Equal(t, 200, res.Status, string(res.Body))
	var lr api.LoginResponse
	res.json(t, &lr)
	require.Equal(t, 200, callApp(t, app, "GET", "/v1/me", lr.Token, nil).Status)
	clock.Advance(2 * time.Second)
	require.Equal(t, 401, callApp(t, app, "GET", "/v1/me", lr.Token, nil).Status)
}

// fakeClock is a settable clock for a test's own server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Ensure the sessions list shows the caller's live sessions without
// tokens, one revoked by id stops working, another user's is not found,
// and revoke-others keeps only the current one.
func TestSessionsListAndRevoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	u := env.newUser(t, "client")
	s2 := env.loginAs(u.Email, "s3cret-password")
	s3 := env.loginAs(u.Email, "s3cret-password")
	stranger := env.newUser(t, "client")

	res := env.call(t, "GET", "/v1/me/sessions", u.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	for _, tok := range []string{u.Token, s2.Token, s3.Token} {
		require.NotContains(t, string(res.Body), tok)
	}
	var list api.Page[api.Session]
	res.json(t, &list)
	require.Len(t, list.Items, 3)
	current := 0
	ids := map[string]bool{}
	for _, it := range list.Items {
		ids[it.ID] = true
		if it.Current {
			current++
		}
		require.False(t, it.CreatedAt.IsZero())
		require.False(t, it.LastSeenAt.IsZero())
		require.True(t, it.ExpiresAt.After(time.Now()))
	}
	require.Equal(t, 1, current)

	// The session of s2, as s2 sees it.
	res = env.call(t, "GET", "/v1/me/sessions", s2.Token, nil)
	var l2 api.Page[api.Session]
	res.json(t, &l2)
	var s2ID string
	for _, it := range l2.Items {
		if it.Current {
			s2ID = it.ID
		}
	}
	require.True(t, ids[s2ID])

	res = env.call(t, "DELETE", "/v1/me/sessions/"+s2ID, stranger.Token, nil)
	require.Equal(t, 404, res.Status)
	require.Equal(t, "not_found", res.errorCode())
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", s2.Token, nil).Status)

	require.Equal(t, 204, env.call(t, "DELETE", "/v1/me/sessions/"+s2ID, u.Token, nil).Status)
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", s2.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "DELETE", "/v1/me/sessions/"+s2ID, u.Token, nil).Status)
	require.Equal(t, 404, env.call(t, "DELETE", "/v1/me/sessions/0"+s2ID, u.Token, nil).Status)

	res = env.call(t, "POST", "/v1/me/sessions/revoke-others", u.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var rev api.SessionsRevoked
	res.json(t, &rev)
	require.EqualValues(t, 1, rev.Revoked)
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", s3.Token, nil).Status)
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", u.Token, nil).Status)
	res = env.call(t, "GET", "/v1/me/sessions", u.Token, nil)
	res.json(t, &list)
	require.Len(t, list.Items, 1)
	require.True(t, list.Items[0].Current)
	// The stranger's sessions were never touched.
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", stranger.Token, nil).Status)
}

// Ensure changing the password checks the current one, applies the rules,
// changes nothing on refusal, and on success keeps the current session,
// revokes the others, retires the old password, and is audited and
// e-mailed.
func TestChangePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	u := env.newUser(t, "client")
	other := env.loginAs(u.Email, "s3cret-password")
	change := func(current, next string) response {
		return env.call(t, "POST", "/v1/me/password", u.Token, map[string]string{"current_password": current, "new_password": next})
	}
	for _, tc := range []struct{ current, next, code, field string }{
		{"wrong-password-1", "brand-new-pass-42", "wrong_password", "current_password"},
		{"", "brand-new-pass-42", "validation_failed", "current_password"},
		{"s3cret-password", "football", "password_too_common", "new_password"},
		{"s3cret-password", "short", "password_too_short", "new_password"},
		{"s3cret-password", u.Email + "x", "password_contains_email", "new_password"},
		{"s3cret-password", "s3cret-password", "validation_failed", "new_password"},
	} {
		res := change(tc.current, tc.next)
		require.Equal(t, 422, res.Status, string(res.Body))
		require.Equal(t, tc.code, res.errorCode())
		var body api.ErrorBody
		res.json(t, &body)
		require.Contains(t, body.Error.Fields, tc.field)
	}
	// Nothing changed: both sessions live, the old password works.
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", other.Token, nil).Status)
	require.Equal(t, 200, login(t, u.Email, "s3cret-password").Status)
	require.Zero(t, auditCount(t, "change_password", u.uid()))

	res := change("s3cret-password", "brand-new-pass-42")
	require.Equal(t, 200, res.Status, string(res.Body))
	var out api.PasswordChanged
	res.json(t, &out)
	require.EqualValues(t, 2, out.RevokedSessions) // other, and the login just above
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", u.Token, nil).Status)
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", other.Token, nil).Status)
	require.Equal(t, 401, login(t, u.Email, "s3cret-password").Status)
	require.Equal(t, 200, login(t, u.Email, "brand-new-pass-42").Status)
	require.Equal(t, 1, auditCount(t, "change_password", u.uid()))
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM email_outbox WHERE user_id = $1 AND kind = 'password_changed'`, u.uid()))
	require.Equal(t, 401, env.call(t, "POST", "/v1/me/password", "", map[string]string{"current_password": "x", "new_password": "y"}).Status)
}

// issueReset issues a reset of user uid as the admin.
func issueReset(t *testing.T, uid string, reason string) response {
	t.Helper()
	return env.call(t, "POST", "/v1/admin/users/"+uid+"/password-reset", env.admin.Token, map[string]string{"reason": reason})
}

// Ensure the admin's reset: a reason is required (nothing written
// without), only admins issue, the token is shown once and e-mailed; it
// sets a password once, refuses a weak one without being spent, revokes
// every session, retires the old password; a newer reset supersedes the
// older, and an expired token is refused as expired.
func TestPasswordReset(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	u := env.newUser(t, "provider")
	other := env.loginAs(u.Email, "s3cret-password")
	resets := `SELECT count(*) FROM password_resets WHERE user_id = $1`

	for _, reason := range []string{"", "   "} {
		res := issueReset(t, u.ID, reason)
		require.Equal(t, 422, res.Status, string(res.Body))
		require.Equal(t, "validation_failed", res.errorCode())
	}
	res := env.call(t, "POST", "/v1/admin/users/"+u.ID+"/password-reset", u.Token, map[string]string{"reason": "me"})
	require.Equal(t, 403, res.Status)
	require.Equal(t, 404, issueReset(t, "999999999", "no one").Status)
	require.Zero(t, countRows(t, resets, u.uid()))
	require.Zero(t, auditCount(t, "password_reset_issued", u.uid()))

	res = issueReset(t, u.ID, "user lost access (ticket 42)")
	require.Equal(t, 201, res.Status, string(res.Body))
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	var pr api.PasswordReset
	res.json(t, &pr)
	require.Equal(t, u.ID, pr.UserID)
	require.NotEmpty(t, pr.Token)
	require.WithinDuration(t, time.Now().Add(time.Hour), pr.ExpiresAt, time.Minute)
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM audit_log WHERE action = 'password_reset_issued' AND target_id = $1
		AND reason = 'user lost access (ticket 42)' AND actor_id = $2`, u.ID, env.admin.uid()))
	// The e-mail carries the code while it waits; once delivered the row
	// no longer holds it (the dispatcher may already have sent it).
	var body, status string
	require.NoError(t, env.pool.QueryRow(context.Background(),
		`SELECT body, status FROM email_outbox WHERE user_id = $1 AND kind = 'password_reset'`, u.uid()).Scan(&body, &status))
	if status == "pending" {
		require.Contains(t, body, pr.Token)
	} else {
		require.NotContains(t, body, pr.Token, status)
	}
	// Stored hashed only.
	require.Zero(t, countRows(t, `SELECT count(*) FROM password_resets WHERE position(convert_to($1, 'UTF8') in token_hash) > 0`, pr.Token))

	consume := func(token, password string) response {
		return env.call(t, "POST", "/v1/auth/password-reset", "", map[string]string{"token": token, "new_password": password})
	}
	// A weak password is refused and the token is not spent.
	res = consume(pr.Token, "qwerty123")
	require.Equal(t, 422, res.Status)
	require.Equal(t, "password_too_common", res.errorCode())
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", other.Token, nil).Status)
	res = consume("not-a-token", "reset-password-42")
	require.Equal(t, 422, res.Status)
	require.Equal(t, "reset_token_invalid", res.errorCode())

	res = consume(pr.Token, "reset-password-42")
	require.Equal(t, 204, res.Status, string(res.Body))
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", u.Token, nil).Status)
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", other.Token, nil).Status)
	require.Equal(t, 401, login(t, u.Email, "s3cret-password").Status)
	require.Equal(t, 200, login(t, u.Email, "reset-password-42").Status)
	require.Equal(t, 1, auditCount(t, "password_reset_completed", u.uid()))
	// Once only.
	res = consume(pr.Token, "another-password-42")
	require.Equal(t, 422, res.Status)
	require.Equal(t, "reset_token_invalid", res.errorCode())
	require.Equal(t, 401, login(t, u.Email, "another-password-42").Status)

	// A newer reset supersedes an older unused one.
	var first, second api.PasswordReset
	issueReset(t, u.ID, "first").json(t, &first)
	issueReset(t, u.ID, "second").json(t, &second)
	res = consume(first.Token, "superseded-pass-42")
	require.Equal(t, "reset_token_invalid", res.errorCode())
	// Expired: refused as such, and nothing changes.
	_, err := env.pool.Exec(context.Background(), `UPDATE password_resets SET expires_at = now() - interval '1 second'
		WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL`, u.uid())
	require.NoError(t, err)
	res = consume(second.Token, "expired-pass-42")
	require.Equal(t, 422, res.Status)
	require.Equal(t, "reset_token_expired", res.errorCode())
	require.Equal(t, 200, login(t, u.Email, "reset-password-42").Status)
	require.Equal(t, 401, login(t, u.Email, "expired-pass-42").Status)
}

// Ensure two consumptions of one token at once set one password: exactly
// one succeeds.
func TestPasswordResetRace(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	u := env.newUser(t, "client")
	var pr api.PasswordReset
	issueReset(t, u.ID, "race").json(t, &pr)
	const n = 4
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- env.call(t, "POST", "/v1/auth/password-reset", "", map[string]string{
				"token": pr.Token, "new_password": fmt.Sprintf("racing-password-%d", i)}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == 204 {
			ok++
		} else {
			require.Equal(t, 422, s)
		}
	}
	require.Equal(t, 1, ok)
	require.Equal(t, 1, auditCount(t, "password_reset_completed", u.uid()))
}

// Ensure the per-account throttle: failures beyond SlowAfter must wait
// (429 rate_limited with Retry-After), LockAfter failures lock the
// account (429 account_locked even with the right password, audited), the
// lock ends after its period (audited at the next login), a success
// clears the count, an unknown e-mail is treated the same, and a password
// reset lifts a lock.
func TestLoginLockout(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	clock := &fakeClock{t: time.Now()}
	app := (&api.Server{Pool: env.pool, Temporal: env.temporal, Config: env.cfg, Storage: env.store, Now: clock.Now,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		LoginThrottle: api.LoginThrottle{Window: 15 * time.Minute, SlowAfter: 2, LockAfter: 4, LockFor: 10 * time.Minute}}).App()
	try := func(email, password string) response {
		return callApp(t, app, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	}
	u := env.newUser(t, "client")
	// An e-mail tried long ago and abandoned, and one locked.
	stale, locked := uniqueEmail("stale"), uniqueEmail("locked")
	_, err := env.pool.Exec(context.Background(), `
		INSERT INTO login_throttle (email, failures, window_start, last_attempt_at, locked_until)
		VALUES ($1, 2, $3, $3, NULL), ($2, 9, $3, $3, $4)`, stale, locked, clock.Now().Add(-time.Hour), clock.Now().Add(time.Hour))
	require.NoError(t, err)

	// A success clears the count.
	require.Equal(t, 401, try(u.Email, "wrong-1").Status)
	// A failure prunes rows idle past the window, never a lock.
	require.Zero(t, countRows(t, `SELECT count(*) FROM login_throttle WHERE email = $1`, stale))
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM login_throttle WHERE email = $1`, locked))
	require.Equal(t, 200, try(u.Email, "s3cret-password").Status)
	require.Zero(t, countRows(t, `SELECT count(*) FROM login_throttle WHERE email = $1`, u.Email))

	require.Equal(t, 401, try(u.Email, "wrong-1").Status)
	require.Equal(t, 401, try(u.Email, "wrong-2").Status)
	res := try(u.Email, "s3cret-password")
	require.Equal(t, 429, res.Status, string(res.Body))
	require.Equal(t, "rate_limited", res.errorCode())
	require.Equal(t, "1", res.Header.Get("Retry-After"))
	clock.Advance(time.Second)
	require.Equal(t, 401, try(u.Email, "wrong-3").Status)
	res = try(u.Email, "wrong-4")
	require.Equal(t, 429, res.Status)
	require.Equal(t, "2", res.Header.Get("Retry-After"))
	clock.Advance(2 * time.Second)
	res = try(u.Email, "wrong-4")
	require.Equal(t, 429, res.Status, string(res.Body))
	require.Equal(t, "account_locked", res.errorCode())
	require.Equal(t, 1, auditCount(t, "account_locked", u.uid()))
	require.Zero(t, auditCount(t, "account_unlocked", u.uid()))

	// Locked: the right password is refused too, and does not reset it.
	clock.Advance(5 * time.Minute)
	res = try(u.Email, "s3cret-password")
	require.Equal(t, 429, res.Status)
	require.Equal(t, "account_locked", res.errorCode())
	require.Equal(t, "300", res.Header.Get("Retry-After"))
	// The existing session is not touched by the lock.
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", u.Token, nil).Status)

	clock.Advance(5 * time.Minute)
	require.Equal(t, 200, try(u.Email, "s3cret-password").Status)
	require.Equal(t, 1, auditCount(t, "account_unlocked", u.uid()))
	require.Equal(t, 1, auditCount(t, "account_locked", u.uid()))

	// An unknown e-mail answers alike: slowed down, then locked.
	ghost := uniqueEmail("ghost")
	require.Equal(t, 401, try(ghost, "x-1").Status)
	require.Equal(t, 401, try(ghost, "x-2").Status)
	require.Equal(t, "rate_limited", try(ghost, "x-3").errorCode())

	// A reset lifts a lock.
	for i, wait := range []time.Duration{0, 0, time.Second, 2 * time.Second} {
		clock.Advance(wait)
		res = try(u.Email, fmt.Sprint("wrong-again-", i))
	}
	require.Equal(t, "account_locked", res.errorCode())
	var pr api.PasswordReset
	issueReset(t, u.ID, "locked out").json(t, &pr)
	res = callApp(t, app, "POST", "/v1/auth/password-reset", "", map[string]string{"token": pr.Token, "new_password": "after-lock-42"})
	require.Equal(t, 204, res.Status, string(res.Body))
	require.Equal(t, 2, auditCount(t, "account_unlocked", u.uid()))
	require.Equal(t, 200, try(u.Email, "after-lock-42").Status)
}

// Ensure a stolen session cannot guess the current password faster than a
// login could: the change route's failures lock the account too.
func TestChangePasswordThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	clock := &fakeClock{t: time.Now()}
	app := (&api.Server{Pool: env.pool, Temporal: env.temporal, Config: env.cfg, Storage: env.store, Now: clock.Now,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		LoginThrottle: api.LoginThrottle{SlowAfter: 1, LockAfter: 2}}).App()
	u := env.newUser(t, "client")
	change := func(current string) response {
		return callApp(t, app, "POST", "/v1/me/password", u.Token, map[string]string{"current_password": current, "new_password": "unused-new-42"})
	}
	require.Equal(t, "wrong_password", change("guess-1").errorCode())
	require.Equal(t, "rate_limited", change("guess-2").errorCode())
	clock.Advance(time.Second)
	require.Equal(t, "account_locked", change("guess-2").errorCode())
	require.Equal(t, "account_locked", change("s3cret-password").errorCode())
	require.Equal(t, 1, auditCount(t, "account_locked", u.uid()))
	// The lock is in Postgres: every API process sees it.
	require.Equal(t, "account_locked", login(t, u.Email, "s3cret-password").errorCode())
	var hash string
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, u.uid()).Scan(&hash))
	ok, err := auth.CheckPassword("s3cret-password", hash)
	require.NoError(t, err)
	require.True(t, ok, "the password did not change")
}

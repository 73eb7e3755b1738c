package accounts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/auth"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
)

func newUser(t *testing.T, pool *pgxpool.Pool, email string) accounts.User {
	t.Helper()
	u, err := accounts.Create(context.Background(), pool, accounts.NewUser{Name: "Ana", Email: email, PasswordHash: "x",
		Role: ordem.RoleClient, Locale: "pt-BR", TimeZone: "America/Sao_Paulo"})
	require.NoError(t, err)
	return u
}

func newSession(t *testing.T, pool *pgxpool.Pool, uid int64, expires time.Time) (int64, []byte) {
	t.Helper()
	ctx := context.Background()
	_, hash := auth.NewToken()
	require.NoError(t, accounts.CreateSession(ctx, pool, accounts.NewSession{TokenHash: hash, UserID: uid, ExpiresAt: expires}))
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM api_sessions WHERE token_hash = $1`, hash).Scan(&id))
	return id, hash
}

// Ensure a second user with the same e-mail is refused with email_taken,
// and the row written by Create is what FindLogin and LiveID read back.
func TestCreateAndFind(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	u := newUser(t, pool, "ana@example.com")
	require.NotZero(t, u.ID)
	_, err := accounts.Create(ctx, pool, accounts.NewUser{Name: "B", Email: "ana@example.com", PasswordHash: "y",
		Role: ordem.RoleProvider, Locale: "en", TimeZone: "UTC"})
	require.ErrorIs(t, err, accounts.ErrEmailTaken)

	got, hash, found, err := accounts.FindLogin(ctx, pool, "ana@example.com")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "x", hash)
	require.Equal(t, u.ID, got.ID)

	_, _, found, err = accounts.FindLogin(ctx, pool, "nobody@example.com")
	require.NoError(t, err)
	require.False(t, found)

	now := time.Now()
	require.NoError(t, accounts.SoftDelete(ctx, pool, u.ID, now))
	uid, err := accounts.LiveID(ctx, pool, "ana@example.com")
	require.NoError(t, err)
	require.Zero(t, uid, "a deleted user is no live account")
	live, err := accounts.IsLive(ctx, pool, u.ID)
	require.NoError(t, err)
	require.False(t, live)
	set, err := accounts.SetPassword(ctx, pool, u.ID, "z", now)
	require.NoError(t, err)
	require.False(t, set, "a deleted user's password is not replaced")
}

// Ensure the two ways of revoking a user's sessions differ only in the
// expired ones: RevokeOtherSessions ends and counts only live sessions,
// EndSessions (a credential change) every one not yet revoked, and both
// spare the kept session.
func TestRevokeSessions(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	u := newUser(t, pool, "ana@example.com")
	other := newUser(t, pool, "bia@example.com")
	now := time.Now()
	current, currentHash := newSession(t, pool, u.ID, now.Add(time.Hour))
	newSession(t, pool, u.ID, now.Add(time.Hour))
	newSession(t, pool, u.ID, now.Add(-time.Hour)) // expired, not revoked
	_, otherHash := newSession(t, pool, other.ID, now.Add(time.Hour))

	n, err := accounts.RevokeOtherSessions(ctx, pool, u.ID, current, now)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the live other session only")
	n, err = accounts.EndSessions(ctx, pool, u.ID, current, now)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the expired one is ended too")

	_, _, found, err := accounts.FindSession(ctx, pool, currentHash, now)
	require.NoError(t, err)
	require.True(t, found, "the kept session lives")
	n, err = accounts.EndSessions(ctx, pool, u.ID, 0, now)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, _, found, err = accounts.FindSession(ctx, pool, currentHash, now)
	require.NoError(t, err)
	require.False(t, found)

	ok, err := accounts.RevokeSession(ctx, pool, current, other.ID, now)
	require.NoError(t, err)
	require.False(t, ok, "another user's session is not found")
	s, su, found, err := accounts.FindSession(ctx, pool, otherHash, now)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, other.ID, su.ID)
	require.Equal(t, other.ID, s.UserID)
}

// Ensure a reset is single use and superseded by a newer one.
func TestResets(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	u := newUser(t, pool, "ana@example.com")
	admin := newUser(t, pool, "admin@example.com")
	now := time.Now()
	issue := func() (int64, []byte) {
		_, hash := auth.NewToken()
		var id int64
		require.NoError(t, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			live, err := accounts.LockLive(ctx, tx, u.ID)
			require.True(t, live)
			if err != nil {
				return err
			}
			id, err = accounts.IssueReset(ctx, tx, accounts.NewReset{UserID: u.ID, TokenHash: hash, CreatedBy: admin.ID,
				Reason: "lost phone", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			return err
		}))
		return id, hash
	}
	first, firstHash := issue()
	second, secondHash := issue()

	r, found, err := accounts.FindReset(ctx, pool, firstHash)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, first, r.ID)
	require.False(t, r.Usable(), "superseded by the second")
	used, err := accounts.UseReset(ctx, pool, first, now)
	require.NoError(t, err)
	require.False(t, used)

	r, _, err = accounts.FindReset(ctx, pool, secondHash)
	require.NoError(t, err)
	require.True(t, r.Usable())
	require.Equal(t, "ana@example.com", r.Email)
	used, err = accounts.UseReset(ctx, pool, second, now)
	require.NoError(t, err)
	require.True(t, used)
	used, err = accounts.UseReset(ctx, pool, second, now)
	require.NoError(t, err)
	require.False(t, used, "single use")
}

// Ensure the throttle locks an account at LockAfter failures with an
// audit row, refuses it while locked, and records the unlock once the
// period is over.
func TestThrottleLockAndUnlock(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	u := newUser(t, pool, "ana@example.com")
	l := accounts.Throttle{SlowAfter: 5, LockAfter: 2, LockFor: 10 * time.Minute}
	now := time.Now().UTC().Truncate(time.Second)
	attempt := func(at time.Time) (bool, error) {
		var locked bool
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := l.Admit(ctx, tx, u.Email, at); err != nil {
				return err
			}
			var err error
			locked, err = l.Failed(ctx, tx, u.Email, "192.0.2.1", at)
			return err
		})
		return locked, err
	}
	locked, err := attempt(now)
	require.NoError(t, err)
	require.False(t, locked)
	locked, err = attempt(now.Add(time.Second))
	require.NoError(t, err)
	require.True(t, locked)
	require.Equal(t, ordem.EAccountLocked, l.Locked().(*ordem.Error).Code)

	_, err = attempt(now.Add(time.Minute))
	var oe *ordem.Error
	require.ErrorAs(t, err, &oe)
	require.Equal(t, ordem.EAccountLocked, oe.Code)
	require.Equal(t, 9*time.Minute+time.Second, oe.RetryAfter)

	// After the lock period the next attempt unlocks and counts afresh.
	require.NoError(t, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return l.Admit(ctx, tx, u.Email, now.Add(11*time.Minute))
	}))
	require.NoError(t, accounts.Succeeded(ctx, pool, u.Email))
	rows, err := pool.Query(ctx, `SELECT action FROM audit_log WHERE target_type = 'user' AND target_id = $1 ORDER BY id`,
		fmt.Sprint(u.ID))
	require.NoError(t, err)
	actions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"account_locked", "account_unlocked"}, actions)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM login_throttle`).Scan(&left))
	require.Zero(t, left, "a success clears the count")
}

// Ensure an address no account has is throttled like one that exists,
// without an audit row (there is no user to name).
func TestThrottleUnknownEmail(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	l := accounts.Throttle{LockAfter: 1}
	now := time.Now()
	var locked bool
	require.NoError(t, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		if err := l.Admit(ctx, tx, "ghost@example.com", now); err != nil {
			return err
		}
		var err error
		locked, err = l.Failed(ctx, tx, "ghost@example.com", "192.0.2.1", now)
		return err
	}))
	require.True(t, locked)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n))
	require.Zero(t, n)
}

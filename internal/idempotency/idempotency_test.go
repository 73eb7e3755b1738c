package idempotency_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/idempotency"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
)

func setup(t *testing.T) (*pgxpool.Pool, idempotency.Request) {
	t.Helper()
	pool := pgtest.NewDB(t)
	var uid int64
	require.NoError(t, pool.QueryRow(context.Background(), `
		INSERT INTO users (name, email, password_hash, role) VALUES ('Ana', 'ana@example.com', 'x', 'client') RETURNING id`).Scan(&uid))
	return pool, idempotency.Request{UserID: uid, Key: "k1", Method: "POST", Path: "/v1/orders", Hash: []byte("request one")}
}

func claim(t *testing.T, pool *pgxpool.Pool, r idempotency.Request, lease time.Duration) (idempotency.Claim, error) {
	t.Helper()
	var cl idempotency.Claim
	err := postgres.InTx(context.Background(), pool, func(tx pgx.Tx) (err error) {
		cl, err = idempotency.ClaimKey(context.Background(), tx, r, lease)
		return err
	})
	return cl, err
}

func requireConflict(t *testing.T, err error) *ordem.Error {
	t.Helper()
	var oe *ordem.Error
	require.ErrorAs(t, err, &oe)
	require.Equal(t, ordem.EIdempotencyConflict, oe.Code)
	return oe
}

// Ensure a key held under its lease is refused with the lease's rest as
// Retry-After, and the same key with another request is a conflict.
func TestClaimWhileLeased(t *testing.T) {
	pool, r := setup(t)
	first, err := claim(t, pool, r, 30*time.Second)
	require.NoError(t, err)
	require.NotEmpty(t, first.AttemptID)
	require.False(t, first.TakenOver)

	_, err = claim(t, pool, r, 30*time.Second)
	oe := requireConflict(t, err)
	require.Greater(t, oe.RetryAfter, 25*time.Second)
	require.LessOrEqual(t, oe.RetryAfter, 30*time.Second)

	other := r
	other.Hash = []byte("request two")
	_, err = claim(t, pool, other, 30*time.Second)
	requireConflict(t, err)
}

// Ensure an execution that stopped without an answer (its lease ran
// out, or it failed with a 5xx) is taken over by a retry, which keeps the
// attempt id and gets the recorded recovery point.
func TestTakeOver(t *testing.T) {
	ctx := context.Background()
	pool, r := setup(t)
	first, err := claim(t, pool, r, 0) // the lease is over at once: a dead process
	require.NoError(t, err)
	require.NoError(t, idempotency.RecordResource(ctx, pool, r.UserID, r.Key, first.AttemptID, 42))

	again, err := claim(t, pool, r, 30*time.Second)
	require.NoError(t, err)
	require.True(t, again.TakenOver)
	require.Equal(t, first.AttemptID, again.AttemptID)
	require.EqualValues(t, 42, again.ResourceID)

	require.NoError(t, idempotency.Settle(ctx, pool, r.UserID, r.Key, 503, nil))
	third, err := claim(t, pool, r, 30*time.Second)
	require.NoError(t, err)
	require.True(t, third.TakenOver, "a failure keeps the key bound and frees the lease")
	require.Equal(t, first.AttemptID, third.AttemptID)
}

// Ensure a success is replayed and a refusal releases the key for a new
// execution with a new attempt id, where an old attempt records nothing.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	pool, r := setup(t)
	first, err := claim(t, pool, r, 30*time.Second)
	require.NoError(t, err)
	require.NoError(t, idempotency.Settle(ctx, pool, r.UserID, r.Key, 409, []byte(`{"code":"x"}`)))

	second, err := claim(t, pool, r, 30*time.Second)
	require.NoError(t, err)
	require.False(t, second.TakenOver)
	require.NotEqual(t, first.AttemptID, second.AttemptID)
	require.NoError(t, idempotency.RecordResource(ctx, pool, r.UserID, r.Key, first.AttemptID, 7))

	require.NoError(t, idempotency.Settle(ctx, pool, r.UserID, r.Key, 201, []byte(`{"id":"1"}`)))
	replay, err := claim(t, pool, r, 30*time.Second)
	require.NoError(t, err)
	require.NotNil(t, replay.Replay)
	require.Equal(t, 201, replay.Replay.Status)
	require.JSONEq(t, `{"id":"1"}`, string(replay.Replay.Body))
	var resource *int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT resource_id FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		r.UserID, r.Key).Scan(&resource))
	require.Nil(t, resource, "the released attempt recorded nothing")
}

// Package idempotency owns the idempotency_keys table: the claim of an
// Idempotency-Key by one execution of a request, under a lease, and its
// settlement (the stored response, the key released or kept bound). A
// request whose process died mid-way leaves its key claimed until the
// lease runs out; a retry of the same request then takes it over and
// resumes from the recovery point the first execution recorded.
package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// Request identifies one request under a key: the key is the caller's
// (scoped to UserID), and Hash digests what the request asks, so the same
// key with another request is told apart.
type Request struct {
	UserID int64
	Key    string
	Method string
	Path   string
	Hash   []byte
}

// Claim is what claiming a key found.
type Claim struct {
	// AttemptID identifies the execution: a request taken over after a
	// crash keeps the first execution's; a fresh claim gets a new one.
	AttemptID string
	// ResourceID is the recovery point an earlier execution recorded (0:
	// none).
	ResourceID int64
	// TakenOver is set when an earlier execution of this request may have
	// done (some of) its work and stopped without an answer.
	TakenOver bool
	// Replay is the stored response of a finished earlier execution: the
	// request must not run again, the response is sent back as it was.
	Replay *Response
}

// Response is a stored answer.
type Response struct {
	Status int
	Body   []byte
}

// ClaimKey claims r's key in tx for lease: a new key is claimed at once;
// a key finished with the same request gives its Replay; a key whose
// execution stopped without an answer (lease over) is taken over. The
// refusals are idempotency_conflict: another request under the key, an
// execution still holding the lease (Retry-After: the lease's rest), or a
// key released between the two statements (retry at once).
func ClaimKey(ctx context.Context, tx pgx.Tx, r Request, lease time.Duration) (Claim, error) {
	var cl Claim
	leaseSeconds := int(lease / time.Second)
	err := tx.QueryRow(ctx, `
		INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, locked_until)
		VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 second')
		ON CONFLICT (user_id, key) DO NOTHING
		RETURNING attempt_id::text`, r.UserID, r.Key, r.Method, r.Path, r.Hash, leaseSeconds).Scan(&cl.AttemptID)
	if err == nil {
		return cl, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	var (
		prev     []byte
		status   *int
		body     []byte
		leaseFor *int // seconds left on the lease
		resource *int64
	)
	err = tx.QueryRow(ctx, `
		SELECT request_hash, status_code, response_body,
		       CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END,
		       attempt_id::text, resource_id
		FROM idempotency_keys WHERE user_id = $1 AND key = $2 FOR UPDATE`,
		r.UserID, r.Key).Scan(&prev, &status, &body, &leaseFor, &cl.AttemptID, &resource)
	if errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, &ordem.Error{Code: ordem.EIdempotencyConflict, Message: "a request with this Idempotency-Key just ended; retry",
			RetryAfter: time.Second}
	}
	if err != nil {
		return Claim{}, fmt.Errorf("read idempotency key: %w", err)
	}
	switch {
	case string(prev) != string(r.Hash):
		return Claim{}, ordem.Errorf(ordem.EIdempotencyConflict, "this Idempotency-Key was used for a different request")
	case status != nil:
		cl.Replay = &Response{Status: *status, Body: body}
		return cl, nil
	case leaseFor != nil:
		return Claim{}, &ordem.Error{Code: ordem.EIdempotencyConflict, Message: "a request with this Idempotency-Key is still in progress",
			RetryAfter: time.Duration(*leaseFor) * time.Second}
	}
	// The execution that held the key stopped without an answer (its
	// process died, or it failed): this one takes over.
	if resource != nil {
		cl.ResourceID = *resource
	}
	cl.TakenOver = true
	if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET locked_until = now() + $3 * interval '1 second' WHERE user_id = $1 AND key = $2`,
		r.UserID, r.Key, leaseSeconds); err != nil {
		return Claim{}, fmt.Errorf("take over idempotency key: %w", err)
	}
	return cl, nil
}

// Settle ends the execution holding the key of userID by its answer: a
// success (2xx) is stored for replay; a failure (5xx) keeps the key bound
// to its request (it may have done part of its work) and frees the lease,
// so a retry of the same request takes over at once; a refusal (other
// statuses) deletes the key, since nothing was created or moved, so a
// corrected request may reuse it.
func Settle(ctx context.Context, db postgres.DBTX, userID int64, key string, status int, body []byte) error {
	var err error
	switch {
	case status >= 200 && status < 300:
		_, err = db.Exec(ctx, `UPDATE idempotency_keys SET status_code = $3, response_body = $4, locked_until = NULL
			WHERE user_id = $1 AND key = $2`, userID, key, status, body)
	case status >= 500:
		_, err = db.Exec(ctx, `UPDATE idempotency_keys SET locked_until = NULL WHERE user_id = $1 AND key = $2`, userID, key)
	default:
		_, err = db.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2`, userID, key)
	}
	if err != nil {
		return fmt.Errorf("settle idempotency key: %w", err)
	}
	return nil
}

// RecordResource stores the recovery point of attempt attemptID (what
// the request created first, e.g. a new order's id), so a retry that
// takes the key over resumes with it. An attempt whose key was released
// and claimed again by a new execution (another attempt id) records
// nothing.
func RecordResource(ctx context.Context, db postgres.DBTX, userID int64, key, attemptID string, resourceID int64) error {
	_, err := db.Exec(ctx, `UPDATE idempotency_keys SET resource_id = $3 WHERE user_id = $1 AND key = $2 AND attempt_id = $4`,
		userID, key, resourceID, attemptID)
	if err != nil {
		return fmt.Errorf("record recovery point: %w", err)
	}
	return nil
}

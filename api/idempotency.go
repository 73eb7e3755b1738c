package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// HeaderIdempotencyKey names the header that makes a POST safe to retry.
const HeaderIdempotencyKey = "Idempotency-Key"

// idempotencyLease is how long a request in progress owns its key. Every
// handler behind the key finishes well within it (requestDeadline), so a
// lease runs out only when the process handling the request died: then a
// retry takes the key over and runs the request again from its recovery
// point, which every such handler makes safe (see attempt).
const idempotencyLease = 35 * time.Second

// requestDeadline bounds how long a handler behind an Idempotency-Key
// waits on the order workflow; past it the client gets 503 and retries
// with the same key, which attaches to the same work.
const requestDeadline = 25 * time.Second

// attempt is one execution of a request that carries an Idempotency-Key.
type attempt struct {
	userID int64
	key    string
	// id identifies this attempt: order actions use it as the Temporal
	// update id. A request taken over after a crash keeps it; a retry
	// after a refusal (whose key was released) gets a new one.
	id string
	// resourceID is the recovery point: what an earlier execution of the
	// same request created first (a new order's id), or 0.
	resourceID int64
	// takenOver is set when an earlier execution of this request may have
	// done (some of) its work and died before answering.
	takenOver bool
}

const attemptKey = "idempotency.attempt"

// attemptOf returns the request's attempt, or nil without a key.
func attemptOf(c *fiber.Ctx) *attempt {
	a, _ := c.Locals(attemptKey).(*attempt)
	return a
}

// idempotent honours Idempotency-Key on POSTs that create or move money
// and on order actions: the first successful response is stored and a
// retry with the same key and request gets it back (with
// Idempotent-Replayed: true); the same key with another request is
// idempotency_conflict. Refusals (4xx) are not stored and release the key,
// so a corrected retry may reuse it: nothing was created or moved by them.
// A failure (5xx), or a process that dies mid-request, keeps the key
// bound to its request (it may have done part of its work) and lets a
// retry of the same request resume it. Keys are scoped to the caller.
func (s *Server) idempotent(c *fiber.Ctx) error {
	key := c.Get(HeaderIdempotencyKey)
	if key == "" {
		return c.Next()
	}
	if len(key) > 200 || !printable(key) {
		return (fieldErrors{HeaderIdempotencyKey: "must be 1 to 200 printable characters"}).err()
	}
	p := caller(c)
	h := sha256.New()
	h.Write([]byte(c.Method() + " " + c.Path() + "\n" + c.Get(fiber.HeaderIfMatch) + "\n"))
	h.Write(c.Body())
	hash := h.Sum(nil)
	ctx := c.UserContext()

	a := &attempt{userID: p.ID, key: key}
	var replay *storedResponse
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, locked_until)
			VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 second')
			ON CONFLICT (user_id, key) DO NOTHING
			RETURNING attempt_id::text`, p.ID, key, c.Method(), c.Path(), hash, int(idempotencyLease/time.Second)).Scan(&a.id)
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
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
			p.ID, key).Scan(&prev, &status, &body, &leaseFor, &a.id, &resource)
		if errors.Is(err, pgx.ErrNoRows) {
			return &ordem.Error{Code: ordem.EIdempotencyConflict, Message: "a request with this Idempotency-Key just ended; retry", RetryAfter: time.Second}
		}
		if err != nil {
			return err
		}
		switch {
		case string(prev) != string(hash):
			return ordem.Errorf(ordem.EIdempotencyConflict, "this Idempotency-Key was used for a different request")
		case status != nil:
			replay = &storedResponse{status: *status, body: body}
			return nil
		case leaseFor != nil:
			return &ordem.Error{Code: ordem.EIdempotencyConflict, Message: "a request with this Idempotency-Key is still in progress",
				RetryAfter: time.Duration(*leaseFor) * time.Second}
		}
		// The execution that held the key stopped without an answer
		// (its process died, or it failed): this one takes over.
		if resource != nil {
			a.resourceID = *resource
		}
		a.takenOver = true
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET locked_until = now() + $3 * interval '1 second' WHERE user_id = $1 AND key = $2`,
			p.ID, key, int(idempotencyLease/time.Second))
		return err
	})
	if err != nil {
		return err
	}
	if replay != nil {
		c.Set("Idempotent-Replayed", "true")
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(replay.status).Send(replay.body)
	}

	c.Locals(attemptKey, a)
	if err := c.Next(); err != nil {
		// Write the error response now, so it is final, then settle the key.
		_ = s.errorHandler(c, err)
	}
	// Settle the key even if the client went away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	status := c.Response().StatusCode()
	switch {
	case status >= 200 && status < 300:
		_, err = s.Pool.Exec(sctx, `UPDATE idempotency_keys SET status_code = $3, response_body = $4, locked_until = NULL
			WHERE user_id = $1 AND key = $2`, p.ID, key, status, c.Response().Body())
	case status >= 500:
		_, err = s.Pool.Exec(sctx, `UPDATE idempotency_keys SET locked_until = NULL WHERE user_id = $1 AND key = $2`, p.ID, key)
	default:
		_, err = s.Pool.Exec(sctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2`, p.ID, key)
	}
	if err != nil {
		s.Logger.Error("Settling an idempotency key failed", "request_id", requestID(c), "error", err)
	}
	return nil
}

type storedResponse struct {
	status int
	body   []byte
}

// recordRecoveryPoint stores what the request created first (a new
// order's id), so a retry that takes the key over resumes with it.
func (s *Server) recordRecoveryPoint(ctx context.Context, a *attempt, resourceID int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE idempotency_keys SET resource_id = $3 WHERE user_id = $1 AND key = $2 AND attempt_id = $4`,
		a.userID, a.key, resourceID, a.id)
	if err != nil {
		return fmt.Errorf("record recovery point: %w", err)
	}
	a.resourceID = resourceID
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return s != ""
}

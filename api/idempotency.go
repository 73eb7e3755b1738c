package api

import (
	"context"
	"crypto/sha256"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/idempotency"
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
	var claim idempotency.Claim
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) (err error) {
		claim, err = idempotency.ClaimKey(ctx, tx, idempotency.Request{UserID: p.ID, Key: key, Method: c.Method(), Path: c.Path(),
			Hash: hash}, idempotencyLease)
		return err
	})
	if err != nil {
		return err
	}
	if r := claim.Replay; r != nil {
		c.Set("Idempotent-Replayed", "true")
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(r.Status).Send(r.Body)
	}
	a.id, a.resourceID, a.takenOver = claim.AttemptID, claim.ResourceID, claim.TakenOver

	c.Locals(attemptKey, a)
	if err := c.Next(); err != nil {
		// Write the error response now, so it is final, then settle the key.
		_ = s.errorHandler(c, err)
	}
	// Settle the key even if the client went away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := idempotency.Settle(sctx, s.Pool, p.ID, key, c.Response().StatusCode(), c.Response().Body()); err != nil {
		s.Logger.Error("Settling an idempotency key failed", "request_id", requestID(c), "error", err)
	}
	return nil
}

// recordRecoveryPoint stores what the request created first (a new
// order's id), so a retry that takes the key over resumes with it.
func (s *Server) recordRecoveryPoint(ctx context.Context, a *attempt, resourceID int64) error {
	if err := idempotency.RecordResource(ctx, s.Pool, a.userID, a.key, a.id, resourceID); err != nil {
		return err
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

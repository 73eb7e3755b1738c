package api

import (
	"crypto/sha256"
	"errors"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
)

// HeaderIdempotencyKey names the header that makes a POST safe to retry.
const HeaderIdempotencyKey = "Idempotency-Key"

// idempotent honours Idempotency-Key on POSTs that create or move money:
// the first successful response is stored and a retry with the same key
// and body gets it back (with Idempotent-Replayed: true); the same key
// with another body is idempotency_conflict. Refusals (4xx) and failures
// (5xx) are not stored, so a corrected retry may reuse the key; nothing
// was created or moved by them. Keys are scoped to the caller.
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
	h.Write([]byte(c.Method() + " " + c.Path() + "\n"))
	h.Write(c.Body())
	hash := h.Sum(nil)
	ctx := c.UserContext()

	tag, err := s.Pool.Exec(ctx, `
		INSERT INTO idempotency_keys (user_id, key, method, path, request_hash) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, key) DO NOTHING`, p.ID, key, c.Method(), c.Path(), hash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		var (
			prev   []byte
			status *int
			body   []byte
		)
		err := s.Pool.QueryRow(ctx, `SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
			p.ID, key).Scan(&prev, &status, &body)
		if errors.Is(err, pgx.ErrNoRows) {
			return ordem.Errorf(ordem.EIdempotencyConflict, "a request with this Idempotency-Key just failed; retry")
		}
		if err != nil {
			return err
		}
		if string(prev) != string(hash) {
			return ordem.Errorf(ordem.EIdempotencyConflict, "this Idempotency-Key was used for a different request")
		}
		if status == nil {
			return ordem.Errorf(ordem.EIdempotencyConflict, "a request with this Idempotency-Key is still in progress")
		}
		c.Set("Idempotent-Replayed", "true")
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(*status).Send(body)
	}

	if err := c.Next(); err != nil {
		// Write the error response now, so it is final, then release the key.
		_ = s.errorHandler(c, err)
	}
	status := c.Response().StatusCode()
	if status >= 200 && status < 300 {
		_, err = s.Pool.Exec(ctx, `UPDATE idempotency_keys SET status_code = $3, response_body = $4 WHERE user_id = $1 AND key = $2`,
			p.ID, key, status, c.Response().Body())
	} else {
		_, err = s.Pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2`, p.ID, key)
	}
	if err != nil {
		s.Logger.Error("Storing an idempotent response failed", "request_id", requestID(c), "error", err)
	}
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

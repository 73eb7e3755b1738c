package mail

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/postgres"
)

// ErrNotFound is the answer for an outbox id that does not exist.
var ErrNotFound = errors.New("e-mail not found")

// OutboxState is where an outbox e-mail stands: pending, sent, logged
// (no SMTP configured) or failed, and how many sends were tried.
type OutboxState struct {
	Status   string
	Attempts int
}

// scrubSecretBody is the SQL value of an outbox e-mail's body once it is
// no longer pending: e-mails that carry a one-time secret (a password
// reset code) keep it only while they wait to be sent, so the table does
// not hold a usable secret in clear after delivery.
const scrubSecretBody = `CASE WHEN kind IN ('password_reset') THEN '[removed after delivery: it held a one-time password reset code]' ELSE body END`

// Claim counts one more send attempt of e-mail id and returns it when it
// is still pending; otherwise claimed is false and state says where it
// stands (ErrNotFound when there is no such e-mail).
func Claim(ctx context.Context, db postgres.DBTX, id int64) (m Message, state OutboxState, claimed bool, err error) {
	err = db.QueryRow(ctx, `
		UPDATE email_outbox SET attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status = 'pending' RETURNING to_address, subject, body, status, attempts`, id).
		Scan(&m.To, &m.Subject, &m.Body, &state.Status, &state.Attempts)
	if err == nil {
		return m, state, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Message{}, OutboxState{}, false, fmt.Errorf("claim e-mail %d: %w", id, err)
	}
	err = db.QueryRow(ctx, `SELECT status, attempts FROM email_outbox WHERE id = $1`, id).Scan(&state.Status, &state.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, OutboxState{}, false, fmt.Errorf("e-mail %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, OutboxState{}, false, fmt.Errorf("read e-mail %d: %w", id, err)
	}
	return Message{}, state, false, nil
}

// RecordError keeps the latest send error of e-mail id (the e-mail stays
// pending: the delivery workflow retries it).
func RecordError(ctx context.Context, db postgres.DBTX, id int64, msg string) error {
	if _, err := db.Exec(ctx, `UPDATE email_outbox SET last_error = $2, updated_at = now() WHERE id = $1`, id, msg); err != nil {
		return fmt.Errorf("record error of e-mail %d: %w", id, err)
	}
	return nil
}

// MarkDone records that e-mail id went out with status "sent" or
// "logged", and removes a one-time secret from its body.
func MarkDone(ctx context.Context, db postgres.DBTX, id int64, status string) error {
	if _, err := db.Exec(ctx, `
		UPDATE email_outbox SET status = $2, sent_at = now(), last_error = '', updated_at = now(),
		    body = `+scrubSecretBody+`
		WHERE id = $1`, id, status); err != nil {
		return fmt.Errorf("mark e-mail %d %s: %w", id, status, err)
	}
	return nil
}

// MarkFailed records that e-mail id gave up with reason (a first error
// already recorded is kept), and removes a one-time secret from its body.
// An e-mail already sent stays sent; found is false for an unknown id.
func MarkFailed(ctx context.Context, db postgres.DBTX, id int64, reason string) (state OutboxState, found bool, err error) {
	err = db.QueryRow(ctx, `
		UPDATE email_outbox SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
		    last_error = CASE WHEN last_error = '' THEN $2 ELSE last_error END, updated_at = now(),
		    body = `+scrubSecretBody+`
		WHERE id = $1 RETURNING status, attempts`, id, reason).Scan(&state.Status, &state.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return OutboxState{}, false, nil
	}
	if err != nil {
		return OutboxState{}, false, fmt.Errorf("mark e-mail %d failed: %w", id, err)
	}
	return state, true, nil
}

-- +goose Up
-- The order's version: how many transitions it has committed (1 at
-- creation), the same count the workflow keeps. The API returns it as the
-- ETag and order actions may send it back as If-Match.
ALTER TABLE orders ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
-- Orders created before this migration: one version per committed
-- transition of their timeline (reminders and refused signals commit none).
UPDATE orders o SET version = 1 + (
    SELECT count(*) FROM order_events e
    WHERE e.order_id = o.id AND NOT e.refused
      AND e.action NOT IN ('create', 'confirmation_reminder', 'dispute_sla'));

-- Idempotency keys become resumable (Stripe's recovery points): a key in
-- progress holds a lease; when the process handling it dies, a retry takes
-- the lease over and runs the request again from its recovery point.
ALTER TABLE idempotency_keys
    -- One attempt's identity: order actions use it as the Temporal update
    -- id, so a taken-over request attaches to the same update, while a
    -- retry after a refusal (which deletes the row) is a new attempt.
    ADD COLUMN attempt_id   UUID        NOT NULL DEFAULT gen_random_uuid(),
    -- Until when the request in progress owns the key.
    ADD COLUMN locked_until TIMESTAMPTZ,
    -- The recovery point: what the request created first (a new order's
    -- id), so a retry resumes with it instead of creating another.
    ADD COLUMN resource_id  BIGINT;

-- A payout request carries the caller's Idempotency-Key, so running it
-- again (a retry that took over the key) finds the payout it made.
ALTER TABLE payouts ADD COLUMN idempotency_key TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX payouts_user_idempotency_key ON payouts (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX payouts_user_idempotency_key;
ALTER TABLE payouts DROP COLUMN idempotency_key;
ALTER TABLE idempotency_keys DROP COLUMN resource_id, DROP COLUMN locked_until, DROP COLUMN attempt_id;
ALTER TABLE orders DROP COLUMN version;

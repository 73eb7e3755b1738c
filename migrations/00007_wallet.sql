-- +goose Up
-- A deposit webhook delivery is identified by the payment provider's event
-- id. The hash of its content (user, amount, reference) tells a redelivery
-- (answered with the first deposit, nothing credited) from a different
-- event reusing the id (refused as an idempotency conflict).
ALTER TABLE webhook_receipts
    ADD COLUMN request_hash BYTEA CHECK (length(request_hash) = 32),
    ADD COLUMN deposit_id   BIGINT REFERENCES deposits (id);

-- The payer-side reference of a webhook deposit (e.g. a PIX end-to-end id);
-- deposits.reference holds the event id, the unique key of the credit.
ALTER TABLE deposits
    ADD COLUMN external_reference TEXT NOT NULL DEFAULT '' CHECK (length(external_reference) <= 200);
CREATE INDEX deposits_created_idx ON deposits (created_at DESC, id DESC);

-- When an admin (or a gateway) decided a payout's outcome.
ALTER TABLE payouts ADD COLUMN decided_at TIMESTAMPTZ;
-- The admin queue: payouts by status, newest first.
CREATE INDEX payouts_status_created_idx ON payouts (status, created_at DESC, id DESC);

-- +goose Down
DROP INDEX payouts_status_created_idx;
ALTER TABLE payouts DROP COLUMN decided_at;
DROP INDEX deposits_created_idx;
ALTER TABLE deposits DROP COLUMN external_reference;
ALTER TABLE webhook_receipts DROP COLUMN deposit_id, DROP COLUMN request_hash;

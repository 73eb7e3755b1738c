-- +goose Up
-- Responses to POSTs that carried an Idempotency-Key: a retry with the
-- same key and body gets the first response; another body is a conflict.
CREATE TABLE idempotency_keys (
    user_id       BIGINT      NOT NULL REFERENCES users (id),
    key           TEXT        NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    method        TEXT        NOT NULL,
    path          TEXT        NOT NULL,
    request_hash  BYTEA       NOT NULL,
    -- NULL while the first request is still being handled.
    status_code   INTEGER,
    response_body BYTEA,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Deposits from an admin credit or a signed payment webhook. The ledger
-- transaction key is derived from (source, reference), so a repeated
-- webhook or a double-clicked admin form credits once.
CREATE TABLE deposits (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT         NOT NULL REFERENCES users (id),
    amount         NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    source         TEXT           NOT NULL CHECK (source IN ('admin', 'webhook')),
    reference      TEXT           NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
    credited_by    BIGINT REFERENCES users (id),
    transaction_id BIGINT         NOT NULL REFERENCES ledger_transactions (id),
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    UNIQUE (source, reference)
);
CREATE INDEX deposits_user_idx ON deposits (user_id, created_at DESC);

-- Payouts: provider available -> platform:payouts_pending on request;
-- -> world when paid; back to the provider when failed.
CREATE TABLE payouts (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT         NOT NULL REFERENCES users (id),
    amount         NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    status         TEXT           NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    gateway        TEXT           NOT NULL,
    gateway_ref    TEXT           NOT NULL DEFAULT '',
    failure_reason TEXT           NOT NULL DEFAULT '',
    decided_by     BIGINT REFERENCES users (id),
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX payouts_user_idx ON payouts (user_id, created_at DESC, id DESC);
CREATE INDEX payouts_pending_idx ON payouts (created_at) WHERE status = 'pending';

-- Signed deposit webhooks already seen, for replay protection.
CREATE TABLE webhook_receipts (
    event_id    TEXT        PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE webhook_receipts;
DROP TABLE payouts;
DROP TABLE deposits;
DROP TABLE idempotency_keys;

-- +goose Up
-- Outgoing webhooks (internal/webhook) and e-mails (internal/mail). Both
-- are outboxes: the rows are written in the same transaction as the
-- order step or payout that caused them, so an event is never lost and a
-- replayed step (which writes nothing) never duplicates one. A dispatcher
-- in the worker starts one Temporal workflow per row to deliver it.

-- Admin-managed receivers. The secret signs every delivery; it is shown
-- once, at creation, and kept here because signing needs it in clear.
CREATE TABLE webhook_endpoints (
    id          BIGSERIAL PRIMARY KEY,
    url         TEXT        NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    secret      TEXT        NOT NULL CHECK (length(secret) >= 32),
    description TEXT        NOT NULL DEFAULT '',
    event_types TEXT[]      NOT NULL CHECK (cardinality(event_types) > 0),
    active      BOOLEAN     NOT NULL DEFAULT true,
    created_by  BIGINT REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Soft delete: the delivery log of a deleted endpoint stays readable.
    deleted_at  TIMESTAMPTZ
);
CREATE INDEX webhook_endpoints_live_idx ON webhook_endpoints USING gin (event_types)
    WHERE active AND deleted_at IS NULL;

-- One event to one endpoint. payload is the exact JSON body sent (the
-- event envelope); event_id is shared by the deliveries of one event, so
-- receivers can drop duplicates.
CREATE TABLE webhook_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    endpoint_id   BIGINT      NOT NULL REFERENCES webhook_endpoints (id),
    event_id      UUID        NOT NULL,
    event_type    TEXT        NOT NULL,
    order_id      BIGINT REFERENCES orders (id),
    payload       JSONB       NOT NULL,
    status        TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts      INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    TEXT        NOT NULL DEFAULT '',
    response_code INTEGER,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the dispatcher started the delivery workflow; a redeliver
    -- clears it so the dispatcher starts a new run.
    dispatched_at TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (id)
    WHERE status = 'pending' AND dispatched_at IS NULL;

-- Every HTTP attempt of a delivery.
CREATE TABLE webhook_attempts (
    id            BIGSERIAL PRIMARY KEY,
    delivery_id   BIGINT      NOT NULL REFERENCES webhook_deliveries (id),
    attempt       INTEGER     NOT NULL CHECK (attempt > 0),
    started_at    TIMESTAMPTZ NOT NULL,
    duration_ms   INTEGER     NOT NULL CHECK (duration_ms >= 0),
    response_code INTEGER,
    -- The error, or an excerpt of a non-2xx answer's body.
    error         TEXT        NOT NULL DEFAULT '',
    succeeded     BOOLEAN     NOT NULL,
    UNIQUE (delivery_id, attempt)
);

-- E-mails to users. status 'logged' is an e-mail written to the log
-- instead of sent (ORDEM_ENV=dev, or no SMTP_HOST).
CREATE TABLE email_outbox (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES users (id),
    to_address    TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    order_id      BIGINT REFERENCES orders (id),
    subject       TEXT        NOT NULL,
    body          TEXT        NOT NULL,
    status        TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'logged', 'failed')),
    attempts      INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    dispatched_at TIMESTAMPTZ,
    sent_at       TIMESTAMPTZ
);
CREATE INDEX email_outbox_undispatched_idx ON email_outbox (id) WHERE status = 'pending' AND dispatched_at IS NULL;
CREATE INDEX email_outbox_user_idx ON email_outbox (user_id, id DESC);

-- +goose Down
DROP TABLE email_outbox;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;

-- +goose Up
-- The orders read model: written by the workflow's activities in the same
-- transaction as the money, read by the API for lists and dashboards.
CREATE TABLE orders (
    id                          BIGINT PRIMARY KEY,
    client_id                   BIGINT         NOT NULL REFERENCES users (id),
    provider_id                 BIGINT         NOT NULL REFERENCES users (id),
    title                       TEXT           NOT NULL,
    description                 TEXT           NOT NULL DEFAULT '',
    status                      TEXT           NOT NULL CHECK (status IN
                                    ('negotiating', 'in_progress', 'delivered', 'completed',
                                     'disputed', 'resolved', 'cancelled', 'expired')),
    amount                      NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    due_date                    TIMESTAMPTZ,
    proposal_version            INTEGER        NOT NULL DEFAULT 1,
    last_proposed_by            BIGINT         NOT NULL REFERENCES users (id),
    proposal_expires_at         TIMESTAMPTZ    NOT NULL,
    -- Fee and deadline snapshot taken at creation: later config changes
    -- never touch it.
    platform_fee_percentage     NUMERIC(7, 4)  NOT NULL,
    contestation_fee            NUMERIC(20, 2) NOT NULL,
    cancellation_fee_percentage NUMERIC(7, 4)  NOT NULL,
    confirmation_deadline_hours NUMERIC(12, 6) NOT NULL,
    proposal_expiry_hours       NUMERIC(12, 6) NOT NULL,
    confirmation_reminder_hours NUMERIC(12, 6) NOT NULL,
    dispute_sla_hours           NUMERIC(12, 6) NOT NULL,
    -- Where the money went; `ordem ledger verify` checks these against the
    -- order's postings. provider_net is negative when a provider's
    -- cancellation cost them the penalty.
    platform_revenue            NUMERIC(20, 2) NOT NULL DEFAULT 0,
    provider_net                NUMERIC(20, 2) NOT NULL DEFAULT 0,
    refund_amount               NUMERIC(20, 2),
    penalty_amount              NUMERIC(20, 2),
    contest_fee_held            NUMERIC(20, 2) NOT NULL DEFAULT 0,
    -- Deadlines and milestones.
    accepted_at                 TIMESTAMPTZ,
    delivered_at                TIMESTAMPTZ,
    confirm_deadline            TIMESTAMPTZ,
    -- The deadline passed with AUTO_CONFIRM_JOB_ENABLED=false: admins were
    -- alerted and the escrow waits for a confirm, an extension or a cancel.
    auto_confirm_held           BOOLEAN        NOT NULL DEFAULT false,
    auto_confirmed              BOOLEAN        NOT NULL DEFAULT false,
    contested_at                TIMESTAMPTZ,
    contest_reason              TEXT,
    evidence_count              INTEGER        NOT NULL DEFAULT 0,
    extensions                  INTEGER        NOT NULL DEFAULT 0,
    cancelled_by                BIGINT REFERENCES users (id),
    cancelled_by_role           TEXT,
    cancel_reason               TEXT,
    resolution_reason           TEXT,
    -- When the order reached a terminal state (completed, resolved,
    -- cancelled, expired).
    closed_at                   TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ    NOT NULL,
    updated_at                  TIMESTAMPTZ    NOT NULL,
    CHECK (client_id <> provider_id)
);
-- Own-order lists, newest first, keyset-paginated on (created_at, id);
-- the status variants serve the filtered lists and per-status counts.
CREATE INDEX orders_client_created_idx   ON orders (client_id, created_at DESC, id DESC);
CREATE INDEX orders_client_status_idx    ON orders (client_id, status, created_at DESC, id DESC);
CREATE INDEX orders_provider_created_idx ON orders (provider_id, created_at DESC, id DESC);
CREATE INDEX orders_provider_status_idx  ON orders (provider_id, status, created_at DESC, id DESC);
-- Admin: all orders and per-status lists/counts.
CREATE INDEX orders_created_idx          ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_created_idx   ON orders (status, created_at DESC, id DESC);
-- Admin queues: open disputes by age, orders waiting on a confirmation deadline.
CREATE INDEX orders_disputed_idx         ON orders (contested_at) WHERE status = 'disputed';
CREATE INDEX orders_delivered_deadline_idx ON orders (confirm_deadline) WHERE status = 'delivered';

CREATE SEQUENCE orders_id_seq OWNED BY orders.id;

-- Versioned, audited proposals: who, old -> new, when, note.
CREATE TABLE order_proposals (
    id              BIGSERIAL PRIMARY KEY,
    order_id        BIGINT         NOT NULL REFERENCES orders (id),
    version         INTEGER        NOT NULL CHECK (version >= 1),
    proposed_by     BIGINT         NOT NULL REFERENCES users (id),
    proposer_role   TEXT           NOT NULL,
    amount          NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    previous_amount NUMERIC(20, 2),
    due_date        TIMESTAMPTZ,
    previous_due_date TIMESTAMPTZ,
    note            TEXT           NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ    NOT NULL,
    UNIQUE (order_id, version)
);

-- The order's timeline. step_key is the idempotency claim of the activity
-- that wrote it (order id + step, never the run id), so a retried activity
-- finds its own event and does nothing twice.
CREATE TABLE order_events (
    id          BIGSERIAL PRIMARY KEY,
    order_id    BIGINT      NOT NULL REFERENCES orders (id),
    step_key    TEXT        NOT NULL UNIQUE,
    action      TEXT        NOT NULL,
    actor_id    BIGINT      REFERENCES users (id),
    actor_role  TEXT        NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    -- An action refused by the workflow (e.g. an invalid operator signal).
    refused     BOOLEAN     NOT NULL DEFAULT false,
    data        JSONB       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- +goose Down
DROP TABLE order_events;
DROP TABLE order_proposals;
DROP TABLE orders;

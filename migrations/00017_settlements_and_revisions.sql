-- +goose Up
-- Issue 17: disputes the parties settle between themselves (a negotiation
-- window before the admins' queue) and revision requests.

-- The snapshot of dispute_negotiation_hours and max_revisions (spec §5):
-- NULL for orders created before they existed (no negotiation window; no
-- revisions), as their workflows' snapshots have none either.
ALTER TABLE orders
    ADD COLUMN dispute_negotiation_hours NUMERIC(12, 6),
    ADD COLUMN max_revisions             INTEGER CHECK (max_revisions >= 0),
    -- When the parties' negotiation window ends (NULL: none).
    ADD COLUMN negotiation_ends_at       TIMESTAMPTZ,
    -- When the dispute entered the admins' queue: the dispute SLA runs
    -- from here, not from the contest.
    ADD COLUMN dispute_queued_at         TIMESTAMPTZ,
    -- The latest settlement offer and each party's count (the rules the
    -- API checks before asking the workflow: who may accept, the cap).
    ADD COLUMN settlement_version        INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN settlement_refund         NUMERIC(20, 2),
    ADD COLUMN settlement_offered_by     BIGINT,
    ADD COLUMN settlement_offered_role   TEXT,
    ADD COLUMN client_offers             INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN provider_offers           INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN resolved_by               TEXT CHECK (resolved_by IN ('admin', 'settlement')),
    ADD COLUMN revision_count            INTEGER NOT NULL DEFAULT 0;

-- Disputes opened before the negotiation window were queued at once.
UPDATE orders SET dispute_queued_at = contested_at WHERE contested_at IS NOT NULL;
UPDATE orders SET resolved_by = 'admin' WHERE status = 'resolved';

-- The admins' queue: disputes in it, oldest first.
CREATE INDEX orders_dispute_queue_idx ON orders (dispute_queued_at) WHERE status = 'disputed';
-- The settlement KPIs (share settled by the parties, time to settle).
CREATE INDEX orders_resolved_by_idx ON orders (resolved_by) INCLUDE (contested_at, closed_at) WHERE status = 'resolved';

-- Settlement offers, versioned and audited like proposals.
CREATE TABLE order_settlement_offers (
    order_id        BIGINT NOT NULL REFERENCES orders (id),
    version         INTEGER NOT NULL CHECK (version > 0),
    offered_by      BIGINT NOT NULL REFERENCES users (id),
    offered_role    TEXT NOT NULL CHECK (offered_role IN ('client', 'provider')),
    refund_amount   NUMERIC(20, 2) NOT NULL CHECK (refund_amount >= 0),
    previous_refund NUMERIC(20, 2),
    note            TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (order_id, version)
);

-- Revision requests: a delivered order sent back to its provider.
CREATE TABLE order_revisions (
    order_id     BIGINT NOT NULL REFERENCES orders (id),
    number       INTEGER NOT NULL CHECK (number > 0),
    requested_by BIGINT NOT NULL REFERENCES users (id),
    reason       TEXT NOT NULL,
    delivered_at TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (order_id, number)
);

-- +goose Down
DROP TABLE order_revisions;
DROP TABLE order_settlement_offers;
DROP INDEX orders_resolved_by_idx;
DROP INDEX orders_dispute_queue_idx;
ALTER TABLE orders
    DROP COLUMN revision_count,
    DROP COLUMN resolved_by,
    DROP COLUMN provider_offers,
    DROP COLUMN client_offers,
    DROP COLUMN settlement_offered_role,
    DROP COLUMN settlement_offered_by,
    DROP COLUMN settlement_refund,
    DROP COLUMN settlement_version,
    DROP COLUMN dispute_queued_at,
    DROP COLUMN negotiation_ends_at,
    DROP COLUMN max_revisions,
    DROP COLUMN dispute_negotiation_hours;

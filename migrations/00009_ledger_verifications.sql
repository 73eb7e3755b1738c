-- +goose Up
-- The outcome of each periodic `ledger verify` (workflows/ledgerverify);
-- the ordem_ledger_verify_* metrics read the latest row.
CREATE TABLE ledger_verifications (
    id           BIGSERIAL PRIMARY KEY,
    -- The workflow run that wrote the row: a retried activity updates its
    -- own row instead of adding one.
    run_key      TEXT           NOT NULL UNIQUE,
    started_at   TIMESTAMPTZ    NOT NULL,
    finished_at  TIMESTAMPTZ    NOT NULL,
    ok           BOOLEAN        NOT NULL,
    violations   INTEGER        NOT NULL CHECK (violations >= 0),
    accounts     BIGINT         NOT NULL,
    transactions BIGINT         NOT NULL,
    entries      BIGINT         NOT NULL,
    -- Sum of every balance: zero in a sound ledger.
    total        NUMERIC        NOT NULL,
    -- The first violations found (check, subject, detail), for the operator.
    details      JSONB          NOT NULL DEFAULT '[]',
    CHECK (ok = (violations = 0))
);
CREATE INDEX ledger_verifications_finished_idx ON ledger_verifications (finished_at DESC, id DESC);

-- +goose Down
DROP TABLE ledger_verifications;

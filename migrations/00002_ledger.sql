-- +goose Up
-- Accounts hold a cached balance; the entries are the truth and
-- `ordem ledger verify` checks the cache against them.
CREATE TABLE ledger_accounts (
    id             BIGSERIAL PRIMARY KEY,
    -- Stable human-readable identity, e.g. user:42:available, platform:revenue.
    -- Postings lock accounts in the order of this code, so it must be unique.
    code           TEXT        NOT NULL UNIQUE,
    user_id        BIGINT      REFERENCES users (id),
    kind           TEXT        NOT NULL CHECK (kind IN ('available', 'blocked', 'revenue', 'world', 'payouts_pending')),
    -- Only the platform's world account (money outside the system) may go negative.
    allow_negative BOOLEAN     NOT NULL DEFAULT false,
    balance        NUMERIC(20, 2) NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_non_negative CHECK (allow_negative OR balance >= 0),
    CONSTRAINT ledger_accounts_owner CHECK ((user_id IS NULL) = (kind IN ('revenue', 'world', 'payouts_pending')))
);
CREATE UNIQUE INDEX ledger_accounts_user_kind_key ON ledger_accounts (user_id, kind) WHERE user_id IS NOT NULL;

CREATE TABLE ledger_transactions (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- SHA-256 of the canonical request: the same key with another request is a conflict.
    request_hash    BYTEA       NOT NULL CHECK (length(request_hash) = 32),
    kind            TEXT        NOT NULL,
    order_id        BIGINT,
    memo            TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transactions_order_idx ON ledger_transactions (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_transactions_kind_created_idx ON ledger_transactions (kind, created_at);

CREATE TABLE ledger_entries (
    id             BIGSERIAL PRIMARY KEY,
    transaction_id BIGINT         NOT NULL REFERENCES ledger_transactions (id),
    account_id     BIGINT         NOT NULL REFERENCES ledger_accounts (id),
    amount         NUMERIC(20, 2) NOT NULL CHECK (amount <> 0),
    -- The account's balance right after this entry: a statement needs no
    -- re-summing, and verify detects an edited amount by re-running the sums.
    balance_after  NUMERIC(20, 2) NOT NULL,
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);

-- Entries and transactions are append-only: corrections are new, reversing
-- transactions. The trigger makes that a rule of the database, not a habit.
-- +goose StatementBegin
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % is forbidden (append-only)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_transactions_no_truncate
    BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- +goose Down
DROP TABLE ledger_entries;
DROP TABLE ledger_transactions;
DROP FUNCTION ledger_append_only();
DROP TABLE ledger_accounts;

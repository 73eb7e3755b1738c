-- +goose Up
-- Fast postings (issue 13): a posting is one call of ledger_post(), one
-- round trip, instead of a statement and a batch, and the platform
-- accounts are sharded, so postings that credit the same platform account
-- no longer queue on one row lock held until commit.
--
-- Shards. Every account's own ledger_accounts row is its shard 0. An
-- account with shards = N > 0 also has the rows 1..N of
-- ledger_account_shards, and ledger_post() moves its balance there (on
-- whichever shard no other transaction holds), never on the row. Its
-- balance is the row's plus its shards': read it from
-- ledger_account_balances (or ledger.AccountBalance), not from
-- ledger_accounts.balance, which is only shard 0. Each entry records the
-- shard it moved (ledger_entries.shard, 0 = the row) and its balance_after
-- is that shard's running balance, so `ledger verify` checks every shard
-- against its own entries exactly as it checks a row.
ALTER TABLE ledger_accounts
    ADD COLUMN shards SMALLINT NOT NULL DEFAULT 0,
    -- Only platform accounts are sharded: a user's balance is kept
    -- non-negative by the row's own constraint on every posting, which a
    -- balance spread over shards cannot be (and users' accounts are not
    -- hot). One constraint, not two: Postgres compiles every CHECK of the
    -- table again for each UPDATE statement.
    ADD CONSTRAINT ledger_accounts_shards CHECK (shards >= 0 AND (user_id IS NULL OR shards = 0));

-- A shard's balance may be negative on its own (a debit is taken from the
-- largest shard); the account's total is what must not be, and
-- ledger_post() checks it with every shard locked.
CREATE TABLE ledger_account_shards (
    account_id BIGINT         NOT NULL REFERENCES ledger_accounts (id),
    shard      SMALLINT       NOT NULL CHECK (shard >= 1),
    balance    NUMERIC(20, 2) NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, shard)
-- Few rows, each updated by many transactions: a nearly empty page keeps
-- room for heap-only updates and spreads the shards over several pages.
) WITH (fillfactor = 10);

-- Existing entries all moved a row: shard 0 (a constant default, so no
-- rewrite of the append-only table).
ALTER TABLE ledger_entries ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;

-- Shard the platform accounts that already exist (seeded databases); new
-- databases get them sharded from ledger.EnsurePlatformAccounts. Their
-- balances stay on the row, shard 0, with the entries that made them: no
-- money moves and every existing balance_after stays right.
UPDATE ledger_accounts SET shards = 32
WHERE user_id IS NULL AND shards = 0
  AND code IN ('platform:revenue', 'platform:world', 'platform:payouts_pending');
INSERT INTO ledger_account_shards (account_id, shard)
SELECT a.id, s FROM ledger_accounts a CROSS JOIN LATERAL generate_series(1, a.shards) AS s
WHERE a.shards > 0
ON CONFLICT DO NOTHING;

-- Every account's exact balance: its row plus its shards.
CREATE VIEW ledger_account_balances AS
SELECT a.id AS account_id, a.code, a.user_id, a.kind, a.allow_negative, a.shards,
       CASE WHEN a.shards = 0 THEN a.balance
            ELSE a.balance + coalesce((SELECT sum(s.balance) FROM ledger_account_shards s WHERE s.account_id = a.id), 0)
       END AS balance
FROM ledger_accounts a;

-- ledger_post writes one posting in the caller's transaction and returns
-- its entries in leg order; ledger.Post is its caller and validates the
-- posting first (this function checks it again, as the database's own
-- rule). Legs come as two arrays in descending account code (byte order),
-- each account once. The same key and request hash return the first
-- posting's entries with replayed = true (with accounts and amounts; a
-- new posting leaves those two NULL: they are the caller's legs); the same
-- key with another hash raises OL001. Refusals raise, and the caller rolls
-- back: OL000 malformed, OL002 unknown account, OL003 insufficient funds
-- (DETAIL: the account's code).
--
-- Statements are kept small (one per step, each with a short generic
-- plan): measured, executor start-up of larger plans merging the steps
-- (and PG 15's sort per ordered aggregate) cost more than the statements
-- they saved. A posting runs 2 + legs statements; a leg on a platform
-- account is one statement too when a shard from a random start on is
-- free.
--
-- Locking is the same as before sharding: accounts in the order given, so
-- no two postings wait on each other in a cycle. An unsharded account's
-- row is locked by its UPDATE until commit; that UPDATE tests the funds on
-- the row as of the statement's start, so a row it turns down is locked
-- and read again before the posting is refused (a credit committed while
-- it waited counts). A sharded account's leg locks one shard with SKIP
-- LOCKED, starting at a random one, so it waits only when every shard is
-- held; a debit that must not take the account below zero locks all its
-- shards in shard order and checks their total.
-- +goose StatementBegin
CREATE FUNCTION ledger_post(p_key text, p_hash bytea, p_kind text, p_order_id bigint, p_memo text,
                            p_accounts text[], p_amounts numeric[],
                            OUT transaction_id bigint, OUT created_at timestamptz, OUT replayed boolean,
                            OUT entry_ids bigint[], OUT account_ids bigint[], OUT entry_shards smallint[],
                            OUT balances numeric[], OUT accounts text[], OUT amounts numeric[])
LANGUAGE plpgsql
-- Plan each statement once per session: the custom plans PL/pgSQL would
-- otherwise rebuild on every call (the generic plan's guess of 10 rows per
-- unnest looks costlier than 2 or 3) cost a quarter of the server time.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    n       int := coalesce(cardinality(p_accounts), 0);
    v_sum   numeric := 0;
    v_hash  bytea;
    v_id    bigint;
    v_bal   numeric;
    v_count smallint;
    v_neg   boolean;
    v_shard smallint;
    v_start int;
    v_rand  float8;
BEGIN
    IF n < 2 OR n <> coalesce(cardinality(p_amounts), 0) THEN
        RAISE EXCEPTION 'ledger: a posting needs at least two legs' USING ERRCODE = 'OL000';
    END IF;
    FOR i IN 1..n LOOP
        IF p_amounts[i] IS NULL OR p_amounts[i] = 0 OR p_amounts[i] <> round(p_amounts[i], 2) THEN
            RAISE EXCEPTION 'ledger: leg on % has invalid amount %', p_accounts[i], p_amounts[i] USING ERRCODE = 'OL000';
        END IF;
        IF p_accounts[i] IS NULL OR (i > 1 AND p_accounts[i] COLLATE "C" >= p_accounts[i - 1] COLLATE "C") THEN
            RAISE EXCEPTION 'ledger: legs must name each account once, in descending code order' USING ERRCODE = 'OL000';
        END IF;
        v_sum := v_sum + p_amounts[i];
    END LOOP;
    IF v_sum <> 0 THEN
        RAISE EXCEPTION 'ledger: posting legs sum to %, not zero', v_sum USING ERRCODE = 'OL000';
    END IF;

    INSERT INTO ledger_transactions AS t (idempotency_key, request_hash, kind, order_id, memo)
    VALUES (p_key, p_hash, p_kind, p_order_id, p_memo)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING t.id, t.created_at INTO transaction_id, created_at;
    IF NOT FOUND THEN
        SELECT t.id, t.request_hash, t.created_at INTO transaction_id, v_hash, created_at
        FROM ledger_transactions t WHERE t.idempotency_key = p_key;
        IF v_hash IS DISTINCT FROM p_hash THEN
            RAISE EXCEPTION 'ledger: idempotency key % was already used for a different request', p_key USING ERRCODE = 'OL001';
        END IF;
        SELECT array_agg(e.id ORDER BY e.id), array_agg(e.account_id ORDER BY e.id), array_agg(e.shard ORDER BY e.id),
               array_agg(e.balance_after ORDER BY e.id), array_agg(a.code ORDER BY e.id), array_agg(e.amount ORDER BY e.id)
        INTO entry_ids, account_ids, entry_shards, balances, accounts, amounts
        FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
        WHERE e.transaction_id = ledger_post.transaction_id;
        replayed := true;
        RETURN;
    END IF;
    replayed := false;

    account_ids := array_fill(NULL::bigint, ARRAY[n]);
    entry_shards := array_fill(0::smallint, ARRAY[n]);
    balances := array_fill(NULL::numeric, ARRAY[n]);
    FOR i IN 1..n LOOP
        v_id := NULL;
        IF starts_with(p_accounts[i], 'platform:') THEN
            -- The common case of a platform account: sharded, credited (or
            -- the world, which may go negative), and a shard from a random
            -- one on is free; one statement. Only a guess: any other case
            -- moves nothing here and takes the general path below.
            v_rand := random();
            WITH pick AS MATERIALIZED (
                SELECT x.account_id, x.shard
                FROM ledger_accounts a
                CROSS JOIN LATERAL (
                    SELECT y.account_id, y.shard FROM ledger_account_shards y
                    WHERE y.account_id = a.id AND y.shard > floor(v_rand * a.shards)::int
                    ORDER BY y.shard LIMIT 1
                    FOR UPDATE SKIP LOCKED) x
                WHERE a.code = p_accounts[i] AND a.shards > 0 AND (p_amounts[i] > 0 OR a.allow_negative)
            )
            UPDATE ledger_account_shards s SET balance = s.balance + p_amounts[i], updated_at = now()
            FROM pick
            WHERE s.account_id = pick.account_id AND s.shard = pick.shard
            RETURNING s.account_id, s.shard, s.balance INTO v_id, v_shard, v_bal;
        END IF;
        IF v_id IS NULL THEN
            -- The common case, an unsharded account with the funds. The
            -- funds test reads the row as of the statement's start; a row
            -- it turns down is read again below, locked, as it is now.
            v_shard := 0;
            UPDATE ledger_accounts a SET balance = a.balance + p_amounts[i], updated_at = now()
            WHERE a.code = p_accounts[i] AND a.shards = 0
              AND (p_amounts[i] > 0 OR a.allow_negative OR a.balance + p_amounts[i] >= 0)
            RETURNING a.id, a.balance INTO v_id, v_bal;
        END IF;
        IF v_id IS NULL THEN
            SELECT a.id, a.shards, a.allow_negative, a.balance INTO v_id, v_count, v_neg, v_bal
            FROM ledger_accounts a WHERE a.code = p_accounts[i] AND a.shards > 0;
            IF NOT FOUND THEN
                -- Unsharded after all: lock the row and look at its balance
                -- now (another posting may have credited it since).
                SELECT a.id, a.allow_negative, a.balance INTO v_id, v_neg, v_bal
                FROM ledger_accounts a WHERE a.code = p_accounts[i] AND a.shards = 0 FOR NO KEY UPDATE;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'ledger: account % does not exist', p_accounts[i]
                        USING ERRCODE = 'OL002', DETAIL = p_accounts[i];
                END IF;
                IF p_amounts[i] < 0 AND NOT v_neg AND v_bal + p_amounts[i] < 0 THEN
                    RAISE EXCEPTION 'ledger: insufficient funds in account %', p_accounts[i]
                        USING ERRCODE = 'OL003', DETAIL = p_accounts[i];
                END IF;
                UPDATE ledger_accounts a SET balance = a.balance + p_amounts[i], updated_at = now()
                WHERE a.id = v_id
                RETURNING a.balance INTO v_bal;
            ELSIF p_amounts[i] < 0 AND NOT v_neg THEN
                -- A debit that must keep a sharded account's total
                -- non-negative: every shard locked, in shard order, so no
                -- other posting moves the total until commit. Postings
                -- never move a sharded account's row, so its balance (in
                -- v_bal) is settled.
                SELECT v_bal + coalesce(sum(x.balance), 0) INTO v_bal
                FROM (SELECT s.balance FROM ledger_account_shards s WHERE s.account_id = v_id
                      ORDER BY s.shard FOR UPDATE) x;
                IF v_bal + p_amounts[i] < 0 THEN
                    RAISE EXCEPTION 'ledger: insufficient funds in account %', p_accounts[i]
                        USING ERRCODE = 'OL003', DETAIL = p_accounts[i];
                END IF;
                UPDATE ledger_account_shards s SET balance = s.balance + p_amounts[i], updated_at = now()
                WHERE s.account_id = v_id AND s.shard = (
                    SELECT x.shard FROM ledger_account_shards x WHERE x.account_id = v_id
                    ORDER BY x.balance DESC, x.shard LIMIT 1)
                RETURNING s.shard, s.balance INTO v_shard, v_bal;
            ELSE
                -- Any free shard, from a random one on.
                v_start := 1 + floor(random() * v_count)::int;
                UPDATE ledger_account_shards s SET balance = s.balance + p_amounts[i], updated_at = now()
                WHERE s.account_id = v_id AND s.shard = (
                    SELECT x.shard FROM ledger_account_shards x WHERE x.account_id = v_id AND x.shard >= v_start
                    ORDER BY x.shard LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING s.shard, s.balance INTO v_shard, v_bal;
                IF NOT FOUND THEN
                    UPDATE ledger_account_shards s SET balance = s.balance + p_amounts[i], updated_at = now()
                    WHERE s.account_id = v_id AND s.shard = (
                        SELECT x.shard FROM ledger_account_shards x WHERE x.account_id = v_id AND x.shard < v_start
                        ORDER BY x.shard LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING s.shard, s.balance INTO v_shard, v_bal;
                END IF;
                IF NOT FOUND THEN
                    -- Every shard is held by another posting: queue on one.
                    UPDATE ledger_account_shards s SET balance = s.balance + p_amounts[i], updated_at = now()
                    WHERE s.account_id = v_id AND s.shard = v_start
                    RETURNING s.shard, s.balance INTO v_shard, v_bal;
                END IF;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'ledger: account % has no shard %', p_accounts[i], v_start USING ERRCODE = 'OL000';
                END IF;
            END IF;
        END IF;
        account_ids[i] := v_id;
        entry_shards[i] := v_shard;
        balances[i] := v_bal;
    END LOOP;

    -- Entries in leg order, so that their ids follow the legs (the caller
    -- sorts the ids it gets back).
    WITH ins AS (
        INSERT INTO ledger_entries AS e (transaction_id, account_id, shard, amount, balance_after)
        SELECT ledger_post.transaction_id, l.id, l.shard, l.amount, l.balance
        FROM unnest(account_ids, entry_shards, p_amounts, balances) WITH ORDINALITY AS l(id, shard, amount, balance, ord)
        ORDER BY l.ord
        RETURNING e.id
    )
    SELECT array_agg(ins.id) INTO entry_ids FROM ins;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ledger_post(text, bytea, text, bigint, text, text[], numeric[]);
DROP VIEW ledger_account_balances;
-- Back to one row per account: the shards' balances return to their
-- account's row, and the balance_after of the sharded accounts' entries
-- (the one value that depended on shards) becomes the account's running
-- balance again, with the append-only trigger off for this one rewrite
-- inside the migration's transaction.
UPDATE ledger_accounts a SET balance = a.balance + s.total, updated_at = now()
FROM (SELECT account_id, sum(balance) AS total FROM ledger_account_shards GROUP BY account_id) s
WHERE a.id = s.account_id;
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries e SET balance_after = r.running
FROM (SELECT id, sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
      FROM ledger_entries
      WHERE account_id IN (SELECT id FROM ledger_accounts WHERE shards > 0)) r
WHERE e.id = r.id AND e.balance_after <> r.running;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;
ALTER TABLE ledger_entries DROP COLUMN shard;
DROP TABLE ledger_account_shards;
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_shards, DROP COLUMN shards;

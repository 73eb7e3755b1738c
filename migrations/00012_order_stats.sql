-- +goose Up
-- Marketplace-wide order counters, so the admin dashboard and the /metrics
-- KPI collector read a few hundred small rows instead of scanning every
-- order (0.5 s at a million orders).
--
-- One row per (status, slot) holds what the orders in that status add up
-- to; readers sum the slots of a status. A trigger on orders keeps them in
-- the same transaction as every write of an order, whoever writes it (the
-- activities, an operator's UPDATE, a bulk load), so they are exactly as
-- consistent as the rows they count. Slots exist so that concurrent
-- transitions never wait on each other: a transition takes the first slot
-- of the status that no other transaction holds (FOR UPDATE SKIP LOCKED),
-- and only when all 64 are held (more than 64 concurrent transitions into
-- or out of one status) does it wait, for the slot of its order id.
-- `ordem ledger verify` compares the counters with a recount
-- (internal/orderstats).
CREATE TABLE order_stats (
    status         TEXT     NOT NULL,
    slot           SMALLINT NOT NULL CHECK (slot >= 0),
    orders         BIGINT   NOT NULL DEFAULT 0,
    -- Of them: released by the confirmation deadline, ever delivered,
    -- ever contested, answered by the client (contested, or confirmed by
    -- the client), and the seconds from delivery to those answers.
    auto_confirmed BIGINT   NOT NULL DEFAULT 0,
    delivered      BIGINT   NOT NULL DEFAULT 0,
    contested      BIGINT   NOT NULL DEFAULT 0,
    answered       BIGINT   NOT NULL DEFAULT 0,
    answer_seconds NUMERIC  NOT NULL DEFAULT 0,
    amount         NUMERIC  NOT NULL DEFAULT 0,
    PRIMARY KEY (status, slot)
)
-- Room for HOT updates: every transition updates a row or two.
WITH (fillfactor = 50);
INSERT INTO order_stats (status, slot)
SELECT st, n
FROM unnest(ARRAY['negotiating', 'in_progress', 'delivered', 'completed',
                  'disputed', 'resolved', 'cancelled', 'expired']) AS st,
     generate_series(0, 63) AS n;

-- What one order adds to the counters of its status (besides 1 order and
-- its amount). The one definition the trigger and bulk loaders use; the
-- recount in internal/orderstats is written independently, to check it.
-- +goose StatementBegin
CREATE FUNCTION order_stats_contribution(o orders,
    OUT auto_confirmed BIGINT, OUT delivered BIGINT, OUT contested BIGINT,
    OUT answered BIGINT, OUT answer_seconds NUMERIC)
LANGUAGE sql IMMUTABLE AS $$
    SELECT o.auto_confirmed::int::bigint, (o.delivered_at IS NOT NULL)::int::bigint,
           (o.contested_at IS NOT NULL)::int::bigint, (a.at IS NOT NULL)::int::bigint,
           coalesce(extract(epoch FROM a.at - o.delivered_at), 0)
    FROM (SELECT CASE WHEN o.contested_at IS NOT NULL THEN o.contested_at
                      WHEN o.status = 'completed' AND NOT o.auto_confirmed THEN o.closed_at END) AS a(at)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION order_stats_bump(p_status TEXT, p_order_id BIGINT, d_orders BIGINT, d_auto BIGINT,
                                 d_delivered BIGINT, d_contested BIGINT, d_answered BIGINT,
                                 d_seconds NUMERIC, d_amount NUMERIC)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT;
BEGIN
    SELECT slot INTO s FROM order_stats WHERE status = p_status ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        s := p_order_id % 64; -- every slot held: queue on the order's own
    END IF;
    UPDATE order_stats
    SET orders = orders + d_orders, auto_confirmed = auto_confirmed + d_auto,
        delivered = delivered + d_delivered, contested = contested + d_contested,
        answered = answered + d_answered, answer_seconds = answer_seconds + d_seconds,
        amount = amount + d_amount
    WHERE status = p_status AND slot = s;
    IF NOT FOUND THEN -- a status without rows (added by a later migration)
        INSERT INTO order_stats AS o (status, slot, orders, auto_confirmed, delivered, contested, answered,
                                      answer_seconds, amount)
        VALUES (p_status, s, d_orders, d_auto, d_delivered, d_contested, d_answered, d_seconds, d_amount)
        ON CONFLICT (status, slot) DO UPDATE
        SET orders = o.orders + d_orders, auto_confirmed = o.auto_confirmed + d_auto,
            delivered = o.delivered + d_delivered, contested = o.contested + d_contested,
            answered = o.answered + d_answered, answer_seconds = o.answer_seconds + d_seconds,
            amount = o.amount + d_amount;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION order_stats_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o RECORD;
    n RECORD;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT * INTO o FROM order_stats_contribution(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT * INTO n FROM order_stats_contribution(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
        -- One row to move, by the difference.
        IF (n.auto_confirmed, n.delivered, n.contested, n.answered, n.answer_seconds, NEW.amount)
           IS DISTINCT FROM (o.auto_confirmed, o.delivered, o.contested, o.answered, o.answer_seconds, OLD.amount) THEN
            PERFORM order_stats_bump(NEW.status, NEW.id, 0, n.auto_confirmed - o.auto_confirmed,
                n.delivered - o.delivered, n.contested - o.contested, n.answered - o.answered,
                n.answer_seconds - o.answer_seconds, NEW.amount - OLD.amount);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM order_stats_bump(OLD.status, OLD.id, -1, -o.auto_confirmed, -o.delivered, -o.contested,
            -o.answered, -o.answer_seconds, -OLD.amount);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM order_stats_bump(NEW.status, NEW.id, 1, n.auto_confirmed, n.delivered, n.contested,
            n.answered, n.answer_seconds, NEW.amount);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION order_stats_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE order_stats SET orders = 0, auto_confirmed = 0, delivered = 0, contested = 0, answered = 0,
                           answer_seconds = 0, amount = 0;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- Creating the triggers locks orders against writes until this migration
-- commits, so no transition slips between the backfill's snapshot and the
-- first counted one. Updates that touch nothing counted (evidence,
-- reminders, extensions) skip the trigger.
CREATE TRIGGER order_stats_insert_delete AFTER INSERT OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION order_stats_track();
CREATE TRIGGER order_stats_update AFTER UPDATE ON orders
    FOR EACH ROW
    WHEN ((OLD.status, OLD.amount, OLD.auto_confirmed, OLD.delivered_at, OLD.contested_at, OLD.closed_at)
          IS DISTINCT FROM (NEW.status, NEW.amount, NEW.auto_confirmed, NEW.delivered_at, NEW.contested_at, NEW.closed_at))
    EXECUTE FUNCTION order_stats_track();
CREATE TRIGGER order_stats_truncate AFTER TRUNCATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION order_stats_reset();

-- Existing orders, into slot 0.
INSERT INTO order_stats (status, slot, orders, auto_confirmed, delivered, contested, answered, answer_seconds, amount)
SELECT o.status, 0, count(*), sum(c.auto_confirmed), sum(c.delivered), sum(c.contested), sum(c.answered),
       sum(c.answer_seconds), sum(o.amount)
FROM orders o CROSS JOIN LATERAL order_stats_contribution(o) c
GROUP BY o.status
ON CONFLICT (status, slot) DO UPDATE
SET orders = EXCLUDED.orders, auto_confirmed = EXCLUDED.auto_confirmed, delivered = EXCLUDED.delivered,
    contested = EXCLUDED.contested, answered = EXCLUDED.answered, answer_seconds = EXCLUDED.answer_seconds,
    amount = EXCLUDED.amount;

-- Indexes for the routes `ordem bench reads` found over 50 ms at a million
-- orders (BENCHMARKS.md):
-- the provider dashboard's released earnings, an index-only sum instead
-- of a heap fetch per completed job;
CREATE INDEX orders_provider_earnings_idx ON orders (provider_id) INCLUDE (provider_net)
    WHERE status IN ('completed', 'resolved');
-- the dashboards' "awaiting action" lists, exactly the open orders waiting
-- on that party in deadline order, so a page is the index's first entries
-- instead of every open order of a busy user fetched and sorted;
CREATE INDEX orders_client_awaiting_idx ON orders
    (client_id, (CASE status WHEN 'delivered' THEN confirm_deadline ELSE proposal_expires_at END), id)
    WHERE status = 'delivered' OR (status = 'negotiating' AND last_proposed_by <> client_id);
CREATE INDEX orders_provider_awaiting_idx ON orders
    (provider_id, (CASE status WHEN 'in_progress' THEN due_date ELSE proposal_expires_at END), id)
    WHERE status = 'in_progress' OR (status = 'negotiating' AND last_proposed_by <> provider_id);
-- the overdue-confirmation gauge, an index-only range of exactly the
-- overdue orders (held ones are not in it);
CREATE INDEX orders_overdue_idx ON orders (confirm_deadline)
    WHERE status = 'delivered' AND NOT auto_confirm_held;
-- the admin's user and payout lists, newest first without sorting the
-- whole table.
CREATE INDEX users_created_idx ON users (created_at DESC, id DESC);
CREATE INDEX payouts_created_idx ON payouts (created_at DESC, id DESC);

-- +goose Down
DROP INDEX payouts_created_idx;
DROP INDEX users_created_idx;
DROP INDEX orders_overdue_idx;
DROP INDEX orders_provider_awaiting_idx;
DROP INDEX orders_client_awaiting_idx;
DROP INDEX orders_provider_earnings_idx;
DROP TRIGGER order_stats_truncate ON orders;
DROP TRIGGER order_stats_update ON orders;
DROP TRIGGER order_stats_insert_delete ON orders;
DROP FUNCTION order_stats_reset();
DROP FUNCTION order_stats_track();
DROP FUNCTION order_stats_bump(TEXT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, NUMERIC, NUMERIC);
DROP FUNCTION order_stats_contribution(orders);
DROP TABLE order_stats;

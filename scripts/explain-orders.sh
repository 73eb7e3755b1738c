#!/usr/bin/env bash
# Checks that the orders indexes keep the client's, the provider's and the
# admin's lists and dashboards fast at a million orders.
#
# Creates a scratch database, migrates it with `ordem migrate up`, generates
# ~1,000,000 orders over a few thousand clients and providers (skewed, so the
# heaviest users have tens of thousands of orders; statuses by age: recent
# orders are open, old ones are finished), VACUUM ANALYZEs, runs
# EXPLAIN (ANALYZE, BUFFERS) for each list/dashboard query and prints each
# plan and a one-line summary. The scratch database is dropped at the end.
#
# Usage: scripts/explain-orders.sh [orders=1000000]
# Env: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres); trust auth.
# Exit status 1 when a per-user or list query falls back to a sequential scan.
# The admin's KPIs read the order counters of migration 00012, which the
# script fills as that migration's backfill does (the bulk load bypasses the
# counting trigger).
set -euo pipefail
cd "$(dirname "$0")/.."

orders=${1:-1000000}
clients=4000
providers=2000
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
db=ordem_explain_$$
url="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${db}?sslmode=disable"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE ${db}"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db} WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

DATABASE_URL=$url ORDEM_ENV=dev go run ./cmd/ordem migrate up >/dev/null

# What to write in each column the generator knows of. The schema is still
# moving, so the column lists are built from the migrated table: a known
# column that no longer exists is skipped, and an unknown NOT NULL column
# without a default gets a zero value of its type. In the orders expressions,
# g is the order number, c/p the client/provider, amt the amount, ts the
# creation time and st the status.
declare -A expr=(
    [users.id]="g"
    [users.name]="CASE WHEN g <= ${clients} THEN 'Client ' WHEN g <= ${clients} + ${providers} THEN 'Provider ' ELSE 'Admin ' END || g"
    [users.email]="'user' || g || '@example.com'"
    [users.password_hash]="'x'"
    [users.role]="CASE WHEN g <= ${clients} THEN 'client' WHEN g <= ${clients} + ${providers} THEN 'provider' ELSE 'admin' END"
    [users.created_at]="now() - interval '800 days'"
    [orders.id]="g"
    [orders.client_id]="c"
    [orders.provider_id]="p"
    [orders.title]="'Order #' || g"
    [orders.description]="''"
    [orders.status]="st"
    [orders.amount]="amt"
    [orders.due_date]="ts + interval '14 days'"
    [orders.last_proposed_by]="c"
    [orders.proposal_version]="1"
    [orders.platform_fee_percentage]="5.0000"
    [orders.contestation_fee]="10.00"
    [orders.cancellation_fee_percentage]="10.0000"
    [orders.confirmation_deadline_hours]="36"
    [orders.proposal_expiry_hours]="72"
    [orders.confirmation_reminder_hours]="12"
    [orders.dispute_sla_hours]="72"
    [orders.platform_fee_amount]="CASE WHEN st IN ('completed', 'resolved') THEN round(amt * 0.05, 2) END"
    [orders.platform_revenue]="CASE WHEN st IN ('completed', 'resolved') THEN round(amt * 0.05, 2) ELSE 0 END"
    [orders.provider_amount]="CASE WHEN st IN ('completed', 'resolved') THEN amt - round(amt * 0.05, 2) END"
    [orders.provider_net]="CASE WHEN st IN ('completed', 'resolved') THEN amt - round(amt * 0.05, 2) ELSE 0 END"
    [orders.refund_amount]="CASE WHEN st = 'cancelled' THEN amt END"
    [orders.contest_fee_held]="CASE WHEN st = 'disputed' THEN 10.00 ELSE 0 END"
    [orders.proposal_expires_at]="ts + interval '72 hours'"
    [orders.accepted_at]="CASE WHEN st NOT IN ('negotiating', 'cancelled', 'expired') THEN ts + interval '1 hour' END"
    [orders.delivered_at]="CASE WHEN st IN ('delivered', 'completed', 'disputed', 'resolved') THEN ts + interval '3 days' END"
    [orders.confirm_deadline]="CASE WHEN st IN ('delivered', 'completed', 'disputed', 'resolved') THEN ts + interval '4 days 12 hours' END"
    [orders.completed_at]="CASE WHEN st = 'completed' THEN ts + interval '4 days' END"
    [orders.contested_at]="CASE WHEN st IN ('disputed', 'resolved') THEN ts + interval '3 days 12 hours' END"
    [orders.contest_reason]="CASE WHEN st IN ('disputed', 'resolved') THEN 'not as agreed' END"
    [orders.resolved_at]="CASE WHEN st = 'resolved' THEN ts + interval '6 days' END"
    [orders.resolution_reason]="CASE WHEN st = 'resolved' THEN 'split' END"
    [orders.cancelled_at]="CASE WHEN st = 'cancelled' THEN ts + interval '2 hours' END"
    [orders.cancelled_by]="CASE WHEN st = 'cancelled' THEN c END"
    [orders.cancelled_by_role]="CASE WHEN st = 'cancelled' THEN 'client' END"
    [orders.cancel_reason]="CASE WHEN st = 'cancelled' THEN 'changed my mind' END"
    [orders.expired_at]="CASE WHEN st = 'expired' THEN ts + interval '72 hours' END"
    [orders.closed_at]="CASE WHEN st IN ('completed', 'resolved', 'cancelled', 'expired') THEN ts + interval '4 days' END"
    [orders.created_at]="ts"
    [orders.updated_at]="ts + interval '4 days'"
)
# columns TABLE: sets cols and vals, the INSERT column and SELECT lists.
columns() {
    cols='' vals=''
    local name nullable hasdef type e
    while IFS='|' read -r name nullable hasdef type; do
        e=${expr[$1.$name]:-}
        if [ -z "$e" ] && [ "$nullable" = NO ] && [ "$hasdef" = f ]; then
            case $type in
                smallint|integer|bigint|numeric|real|'double precision') e=0 ;;
                text|'character varying'|character) e="''" ;;
                boolean) e=false ;;
                jsonb|json) e="'{}'" ;;
                'timestamp with time zone'|'timestamp without time zone'|date) e=now\(\) ;;
                *) echo "explain-orders: no value for NOT NULL column $1.$name of type $type" >&2; exit 1 ;;
            esac
        fi
        if [ -n "$e" ]; then
            cols+="${cols:+, }$name" vals+="${vals:+,
       }$e"
        fi
    done < <(q -tA -c "SELECT column_name, is_nullable, (column_default IS NOT NULL), data_type
                       FROM information_schema.columns
                       WHERE table_schema = 'public' AND table_name = '$1' ORDER BY ordinal_position")
}
columns users; user_cols=$cols user_vals=$vals
columns orders; order_cols=$cols order_vals=$vals

start=$(date +%s)
q >/dev/null <<SQL
-- Scratch database only: skip the per-row foreign-key triggers while bulk
-- loading (the ids are generated in range); every index is still maintained.
SET session_replication_role = replica;
SELECT setseed(0.42);

-- Users 1..${clients} are clients, then ${providers} providers, then one admin.
INSERT INTO users (${user_cols})
SELECT ${user_vals}
FROM generate_series(1, ${clients} + ${providers} + 1) g;
SELECT setval('users_id_seq', ${clients} + ${providers} + 1);

-- Clients and providers are drawn with u^2, so low ids are power users
-- (~1.6% of all orders for client 1, ~2.2% for provider ${clients}+1).
-- The newest 5% of orders (about the last month) hold the open ones.
INSERT INTO orders (${order_cols})
SELECT ${order_vals}
FROM (
    -- Clients 2, 12, 22, ... have churned: no orders in the recent window,
    -- so no open ones (their recent draws go to the client before them).
    SELECT g, CASE WHEN g > ${orders} * 0.95 AND c % 10 = 2 THEN c - 1 ELSE c END AS c, p, amt, ts,
           CASE WHEN g > ${orders} * 0.95 THEN
                    CASE WHEN r < 0.25 THEN 'negotiating' WHEN r < 0.60 THEN 'in_progress'
                         WHEN r < 0.80 THEN 'delivered'   WHEN r < 0.85 THEN 'disputed'
                         WHEN r < 0.95 THEN 'completed'   ELSE 'cancelled' END
                ELSE
                    CASE WHEN r < 0.800 THEN 'completed' WHEN r < 0.900 THEN 'cancelled'
                         WHEN r < 0.950 THEN 'expired'   WHEN r < 0.999 THEN 'resolved'
                         ELSE 'disputed' END
           END AS st
    FROM (
        SELECT g, random() AS r,
               1 + floor(${clients} * power(random(), 2))::bigint AS c,
               ${clients} + 1 + floor(${providers} * power(random(), 2))::bigint AS p,
               round((10 + random() * 990)::numeric, 2) AS amt,
               now() - (${orders} - g) * interval '1 minute' + random() * interval '50 seconds' AS ts
        FROM generate_series(1, ${orders}) g
    ) raw
) s;
SELECT setval('orders_id_seq', ${orders});
SQL
# The load bypassed the triggers, the counting one included: add the orders
# to the counters as the migration's backfill does (internal/orderstats
# AddOrders), so they equal a recount.
q -tA -c "SELECT to_regclass('order_stats') IS NOT NULL" | grep -q t && q >/dev/null <<SQL
UPDATE order_stats s
SET orders = s.orders + a.orders, auto_confirmed = s.auto_confirmed + a.auto_confirmed,
    delivered = s.delivered + a.delivered, contested = s.contested + a.contested,
    answered = s.answered + a.answered, answer_seconds = s.answer_seconds + a.answer_seconds,
    amount = s.amount + a.amount
FROM (SELECT o.status, count(*) AS orders, sum(c.auto_confirmed) AS auto_confirmed, sum(c.delivered) AS delivered,
             sum(c.contested) AS contested, sum(c.answered) AS answered, sum(c.answer_seconds) AS answer_seconds,
             sum(o.amount) AS amount
      FROM orders o CROSS JOIN LATERAL order_stats_contribution(o) c GROUP BY o.status) a
WHERE s.status = a.status AND s.slot = 0;
SQL
q -c "VACUUM ANALYZE users" -c "VACUUM ANALYZE orders"
load_secs=$(( $(date +%s) - start ))

# Parameters: the heaviest client and provider (the worst case for their
# lists and counts) and keyset cursors a few pages deep.
read -r client provider < <(q -tA -F ' ' -c "
    SELECT (SELECT client_id FROM orders GROUP BY 1 ORDER BY count(*) DESC LIMIT 1),
           (SELECT provider_id FROM orders GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)")
cursor() { # $1: WHERE clause; prints "'created_at'|id" of the 100th newest match
    q -tA -c "SELECT quote_literal(created_at) || '|' || id FROM orders WHERE $1
              ORDER BY created_at DESC, id DESC OFFSET 100 LIMIT 1"
}
IFS='|' read -r c_ts c_id < <(cursor "client_id = $client")
IFS='|' read -r cs_ts cs_id < <(cursor "client_id = $client AND status = 'completed'")
IFS='|' read -r p_ts p_id < <(cursor "provider_id = $provider")
IFS='|' read -r a_ts a_id < <(cursor "true")
IFS='|' read -r as_ts as_id < <(cursor "status = 'in_progress'")

echo "== orders explain: $(q -tA -c 'SELECT count(*) FROM orders') orders, $((clients + providers + 1)) users, loaded+vacuumed in ${load_secs}s"
echo "== heaviest client $client: $(q -tA -c "SELECT count(*) FROM orders WHERE client_id = $client") orders; heaviest provider $provider: $(q -tA -c "SELECT count(*) FROM orders WHERE provider_id = $provider") orders"
echo "== churned client 2: $(q -tA -c "SELECT count(*) || ' orders, ' || count(*) FILTER (WHERE status IN ('negotiating', 'in_progress', 'delivered', 'disputed')) || ' open' FROM orders WHERE client_id = 2")"
echo "== status spread: $(q -tA -c "SELECT string_agg(status || '=' || n, ' ' ORDER BY n DESC) FROM (SELECT status, count(*) n FROM orders GROUP BY 1) s")"

cols="id, client_id, provider_id, title, status, amount, due_date, created_at, updated_at"
names=() sqls=() kinds=()
add() { names+=("$1"); kinds+=("$2"); sqls+=("$3"); }
add client_list index "SELECT $cols FROM orders WHERE client_id = $client AND (created_at, id) < ($c_ts, $c_id) ORDER BY created_at DESC, id DESC LIMIT 20"
add client_list_status index "SELECT $cols FROM orders WHERE client_id = $client AND status = 'completed' AND (created_at, id) < ($cs_ts, $cs_id) ORDER BY created_at DESC, id DESC LIMIT 20"
add client_active_list index "SELECT $cols FROM orders WHERE client_id = $client AND status IN ('negotiating', 'in_progress', 'delivered', 'disputed') ORDER BY created_at DESC, id DESC LIMIT 20"
add client_active_list_churned index "SELECT $cols FROM orders WHERE client_id = 2 AND status IN ('negotiating', 'in_progress', 'delivered', 'disputed') ORDER BY created_at DESC, id DESC LIMIT 20"
add provider_list index "SELECT $cols FROM orders WHERE provider_id = $provider AND (created_at, id) < ($p_ts, $p_id) ORDER BY created_at DESC, id DESC LIMIT 20"
add admin_list index "SELECT $cols FROM orders WHERE (created_at, id) < ($a_ts, $a_id) ORDER BY created_at DESC, id DESC LIMIT 20"
add admin_list_status index "SELECT $cols FROM orders WHERE status = 'in_progress' AND (created_at, id) < ($as_ts, $as_id) ORDER BY created_at DESC, id DESC LIMIT 20"
add client_counts index "SELECT status, count(*) FROM orders WHERE client_id = $client GROUP BY status"
add provider_counts index "SELECT status, count(*) FROM orders WHERE provider_id = $provider GROUP BY status"
add client_awaiting index "SELECT id, title, status, amount FROM orders WHERE client_id = $client AND (status = 'delivered' OR (status = 'negotiating' AND last_proposed_by <> client_id)) ORDER BY CASE status WHEN 'delivered' THEN confirm_deadline ELSE proposal_expires_at END NULLS LAST, id LIMIT 100"
add provider_awaiting index "SELECT id, title, status, amount FROM orders WHERE provider_id = $provider AND (status = 'in_progress' OR (status = 'negotiating' AND last_proposed_by <> provider_id)) ORDER BY CASE status WHEN 'in_progress' THEN due_date ELSE proposal_expires_at END NULLS LAST, id LIMIT 100"
add provider_earnings index "SELECT coalesce(sum(provider_net), 0) FROM orders WHERE provider_id = $provider AND status IN ('completed', 'resolved')"
add dispute_queue index "SELECT $cols, contested_at FROM orders WHERE status = 'disputed' ORDER BY contested_at LIMIT 50"
add confirm_deadline_queue index "SELECT $cols, confirm_deadline FROM orders WHERE status = 'delivered' ORDER BY confirm_deadline LIMIT 50"
add overdue_confirmations index "SELECT count(*), min(confirm_deadline) FROM orders WHERE status = 'delivered' AND NOT auto_confirm_held AND confirm_deadline < now()"
add admin_users_list index "SELECT id, name, role, created_at FROM users ORDER BY created_at DESC, id DESC LIMIT 20"
# The admin's KPIs read the maintained counters (a few hundred rows:
# scanning them is the plan); the recount is what "ordem ledger verify"
# compares them with.
add admin_kpi_counters counters "SELECT status, sum(orders), sum(auto_confirmed), sum(delivered), sum(contested), sum(answered), sum(answer_seconds), sum(amount) FROM order_stats GROUP BY status"
add admin_status_recount scan "SELECT status, count(*) FROM orders GROUP BY status"

fail=0
summary=()
for i in "${!names[@]}"; do
    plan=$(q -c "EXPLAIN (ANALYZE, BUFFERS) ${sqls[$i]}")
    echo
    echo "### ${names[$i]}"
    echo "${sqls[$i]}"
    echo "$plan"
    # Plan nodes, root first: "Limit > Index Scan using orders_client_created_idx".
    nodes=$(echo "$plan" | grep '(cost=' | sed -E 's/^ *(-> *)?//; s/ +\(cost=.*//; s/ on orders( [a-z_]+)?$//' |
        paste -sd '>' | sed 's/>/ > /g')
    exec_ms=$(echo "$plan" | awk '/Execution Time/ {print $3}')
    verdict=ok
    if [ "${kinds[$i]}" = index ] && echo "$plan" | grep -q 'Seq Scan'; then
        verdict="SEQ SCAN: needs an index"
        fail=1
    elif [ "${kinds[$i]}" = scan ]; then
        verdict="full scan (expected)"
    elif [ "${kinds[$i]}" = counters ]; then
        verdict="counters (expected: $(q -tA -c 'SELECT count(*) FROM order_stats') rows)"
    fi
    summary+=("$(printf '| %s | %s | %s ms | %s |' "${names[$i]}" "$nodes" "$exec_ms" "$verdict")")
done

echo
echo "== orders explain summary (heaviest client $client, heaviest provider $provider)"
echo "| query | plan nodes | execution | verdict |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${summary[@]}"
exit $fail

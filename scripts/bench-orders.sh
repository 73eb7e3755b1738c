#!/usr/bin/env bash
# Ordem end to end against its ceiling, on the stacks operators run.
#
# For each Temporal store (SQLite, the `ordem dev` default; Postgres, as a
# production cluster keeps it) it starts `ordem dev` on a fresh database,
# drives it over HTTP with `ordem bench orders` (USERS virtual users
# running create → accept → deliver → confirm for DURATION), then runs the
# order-shaped no-op workflow on the same Temporal server
# (`--ceiling`, workflows/ceiling) and prints the ratio. On the SQLite stack
# it also runs `ordem bench timers` (TIMER_ORDERS deliveries whose
# deadlines fall together). Then the scale-out run: Temporal alone
# (`ordem dev --temporal-only`), the S3 store, 2 `ordem api` and 2
# `ordem worker` processes on one database, driven with every scenario
# (confirmed, auto-confirmed, disputed with evidence and a ruling,
# cancelled with penalty) through both APIs.
#
# Every run ends with the money checked to the cent and `ledger verify`;
# a failed check fails the script. Markdown tables go to $OUT/orders.md
# (bench.sh puts them in BENCHMARKS.md), raw outputs beside them.
#
# Env: OUT (output directory, required), USERS (8), DURATION (30s),
# TIMER_ORDERS (2000; 0 skips), STORES ("sqlite postgres"),
# SCALE_OUT (1; 0 skips), PORT_BASE (18100), TEST_DATABASE_URL (the
# server to create the benchmark databases on). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:?OUT must name the output directory}
users=${USERS:-8}
duration=${DURATION:-30s}
timer_orders=${TIMER_ORDERS:-2000}
stores=${STORES:-sqlite postgres}
scale_out=${SCALE_OUT:-1}
port=${PORT_BASE:-18100}
server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
admin_email=bench-admin@ordem.local
admin_password=bench-admin-password-0123456789
mkdir -p "$out"
bin=$out/ordem
go build -o "$bin" ./cmd/ordem
gopath=$(go env GOPATH)
export PATH="$gopath/bin:$PATH"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# db_url NAME: the server's URL with database NAME.
db_url() { echo "$server" | sed -E "s#/[^/?]*(\?|$)#/$1\1#"; }
psql_server() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$server" "$@"; }
fresh_db() { # NAME: drop NAME and Temporal's databases named after it, create NAME
    for d in "$1" "$1_temporal" "$1_temporal_visibility"; do
        psql_server -c "DROP DATABASE IF EXISTS $d WITH (FORCE)"
    done
    psql_server -c "CREATE DATABASE $1"
}
wait_url() { # URL SECONDS LOG
    for _ in $(seq 1 "$(( $2 * 5 ))"); do
        if curl -sf -o /dev/null "$1"; then return 0; fi
        sleep 0.2
    done
    echo "not ready: $1; last lines of $3:" >&2
    tail -n 30 "$3" >&2
    return 1
}
wait_log() { # FILE TEXT SECONDS
    for _ in $(seq 1 "$(( $3 * 5 ))"); do
        if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "no '$2' in $1:" >&2
    tail -n 30 "$1" >&2
    return 1
}
common_env=(RATELIMIT_ENABLED=false LOG_LEVEL=WARNING "ADMIN_EMAIL=$admin_email" "ADMIN_PASSWORD=$admin_password")

# md: a row per run, from the JSON each `ordem bench orders` wrote.
md=$out/orders.md
: > "$md"
row() { # LABEL JSON
    jq -r --arg name "$1" '
        def ms(p): if p then (p.p95_ms | tostring) else "–" end;
        def others: [.ordem.actions | to_entries[] | select(.key != "create") | .value.p95_ms] | max;
        "| \($name) | \(.ordem.users) | \(.ordem.orders_per_second * 100 | round / 100) | " +
        (if .ceiling then "\(.ceiling.orders_per_second * 100 | round / 100) | **\(.ratio * 100 | round / 100)×**" else "– | –" end) +
        " | \(.ordem.actions.create.p95_ms | round) | \(others | round) | \(.ordem.order_latency.p99_ms | round) | " +
        "\(.ordem.cpu_seconds_per_order * 1000 | round / 1000) | " +
        (if .ceiling then "\(.ceiling.cpu_seconds_per_order * 1000 | round / 1000)" else "–" end) +
        " | \(if (.ordem.errors | length) == 0 then "none" else (.ordem.errors | tostring) end) | " +
        (if .ordem.money_conserved and .ordem.ledger_verified then "exact, verify OK" else "**FAILED**" end) + " |"' "$2" >> "$md"
}

run_dev_store() { # STORE
    local store=$1 db=ordem_bench_$1 dir=$out/dev-$1
    local http=$((port)) tport=$((port + 1)) ui=$((port + 2)) s3=$((port + 3)) wport=$((port + 4))
    port=$((port + 10))
    fresh_db "$db"
    rm -rf "$dir"
    echo
    echo "== ordem dev --temporal-store $store (database $db, ports from $http)"
    env "${common_env[@]}" DATABASE_URL="$(db_url "$db")" \
        "$bin" dev --data-dir "$dir" --temporal-store "$store" --http-port "$http" --temporal-port "$tport" \
        --ui-port "$ui" --s3-port "$s3" --worker-port "$wport" > "$out/dev-$store.log" 2>&1 &
    local dev=$!
    pids+=("$dev")
    wait_log "$out/dev-$store.log" "Admin login" 240
    wait_url "http://127.0.0.1:$http/readyz" 60 "$out/dev-$store.log"
    echo "== $bin bench orders --users $users --duration $duration --mix confirmed=1 --ceiling (store $store)"
    "$bin" bench orders --url "http://127.0.0.1:$http" --admin-email "$admin_email" --admin-password "$admin_password" \
        --users "$users" --duration "$duration" --mix confirmed=1 --ceiling --temporal-address "127.0.0.1:$tport" \
        --database-url "$(db_url "$db")" --json "$out/orders-$store.json" | tee "$out/orders-$store.txt"
    row "\`ordem dev\`, Temporal on $store" "$out/orders-$store.json"
    if [ "$store" = sqlite ] && [ "$timer_orders" -gt 0 ]; then
        echo "== $bin bench timers --orders $timer_orders (store $store)"
        "$bin" bench timers --url "http://127.0.0.1:$http" --admin-email "$admin_email" --admin-password "$admin_password" \
            --orders "$timer_orders" --json "$out/timers.json" | tee "$out/timers.txt"
    fi
    kill "$dev"
    wait "$dev" 2>/dev/null || true
}

run_scale_out() {
    local db=ordem_bench_scale dir=$out/scale
    local tport=$((port)) ui=$((port + 1)) s3=$((port + 2))
    port=$((port + 10))
    fresh_db "$db"
    rm -rf "$dir"
    mkdir -p "$dir/s3"
    echo
    echo "== scale-out: ordem dev --temporal-only, versitygw, 2 × ordem worker, 2 × ordem api (database $db)"
    "$bin" dev --temporal-only --data-dir "$dir/temporal" --temporal-port "$tport" --ui-port "$ui" > "$out/scale-temporal.log" 2>&1 &
    pids+=("$!")
    ROOT_ACCESS_KEY_ID=ordemdev ROOT_SECRET_ACCESS_KEY=ordemdev-secret-key \
        versitygw --port "127.0.0.1:$s3" --region us-east-1 --health /health --quiet posix "$dir/s3" > "$out/scale-s3.log" 2>&1 &
    pids+=("$!")
    wait_log "$out/scale-temporal.log" "Temporal dev server is up" 240
    wait_url "http://127.0.0.1:$s3/health" 30 "$out/scale-s3.log"
    local env=("${common_env[@]}" ORDEM_ENV=test DATABASE_URL="$(db_url "$db")" TEMPORAL_ADDRESS="127.0.0.1:$tport"
        TEMPORAL_NAMESPACE=default S3_ENDPOINT="http://127.0.0.1:$s3" S3_REGION=us-east-1 S3_BUCKET=ordem-evidence
        S3_USE_PATH_STYLE=true S3_ACCESS_KEY_ID=ordemdev S3_SECRET_ACCESS_KEY=ordemdev-secret-key)
    env "${env[@]}" "$bin" migrate up > "$out/scale-migrate.log" 2>&1
    env "${env[@]}" "$bin" seed > "$out/scale-seed.log" 2>&1
    local urls=() i
    for i in 1 2; do
        env "${env[@]}" WORKER_HTTP_ADDR="127.0.0.1:$((port + i))" "$bin" worker > "$out/scale-worker-$i.log" 2>&1 &
        pids+=("$!")
        wait_url "http://127.0.0.1:$((port + i))/readyz" 60 "$out/scale-worker-$i.log"
    done
    for i in 1 2; do
        env "${env[@]}" HTTP_ADDR="127.0.0.1:$((port + 5 + i))" "$bin" api > "$out/scale-api-$i.log" 2>&1 &
        pids+=("$!")
        wait_url "http://127.0.0.1:$((port + 5 + i))/readyz" 60 "$out/scale-api-$i.log"
        urls+=(--url "http://127.0.0.1:$((port + 5 + i))")
    done
    port=$((port + 10))
    local mix=confirmed=6,auto_confirmed=2,disputed=1,cancelled=1
    echo "== $bin bench orders ${urls[*]} --users $users --duration $duration --mix $mix --confirm-deadline 20s"
    "$bin" bench orders "${urls[@]}" --admin-email "$admin_email" --admin-password "$admin_password" \
        --users "$users" --duration "$duration" --mix "$mix" --confirm-deadline 20s \
        --database-url "$(db_url "$db")" --json "$out/orders-scale.json" | tee "$out/orders-scale.txt"
    row "2 × \`ordem api\` + 2 × \`ordem worker\`, Temporal on sqlite, every scenario ($mix)" "$out/orders-scale.json"
    cleanup
    pids=()
}

for s in $stores; do run_dev_store "$s"; done
if [ "$scale_out" = 1 ]; then run_scale_out; fi

{
    echo
    echo "| stack | users | Ordem orders/s | no-op workflows/s | Ordem ÷ no-op | create p95 ms | other actions' max p95 ms | order p99 ms | CPU s/order (Ordem) | CPU s/workflow (no-op) | errors | money |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    cat "$md"
    if [ -f "$out/timers.json" ]; then
        echo
        jq -r '"Timers (`ordem dev`, SQLite): \(.timers.orders) orders delivered in \(.timers.delivery_seconds | round) s, " +
            "deadlines spread over \(.timers.deadline_span_seconds | round) s; released \(.timers.released), lost \(.timers.lost); " +
            "lag from deadline to release p50 \(.timers.lag.p50_ms | round) ms, p99 \(.timers.lag.p99_ms | round) ms, " +
            "max \(.timers.lag.max_ms | round) ms; drain \(.timers.drain_rate * 10 | round / 10) releases/s."' "$out/timers.json"
    fi
} > "$out/orders-table.md"
cat "$out/orders-table.md"

#!/usr/bin/env bash
# The ledger benchmark against the Postgres ceiling, and the orders index check.
#
#   1. For 8, then 32 concurrent writers/clients, back to back so both see the
#      same machine:
#      - BenchmarkPost: committed ledger postings per second, uniform (random
#        user-to-user transfers) and hot (every posting also credits
#        platform:revenue, sharded as in production), once over the
#        transport pgbench uses (the server's Unix socket, when PGHOST is
#        unset or a directory) and once over TCP loopback
#        (TEST_DATABASE_URL's host, as a networked deployment talks);
#      - pgbench tpcb-like and simple-update on the same server, by the shared
#        fixed method (../shared/bench/pgbench-baseline.sh).
#   2. The ratios: ledger postings/s ÷ pgbench tpcb-like tps, same concurrency.
#   3. scripts/explain-orders.sh: EXPLAIN of the order lists and dashboards at
#      a million orders.
#
# Takes about 5 minutes. Env: BENCHTIME (go -benchtime, default 6s),
# PGBENCH_SECS (default 15), PGBENCH_BASELINE (path to pgbench-baseline.sh),
# BENCH_OUT (directory for the raw outputs, default a temporary one), ORDERS
# (orders generated for the EXPLAIN check, default 1000000),
# LEDGER_TRANSPORTS (default "socket tcp"; socket is skipped when pgbench
# itself talks TCP, i.e. PGHOST names a host).
# Needs a local Postgres (trust auth, user postgres) and pgbench.
# Other processes' CPU use is sampled with top and reported per phase: on a
# shared 2-core machine, a compile running alongside skews the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

benchtime=${BENCHTIME:-6s}
pgbench_secs=${PGBENCH_SECS:-15}
baseline=${PGBENCH_BASELINE:-../shared/bench/pgbench-baseline.sh}
out=${BENCH_OUT:-$(mktemp -d -t ordem-bench.XXXXXX)}
mkdir -p "$out"
: > "$out/phases.txt"
started=$(date +%s)

top -b -d 2 -w 250 > "$out/top.txt" 2>/dev/null &
top_pid=$!
# The server is shared too: which backend serves whom, sampled alongside,
# so that other clients' queries count as other work (the benchmark's
# connections are named ordem-ledger-bench, pgbench's pgbench).
(while :; do
    psql -X -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres -tA -F ' ' -c "
        SELECT pid, CASE WHEN backend_type <> 'client backend' OR application_name IN ('ordem-ledger-bench', 'pgbench')
                         THEN 'ours' ELSE 'other' END
        FROM pg_stat_activity WHERE pid <> pg_backend_pid()" 2>/dev/null
    sleep 1
done) > "$out/activity.txt" &
activity_pid=$!
trap 'kill "$top_pid" "$activity_pid" 2>/dev/null || true' EXIT
phase() { echo "$1 $2 $(date +%H:%M:%S)" >> "$out/phases.txt"; } # name begin|end

server_version=$(psql -X -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres -tAc 'SHOW server_version' 2>/dev/null || echo unknown)
echo "== machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "== $(psql --version), server $server_version, $(go version | cut -d' ' -f3-4)"
echo "== load before the run: $(uptime | sed 's/.*load average: //')"
echo "== raw outputs in $out"

# pgbench-baseline.sh connects with libpq's defaults: the Unix socket
# unless PGHOST names a host. The ledger is measured over that same
# transport (BENCH_PGHOST, read by BenchmarkPost) and over TCP.
if [ -z "${PGHOST:-}" ]; then
    pg_socket=$(psql -X -h 127.0.0.1 -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres -tAc 'SHOW unix_socket_directories' | cut -d, -f1 | sed 's/^ *//')
elif [ "${PGHOST#/}" != "$PGHOST" ]; then
    pg_socket=$PGHOST
else
    pg_socket=
fi
transports=
for t in ${LEDGER_TRANSPORTS:-socket tcp}; do
    if [ "$t" = socket ] && [ -z "$pg_socket" ]; then continue; fi
    transports="$transports $t"
done
echo "== ledger transports:$transports (socket: ${pg_socket:-none}; pgbench: ${PGHOST:-socket})"

go test -c -o "$out/ledger.test" ./internal/ledger/ # compile before the clock
for t in $transports; do : > "$out/ledger-$t.txt"; done
for clients in 8 32; do
    for t in $transports; do
        bench_pghost=
        if [ "$t" = socket ]; then bench_pghost=$pg_socket; fi
        echo
        echo "== BENCH_PGHOST=$bench_pghost go test -run '^\$' -bench 'BenchmarkPost/^writers=$clients\$' -benchtime=$benchtime ./internal/ledger/"
        phase "ledger-$t-$clients" begin
        (cd internal/ledger && BENCH_PGHOST=$bench_pghost "$out/ledger.test" -test.run '^$' -test.bench "BenchmarkPost/^writers=$clients\$" -test.benchtime="$benchtime") |
            tee -a "$out/ledger-$t.txt"
        phase "ledger-$t-$clients" end
    done
    echo
    echo "== bash $baseline $clients $pgbench_secs"
    phase "pgbench-$clients" begin
    bash "$baseline" "$clients" "$pgbench_secs" | tee "$out/pgbench-$clients.txt"
    phase "pgbench-$clients" end
done
echo "== load after the benchmarks: $(uptime | sed 's/.*load average: //')"

ledger_metric() { # $1 writers, $2 uniform|hot, $3 unit, $4 transport
    awk -v name="BenchmarkPost/writers=$1/$2" -v unit="$3" '
        { n = $1; sub(/-[0-9]+$/, "", n) }
        n == name { for (i = 2; i < NF; i++) if ($(i + 1) == unit) print $i }' "$out/ledger-$4.txt"
}
pgbench_tps() { # $1 clients, $2 mode
    awk -v mode="$2" '$2 == mode {print $3}' "$out/pgbench-$1.txt"
}

echo
echo "== ledger vs pgbench (ratio = ledger postings/s ÷ pgbench tpcb-like tps at the same concurrency)"
{
echo "| writers | workload | ledger transport | ledger postings/s | p50 ms | p99 ms | pgbench tpcb-like tps | pgbench simple-update tps | ratio vs tpcb-like |"
echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for clients in 8 32; do
    tpcb=$(pgbench_tps "$clients" tpcb-like)
    simple=$(pgbench_tps "$clients" simple-update)
    for t in $transports; do
        for mode in uniform hot; do
            awk -v c="$clients" -v m="$mode" -v tr="$t" -v r="$(ledger_metric "$clients" "$mode" postings/s "$t")" -v t="$tpcb" -v s="$simple" \
                -v p50="$(ledger_metric "$clients" "$mode" p50-ms "$t")" -v p99="$(ledger_metric "$clients" "$mode" p99-ms "$t")" \
                'BEGIN { printf "| %d | %s | %s | %.0f | %s | %s | %.0f | %.0f | %.2f× |\n", c, m, tr, r, p50, p99, t, s, (t > 0 ? r / t : 0) }'
        done
    done
done
} | tee "$out/ledger-table.md"

echo
echo "== bash scripts/explain-orders.sh"
explain_rc=0
phase explain begin
bash scripts/explain-orders.sh "${ORDERS:-1000000}" > "$out/explain.txt" 2>&1 || explain_rc=$?
phase explain end
sed -n '/^== orders explain:/,/^== status spread/p' "$out/explain.txt"
sed -n '/^== orders explain summary/,$p' "$out/explain.txt"
echo "(full plans in $out/explain.txt)"

# CPU used by other work on the machine, from the top samples, per phase:
# processes other than Postgres, pgbench and the benchmark binary, and, in
# the ledger and pgbench phases, Postgres backends serving other clients
# (from the pg_stat_activity samples; the explain phase's own psql
# sessions are not named, so there every backend counts as ours).
kill "$top_pid" "$activity_pid" 2>/dev/null || true
echo
echo "== other processes' CPU during each phase (% of one core; the machine has $(nproc) cores = $(( $(nproc) * 100 ))%; other clients' Postgres backends included in the ledger and pgbench phases)"
awk '
    FILENAME == ARGV[1] { if ($2 == "begin") b[$1] = $3; else e[$1] = $3; order[++np] = $1; next }
    FILENAME == ARGV[2] { if (NF == 2) whose[$1] = $2; next }
    /^top - / { t = $3; ts[++ns] = t; other[t] = 0; otherpg[t] = 0; next }
    $1 ~ /^[0-9]+$/ && NF >= 12 && $12 == "postgres" && whose[$1] == "other" { otherpg[t] += $9 }
    $1 ~ /^[0-9]+$/ && NF >= 12 && $12 !~ /^(postgres|pgbench|ledger\.test|top|psql)$/ { other[t] += $9 }
    END {
        for (i = 1; i <= np; i += 2) {
            p = order[i]; n = 0; sum = 0; max = 0; pg = (p ~ /^(ledger|pgbench)/)
            for (j = 1; j <= ns; j++) if (ts[j] >= b[p] && ts[j] <= e[p]) {
                v = other[ts[j]] + (pg ? otherpg[ts[j]] : 0); n++; sum += v; if (v > max) max = v
            }
            printf "%-16s %s-%s  avg %5.1f%%  max %5.1f%%  (%d samples)\n", p, b[p], e[p], n ? sum / n : 0, max, n
        }
    }' "$out/phases.txt" "$out/activity.txt" "$out/top.txt"

# Ordem end to end against the no-op ceiling, both Temporal stores, timers
# and the scale-out run (scripts/bench-orders.sh), unless BENCH_ORDERS=0.
orders_rc=0
if [ "${BENCH_ORDERS:-1}" = 1 ]; then
    echo
    echo "== OUT=$out bash scripts/bench-orders.sh"
    OUT=$out bash scripts/bench-orders.sh || orders_rc=$?
fi

# BENCHMARKS.md: this run's tables between the markers; the prose around
# them is kept by hand.
if [ "${BENCH_WRITE:-1}" = 1 ] && [ "$orders_rc" -eq 0 ]; then
    {
        echo "<!-- bench:begin (written by make bench) -->"
        echo
        echo "Run of $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), PostgreSQL $server_version, $(go version | cut -d' ' -f3): \`make bench\` (raw outputs were in \`$out\`)."
        echo
        echo "Ledger vs pgbench (\`BenchmarkPost\` ÷ \`../shared/bench/pgbench-baseline.sh\`, same concurrency, back to back):"
        echo
        cat "$out/ledger-table.md"
        if [ -f "$out/orders-table.md" ]; then
            echo
            echo "Orders over HTTP against the order-shaped no-op workflow on the same Temporal server (\`scripts/bench-orders.sh\`):"
            cat "$out/orders-table.md"
        fi
        echo
        echo "<!-- bench:end -->"
    } > "$out/section.md"
    awk -v section="$out/section.md" '
        /^<!-- bench:begin/ { while ((getline line < section) > 0) print line; skip = 1; next }
        /^<!-- bench:end/ { skip = 0; next }
        !skip' BENCHMARKS.md > "$out/BENCHMARKS.md"
    if grep -q '^<!-- bench:begin' BENCHMARKS.md; then
        cp "$out/BENCHMARKS.md" BENCHMARKS.md
        echo "== BENCHMARKS.md updated"
    else
        echo "BENCHMARKS.md has no <!-- bench:begin --> marker: not updated" >&2
    fi
fi

echo
echo "== done in $(( $(date +%s) - started ))s"
if [ "$orders_rc" -ne 0 ]; then
    echo "bench-orders failed (exit $orders_rc)" >&2
    exit "$orders_rc"
fi
if [ "$explain_rc" -ne 0 ]; then
    echo "explain-orders failed (exit $explain_rc): see $out/explain.txt" >&2
    exit "$explain_rc"
fi

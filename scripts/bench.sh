#!/usr/bin/env bash
# The ledger benchmark against the Postgres ceiling, and the orders index check.
#
#   1. For 8, then 32 concurrent writers/clients, back to back so both see the
#      same machine:
#      - BenchmarkPost: committed ledger postings per second, uniform (random
#        user-to-user transfers), hot (every posting also credits
#        platform:revenue) and hot-sharded (the fee goes to one of 16 revenue
#        sub-accounts: the design that would lift the hot-account ceiling);
#      - pgbench tpcb-like and simple-update on the same server, by the shared
#        fixed method (../shared/bench/pgbench-baseline.sh).
#   2. The ratios: ledger postings/s ÷ pgbench tpcb-like tps, same concurrency.
#   3. scripts/explain-orders.sh: EXPLAIN of the order lists and dashboards at
#      a million orders.
#
# Takes about 3 minutes. Env: BENCHTIME (go -benchtime, default 6s),
# PGBENCH_SECS (default 15), PGBENCH_BASELINE (path to pgbench-baseline.sh),
# BENCH_OUT (directory for the raw outputs, default a temporary one), ORDERS
# (orders generated for the EXPLAIN check, default 1000000).
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
trap 'kill "$top_pid" 2>/dev/null || true' EXIT
phase() { echo "$1 $2 $(date +%H:%M:%S)" >> "$out/phases.txt"; } # name begin|end

server_version=$(psql -X -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres -tAc 'SHOW server_version' 2>/dev/null || echo unknown)
echo "== machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "== $(psql --version), server $server_version, $(go version | cut -d' ' -f3-4)"
echo "== load before the run: $(uptime | sed 's/.*load average: //')"
echo "== raw outputs in $out"

go test -c -o "$out/ledger.test" ./internal/ledger/ # compile before the clock
: > "$out/ledger.txt"
for clients in 8 32; do
    echo
    echo "== go test -run '^\$' -bench 'BenchmarkPost/^writers=$clients\$' -benchtime=$benchtime ./internal/ledger/"
    phase "ledger-$clients" begin
    (cd internal/ledger && "$out/ledger.test" -test.run '^$' -test.bench "BenchmarkPost/^writers=$clients\$" -test.benchtime="$benchtime") |
        tee -a "$out/ledger.txt"
    phase "ledger-$clients" end
    echo
    echo "== bash $baseline $clients $pgbench_secs"
    phase "pgbench-$clients" begin
    bash "$baseline" "$clients" "$pgbench_secs" | tee "$out/pgbench-$clients.txt"
    phase "pgbench-$clients" end
done
echo "== load after the benchmarks: $(uptime | sed 's/.*load average: //')"

ledger_metric() { # $1 writers, $2 uniform|hot, $3 unit
    awk -v name="BenchmarkPost/writers=$1/$2" -v unit="$3" '
        { n = $1; sub(/-[0-9]+$/, "", n) }
        n == name { for (i = 2; i < NF; i++) if ($(i + 1) == unit) print $i }' "$out/ledger.txt"
}
pgbench_tps() { # $1 clients, $2 mode
    awk -v mode="$2" '$2 == mode {print $3}' "$out/pgbench-$1.txt"
}

echo
echo "== ledger vs pgbench (ratio = ledger postings/s ÷ pgbench tpcb-like tps at the same concurrency)"
echo "| writers | workload | ledger postings/s | p50 ms | p99 ms | pgbench tpcb-like tps | pgbench simple-update tps | ratio vs tpcb-like |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for clients in 8 32; do
    tpcb=$(pgbench_tps "$clients" tpcb-like)
    simple=$(pgbench_tps "$clients" simple-update)
    for mode in uniform hot hot-sharded; do
        awk -v c="$clients" -v m="$mode" -v r="$(ledger_metric "$clients" "$mode" postings/s)" -v t="$tpcb" -v s="$simple" \
            -v p50="$(ledger_metric "$clients" "$mode" p50-ms)" -v p99="$(ledger_metric "$clients" "$mode" p99-ms)" \
            'BEGIN { printf "| %d | %s | %.0f | %s | %s | %.0f | %.0f | %.2f× |\n", c, m, r, p50, p99, t, s, (t > 0 ? r / t : 0) }'
    done
done

echo
echo "== bash scripts/explain-orders.sh"
explain_rc=0
phase explain begin
bash scripts/explain-orders.sh "${ORDERS:-1000000}" > "$out/explain.txt" 2>&1 || explain_rc=$?
phase explain end
sed -n '/^== orders explain:/,/^== status spread/p' "$out/explain.txt"
sed -n '/^== orders explain summary/,$p' "$out/explain.txt"
echo "(full plans in $out/explain.txt)"

# CPU used by processes other than Postgres, pgbench and the benchmark
# binary (other work on the machine), from the top samples, per phase.
kill "$top_pid" 2>/dev/null || true
echo
echo "== other processes' CPU during each phase (% of one core; the machine has $(nproc) cores = $(( $(nproc) * 100 ))%)"
awk '
    FNR == NR { if ($2 == "begin") b[$1] = $3; else e[$1] = $3; order[++np] = $1; next }
    /^top - / { t = $3; ts[++ns] = t; other[t] = 0; next }
    $1 ~ /^[0-9]+$/ && NF >= 12 && $12 !~ /^(postgres|pgbench|ledger\.test|top)$/ { other[t] += $9 }
    END {
        for (i = 1; i <= np; i += 2) {
            p = order[i]; n = 0; sum = 0; max = 0
            for (j = 1; j <= ns; j++) if (ts[j] >= b[p] && ts[j] <= e[p]) { n++; sum += other[ts[j]]; if (other[ts[j]] > max) max = other[ts[j]] }
            printf "%-12s %s-%s  avg %5.1f%%  max %5.1f%%  (%d samples)\n", p, b[p], e[p], n ? sum / n : 0, max, n
        }
    }' "$out/phases.txt" "$out/top.txt"

echo
echo "== done in $(( $(date +%s) - started ))s"
if [ "$explain_rc" -ne 0 ]; then
    echo "explain-orders failed (exit $explain_rc): see $out/explain.txt" >&2
    exit "$explain_rc"
fi

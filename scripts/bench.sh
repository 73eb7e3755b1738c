#!/usr/bin/env bash
# The ledger benchmark against the Postgres ceiling, and the orders index check.
#
#   1. BenchmarkPost: committed ledger postings per second with 8 and 32
#      concurrent writers, uniform (random user-to-user transfers) and hot
#      (every posting also credits platform:revenue).
#   2. pgbench tpcb-like and simple-update at 8 and 32 clients on the same
#      server, by the shared fixed method (../shared/bench/pgbench-baseline.sh).
#   3. The ratios: ledger postings/s ÷ pgbench tpcb-like tps, same client count.
#   4. scripts/explain-orders.sh: EXPLAIN of the order lists and dashboards at
#      a million orders.
#
# Takes about 3 minutes. Env: BENCHTIME (go -benchtime, default 10s),
# PGBENCH_SECS (default 15), PGBENCH_BASELINE (path to pgbench-baseline.sh),
# BENCH_OUT (directory for the raw outputs, default a temporary one).
# Needs a local Postgres (trust auth, user postgres) and pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."

benchtime=${BENCHTIME:-10s}
pgbench_secs=${PGBENCH_SECS:-15}
baseline=${PGBENCH_BASELINE:-../shared/bench/pgbench-baseline.sh}
out=${BENCH_OUT:-$(mktemp -d -t ordem-bench.XXXXXX)}
mkdir -p "$out"
started=$(date +%s)

server_version=$(psql -X -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres -tAc 'SHOW server_version' 2>/dev/null || echo unknown)
echo "== machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "== $(psql --version), server $server_version, $(go version | cut -d' ' -f3-4)"
echo "== load before the run: $(uptime | sed 's/.*load average: //')"
echo "== raw outputs in $out"

echo
echo "== go test -run '^\$' -bench BenchmarkPost -benchtime=$benchtime ./internal/ledger/"
go test -run '^$' -bench BenchmarkPost -benchtime="$benchtime" ./internal/ledger/ | tee "$out/ledger.txt"

for clients in 8 32; do
    echo
    echo "== bash $baseline $clients $pgbench_secs"
    bash "$baseline" "$clients" "$pgbench_secs" | tee "$out/pgbench-$clients.txt"
done
echo "== load after the benchmarks: $(uptime | sed 's/.*load average: //')"

ledger_rate() { # $1 writers, $2 uniform|hot
    awk -v name="BenchmarkPost/writers=$1/$2" '
        { n = $1; sub(/-[0-9]+$/, "", n) }
        n == name { for (i = 2; i < NF; i++) if ($(i + 1) == "postings/s") print $i }' "$out/ledger.txt"
}
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
    for mode in uniform hot; do
        rate=$(ledger_rate "$clients" "$mode")
        awk -v c="$clients" -v m="$mode" -v r="$rate" -v t="$tpcb" -v s="$simple" \
            -v p50="$(ledger_metric "$clients" "$mode" p50-ms)" -v p99="$(ledger_metric "$clients" "$mode" p99-ms)" \
            'BEGIN { printf "| %d | %s | %.0f | %s | %s | %.0f | %.0f | %.2f× |\n", c, m, r, p50, p99, t, s, (t > 0 ? r / t : 0) }'
    done
done

echo
echo "== bash scripts/explain-orders.sh"
explain_rc=0
bash scripts/explain-orders.sh > "$out/explain.txt" 2>&1 || explain_rc=$?
sed -n '/^== orders explain:/,/^== status spread/p' "$out/explain.txt"
sed -n '/^== orders explain summary/,$p' "$out/explain.txt"
echo "(full plans in $out/explain.txt)"

echo
echo "== done in $(( $(date +%s) - started ))s"
if [ "$explain_rc" -ne 0 ]; then
    echo "explain-orders failed (exit $explain_rc): see $out/explain.txt" >&2
    exit "$explain_rc"
fi

#!/usr/bin/env bash
# Fleet benchmark: one planning cycle over SITES sites (default 2,000) on a
# throwaway PostgreSQL cluster, first by one replica with one solver, then
# by two replicas (two processes started at once) with one solver each,
# each on a fresh database seeded beforehand; prints both and the ratio of
# their wall times. Figures (JSON) go to results/. HISTORY_DAYS is the
# metered charging each site has stored (2, the default, as the demo; 86,
# all a plan reads); CYCLES the hourly cycles each run plans (1; from the
# second on, replicas read only the charging uploaded since they last
# planned a site).
#   scripts/bench-fleet.sh [SITES] [HISTORY_DAYS] [CYCLES]
set -euo pipefail
cd "$(dirname "$0")/.."
sites="${1:-2000}"
history="${2:-2}"
cycles="${3:-1}"
cargo build --release -p arbiter
out="$(scripts/scratch-postgres.sh start)"
url="$(echo "$out" | head -1)"
dir="$(echo "$out" | tail -1)"
trap 'scripts/scratch-postgres.sh stop "$dir"' EXIT
base="${url%/*}"
port="${base##*:}"
createdb="$(ls /usr/lib/postgresql/*/bin/createdb 2>/dev/null | tail -1)"
mkdir -p results
arbiter=target/release/arbiter
for replicas in 1 2; do
  "$createdb" -h 127.0.0.1 -p "$port" -U arbiter "bench_${replicas}"
  "$arbiter" bench cycle --sites "$sites" --history-days "$history" --seed-only --database-url "$base/bench_${replicas}"
done
plan() {
  "$arbiter" bench cycle --sites "$sites" --solvers 1 --plan-only --cycles "$cycles" \
    --database-url "$base/bench_$1" --out "results/bench-fleet-$1-$2-h${history}-c${cycles}.json"
}
echo "== one replica, one solver, ${sites} sites"
started=$(date +%s.%N)
plan 1 a
one=$(echo "$(date +%s.%N) - $started" | bc)
echo "== two replicas (processes), one solver each, ${sites} sites"
started=$(date +%s.%N)
plan 2 a &
plan 2 b
wait
two=$(echo "$(date +%s.%N) - $started" | bc)
printf "two replicas took %.3f x the wall time of one (%.1f s against %.1f s, whole processes)\n" \
  "$(echo "$two / $one" | bc -l)" "$two" "$one"

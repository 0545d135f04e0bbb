#!/usr/bin/env bash
# Load benchmark of `arbiter serve` on loopback, with wrk:
#  1. GET /v1/sites/np15-hub/plans/latest under 200 connections (30 s);
#  2. POST /v1/sites/np15-hub/plan, one controller calling back to back
#     (30 s), against the solve time the plans themselves report.
# The service runs the demo (release build, planning loop off) on a fresh
# data folder, or with --postgres on a throwaway PostgreSQL cluster
# (scripts/scratch-postgres.sh); wrk runs on the same 2-core machine. Usage:
#   scripts/bench-http.sh [--postgres] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
postgres=false
if [ "${1:-}" = --postgres ]; then
  postgres=true
  shift
fi
seconds="${1:-30}"

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null
  else
    echo "error: wrk is missing; install it (apt-get install -y wrk as root)" >&2
    exit 1
  fi
fi
cargo build --release -p arbiter

dir="$(mktemp -d)"
cluster=""
if $postgres; then
  started="$(scripts/scratch-postgres.sh start)"
  export ARBITER_DATABASE_URL="$(echo "$started" | head -1)"
  cluster="$(echo "$started" | tail -1)"
fi
ARBITER_DATA_DIR="$dir" ARBITER_LISTEN=127.0.0.1:0 ARBITER_PLANNING_LOOP=off \
  target/release/arbiter serve --demo 2>"$dir/log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir";
      [ -n "$cluster" ] && scripts/scratch-postgres.sh stop "$cluster"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$dir/log" 2>/dev/null && break
  sleep 0.1
done
base="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/log")"
token() { awk -v role="$1" '$1 == role { print $2 }' "$dir/log"; }
trader="$(token trader)"
controller="$(token controller)"
site="$base/v1/sites/np15-hub"

curl -sf -X POST -H "Authorization: Bearer $controller" "$site/plan" >/dev/null
echo "== GET plans/latest, 200 connections, ${seconds} s"
wrk -t2 -c200 -d"${seconds}s" --latency -H "Authorization: Bearer $trader" \
  "$site/plans/latest"

since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "== POST plan, 1 connection, ${seconds} s"
CONTROLLER="$controller" wrk -t1 -c1 -d"${seconds}s" --latency \
  -s scripts/post-plan.lua "$site/plan"
curl -sf -H "Authorization: Bearer $trader" "$site/plans?from=$since" |
  python3 -c '
import json, sys
solves = sorted(p["solve_seconds"] for p in json.load(sys.stdin)["plans"])
q = lambda f: solves[min(len(solves) - 1, round(f * (len(solves) - 1)))] * 1000
print(f"solve time of the {len(solves)} plans: p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {solves[-1]*1000:.1f} ms")'

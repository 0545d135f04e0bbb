#!/usr/bin/env bash
# Fleet benchmark: one planning cycle over SITES sites (default 2,000) on a
# throwaway PostgreSQL cluster, first by one replica with one solver, then
# by two replicas with one solver each, each on a fresh database; prints
# both and the ratio of their wall times. Figures (JSON) go to results/.
#   scripts/bench-fleet.sh [SITES]
set -euo pipefail
cd "$(dirname "$0")/.."
sites="${1:-2000}"
cargo build --release -p arbiter
out="$(scripts/scratch-postgres.sh start)"
url="$(echo "$out" | head -1)"
dir="$(echo "$out" | tail -1)"
trap 'scripts/scratch-postgres.sh stop "$dir"' EXIT
base="${url%/*}"
mkdir -p results
for replicas in 1 2; do
  database="bench_${replicas}"
  createdb_bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/createdb | tail -1)")/createdb"
  "$createdb_bin" -h 127.0.0.1 -p "${base##*:}" -U arbiter "$database"
  echo "== ${replicas} replica(s), 1 solver each, ${sites} sites"
  target/release/arbiter bench cycle --sites "$sites" --solvers 1 --replicas "$replicas" \
    --database-url "$base/$database" --out "results/bench-fleet-${replicas}.json"
done
python3 - <<'PY'
import json
one, two = (json.load(open(f"results/bench-fleet-{n}.json")) for n in (1, 2))
print(f"two replicas took {two['wall_seconds'] / one['wall_seconds']:.2f} x the wall time of one "
      f"({two['wall_seconds']:.1f} s against {one['wall_seconds']:.1f} s)")
PY

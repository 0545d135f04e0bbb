#!/usr/bin/env bash
# The year-long backtests of the README on the shared data (not part of the
# repository): CAISO NP15 2024, DE-LU 2024, ERCOT 2023; the Broxden load of
# 2018 mapped onto each year by local weekday and time of day, ×20; a seeded
# synthetic job queue; the demo site's equipment in each market.
# Usage: scripts/year-backtests.sh [caiso|de-lu|ercot ...]   (default: all)
# Writes results/year-<market>/ and results/year-<market>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${ARBITER_SHARED_DATA:-../shared/data}
if [ ! -d "$data/prices" ]; then
    echo "the shared data is not at $data (set ARBITER_SHARED_DATA)" >&2
    exit 2
fi
cargo build --release -p arbiter --quiet
markets=("$@")
[ ${#markets[@]} -eq 0 ] && markets=(caiso de-lu ercot)
for market in "${markets[@]}"; do
    case $market in
        caiso) site=demo.toml; prices=caiso_np15_dam_hourly_2023_2024.csv; from=2024-01-01; to=2025-01-01 ;;
        de-lu) site=demo-de-lu.toml; prices=de_lu_day_ahead_hourly_2023_2024.csv; from=2024-01-01; to=2025-01-01 ;;
        ercot) site=demo-ercot.toml; prices=ercot_hb_hubavg_dam_hourly_2023_2024.csv; from=2023-01-01; to=2024-01-01 ;;
        *) echo "unknown market $market (caiso, de-lu or ercot)" >&2; exit 2 ;;
    esac
    mkdir -p results
    target/release/arbiter backtest --site "fixtures/sites/$site" \
        --prices "$data/prices/$prices" \
        --charging "$data/ev/pk_broxden_site_power_15min_2016_2019.csv" --charging-year 2018 \
        --charging-zone Europe/London --charging-scale 20 --synthetic-jobs 1 \
        --from "$from" --to "$to" --out "results/year-$market" 2>&1 | tee "results/year-$market.log"
done

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster, to try fleet mode or run the benchmarks on
# PostgreSQL: initdb in a new temporary folder, on a free loopback port, as
# the `postgres` user when run as root (PostgreSQL refuses root), with a
# database `arbiter`. The tests start their own the same way
# (tests/support/postgres.rs). Usage:
#   scripts/scratch-postgres.sh start      # prints the database URL, then the folder
#   scripts/scratch-postgres.sh stop DIR   # stops it and removes DIR
set -euo pipefail

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bin="$candidate"
done
if [ -z "$bin" ] && command -v pg_config >/dev/null; then
  bin="$(pg_config --bindir)"
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "scratch-postgres: PostgreSQL's server programs are missing: scripts/setup.sh --test installs them" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    dir="$(mktemp -d /tmp/arbiter-scratch-postgres-XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U arbiter -E UTF8 >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U arbiter arbiter
    echo "postgres://arbiter@127.0.0.1:$port/arbiter"
    echo "$dir"
    ;;
  stop)
    dir="${2:?usage: scripts/scratch-postgres.sh stop DIR}"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/scratch-postgres.sh start | stop DIR" >&2
    exit 2
    ;;
esac

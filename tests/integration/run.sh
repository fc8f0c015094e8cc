#!/usr/bin/env bash
# Runs one integration test inside a throwaway Postgres cluster
# (pg_virtualenv), with the test library loaded. Usage: run.sh TEST.sh
set -euo pipefail
test_script=$(readlink -f "$1")
here=$(dirname "$(readlink -f "$0")")
export CONVEYOR_SOURCE_DIR=${CONVEYOR_SOURCE_DIR:-$(readlink -f "$here/../..")}
export CONVEYOR_BIN=${CONVEYOR_BIN:-$CONVEYOR_SOURCE_DIR/build/conveyor}
[ -x "$CONVEYOR_BIN" ] || { echo "no conveyor binary at $CONVEYOR_BIN" >&2; exit 1; }
# A port of its own (pg_virtualenv takes PGPORT), so that clusters of runs
# side by side do not both try 5432. Below the kernel's ephemeral range:
# there the dev broker, the HTTP endpoint and every outgoing connection take
# ports at random, and one of them can hold the port before Postgres binds
# it. Free means no socket at all on it, in any state.
if [ -z "${PGPORT:-}" ]; then
    read -r eph_low _ </proc/sys/net/ipv4/ip_local_port_range
    [ "$eph_low" -gt 11000 ] || eph_low=32768
    for _ in $(seq 50); do
        port=$((10000 + RANDOM % (eph_low - 10000)))
        ss -Htan "( sport = :$port or dport = :$port )" | grep -q . ||
            { export PGPORT=$port; break; }
    done
fi
# fsync off: these tests kill Conveyor, not the machine; Postgres' own
# crash safety (WAL in the OS cache) is all an immediate stop needs.
exec pg_virtualenv -t -o 'fsync=off' -o 'max_connections=200' \
    -o 'shared_preload_libraries=pg_stat_statements' \
    bash -c 'source "$1"; source "$2"' _ "$here/lib.sh" "$test_script"

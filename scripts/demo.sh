#!/usr/bin/env bash
# Quick start, command 1: install, build, and run the demo on the embedded
# default: the dev broker in-process and a throwaway Postgres cluster
# (pg_virtualenv), with every consumer, the outbox relay and a steady stream
# of sample marketplace events. Ctrl-C stops it cleanly.
# Extra arguments go to `conveyor dev` (e.g. --rate 500 --duration 30).
#
# While it runs, .conveyor-demo.env in the repository root (git-ignored,
# mode 0600, removed when the demo exits) holds the environment that
# reaches it as export lines: the throwaway Postgres (PGHOST, PGPORT,
# PGUSER, PGDATABASE and the random PGPASSWORD), the dev broker's address
# (CONVEYOR_KAFKA_BROKERS), CONVEYOR_CONFIG, _TOPOLOGY, _SCHEMAS and the
# binary's directory on PATH, and CONVEYOR_ADMIN_TOKEN (a random one unless
# it is set), which the dashboard at http://127.0.0.1:8080/ asks for. In a
# second terminal:
#   . .conveyor-demo.env && conveyor status && echo $CONVEYOR_ADMIN_TOKEN
#
# Environment:
#   CONVEYOR_DEMO_ENV  write that file here instead
#   CONVEYOR_DEMO_BIN  run this conveyor binary; skips installing and
#                      building (the integration test test_demo_env does)
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=${CONVEYOR_DEMO_ENV:-$PWD/.conveyor-demo.env}
bin=${CONVEYOR_DEMO_BIN:-}
if [ -z "$bin" ]; then
    scripts/install-deps.sh
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)" --target conveyor >/dev/null
    bin=build/conveyor
fi
# The admin API's token for the dashboard; only the env file holds it.
CONVEYOR_ADMIN_TOKEN=${CONVEYOR_ADMIN_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
export CONVEYOR_ADMIN_TOKEN
# conveyor dev removes the file itself; this covers a crash or a second
# Ctrl-C (which exits at once).
trap 'rm -f "$env_file" "$env_file.tmp"' EXIT
# The demo runs on its own cluster and the repository's topology: a PGPORT
# would make pg_virtualenv create the cluster on that (taken) port, and
# DATABASE_URL or CONVEYOR_TOPOLOGY / _SCHEMAS would point conveyor
# elsewhere.
env -u PGPORT -u DATABASE_URL -u CONVEYOR_TOPOLOGY -u CONVEYOR_SCHEMAS \
    pg_virtualenv -t -o fsync=off \
    "$bin" -c config/conveyor.cfg dev --env-file "$env_file" "$@"

#!/usr/bin/env bash
# Quick start, command 1: install, build, and run the demo on the embedded
# default: the dev broker in-process and a throwaway Postgres cluster
# (pg_virtualenv), with every consumer, the outbox relay and a steady stream
# of sample marketplace events. Ctrl-C stops it cleanly.
# Extra arguments go to `conveyor dev` (e.g. --rate 500 --duration 30).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target conveyor >/dev/null
exec pg_virtualenv -t -o fsync=off build/conveyor -c config/conveyor.cfg dev "$@"

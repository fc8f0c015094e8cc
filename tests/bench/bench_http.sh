#!/usr/bin/env bash
# bench_http.sh - does the HTTP endpoint slow event processing down?
#
#   bash tests/bench/bench_http.sh [N] [ROUNDS]
#
# N lead events (default 200,000, plus 1% re-sends) are applied by
# `conveyor run --domain leads --no-relay --no-ticker` ROUNDS times
# (default 2) without HTTP traffic and ROUNDS times while http_flood keeps
# 1,000 connections busy on the same process's endpoint: /metrics scrapes,
# every 10th connection a malformed request (a broken request line, a bad
# Content-Length, binary bytes, a body never sent, a cut-off request).
# Quiet and flooded rounds alternate, on the same broker data, the tables
# truncated in between, so both see the same machine. The rate is
# events/s from group join to the last commit (as in bench.sh). The flood
# client runs at nice 19: what is measured is the server's cost, not the
# load generator's. After each flooded round the daemon must be alive and
# /healthz must answer 200 (it must not crash).
#
# Prints each round and the medians beside the limit measured in the same
# run: the flooded rate must be at least 90% of the quiet one. Exit 0 when
# the run is valid (met or not: a benchmark), 1 when it is wrong (witnesses
# off, a process died). Installs nothing; builds conveyor and http_flood
# in build-bench/ (Release) like bench.sh.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
src=$(readlink -f "$here/../..")

if [ "${1:-}" != "--inside" ]; then
    n=${1:-200000}
    rounds=${2:-2}
    build=${BENCH_BUILD_DIR:-$src/build-bench}
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    nice cmake --build "$build" --target conveyor http_flood -j2 >/dev/null
    export CONVEYOR_BIN=${CONVEYOR_BIN:-$build/conveyor}
    export HTTP_FLOOD_BIN=$build/tests/bench/http_flood
    export CONVEYOR_SOURCE_DIR=$src
    exec pg_virtualenv -t -o fsync=off -o max_connections=200 \
        bash "$0" --inside "$n" "$rounds"
fi
n=$2
rounds=$3
export CONVEYOR_TOPOLOGY=$here/topology_bench.cfg
source "$src/tests/integration/lib.sh"
[ -n "${BENCH_KEEP:-}" ] && trap 'log "logs in $T"' EXIT

start_broker
migrate
log "producing $n events (and $((n / 100)) re-sends)"
produce_leads 0 "$n" 10
msgs=$((n + n / 100))

# one_round MODE (quiet|flood): prints "events_per_s [flood counts]"
one_round() {
    local mode=$1 pid fpid="" end assigned stats="" i
    q "TRUNCATE marketplace.leads, marketplace.email_verification_queue,
         marketplace.partner_monthly_volume, conveyor.outbox, conveyor.inbox,
         conveyor.consumer_offsets, conveyor.consumer_state,
         conveyor.dead_letters RESTART IDENTITY"
    q "CHECKPOINT"
    rm -f "$T/port" "$T/stop" "$T/run.log"
    "$CONVEYOR_BIN" run --domain leads --no-relay --no-ticker \
        --http-port-file "$T/port" >"$T/run.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    http_port "$T/port"
    if [ "$mode" = flood ]; then
        nice -n 19 "$HTTP_FLOOD_BIN" 127.0.0.1 "${HTTP##*:}" /metrics 1000 900 10 \
            "$T/stop" >"$T/flood.out" 2>&1 &
        fpid=$!
        PIDS+=($fpid)
    fi
    for i in $(seq 6000); do
        [ "$(q "SELECT coalesce(sum(next_offset), 0) FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads'")" = "$msgs" ] && break
        kill -0 "$pid" 2>/dev/null || { tail "$T/run.log" >&2; fail "conveyor died during a $mode round"; }
        sleep 0.25
    done
    [ "$i" -lt 6000 ] || fail "the $mode round did not drain in 25 minutes"
    end=$(q "SELECT (extract(epoch FROM max(updated_at)) * 1000)::bigint FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads'")
    if [ "$mode" = flood ]; then
        kill -0 "$pid" 2>/dev/null || fail "conveyor died under the flood"
        [ "$(http_code "$HTTP/healthz" --max-time 30)" = 200 ] || fail "/healthz not 200 under the flood"
        touch "$T/stop"
        wait "$fpid" || fail "http_flood failed"
        stats=$(cat "$T/flood.out")
    fi
    kill -TERM "$pid"
    wait "$pid" || fail "conveyor exited with an error after a $mode round"
    assigned=$(sed -n 's/.*assigned_at_ms=\([0-9]*\).*/\1/p' "$T/run.log" | tail -n 1)
    [ "$(distinct_events)" = "$n" ] || fail "$(distinct_events) distinct events applied, expected $n"
    awk -v m="$msgs" -v ms="$((end - assigned))" -v s="$stats" \
        'BEGIN { printf "%.0f %s\n", m / (ms / 1000.0), s }'
}

quiet=() flood=()
for r in $(seq "$rounds"); do
    line=$(one_round quiet)
    quiet+=("${line%% *}")
    log "round $r quiet: ${line%% *} events/s"
    line=$(one_round flood)
    flood+=("${line%% *}")
    log "round $r flood: ${line%% *} events/s; ${line#* }"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mq=$(median "${quiet[@]}")
mf=$(median "${flood[@]}")
awk -v q="$mq" -v f="$mf" -v n="$n" -v r="$rounds" 'BEGIN {
    slow = 100 * (1 - f / q)
    printf "\n| metric | value | limit | |\n|---|---|---|---|\n"
    printf "| events/s without HTTP traffic (median of %d rounds of %d) | %.0f | | |\n", r, n, q
    printf "| events/s under 1,000 connections of /metrics and malformed requests | %.0f | | |\n", f
    printf "| slowdown | %.1f%% | <= 10%% | %s |\n", slow, slow <= 10 ? "met" : "MISSED"
}'
log "the daemon served the flood and stayed healthy in every round"

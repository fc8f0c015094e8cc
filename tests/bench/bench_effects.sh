#!/usr/bin/env bash
# bench_effects.sh - the effect runner's throughput against the Stripe
# double, beside the limit measured in the same run, and its memory.
#
#   bash tests/bench/bench_effects.sh [N] [CONCURRENCY]   (5000, 16)
#
# Inside a throwaway Postgres cluster (pg_virtualenv -t, fsync off), with
# the Stripe double (tests/doubles) on loopback:
#
#   for an answer latency of 0 ms and of 50 ms (the double's delay fault):
#     1. effects_limit: N transfers sent by libcurl alone, CONCURRENCY at
#        a time (no Postgres, no claims, no outcomes): the transport's and
#        the double's limit; at 50 ms it cannot beat CONCURRENCY / 0.05 s;
#     2. N requests inserted into conveyor.effects, then `conveyor run
#        --effects-only` with the stripe target at CONCURRENCY (no rate
#        limit, one attempt) until every request is done: claims, calls,
#        outcome events into the outbox, requests/s from its first call to
#        the last request done;
#   then 10,000 pending requests at 50 ms: the runner's peak RSS (VmHWM).
#
# Uses the build in build/ (BENCH_BUILD_DIR): conveyor, conveyor-double
# and effects_limit. Exit 0 whether or not the figures please; exit 1 if
# the run is wrong (a request not done, a call failed).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
src=$(readlink -f "$here/../..")

if [ "${1:-}" != "--inside" ]; then
    build=${BENCH_BUILD_DIR:-$src/build}
    for f in conveyor tests/doubles/conveyor-double tests/bench/effects_limit; do
        [ -x "$build/$f" ] || { echo "bench_effects.sh: no $build/$f: build first" >&2; exit 1; }
    done
    export BENCH_BUILD=$build BENCH_N=${1:-5000} BENCH_C=${2:-16}
    exec pg_virtualenv -t -o fsync=off -o max_connections=100 \
        bash "$0" --inside
fi

build=$BENCH_BUILD
n=$BENCH_N
conc=$BENCH_C
W=$(mktemp -d /tmp/conveyor-bench-effects.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
q() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
ms() { date +%s%3N; }

export STRIPE_SECRET_KEY=sk_test_bench_$RANDOM$RANDOM
export CONVEYOR_SCHEMAS=$src/schemas CONVEYOR_CONFIG=$src/config/conveyor.cfg
export CONVEYOR_KAFKA_BROKERS=127.0.0.1:9 # no broker: the runner needs none
export CONVEYOR_HTTP_LISTEN=""
# the stripe target at the benchmark's concurrency, no rate limit, one
# attempt (an error would show as a failed request)
sed -e '/name = "stripe";/,/^    }/{s/concurrency = 1;/concurrency = '"$conc"';/;s/rate_per_s = 25.0;/rate_per_s = 0.0;/;s/max_attempts = 8;/max_attempts = 1;/}' \
    "$src/topology/marketplace.cfg" >"$W/topology.cfg"
grep -q "concurrency = $conc;" "$W/topology.cfg" || { echo "could not set the concurrency" >&2; exit 1; }
export CONVEYOR_TOPOLOGY=$W/topology.cfg
"$build/conveyor" migrate >/dev/null 2>"$W/migrate.log"

"$build/tests/doubles/conveyor-double" stripe --port-file "$W/stripe.port" \
    --ledger /dev/null 2>"$W/stripe.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$W/stripe.port" ] && break; sleep 0.05; done
url=http://$(cat "$W/stripe.port")
export STRIPE_API_BASE=$url
curl -sf "$url/_double/stripe/config" -H 'Content-Type: application/json' \
    --data '{"accounts": {"*": {"transfers": "active"}}}' >/dev/null

# requests COUNT TAG: COUNT pending transfer requests
requests() {
    q "TRUNCATE conveyor.effects, conveyor.outbox"
    q "INSERT INTO conveyor.effects (target, method, path, body, idempotency_key,
       outcome_type, outcome_key, context, domain, source_event_id)
       SELECT 'stripe', 'POST', '/v1/transfers',
              jsonb_build_object('amount', 1000 + i % 500, 'currency', 'usd',
                                 'destination', 'acct_' || i % 1000),
              '$2-' || i, 'marketplace.payout.transfer_result', 'p' || i % 100,
              jsonb_build_object('i', i), 'payouts', 'bench'
         FROM generate_series(1, $1) i"
}

# run_runner COUNT: starts the runner, waits until every request is done,
# prints "SECONDS PEAK_RSS_KB"
run_runner() {
    local t0 t1 pid rss=0 done_n=0
    "$build/conveyor" run --effects-only >"$W/run.log" 2>&1 &
    pid=$!
    pids+=($pid)
    t0=$(ms)
    for _ in $(seq 6000); do
        done_n=$(q "SELECT count(*) FROM conveyor.effects WHERE state IN ('done', 'failed')")
        [ "$done_n" -ge "$1" ] && break
        sleep 0.1
    done
    t1=$(ms)
    rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || true
    [ "$done_n" -ge "$1" ] || { echo "bench_effects: only $done_n of $1 done" >&2; tail "$W/run.log" >&2; exit 1; }
    failed=$(q "SELECT count(*) FROM conveyor.effects WHERE state <> 'done'")
    [ "$failed" = 0 ] || { echo "bench_effects: $failed requests failed" >&2; exit 1; }
    # from the first call to the last request done
    first=$(q "SELECT (extract(epoch FROM min(first_attempt_at)) * 1000)::bigint FROM conveyor.effects")
    last=$(q "SELECT (extract(epoch FROM max(finished_at)) * 1000)::bigint FROM conveyor.effects")
    echo "$(((last - first))) $rss"
}

printf '%-8s %14s %16s %12s %10s\n' latency "conveyor req/s" "limit req/s" ratio "peak RSS"
for lat in 0 50; do
    curl -sf -X DELETE "$url/_double/faults" >/dev/null
    [ "$lat" = 0 ] || curl -sf "$url/_double/faults" -H 'Content-Type: application/json' \
        --data "{\"kind\": \"delay\", \"ms\": $lat}" >/dev/null
    limit=$("$build/tests/bench/effects_limit" "$url/v1/transfers" "$STRIPE_SECRET_KEY" "$n" "$conc" |
            sed -n 's/.*per_second=\([0-9]*\).*/\1/p')
    theory=""
    [ "$lat" = 0 ] || theory=" (conc/lat $((conc * 1000 / lat)))"
    requests "$n" "lat$lat"
    read -r took rss < <(run_runner "$n")
    rate=$((n * 1000 / (took > 0 ? took : 1)))
    printf '%-8s %14s %16s %11s%% %8s MB%s\n' "${lat} ms" "$rate" "$limit" \
        "$((rate * 100 / (limit > 0 ? limit : 1)))" "$((rss / 1024))" "$theory"
done

# memory with 10,000 requests pending
curl -sf -X DELETE "$url/_double/faults" >/dev/null
curl -sf "$url/_double/faults" -H 'Content-Type: application/json' --data '{"kind": "delay", "ms": 50}' >/dev/null
requests 10000 mem
read -r took rss < <(run_runner 10000)
echo "10,000 requests pending, 50 ms answers: done in $((took / 1000)).$((took % 1000 / 100)) s, peak RSS $((rss / 1024)) MB (limit 64 MB)"

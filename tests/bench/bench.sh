#!/usr/bin/env bash
# bench.sh - the leads domain's throughput benchmark, in one run.
#
#   bash tests/bench/bench.sh [N]        (N lead events, default 1,000,000)
#
# Builds the engine and the two reference programs in build-bench/ (Release)
# if needed, then inside a throwaway Postgres cluster (pg_virtualenv -t,
# fsync off, like the integration tests):
#
#   1. starts the dev broker with topology_bench.cfg and produces N
#      lead.submitted events plus 1% re-sends under the same event id;
#   2. bare_consume: how fast a bare librdkafka consumer reads them (the
#      raw consume limit), and whether the broker trimmed a partition;
#   3. `conveyor run --domain leads --no-relay` until every stored offset
#      is at its partition's end; peak RSS (VmHWM) just before SIGTERM,
#      then its final log lines (commit percentiles, join and first commit
#      times); checks the exactly-once witnesses;
#   4. truncates the tables and runs pg_limit, the same writes by a bare
#      libpq program, with COPY and with multi-row inserts; the faster is
#      the Postgres limit;
#   5. prints the table, with PASS/MISS beside each target.
#
# Exit 0 whether targets are met or not (a benchmark, not a test); exit 1
# if the run itself is wrong: a trimmed partition, offsets not at the end,
# wrong witnesses, a process that failed. Installs nothing.
#
# Environment (for tuning runs; the defaults are the committed ones):
#   BENCH_BATCH_SIZE, BENCH_BATCH_WAIT_MS, BENCH_PARALLELISM
#                       override the leads domain in topology_bench.cfg
#   BENCH_BUILD_DIR     build directory (default: build-bench/ in the repo)
#   CONVEYOR_BIN        use this conveyor binary (the reference programs are
#                       still taken from the build directory)
#   BENCH_PG_MODES      pg_limit modes to run (default "copy unnest")
#   BENCH_KEEP=1        keep the work directory (logs) even on success
#   BENCH_PERF=1        record `perf record -a -g` during the conveyor run
#   BENCH_STATEMENTS=1  load pg_stat_statements and print conveyor's top
#                       statements by execution time
#   BENCH_KAFKA_PROPS   librdkafka properties for conveyor, "name=value ..."
#   BENCH_LOG_LEVEL     conveyor run's log level (debug shows per-batch
#                       collect and apply times)
#   BENCH_PG_OPTS       more Postgres settings, "name=value ..." (for
#                       experiments: the committed numbers use none)
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
src=$(readlink -f "$here/../..")

# ------------------------------------------------------------ outside
if [ "${1:-}" != "--inside" ]; then
    n=${1:-1000000}
    case $n in
    '' | *[!0-9]*) echo "usage: bash tests/bench/bench.sh [N]" >&2; exit 2 ;;
    esac
    [ "$n" -ge 1000 ] || { echo "bench.sh: N must be at least 1000" >&2; exit 2; }

    missing=()
    for tool in cmake make cc pkg-config pg_virtualenv psql awk; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 ||
        missing+=("a Postgres server (postgresql-NN)")
    for pc in rdkafka avro-c libpq libcurl libconfig jansson; do
        pkg-config --exists "$pc" 2>/dev/null || missing+=("$pc (pkg-config)")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "bench.sh: missing prerequisites: ${missing[*]}" >&2
        exit 1
    fi

    build=${BENCH_BUILD_DIR:-$src/build-bench}
    # The warnings gcc derives from optimized code flow stay warnings here:
    # -O3 inlines more than the usual -O2 build and gcc 12 then reports
    # false positives (it did: maybe-uninitialized in src/codec.c); a
    # benchmark should not stop on them. The regular build keeps them errors.
    flow="maybe-uninitialized format-truncation format-overflow
          stringop-overflow stringop-truncation array-bounds
          free-nonheap-object null-dereference"
    cflags=$(printf -- '-Wno-error=%s ' $flow)
    mkdir -p "$build"
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_FLAGS="$cflags" >"$build/bench-configure.log" 2>&1 ||
        { cat "$build/bench-configure.log" >&2; echo "bench.sh: cmake failed" >&2; exit 1; }
    cmake --build "$build" -j"$(nproc)" \
        --target conveyor bare_consume pg_limit >"$build/bench-build.log" 2>&1 ||
        { tail -n 30 "$build/bench-build.log" >&2; echo "bench.sh: build failed" >&2; exit 1; }
    export BENCH_BIN_DIR=$build/tests/bench
    export CONVEYOR_BIN=${CONVEYOR_BIN:-$build/conveyor}
    export CONVEYOR_SOURCE_DIR=$src
    pg_opts=(-t -o fsync=off)
    if [ -n "${BENCH_STATEMENTS:-}" ]; then
        pg_opts+=(-o shared_preload_libraries=pg_stat_statements)
    fi
    for o in ${BENCH_PG_OPTS:-}; do
        pg_opts+=(-o "$o")
    done
    exec pg_virtualenv "${pg_opts[@]}" bash "$0" --inside "$n"
fi

# ------------------------------------------------------------- inside
N=$2
T=$(mktemp -d /tmp/conveyor-bench.XXXXXX)
PIDS=()
export CONVEYOR_SCHEMAS=$CONVEYOR_SOURCE_DIR/schemas
export CONVEYOR_CONFIG=$CONVEYOR_SOURCE_DIR/config/conveyor.cfg
export DATABASE_URL=""
# the HTTP endpoint runs as in production, on any free port (8080 may be
# taken on a shared machine)
export CONVEYOR_HTTP_LISTEN=${CONVEYOR_HTTP_LISTEN:-127.0.0.1:0}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
fail() {
    log "RUN INVALID: $*"
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "---- last lines of $(basename "$f")" >&2
        tail -n 15 "$f" >&2
    done
    exit 1
}
cleanup() {
    local rc=$?
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    # pg_virtualenv deletes its cluster, server log included, on exit
    cp "${PG_CLUSTER_CONF_ROOT:-/nonexistent}"/../log/*.log "$T/" 2>/dev/null || true
    if [ "$rc" -eq 0 ] && [ -z "${BENCH_KEEP:-}" ]; then
        rm -rf "$T"
    else
        log "logs kept in $T"
    fi
    exit "$rc"
}
trap cleanup EXIT
q() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
# Wall-clock ms without a fork (bash 5).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo "${t:0:-3}"; }

# The topology, with the tuning overrides applied to the leads domain.
edits=""
[ -n "${BENCH_BATCH_SIZE:-}" ] &&
    edits="$edits s/batch_size = [0-9]*/batch_size = $BENCH_BATCH_SIZE/;"
[ -n "${BENCH_BATCH_WAIT_MS:-}" ] &&
    edits="$edits s/batch_wait_ms = [0-9]*/batch_wait_ms = $BENCH_BATCH_WAIT_MS/;"
[ -n "${BENCH_PARALLELISM:-}" ] &&
    edits="$edits s/parallelism = [0-9]*/parallelism = $BENCH_PARALLELISM/;"
sed -e "/name = \"leads\"/,/routes/{ $edits }" "$here/topology_bench.cfg" \
    >"$T/topology.cfg"
export CONVEYOR_TOPOLOGY=$T/topology.cfg
# kafka.properties for experiments: "name=value ..." into a copy of the
# reference config (its relative paths are overridden by the environment),
# for `conveyor run` only.
RUN_CONFIG=$CONVEYOR_CONFIG
if [ -n "${BENCH_KAFKA_PROPS:-}" ]; then
    props=""
    for kv in $BENCH_KAFKA_PROPS; do
        props="$props${props:+, }[\"${kv%%=*}\", \"${kv#*=}\"]"
    done
    sed "s/^    properties = ( );/    properties = ( $props );/" \
        "$CONVEYOR_CONFIG" >"$T/conveyor.cfg"
    grep -q "properties = ( \[" "$T/conveyor.cfg" ||
        fail "BENCH_KAFKA_PROPS: no 'properties = ( );' line in $CONVEYOR_CONFIG"
    RUN_CONFIG=$T/conveyor.cfg
fi
BATCH=$(awk '/name = "leads"/ { on = 1 } on && /batch_size/ {
    sub(/.*batch_size = /, ""); sub(/;.*/, ""); print; exit }' "$T/topology.cfg")
WAIT_MS=$(awk '/name = "leads"/ { on = 1 } on && /batch_wait_ms/ {
    sub(/.*batch_wait_ms = /, ""); sub(/;.*/, ""); print; exit }' "$T/topology.cfg")
PAR=$(awk '/name = "leads"/ { on = 1 } on && /parallelism/ {
    sub(/.*parallelism = /, ""); sub(/;.*/, ""); print; exit }' "$T/topology.cfg")
PARTS=$(awk '/name = "marketplace.leads"; partitions/ {
    sub(/.*partitions = /, ""); sub(/;.*/, ""); print; exit }' "$T/topology.cfg")

# What else runs on this machine (the numbers are only as good as this).
busy() {
    local load others pgs
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    others=$(ps -eo pid=,comm= | awk -v me="${CONV_PID:-0}" -v b="${BROKER_PID:-0}" \
        '$2 == "conveyor" && $1 != me && $1 != b' | wc -l)
    pgs=$(ps -eo args= | grep -c '^/usr/lib/postgresql/.*/bin/postgres' || true)
    echo "load $load, other conveyor processes $others, Postgres servers $pgs (this run's included)"
}
BUSY_START=$(busy)
log "machine: $(nproc) cores; $BUSY_START"

# gen_leads (tests/integration/lib.sh): events 0..N-1, every 100th twice.
gen_leads() {
    awk -v from=0 -v n="$N" -v dup=10 'BEGIN {
        every = dup > 0 ? int(1000 / dup) : 0
        for (i = from; i < from + n; i++) {
            p = i % 50
            line = sprintf("{\"id\":\"evt-%d\",\"data\":{\"lead_id\":\"%08x-0000-4000-8000-%012x\",\"partner_id\":\"00000000-0000-4000-8000-%012x\",\"email\":\"lead%d@example.com\",\"first_name\":\"Ada\",\"last_name\":null,\"company\":null,\"phone\":null,\"submitted_at\":%d}}", i, i, i, p, i, 1763790000000 + i * 1000)
            print line
            if (every && i % every == 0) print line
        }
    }'
}
RESENDS=$(((N + 99) / 100))
MESSAGES=$((N + RESENDS))

# ------------------------------------------------------------ broker
"$CONVEYOR_BIN" dev-broker --bootstrap-file "$T/bootstrap" \
    >"$T/broker.out" 2>"$T/broker.log" &
BROKER_PID=$!
PIDS+=($BROKER_PID)
for _ in $(seq 100); do
    [ -s "$T/bootstrap" ] && break
    sleep 0.1
done
[ -s "$T/bootstrap" ] || fail "dev broker did not start"
export CONVEYOR_KAFKA_BROKERS=$(cat "$T/bootstrap")
"$CONVEYOR_BIN" migrate >/dev/null 2>"$T/migrate.log" || fail "migrate"
log "N=$N events + $RESENDS re-sends; marketplace.leads: $PARTS partitions;" \
    "batch_size=$BATCH batch_wait_ms=$WAIT_MS parallelism=$PAR"

# ------------------------------------------------------------ produce
t0=$(now_ms)
gen_leads | "$CONVEYOR_BIN" produce --type marketplace.lead.submitted \
    --envelope >"$T/produce.out" 2>"$T/produce.log" || fail "produce"
t1=$(now_ms)
PRODUCE_RATE=$((MESSAGES * 1000 / (t1 - t0 > 0 ? t1 - t0 : 1)))
log "produced $MESSAGES messages in $((t1 - t0)) ms ($PRODUCE_RATE msg/s)"

# ------------------------------------------------------------ bare consume
"$BENCH_BIN_DIR/bare_consume" "$CONVEYOR_KAFKA_BROKERS" marketplace.leads \
    >"$T/bare.out" 2>"$T/bare.log" || fail "bare_consume: $(cat "$T/bare.out")"
kv() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
BARE_RATE=$(kv "$T/bare.out" msgs_per_s)
[ "$(kv "$T/bare.out" trimmed)" = 0 ] ||
    fail "the dev broker trimmed $(kv "$T/bare.out" trimmed) partitions (more partitions or fewer events)"
[ "$(kv "$T/bare.out" messages)" = "$MESSAGES" ] ||
    fail "the topic holds $(kv "$T/bare.out" messages) messages, expected $MESSAGES"
log "bare consumer: $(cat "$T/bare.out")"

# ------------------------------------------------------------ conveyor
if [ -n "${BENCH_STATEMENTS:-}" ]; then
    q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    q "SELECT pg_stat_statements_reset()" >/dev/null
fi
q "CHECKPOINT"
T_START=$(now_ms)
CONVEYOR_CONFIG=$RUN_CONFIG CONVEYOR_LOG_LEVEL=${BENCH_LOG_LEVEL:-info} \
    "$CONVEYOR_BIN" run --domain leads --no-relay \
    >"$T/conveyor.log" 2>&1 &
CONV_PID=$!
PIDS+=($CONV_PID)
if [ -n "${BENCH_PERF:-}" ]; then
    perf record -a -g -F 499 -o "$T/perf.data" >"$T/perf.log" 2>&1 &
    PERF_PID=$!
    PIDS+=($PERF_PID)
fi
# One psql for the whole wait: a psql started five times a second costs
# more CPU than conveyor itself on a small machine.
coproc POLL { psql -X -Atq 2>/dev/null; }
# bash unsets POLL and POLL_PID when the coprocess ends: keep copies
poll_pid=$POLL_PID poll_in=${POLL[1]} poll_out=${POLL[0]}
PIDS+=($poll_pid)
poll_stored() {
    echo "SELECT coalesce(sum(next_offset), 0) FROM conveyor.consumer_offsets
          WHERE group_id = 'conveyor.leads';" >&"$poll_in"
    read -r -t 30 stored <&"$poll_out" || fail "the polling psql died"
}
# An hour, or more for big N: the run is a measurement, not a race.
limit_s=$((N / 100 > 3600 ? N / 100 : 3600))
deadline=$((T_START + limit_s * 1000))
done_=""
next_note=$((T_START + 30000))
last_stored=0
last_t=$T_START
while [ "$(now_ms)" -lt "$deadline" ]; do
    kill -0 "$CONV_PID" 2>/dev/null || fail "conveyor run exited early"
    poll_stored
    if [ "$stored" = "$MESSAGES" ]; then
        done_=1
        break
    fi
    t=$(now_ms)
    if [ "$t" -ge "$next_note" ]; then
        log "conveyor: $stored of $MESSAGES messages," \
            "$(((stored - last_stored) * 1000 / (t - last_t))) msg/s over the last $(((t - last_t) / 1000)) s"
        last_stored=$stored
        last_t=$t
        next_note=$((t + 30000))
    fi
    sleep 0.25
done
[ -n "$done_" ] || fail "conveyor did not reach the end of the topic in $limit_s s (stored $stored of $MESSAGES)"
exec {poll_in}>&-
wait "$poll_pid" 2>/dev/null || true
# The last batch's commit: updated_at is its transaction's start time, on
# this machine's clock.
T_END=$(q "SELECT (extract(epoch FROM max(updated_at)) * 1000)::bigint
           FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads'")
RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$CONV_PID/status")
# CPU seconds of the conveyor process (utime + stime, clock ticks).
CONV_CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' \
    "/proc/$CONV_PID/stat")
if [ -n "${PERF_PID:-}" ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    log "perf data in $T/perf.data (perf report -i $T/perf.data)"
fi
BUSY_RUN=$(busy)
kill -TERM "$CONV_PID"
for _ in $(seq 300); do
    kill -0 "$CONV_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$CONV_PID" 2>/dev/null; then
    kill -KILL "$CONV_PID"
    fail "conveyor did not stop within 30 s of SIGTERM"
fi
wait "$CONV_PID" || fail "conveyor run exited with status $?"

logv() { grep -o "[ \"]$1=[0-9-]*" "$T/conveyor.log" | tail -n 1 | cut -d= -f2; }
P50_US=$(logv commit_p50_us)
P99_US=$(logv commit_p99_us)
ASSIGNED=$(logv assigned_at_ms)
FIRST=$(logv first_commit_at_ms)
PROCESSED=$(logv processed)
DUPS=$(logv duplicates)
DEAD=$(logv dead_letters)
BATCHES=$(logv batches)
for v in P50_US P99_US ASSIGNED FIRST PROCESSED; do
    [ -n "${!v}" ] || fail "no $v in conveyor's final log lines"
done

if [ -n "${BENCH_STATEMENTS:-}" ]; then
    psql -X -q -c "SELECT calls, round(total_exec_time) AS total_ms,
            round(mean_exec_time::numeric, 3) AS mean_ms,
            round(total_plan_time) AS plan_ms, rows,
            left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" \
        >"$T/statements.txt"
fi

# Nothing trimmed, every partition at its end.
"$CONVEYOR_BIN" status >"$T/status.out" 2>"$T/status.log" || fail "status"
awk 'NR > 1 && $1 ~ /^conveyor\./ {
        if ($4 != 0) { print "trimmed: " $0; bad = 1 }
        if ($5 != $6) { print "not at end: " $0; bad = 1 }
        rows++
     }
     END { if (!rows) { print "no partitions"; bad = 1 } exit bad }' \
    "$T/status.out" >&2 || fail "offsets: see above"

# The exactly-once witnesses: queue rows = distinct events = sum of volumes.
witnesses() {
    local what=$1 inbox rows vol leads dup
    inbox=$(q "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'")
    rows=$(q "SELECT count(*) FROM marketplace.email_verification_queue")
    vol=$(q "SELECT coalesce(sum(leads), 0) FROM marketplace.partner_monthly_volume")
    leads=$(q "SELECT count(*) FROM marketplace.leads")
    dup=$(q "SELECT count(*) FROM (SELECT source_event_id FROM
             marketplace.email_verification_queue GROUP BY 1 HAVING count(*) > 1) d")
    log "$what witnesses: inbox=$inbox queue=$rows volume=$vol leads=$leads (expected $N)"
    [ "$inbox" = "$N" ] && [ "$rows" = "$N" ] && [ "$vol" = "$N" ] &&
        [ "$leads" = "$N" ] && [ "$dup" = 0 ] || fail "$what: witnesses wrong"
}
witnesses conveyor
[ "$PROCESSED" = "$N" ] || fail "conveyor processed=$PROCESSED, expected $N"
[ "${DEAD:-0}" = 0 ] || fail "conveyor dead-lettered $DEAD events"
OUTBOX=$(q "SELECT count(*) FROM conveyor.outbox")
[ "$OUTBOX" = "$N" ] || fail "conveyor wrote $OUTBOX outbox rows, expected $N"

# ------------------------------------------------------------ pg limit
truncate_all() {
    q "TRUNCATE marketplace.leads, marketplace.email_verification_queue,
         marketplace.partner_monthly_volume, conveyor.outbox, conveyor.inbox,
         conveyor.consumer_offsets, conveyor.dead_letters RESTART IDENTITY"
    q "CHECKPOINT"
}
PG_BEST=0
PG_BEST_LINE=""
PG_LINES=()
for mode in ${BENCH_PG_MODES:-copy unnest}; do
    truncate_all
    "$BENCH_BIN_DIR/pg_limit" "$N" --batch "$BATCH" --partitions "$PARTS" \
        --mode "$mode" >"$T/pg_limit.$mode.out" 2>"$T/pg_limit.log" ||
        fail "pg_limit --mode $mode"
    witnesses "pg_limit $mode"
    log "pg_limit: $(cat "$T/pg_limit.$mode.out")"
    PG_LINES+=("$(cat "$T/pg_limit.$mode.out")")
    rate=$(kv "$T/pg_limit.$mode.out" events_per_s)
    if [ "$rate" -gt "$PG_BEST" ]; then
        PG_BEST=$rate
        PG_BEST_LINE=$(cat "$T/pg_limit.$mode.out")
    fi
done
BUSY_END=$(busy)

# ------------------------------------------------------------ table
awk -v n="$N" -v msgs="$MESSAGES" -v dups="$DUPS" -v batches="$BATCHES" \
    -v tstart="$T_START" -v tend="$T_END" -v assigned="$ASSIGNED" \
    -v first="$FIRST" -v p50="$P50_US" -v p99="$P99_US" -v rss="$RSS_KB" \
    -v bare="$BARE_RATE" -v pg="$PG_BEST" -v pgline="$PG_BEST_LINE" \
    -v produce="$PRODUCE_RATE" -v batch="$BATCH" -v wait="$WAIT_MS" \
    -v par="$PAR" -v parts="$PARTS" -v cpu="$CONV_CPU" 'BEGIN {
    split(pgline, kvs, " ")
    for (i in kvs) { split(kvs[i], f, "="); pgk[f[1]] = f[2] }
    from_start = n / ((tend - tstart) / 1000)
    from_join = n / ((tend - assigned) / 1000)
    pct = 100 * from_join / pg
    join_ms = first - assigned
    rss_mb = rss / 1024
    printf "\nConveyor leads benchmark: %d events (+%d re-sends, %d duplicates dropped), %d partitions, batch_size %d, batch_wait_ms %d, parallelism %d\n\n", n, msgs - n, dups, parts, batch, wait, par
    printf "| %-46s | %14s | %-9s | %-4s |\n", "metric", "value", "target", ""
    printf "|%s|%s|%s|%s|\n", "------------------------------------------------", "----------------", "-----------", "------"
    printf "| %-46s | %14.0f | %-9s | %-4s |\n", "conveyor events/s, from process start", from_start, "", ""
    printf "| %-46s | %14.0f | %-9s | %-4s |\n", "conveyor events/s, from group join", from_join, "", ""
    printf "| %-46s | %14.0f | %-9s | %-4s |\n", "Postgres limit events/s (pg_limit " pgk["mode"] ")", pg, "", ""
    printf "| %-46s | %13.1f%% | %-9s | %-4s |\n", "conveyor (from join) / Postgres limit", pct, ">= 50%", (pct >= 50 ? "PASS" : "MISS")
    printf "| %-46s | %14.0f | %-9s | %-4s |\n", "bare consume msgs/s", bare, "", ""
    printf "| %-46s | %14.1f | %-9s | %-4s |\n", "conveyor peak RSS MB (VmHWM)", rss_mb, "<= 64", (rss_mb <= 64 ? "PASS" : "MISS")
    printf "| %-46s | %14.1f | %-9s | %-4s |\n", "batch commit p50 ms", p50 / 1000, "", ""
    printf "| %-46s | %14.1f | %-9s | %-4s |\n", "batch commit p99 ms", p99 / 1000, "", ""
    printf "| %-46s | %14d | %-9s | %-4s |\n", "group join to first commit ms", join_ms, "<= 1000", (join_ms <= 1000 ? "PASS" : "MISS")
    printf "\n"
    printf "conveyor: %.1f s from start (%.1f s to join), %.1f s from join, %s s of CPU; %d batches of %.0f messages on average\n", (tend - tstart) / 1000, (assigned - tstart) / 1000, (tend - assigned) / 1000, cpu, batches, (batches ? msgs / batches : 0)
    printf "produce: %d msgs/s\n", produce
}'
for l in "${PG_LINES[@]}"; do echo "pg_limit: $l"; done
if [ -n "${BENCH_STATEMENTS:-}" ]; then
    echo "conveyor's statements by execution time (pg_stat_statements):"
    cat "$T/statements.txt"
fi
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "busy at start: $BUSY_START"
echo "busy at the end of the conveyor run: $BUSY_RUN"
echo "busy at the end: $BUSY_END"

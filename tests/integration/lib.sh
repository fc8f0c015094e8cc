# lib.sh - helpers for the integration tests. Sourced inside pg_virtualenv
# (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE point at a throwaway
# cluster). Every process a test starts is killed when the test exits.
set -euo pipefail

T=$(mktemp -d /tmp/conveyor-it.XXXXXX)
export CONVEYOR_TOPOLOGY=${CONVEYOR_TOPOLOGY:-$CONVEYOR_SOURCE_DIR/tests/integration/topology.cfg}
export CONVEYOR_SCHEMAS=$CONVEYOR_SOURCE_DIR/schemas
export CONVEYOR_CONFIG=$CONVEYOR_SOURCE_DIR/config/conveyor.cfg
export DATABASE_URL=""
# Every conveyor process of a test gets its own HTTP port (any free one):
# several run at once, and other tests' processes may hold 8080.
export CONVEYOR_HTTP_LISTEN=${CONVEYOR_HTTP_LISTEN:-127.0.0.1:0}
PIDS=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "FAIL: $*"; dump_logs; exit 1; }

dump_logs() {
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "---- last lines of $(basename "$f")" >&2
        tail -n 25 "$f" >&2
    done
}

cleanup() {
    local rc=$?
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -CONT "$p" 2>/dev/null || true
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "$rc" -eq 0 ]; then rm -rf "$T"; else log "logs kept in $T"; fi
    exit "$rc"
}
trap cleanup EXIT

q() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }

start_broker() {
    "$CONVEYOR_BIN" dev-broker --bootstrap-file "$T/bootstrap" \
        >"$T/broker.out" 2>"$T/broker.log" &
    PIDS+=($!)
    BROKER_PID=$!
    for _ in $(seq 100); do
        [ -s "$T/bootstrap" ] && break
        sleep 0.1
    done
    [ -s "$T/bootstrap" ] || fail "dev broker did not start"
    export CONVEYOR_KAFKA_BROKERS=$(cat "$T/bootstrap")
    log "dev broker at $CONVEYOR_KAFKA_BROKERS"
}

migrate() { "$CONVEYOR_BIN" migrate >/dev/null 2>"$T/migrate.log" || fail "migrate"; }

# start_conveyor NAME [run options...]: a `conveyor run` in the background;
# its pid is in $LAST_PID, its log in $T/NAME.log (appended).
start_conveyor() {
    local name=$1
    shift
    "$CONVEYOR_BIN" run "$@" >>"$T/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=($LAST_PID)
}

# gen_leads FROM COUNT DUP_PERMILLE: NDJSON envelopes of lead.submitted
# events FROM..FROM+COUNT-1 with deterministic ids; every event whose number
# is a multiple of 1000/DUP_PERMILLE is written twice (same ce_id).
gen_leads() {
    awk -v from="$1" -v n="$2" -v dup="$3" 'BEGIN {
        every = dup > 0 ? int(1000 / dup) : 0
        for (i = from; i < from + n; i++) {
            p = i % 50
            line = sprintf("{\"id\":\"evt-%d\",\"data\":{\"lead_id\":\"%08x-0000-4000-8000-%012x\",\"partner_id\":\"00000000-0000-4000-8000-%012x\",\"email\":\"lead%d@example.com\",\"first_name\":\"Ada\",\"last_name\":null,\"company\":null,\"phone\":null,\"submitted_at\":%d}}", i, i, i, p, i, 1763790000000 + i * 1000)
            print line
            if (every && i % every == 0) print line
        }
    }'
}

# produce_leads FROM COUNT DUP_PERMILLE
produce_leads() {
    gen_leads "$@" | "$CONVEYOR_BIN" produce --type marketplace.lead.submitted \
        --envelope 2>>"$T/produce.log" || fail "produce"
}

distinct_events() { q "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'"; }
queue_rows() { q "SELECT count(*) FROM marketplace.email_verification_queue"; }
volume_sum() { q "SELECT coalesce(sum(leads), 0) FROM marketplace.partner_monthly_volume"; }

# wait_for SQL EXPECTED SECONDS
wait_for() {
    local got=""
    for _ in $(seq $(($3 * 5))); do
        got=$(q "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.2
    done
    fail "waited $3 s for [$1] = $2, got '$got'"
}

# The exactly-once witnesses of the leads domain for N distinct events,
# and APPLIED (default N) committed runs of its lead_submitted handler.
# The handlers are idempotent (a replay must change nothing), so the
# tables alone cannot show an event the engine applied twice; the outbox
# can: every committed run emits one verification.requested row (topic
# marketplace.verification; dead-letter copies go to the DLQ topic), under the
# derived id <ce_id>.1, and the outbox does not deduplicate.
check_witnesses() {
    local n=$1 applied=${2:-$1}
    local rows vol leads runs
    rows=$(queue_rows); vol=$(volume_sum); leads=$(q "SELECT count(*) FROM marketplace.leads")
    runs=$(q "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.verification.requested' AND topic = 'marketplace.verification'")
    log "witnesses: queue rows=$rows volume sum=$vol leads=$leads (expected $n); handler runs=$runs (expected $applied)"
    [ "$rows" = "$n" ] || fail "email_verification_queue has $rows rows, expected $n"
    [ "$vol" = "$n" ] || fail "partner_monthly_volume sums to $vol, expected $n"
    [ "$leads" = "$n" ] || fail "marketplace.leads has $leads rows, expected $n"
    [ "$runs" = "$applied" ] || fail "lead_submitted committed $runs runs (outbox rows), expected $applied"
    local dups
    dups=$(q "SELECT count(*) FROM (SELECT lead_id FROM marketplace.email_verification_queue GROUP BY 1 HAVING count(*) > 1) d")
    [ "$dups" = "0" ] || fail "$dups leads were queued more than once"
    if [ "$applied" = "$n" ]; then
        dups=$(q "SELECT count(*) FROM (SELECT event_id FROM conveyor.outbox WHERE event_type = 'marketplace.verification.requested' AND topic = 'marketplace.verification' GROUP BY 1 HAVING count(*) > 1) d")
        [ "$dups" = "0" ] || fail "$dups events were applied more than once"
    fi
}

# Every stored offset equals the partition's end, and the broker trimmed
# nothing (log start offset 0), so a retention loss can't pass for a bug.
check_offsets_at_end() {
    "$CONVEYOR_BIN" status >"$T/status.out" 2>>"$T/status.log" || fail "status"
    awk 'NR > 1 && $1 ~ /^conveyor\./ {
            if ($4 != 0) { print "trimmed: " $0; bad = 1 }
            if ($5 != $6) { print "not at end: " $0; bad = 1 }
            rows++
         }
         END { if (!rows) { print "no partitions"; bad = 1 } exit bad }' \
        "$T/status.out" >&2 || { cat "$T/status.out" >&2; fail "offsets not at the end of every partition"; }
}

check_no_trim() {
    "$CONVEYOR_BIN" status >"$T/status.out" 2>>"$T/status.log" || fail "status"
    awk 'NR > 1 && $1 ~ /^conveyor\./ && $4 != 0 { print "trimmed: " $0; bad = 1 }
         END { exit bad }' "$T/status.out" >&2 || fail "the dev broker trimmed a partition"
}

# Waits until `conveyor status` shows zero lag everywhere.
wait_drained() {
    local secs=$1
    for _ in $(seq $((secs * 2))); do
        "$CONVEYOR_BIN" status >"$T/status.out" 2>/dev/null || true
        if grep -q '^total lag: 0$' "$T/status.out"; then return 0; fi
        sleep 0.5
    done
    cat "$T/status.out" >&2
    fail "lag did not reach 0 in $secs s"
}

# ---- ticker tests ----

# ticker_topology FILE EXTRA: the marketplace topology with EXTRA (schedule
# groups, comma-separated) appended to its schedules list.
ticker_topology() {
    local out=$1 extra=$2 src=$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg
    # the schedules list is the file's last statement: reopen it
    sed '$ d' "$src" >"$out"
    tail -n 1 "$src" | grep -qx ');' || fail "marketplace.cfg does not end with ');'"
    printf ',\n%s\n);\n' "$extra" >>"$out"
    export CONVEYOR_TOPOLOGY=$out
    "$CONVEYOR_BIN" topology check >"$T/topology-check.log" 2>&1 ||
        { cat "$T/topology-check.log" >&2; fail "test topology does not check"; }
}

# ticker_config FILE TICK_MS LATE_AFTER_MS LEADER_TIMEOUT_MS: the default
# configuration with the ticker's timings replaced.
ticker_config() {
    sed -e "s/^\( *tick_ms = \).*/\1$2;/" \
        -e "s/^\( *late_after_ms = \).*/\1$3;/" \
        -e "s/^\( *leader_timeout_ms = \).*/\1$4;/" \
        "$CONVEYOR_SOURCE_DIR/config/conveyor.cfg" >"$1"
    grep -q "tick_ms = $2;" "$1" || fail "ticker_config did not apply"
    export CONVEYOR_CONFIG=$1
}

# sim_clock START SPEED DELAY_MS: a simulated clock that reads START
# DELAY_MS from now and runs SPEED times faster than real time.
sim_clock() {
    local real0=$(( $(date +%s%3N) + $3 ))
    export CONVEYOR_CLOCK="sim:$1@${real0}x$2"
    SIM_REAL0=$real0
    SIM_SPEED=$2
}

# The pid of the leading ticker (from its heartbeat row), or "".
ticker_leader_pid() {
    q "SELECT split_part(holder, ':', 2) FROM conveyor.ticker_leader" 2>/dev/null || true
}

# kcat_follow TOPIC FILE: reads TOPIC from the beginning into FILE, one
# line of headers per message, until killed. Its pid is in $KCAT_PID.
kcat_follow() {
    kcat -b "$CONVEYOR_KAFKA_BROKERS" -C -t "$1" -o beginning -u -q \
        -f '%h\n' >"$2" 2>"$T/kcat.log" &
    KCAT_PID=$!
    PIDS+=($KCAT_PID)
}

# ---- the testkit domain (tests/testkit/testkit.c), for the retry tests

# testkit_setup: run conveyor-testkit on tests/integration/retry.cfg with a
# dev broker, migrated tables and an empty call log ($CONVEYOR_TESTKIT_LOG).
testkit_setup() {
    export CONVEYOR_TOPOLOGY=$CONVEYOR_SOURCE_DIR/tests/integration/retry.cfg
    export CONVEYOR_TESTKIT_LOG=$T/calls.log
    CONVEYOR_BIN=${CONVEYOR_TESTKIT_BIN:?conveyor-testkit is needed}
    start_broker
    migrate
    q "CREATE TABLE public.testkit_effects (event_id text NOT NULL, attempt int NOT NULL)"
    : >"$CONVEYOR_TESTKIT_LOG"
}

# ev ID COMMAND KEY: one envelope line for `produce --envelope`
ev() { printf '{"id":"%s","data":{"schedule":"%s","fire_time":0,"run":"%s"}}\n' "$1" "$2" "$3"; }
# ncalls ID: how often the testkit handler was called for ID
ncalls() { awk -v id="$1" '$1 == id' "$CONVEYOR_TESTKIT_LOG" | wc -l; }
# nfailed ID: how many of those calls failed; a call that succeeded may
# run again when a later event of its batch fails (handlers re-run), a
# failed one never is
nfailed() { awk -v id="$1" '$1 == id && $4 == "retry"' "$CONVEYOR_TESTKIT_LOG" | wc -l; }

# ---- doubles of other services (tests/doubles), as real processes

# start_double NAME PERSONALITY [options...]: a conveyor-double on a free
# loopback port, its ledger in $T/NAME.ledger; its base URL goes into
# $NAME_URL (e.g. $stripe_URL) and its pid into $NAME_PID.
start_double() {
    local name=$1
    shift
    "${CONVEYOR_DOUBLE_BIN:?conveyor-double is needed}" "$@" \
        --port-file "$T/$name.port" --ledger "$T/$name.ledger" \
        2>"$T/$name.log" &
    PIDS+=($!)
    eval "${name}_PID=$!"
    for _ in $(seq 200); do
        [ -s "$T/$name.port" ] && break
        sleep 0.05
    done
    [ -s "$T/$name.port" ] || fail "the $name double did not start"
    eval "${name}_URL=http://$(cat "$T/$name.port")"
}

# double_ctl NAME METHOD PATH [JSON]: a control request to a double
double_ctl() {
    local url
    eval "url=\$${1}_URL"
    curl -sf -X "$2" "$url$3" ${4:+-H 'Content-Type: application/json' --data "$4"} ||
        fail "control request $2 $3 to the $1 double failed"
}

# ---- the HTTP endpoint

# http_port FILE: waits for a --http-port-file and sets $HTTP (base URL).
http_port() {
    for _ in $(seq 150); do [ -s "$1" ] && break; sleep 0.1; done
    [ -s "$1" ] || fail "no HTTP port in $1"
    HTTP=http://127.0.0.1:$(cat "$1")
}

# http_code URL [curl options...]: the status code of a request.
http_code() {
    local url=$1
    shift
    curl -s -o "$T/http.body" -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

# wait_http URL CODE SECONDS [grep pattern for the body]
wait_http() {
    local got=""
    for _ in $(seq $(($3 * 5))); do
        got=$(http_code "$1")
        if [ "$got" = "$2" ] && { [ -z "${4:-}" ] || grep -q "$4" "$T/http.body"; }; then
            return 0
        fi
        sleep 0.2
    done
    fail "waited $3 s for $1 to answer $2${4:+ with /$4/}; got $got: $(head -c 300 "$T/http.body")"
}

# scrape: /metrics into $T/metrics.txt
scrape() { curl -sf --max-time 10 "$HTTP/metrics" >"$T/metrics.txt" || fail "scraping $HTTP/metrics"; }
# msum NAME [LABEL-FRAGMENT]: the sum of a metric's samples (whose labels
# contain the fragment) in the last scrape
msum() {
    awk -v n="$1" -v l="${2:-}" 'index($0, n "{") == 1 || $1 == n {
        if (l == "" || index($0, l)) s += $NF } END { printf "%.0f\n", s }' "$T/metrics.txt"
}
# mmax NAME [LABEL-FRAGMENT]: the largest sample
mmax() {
    awk -v n="$1" -v l="${2:-}" 'BEGIN { m = 0 } index($0, n "{") == 1 || $1 == n {
        if ((l == "" || index($0, l)) && $NF + 0 > m) m = $NF + 0 } END { print m }' "$T/metrics.txt"
}

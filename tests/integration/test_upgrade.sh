# Rolling upgrade, as Kubernetes runs one for the chart's Deployments
# (RollingUpdate, maxSurge 1, maxUnavailable 0): the leads domain runs as
# two replicas of an "old" build and configuration, the relay and ticker as
# one, while a steady stream of lead.submitted events arrives. One replica
# at a time, a process of the "new" build starts, and once it has joined
# the consumer group an old one gets SIGTERM mid-stream; if it is still
# running when its grace period ends, it gets SIGKILL, as the kubelet does.
#
#   old: conveyor-testkit (another build of the same source) with
#        lock waits unbounded (postgres.lock_timeout_ms = 0), logfmt logs
#   new: conveyor with the reference configuration, JSON logs
#
#   round 1: new1 joins, old1 gets SIGTERM and drains: it finishes and
#            commits its batch, leaves the group and exits 0 well within
#            its grace period (20 s);
#   round 2: new2 joins; every partner's volume row is held by a psql
#            transaction, so every batch waits; old2's backend waits
#            unbounded, the new ones roll back every 2 s. old2 gets SIGTERM
#            while its batch waits, cannot finish it, and gets SIGKILL when
#            its grace period (3 s) ends. Its Postgres session outlives it,
#            still queued on the lock; the hold is then released;
#   round 3: the relay and ticker process is replaced the same way.
#
# Then: every event applied exactly once (leads, queue, volumes, one
# committed handler run each), every emitted event published and recorded
# once downstream, stored offsets at the end of every partition; each new
# process's first commit came within 1 s of its group join (the core
# issue's target).

OLD_BIN=${CONVEYOR_TESTKIT_BIN:?conveyor-testkit is the old build}
NEW_BIN=$CONVEYOR_BIN
[ -x "$OLD_BIN" ] || fail "no old build at $OLD_BIN"
cfg=$CONVEYOR_SOURCE_DIR/config/conveyor.cfg
sed -e 's/^\( *lock_timeout_ms = \).*/\10;/' "$cfg" >"$T/old.cfg"
sed -e 's/^\( *format = \).*/\1"json";/' "$cfg" >"$T/new.cfg"
grep -q 'lock_timeout_ms = 0;' "$T/old.cfg" || fail "old.cfg: lock_timeout_ms not set"
grep -q 'format = "json";' "$T/new.cfg" || fail "new.cfg: log format not set"
SHUTDOWN_MS=$(sed -n 's/^ *shutdown_timeout_ms = \([0-9]*\);/\1/p' "$cfg")
[ -n "$SHUTDOWN_MS" ] || fail "no consumer.shutdown_timeout_ms in $cfg"

# run_as NAME BIN CFG [run options...]: a `conveyor run` of that build and
# configuration; pid in $LAST_PID, log in $T/NAME.log
run_as() {
    local name=$1 bin=$2 conf=$3
    shift 3
    CONVEYOR_CONFIG=$conf "$bin" run "$@" >>"$T/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=($LAST_PID)
}

# assignments NAME: how many non-empty assignments NAME has logged
assignments() { grep -cE 'assigned [1-9][0-9]* partitions' "$T/$1.log" || true; }

# wait_joined NAME BEFORE: until NAME logs an assignment after its BEFORE-th
wait_joined() {
    for _ in $(seq 600); do
        [ "$(assignments "$1")" -gt "$2" ] && return 0
        sleep 0.1
    done
    fail "$1 did not join the group (no partitions assigned within 60 s)"
}

# terminate NAME PID GRACE_S: SIGTERM, then SIGKILL if PID still runs when
# the grace period ends, as the kubelet does. Sets TERM_MS (SIGTERM to
# exit), TERM_RC (exit status) and KILLED (1 if SIGKILL was needed).
terminate() {
    local name=$1 pid=$2 grace_ms=$(($3 * 1000)) t0
    t0=$(date +%s%3N)
    kill -TERM "$pid"
    KILLED=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ $(($(date +%s%3N) - t0)) -ge "$grace_ms" ]; then
            log "$name: still running after its ${3} s grace period: SIGKILL"
            kill -KILL "$pid"
            KILLED=1
            break
        fi
        sleep 0.05
    done
    TERM_RC=0
    wait "$pid" || TERM_RC=$?
    TERM_MS=$(($(date +%s%3N) - t0))
}

fed() { cat "$T/fed" 2>/dev/null || echo 0; }

start_broker
migrate

# the stream: chunks of 1000 events (1% re-sent under the same id) until
# told to stop; $T/fed holds how many distinct events were sent
feeder() {
    local n=0
    while [ ! -e "$T/stop-feed" ] && [ "$n" -lt 150000 ]; do
        produce_leads "$n" 1000 10
        n=$((n + 1000))
        echo "$n" >"$T/fed.tmp" && mv "$T/fed.tmp" "$T/fed"
        sleep 0.2 # pace the stream; nothing waits on this
    done
}

run_as verification "$NEW_BIN" "$T/new.cfg" --domain verification --no-relay --no-ticker
VERIF=$LAST_PID
run_as old1 "$OLD_BIN" "$T/old.cfg" --domain leads --no-relay --no-ticker
OLD1=$LAST_PID
run_as old2 "$OLD_BIN" "$T/old.cfg" --domain leads --no-relay --no-ticker
OLD2=$LAST_PID
run_as oldR "$OLD_BIN" "$T/old.cfg" --no-consumers
OLDR=$LAST_PID
feeder &
FEEDER=$!
PIDS+=($FEEDER)
wait_joined old1 0
wait_joined old2 0
wait_for "SELECT count(*) > 1000 FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" t 120
log "old build running: $(distinct_events) events applied, $(fed) sent"

# ---- round 1: a new replica joins, an old one drains
run_as new1 "$NEW_BIN" "$T/new.cfg" --domain leads --no-relay --no-ticker
NEW1=$LAST_PID
wait_joined new1 0
sent=$(fed)
terminate old1 "$OLD1" 20
[ "$KILLED" = 0 ] || fail "old1 did not stop within 20 s of SIGTERM"
[ "$TERM_RC" = 0 ] || fail "old1 exited with status $TERM_RC after SIGTERM"
grep -q 'leaving the group' "$T/old1.log" || fail "old1 did not leave its group"
grep -q 'stopped cleanly' "$T/old1.log" || fail "old1 did not report a clean stop"
[ "$TERM_MS" -le "$SHUTDOWN_MS" ] ||
    fail "old1 took $TERM_MS ms to stop, more than shutdown_timeout_ms ($SHUTDOWN_MS)"
old1_done=$(sed -n 's/.*processed=\([0-9]*\).*/\1/p' "$T/old1.log" | tail -n 1)
[ "${old1_done:-0}" -gt 0 ] || fail "old1 processed nothing before it stopped"
log "round 1: old1 drained and exited 0 in $TERM_MS ms after SIGTERM (it applied $old1_done events)"

# ---- round 2: a new replica joins; the old one is stuck in a batch
old2_before=$(assignments old2)
run_as new2 "$NEW_BIN" "$T/new.cfg" --domain leads --no-relay --no-ticker
NEW2=$LAST_PID
wait_joined new2 0
wait_joined old2 "$old2_before" # old2 owns partitions in the new generation
[ "$(fed)" -gt "$sent" ] || fail "the stream stopped during round 1"

mkfifo "$T/hold.in"
psql -X -v ON_ERROR_STOP=1 -Atq <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLDER=$!
PIDS+=($HOLDER)
exec 7>"$T/hold.in"
echo "SET application_name = 'upgrade-holder';
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM marketplace.partner_monthly_volume
                      ORDER BY partner_id, month FOR UPDATE) held;" >&7
# (in the consumers' order: locking in the table's order could deadlock
# with a batch, and Postgres might end the holder's transaction)
wait_for "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'upgrade-holder'
          AND state = 'idle in transaction' AND backend_xid IS NOT NULL" 1 30
holder=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'upgrade-holder'")
# Only old2 waits on a lock for longer than the new build's lock timeout
# (2 s): a backend waiting on the holder for over 4 s is old2's, mid-batch.
stuck="FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND now() - query_start > interval '4 s'
        AND $holder = ANY (pg_blocking_pids(pid))"
wait_for "SELECT count(*) > 0 $stuck" t 60
log "round 2: every partner's volume row is held; old2's batch waits on it"
terminate old2 "$OLD2" 3
[ "$KILLED" = 1 ] || fail "old2 exited ($TERM_RC) within its grace period although its batch could not finish"
grep -q 'stopping: finishing the batches in flight' "$T/old2.log" ||
    fail "old2 did not act on SIGTERM"
log "round 2: old2 got SIGKILL after its 3 s grace period (batch in flight, never committed by the process)"
zombie=$(q "SELECT count(*) $stuck")
log "round 2: $zombie backend(s) of the killed process still queued on the lock; releasing the hold"
echo "COMMIT;" >&7
exec 7>&-
wait "$HOLDER" || fail "the holding psql session failed: $(cat "$T/hold.out")"

# ---- round 3: the relay and ticker process is replaced
run_as newR "$NEW_BIN" "$T/new.cfg" --no-consumers
NEWR=$LAST_PID
for _ in $(seq 300); do grep -q 'relay started' "$T/newR.log" && break; sleep 0.1; done
grep -q 'relay started' "$T/newR.log" || fail "the new relay did not start"
terminate oldR "$OLDR" 20
[ "$KILLED" = 0 ] && [ "$TERM_RC" = 0 ] || fail "the old relay did not stop cleanly ($TERM_RC)"
grep -q 'stopped cleanly' "$T/oldR.log" || fail "the old relay did not report a clean stop"
log "round 3: the old relay and ticker exited 0 in $TERM_MS ms"

# ---- the rollout is over: stop the stream and check
touch "$T/stop-feed"
wait "$FEEDER" || fail "the feeder failed"
N=$(fed)
log "stream stopped: $N distinct events sent"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" "$N" 300
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL" 0 120
wait_for "SELECT count(*) FROM marketplace.verification_requests" "$N" 240
wait_drained 120
dup=$(q "SELECT count(*) FROM (SELECT lead_id FROM marketplace.verification_requests GROUP BY 1 HAVING count(*) > 1) d")
[ "$dup" = 0 ] || fail "$dup verification requests applied twice"
check_witnesses "$N"
check_offsets_at_end
grep -q 'leading the outbox relay' "$T/newR.log" || fail "the new relay never led"
kill -TERM "$NEW1" "$NEW2" "$NEWR" "$VERIF"
for name in new1:$NEW1 new2:$NEW2 newR:$NEWR verification:$VERIF; do
    rc=0
    wait "${name#*:}" || rc=$?
    [ "$rc" = 0 ] || fail "${name%%:*} exited with status $rc after SIGTERM"
done
fenced=0
for name in new1 new2; do
    line=$(grep -o 'assigned_at_ms=[0-9]* first_commit_at_ms=[0-9]*' "$T/$name.log" | tail -n 1)
    a=$(sed -n 's/assigned_at_ms=\([0-9]*\).*/\1/p' <<<"$line")
    c=$(sed -n 's/.*first_commit_at_ms=\([0-9]*\)/\1/p' <<<"$line")
    [ -n "$a" ] && [ "$a" -gt 0 ] && [ -n "$c" ] && [ "$c" -gt 0 ] ||
        fail "$name: no join or first commit time in its final log line ($line)"
    log "$name: group join to first commit $((c - a)) ms (target <= 1000 ms)"
    [ $((c - a)) -le 1000 ] || fail "$name's first commit came $((c - a)) ms after it joined, more than 1 s"
    f=$(grep -o 'fenced=[0-9]*' "$T/$name.log" | tail -n 1 | cut -d= -f2)
    fenced=$((fenced + ${f:-0}))
done
log "commits the new processes had refused by the fence (a batch the killed process's session committed first, or a rebalance): $fenced"
echo "upgrade test: 1 passed, 0 failed"

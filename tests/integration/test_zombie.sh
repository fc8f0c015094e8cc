# Zombie: two consumers in one group. Consumer a is frozen in the middle of
# a batch until the group gives its partitions to b, then thawed: its commit
# must be refused by the offset compare-and-set (counted in its log), and
# the witnesses stay exact.
#
# To hold a mid-batch deterministically, a connects to Postgres as its own
# role: the test first SIGSTOPs a's Postgres backend, so a's next batch
# blocks on its first round trip, then SIGSTOPs a itself so the group's
# session times out. Thawing the backend and then a lets the stale batch
# run to its commit.
start_broker
migrate
q "CREATE ROLE zombie LOGIN SUPERUSER PASSWORD '${PGPASSWORD:-}'" >/dev/null
PGUSER=zombie start_conveyor a --domain leads --no-relay
A=$LAST_PID
start_conveyor b --domain leads --no-relay
B=$LAST_PID
produced=0
feed() { produce_leads "$produced" "$1" 0; produced=$((produced + $1)); }
feed 2000
wait_for "SELECT count(*) > 0 FROM conveyor.inbox" t 60
wait_for "SELECT count(*) FROM pg_stat_activity WHERE usename = 'zombie' AND application_name LIKE 'conveyor/leads#%'" 1 30
BACKENDS=""
thaw() {
    [ -n "$BACKENDS" ] && kill -CONT $BACKENDS 2>/dev/null || true
    kill -CONT "$A" 2>/dev/null || true
    BACKENDS=""
}
# a_owns: consumer a's latest assignment event is an assignment
a_owns() { grep -E 'msg="(assigned|revoked) [0-9]+ partitions' "$T/a.log" | tail -n 1 | grep -q assigned; }
fenced=0
for attempt in $(seq 1 3); do
    for _ in $(seq 300); do a_owns && break; sleep 0.1; done
    a_owns || fail "consumer a was never given partitions"
    # keep events flowing so that a starts a batch on its frozen session
    ( gen_leads $((produced)) 20000 0 | "$CONVEYOR_BIN" produce \
        --type marketplace.lead.submitted --envelope 2>>"$T/produce.log" ) &
    feeder=$!
    produced=$((produced + 20000))
    BACKENDS=$(q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE usename = 'zombie' AND application_name LIKE 'conveyor/leads#%'")
    [ -n "$BACKENDS" ] || fail "consumer a has no Postgres session"
    kill -STOP $BACKENDS
    sleep 1 # a blocks in a batch on the frozen session
    kill -STOP "$A"
    log "attempt $attempt: consumer a and its backend(s) $BACKENDS stopped"
    # the group gives a's partitions to b after the session timeout
    before=$(grep -c 'assigned 36 partitions' "$T/b.log" || true)
    for _ in $(seq 200); do
        now=$(grep -c 'assigned 36 partitions' "$T/b.log" || true)
        [ "$now" -gt "$before" ] && break
        sleep 0.1
    done
    [ "$now" -gt "$before" ] || { thaw; fail "b never took over all partitions"; }
    sleep 2 # let b commit on the partitions a thinks it still owns
    thaw
    wait "$feeder"
    sleep 3
    fenced=$(grep -c 'commit refused' "$T/a.log" || true)
    log "attempt $attempt: fenced commits so far: $fenced"
    [ "$fenced" -gt 0 ] && break
done
[ "$fenced" -gt 0 ] || fail "the zombie's commit was never refused"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $produced 180
wait_drained 60
check_witnesses $produced
check_offsets_at_end
log "fenced commits: $fenced"
echo "zombie test: 1 passed, 0 failed"

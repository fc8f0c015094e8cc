# Zombie: two consumers in one group. One is SIGSTOPped mid-batch until the
# group gives its partitions to the other, then SIGCONTed: its commit must
# be refused by the offset compare-and-set (counted in its log), and the
# witnesses stay exact.
start_broker
migrate
start_conveyor a --domain leads --no-relay
A=$LAST_PID
start_conveyor b --domain leads --no-relay
B=$LAST_PID
produced=0
feed() { produce_leads "$produced" "$1" 0; produced=$((produced + $1)); }
feed 2000
wait_for "SELECT count(*) > 0 FROM conveyor.inbox" t 60
fenced=0
for attempt in $(seq 1 8); do
    # keep events flowing so the stopped consumer holds a batch
    ( gen_leads $((produced)) 20000 0 | "$CONVEYOR_BIN" produce \
        --type marketplace.lead.submitted --envelope 2>>"$T/produce.log" ) &
    feeder=$!
    produced=$((produced + 20000))
    sleep "0.$((RANDOM % 9 + 1))"
    kill -STOP "$A"
    log "attempt $attempt: consumer a stopped"
    # the group gives a's partitions to b after the session timeout
    before=$(grep -c 'assigned 36 partitions' "$T/b.log" || true)
    for _ in $(seq 200); do
        now=$(grep -c 'assigned 36 partitions' "$T/b.log" || true)
        [ "$now" -gt "$before" ] && break
        sleep 0.1
    done
    [ "$now" -gt "$before" ] || fail "b never took over all partitions"
    sleep 1 # let b commit on the partitions a thinks it still owns
    kill -CONT "$A"
    wait "$feeder"
    sleep 3
    fenced=$(grep -c 'commit refused' "$T/a.log" || true)
    log "attempt $attempt: fenced commits so far: $fenced"
    [ "$fenced" -gt 0 ] && break
    # let the group settle with both members again
    sleep 8
done
[ "$fenced" -gt 0 ] || fail "the zombie's commit was never refused"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $produced 180
wait_drained 60
check_witnesses $produced
check_offsets_at_end
log "fenced commits: $fenced"
echo "zombie test: 1 passed, 0 failed"

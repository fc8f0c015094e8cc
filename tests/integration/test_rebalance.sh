# Rebalance: scale the leads consumers 1 -> 3 -> 1 while producing; the
# witnesses stay exact.
start_broker
migrate
TOTAL=60000
( produce_leads 0 $TOTAL 10 ) &
feeder=$!
start_conveyor c1 --domain leads --no-relay
wait_for "SELECT count(*) > 0 FROM conveyor.inbox" t 60
start_conveyor c2 --domain leads --no-relay
C2=$LAST_PID
start_conveyor c3 --domain leads --no-relay
C3=$LAST_PID
sleep 8
log "scaled to 3: $(distinct_events) distinct events so far"
kill -TERM "$C2" "$C3"
wait "$C2" || fail "c2 did not stop cleanly"
wait "$C3" || fail "c3 did not stop cleanly"
grep -q 'stopped cleanly' "$T/c2.log" || fail "c2 did not report a clean stop"
log "scaled back to 1: $(distinct_events) distinct events so far"
wait "$feeder"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $TOTAL 240
wait_drained 60
check_witnesses $TOTAL
check_offsets_at_end
echo "rebalance test: 1 passed, 0 failed"

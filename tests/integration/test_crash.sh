# Crash: 200,000 lead.submitted events (1% re-sent under the same ce_id)
# while the consumer is SIGKILLed at 20 random moments and restarted each
# time. Afterwards every witness equals the number of distinct events and
# the stored offsets are at the end of every partition.
start_broker
migrate
TOTAL=200000
ROUNDS=20
CHUNK=$((TOTAL / ROUNDS))
kills=0
for round in $(seq 0 $((ROUNDS - 1))); do
    produce_leads $((round * CHUNK)) $CHUNK 10
    start_conveyor consumer --domain leads --no-relay
    pid=$LAST_PID
    before=$(distinct_events)
    # wait until this incarnation is committing, then kill it at a random
    # moment within the next 1.5 s
    for _ in $(seq 300); do
        [ "$(distinct_events)" != "$before" ] && break
        sleep 0.1
    done
    sleep "0.$((RANDOM % 15))$((RANDOM % 10))"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    log "round $round: killed at $(distinct_events) distinct events"
done
start_conveyor consumer --domain leads --no-relay
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $TOTAL 300
wait_drained 60
check_witnesses $TOTAL
check_offsets_at_end
resent=$(grep -o 'produced [0-9]* events' "$T/produce.log" | awk '{s += $2} END {print s}')
log "kills=$kills produced=$resent (incl. re-sends) distinct=$TOTAL"
[ "$kills" = "$ROUNDS" ] || fail "only $kills kills"
[ "$resent" -gt "$TOTAL" ] || fail "no re-sent events were produced"
echo "crash test: 1 passed, 0 failed"

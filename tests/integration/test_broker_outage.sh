# Broker outages during consumption: the dev broker's brokers are taken
# down (SIGUSR1: connections refused) for 3-5 s and brought back (SIGUSR2)
# five times while the consumers work through a backlog and new events
# arrive between outages. The consumers and the relay must stay up and
# resume; the witnesses are exact and the lag returns to zero. During the
# first outage `conveyor status` must show it, and stop showing it after.
start_broker
migrate
CHUNK=20000
start_conveyor consumer --domain leads
consumer=$LAST_PID
start_conveyor verification --domain verification --no-relay
verification=$LAST_PID
for i in $(seq 0 4); do
    produce_leads $((i * CHUNK)) $CHUNK 10
    # take it down mid-way through the chunk, while the consumer works
    wait_for "SELECT count(*) >= $((i * CHUNK + CHUNK / 5)) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" t 120
    kill -USR1 "$BROKER_PID"
    down=$((3 + RANDOM % 3))
    log "broker down for $down s (round $((i + 1)), $(q "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'") leads applied)"
    sleep "$down"
    if [ "$i" = 0 ]; then
        # the outage shows in `status`: each consumer says what is wrong
        wait_for "SELECT count(*) FROM conveyor.consumer_state WHERE group_id = 'conveyor.leads' AND detail LIKE 'kafka: %'" 1 30
        "$CONVEYOR_BIN" status >"$T/status-down.out" 2>>"$T/status.log" || fail "status during the outage"
        grep -q '^consumer conveyor.leads .*: running, kafka: .* (since ' "$T/status-down.out" &&
            grep -q '^total lag: unknown (broker unreachable' "$T/status-down.out" ||
            { cat "$T/status-down.out" >&2; fail "status does not show the outage"; }
        log "status during the outage: $(grep '^consumer conveyor.leads' "$T/status-down.out")"
    fi
    kill -USR2 "$BROKER_PID"
    log "broker up"
    [ "$i" != 0 ] || wait_for "SELECT count(*) FROM conveyor.consumer_state WHERE group_id = 'conveyor.leads' AND detail IS NULL AND state = 'running'" 1 30
    sleep 2
    kill -0 "$consumer" 2>/dev/null || fail "the leads consumer exited during a broker outage"
    kill -0 "$verification" 2>/dev/null || fail "the verification consumer exited during a broker outage"
done
TOTAL=$((5 * CHUNK))
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $TOTAL 300
wait_for "SELECT count(*) FROM marketplace.verification_requests" $TOTAL 300
wait_drained 120
check_witnesses $TOTAL
check_offsets_at_end
echo "broker outage test: 3 passed, 0 failed"

# Relay crash: the leads handler emits verification.requested through the
# outbox; the relay runs as its own process and is SIGKILLed while it
# publishes, then restarted. Every outbox event reaches its topic and is
# applied exactly once downstream (verification domain).
start_broker
migrate
TOTAL=30000
start_conveyor leads --domain leads --no-relay
start_conveyor verification --domain verification --no-relay
produce_leads 0 $TOTAL 10
published() { q "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NOT NULL"; }
kills=0
for i in $(seq 1 6); do
    start_conveyor relay --relay-only
    relay=$LAST_PID
    # kill it while it publishes: once this incarnation has marked rows,
    # at a random moment within the next 0.3 s
    before=$(published)
    for _ in $(seq 300); do
        [ "$(published)" != "$before" ] && break
        sleep 0.05
    done
    [ "$(published)" != "$before" ] || fail "relay $i never published"
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    kill -KILL "$relay"
    wait "$relay" 2>/dev/null || true
    kills=$((kills + 1))
    log "relay killed ($kills); published so far: $(published)"
done
start_conveyor relay --relay-only
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL AND (SELECT count(*) FROM conveyor.outbox) = $TOTAL" 0 240
wait_for "SELECT count(*) FROM marketplace.verification_requests" $TOTAL 240
wait_drained 60
dup=$(q "SELECT count(*) FROM (SELECT lead_id FROM marketplace.verification_requests GROUP BY 1 HAVING count(*) > 1) d")
[ "$dup" = 0 ] || fail "$dup verification requests applied twice"
check_witnesses $TOTAL
check_offsets_at_end
# evidence that kills landed between publish and mark: more messages on the
# topic than distinct events, all absorbed by the inbox
on_topic=$(awk '$2 == "marketplace.verification" { s += $6 } END { print s }' "$T/status.out")
log "verification events on the topic: $on_topic for $TOTAL distinct"
[ "$on_topic" -gt "$TOTAL" ] || fail "no kill landed between publish and mark: nothing was re-sent"
echo "relay crash test: 1 passed, 0 failed"

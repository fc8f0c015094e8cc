# Poison: garbage bytes, an unknown schema id, a missing ce_id, an
# unrouted type and a lead whose email is no address (300 characters) each land in conveyor.dead_letters with the reason, and the
# events after them are processed.
start_broker
migrate
start_conveyor consumer --domain leads --no-relay
produce_leads 0 10 0
B=$CONVEYOR_KAFKA_BROKERS
hdr=(-H ce_specversion=1.0 -H ce_source=test -H ce_time=2026-11-22T06:00:00Z)
# 1. garbage bytes
printf 'not avro at all' | kcat -P -b "$B" -t marketplace.leads -p 0 \
    "${hdr[@]}" -H ce_id=poison-garbage -H ce_type=marketplace.lead.submitted
# 2. unknown schema id 999 (valid framing)
printf '\x00\x00\x00\x03\xe7\x02' | kcat -P -b "$B" -t marketplace.leads -p 0 \
    "${hdr[@]}" -H ce_id=poison-schema -H ce_type=marketplace.lead.submitted
# 3. no ce_id header
printf '\x00\x00\x00\x00\x01\x02' | kcat -P -b "$B" -t marketplace.leads -p 0 \
    -H ce_specversion=1.0 -H ce_source=test -H ce_time=2026-11-22T06:00:00Z \
    -H ce_type=marketplace.lead.submitted
# 4. a type the leads domain has no route for
"$CONVEYOR_BIN" produce --type marketplace.verification.requested \
    --topic marketplace.leads --id poison-unrouted \
    --data '{"lead_id":"00000000-0000-4000-8000-000000000001","partner_id":"00000000-0000-4000-8000-000000000002","email":"x@example.com"}' \
    2>>"$T/produce.log" || fail "produce unrouted"
# 5. an email longer than an address can be (RFC 5321: 254)
long=$(printf 'x%.0s' $(seq 290))@example.com
"$CONVEYOR_BIN" produce --type marketplace.lead.submitted --id poison-long-email \
    --data '{"lead_id":"00000000-0000-4000-8000-0000000000f1","partner_id":"00000000-0000-4000-8000-000000000002","email":"'"$long"'","first_name":null,"last_name":null,"company":null,"phone":null,"submitted_at":1763790000000}' \
    2>>"$T/produce.log" || fail "produce long email"
# then good events
produce_leads 10 10 0
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 20 60
wait_for "SELECT count(*) FROM conveyor.dead_letters" 5 30
check() {
    local where=$1 pattern=$2
    got=$(q "SELECT error FROM conveyor.dead_letters WHERE $where")
    [ -n "$got" ] || fail "no dead letter where $where"
    echo "$got" | grep -qi -- "$pattern" || fail "dead letter where $where says '$got', expected /$pattern/"
    log "dead letter ($where): $got"
}
check "event_id = 'poison-garbage'" "magic\|frame\|short"
check "event_id = 'poison-schema'" "schema id"
check "event_id IS NULL" "ce_id"
check "event_id = 'poison-unrouted'" "unrouted"
check "event_id = 'poison-long-email'" "longer than 254"
raw=$(q "SELECT encode(value, 'escape') FROM conveyor.dead_letters WHERE event_id = 'poison-garbage'")
[ "$raw" = "not avro at all" ] || fail "raw bytes not kept: '$raw'"
check_witnesses 20
echo "poison test: 1 passed, 0 failed"

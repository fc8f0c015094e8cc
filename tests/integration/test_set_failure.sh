# Set statements that fail: the leads handler writes through row sets
# (cv_sql_rows), one statement per table for the whole batch. One event
# whose row makes that statement fail (a submitted_at out of Postgres'
# timestamp range) and one whose handler fails (a record of another schema)
# sit among good events in one batch: each bad one lands alone in
# conveyor.dead_letters with its reason, every good event is applied
# exactly once, and an upload.completed handler's per-event statements run
# between the row sets.
start_broker
migrate
produce_leads 0 100 0
# produce refuses a timestamp-millis outside years 0001-9999, so the bad
# event is encoded with submitted_at = 0 on a scratch topic and its last
# field, the long 0 (one byte, 0x00), is swapped for the zigzag varint of
# 9000000000000000000 before it goes to marketplace.leads.
"$CONVEYOR_BIN" produce --type marketplace.lead.submitted --id scratch \
    --topic conveyor.test.scratch \
    --data '{"lead_id":"00000000-0000-4000-8000-00000000bad1","partner_id":"00000000-0000-4000-8000-000000000001","email":"bad@example.com","first_name":null,"last_name":null,"company":null,"phone":null,"submitted_at":0}' \
    2>>"$T/produce.log" || fail "produce the scratch lead"
kcat -C -b "$CONVEYOR_KAFKA_BROKERS" -t conveyor.test.scratch -c 1 -e -q \
    -f '%s' >"$T/scratch.bin" 2>"$T/kcat.log" || fail "kcat consume scratch"
[ "$(tail -c 1 "$T/scratch.bin" | od -An -tx1 | tr -d ' ')" = 00 ] ||
    fail "the scratch lead does not end in submitted_at = 0"
{ head -c -1 "$T/scratch.bin"
  printf '\x80\x80\xa0\xa8\x9c\x94\xb6\xe6\xf9\x01'; } >"$T/bad-time.bin"
kcat -P -b "$CONVEYOR_KAFKA_BROKERS" -t marketplace.leads -p 0 \
    -H ce_specversion=1.0 -H ce_source=test -H ce_time=2026-11-22T06:00:00Z \
    -H ce_id=set-bad-time -H ce_type=marketplace.lead.submitted \
    "$T/bad-time.bin" 2>>"$T/kcat.log" || fail "kcat produce bad time"
produce_leads 100 100 0
# a VerificationRequested body under the lead.submitted type
"$CONVEYOR_BIN" produce --type marketplace.verification.requested --id tmp \
    --data '{"lead_id":"00000000-0000-4000-8000-00000000bad2","partner_id":"00000000-0000-4000-8000-000000000002","email":"x@example.com"}' \
    2>>"$T/produce.log" || fail "produce verification"
kcat -C -b "$CONVEYOR_KAFKA_BROKERS" -t marketplace.verification -c 1 -e -q \
    -f '%s' >"$T/wrong-schema.bin" 2>"$T/kcat.log" || fail "kcat consume"
kcat -P -b "$CONVEYOR_KAFKA_BROKERS" -t marketplace.leads -p 0 \
    -H ce_specversion=1.0 -H ce_source=test -H ce_time=2026-11-22T06:00:00Z \
    -H ce_id=set-bad-schema -H ce_type=marketplace.lead.submitted \
    "$T/wrong-schema.bin" 2>>"$T/kcat.log" || fail "kcat produce"
"$CONVEYOR_BIN" produce --type marketplace.upload.completed --id upload-1 \
    --data '{"batch_id":"00000000-0000-4000-8000-0000000000b1","partner_id":"00000000-0000-4000-8000-000000000003","lead_count":0}' \
    2>>"$T/produce.log" || fail "produce upload"
produce_leads 200 50 0
# everything is on the topics before the consumer starts: one or two batches
start_conveyor consumer --domain leads --no-relay
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 251 60
wait_for "SELECT count(*) FROM conveyor.dead_letters" 2 30
got=$(q "SELECT error || ' attempts=' || attempts FROM conveyor.dead_letters WHERE event_id = 'set-bad-time'")
log "dead letter (set-bad-time): $got"
echo "$got" | grep -q "SQLSTATE 22008.*attempts=1$" || fail "set-bad-time: '$got'"
got=$(q "SELECT error || ' attempts=' || attempts FROM conveyor.dead_letters WHERE event_id = 'set-bad-schema'")
log "dead letter (set-bad-schema): $got"
echo "$got" | grep -q "does not match LeadSubmitted.*attempts=1$" || fail "set-bad-schema: '$got'"
grep -q "narrowing it down" "$T/consumer.log" || fail "no set statement was narrowed down"
[ "$(q "SELECT count(*) FROM marketplace.partner_upload_batches")" = 1 ] ||
    fail "the upload was not recorded"
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE lead_id::text LIKE '%bad%'")" = 0 ] ||
    fail "a bad event's rows were committed"
check_witnesses 250
check_offsets_at_end
echo "set failure test: 1 passed, 0 failed"

# Retention gap: when the broker deletes events before they were processed
# (stored offset below the log start offset), Conveyor never skips them: it
# stops that partition, logs the lost range, and `conveyor status` shows it.
start_broker
migrate
start_conveyor consumer --domain leads --no-relay
pid=$LAST_PID
big() { # COUNT FROM: lead.submitted events of one partner, 8 KiB of company name each
    awk -v n="$1" -v from="$2" 'BEGIN { srand(7)
        for (i = from; i < from + n; i++) {
            pad = ""; for (k = 0; k < 1024; k++) pad = pad sprintf("%08x", int(rand() * 4294967295))
            printf "{\"id\":\"gap-%d\",\"data\":{\"lead_id\":\"%08x-0000-4000-8000-000000000000\",\"partner_id\":\"00000000-0000-4000-8000-0000000000aa\",\"email\":\"gap-%d@example.com\",\"first_name\":null,\"last_name\":null,\"company\":\"%s\",\"phone\":null,\"submitted_at\":1763790000000}}\n", i, i, i, substr(pad, 1, 8192)
        } }'
}
big 5 0 | "$CONVEYOR_BIN" produce --type marketplace.lead.submitted --envelope 2>>"$T/produce.log"
wait_for "SELECT count(*) FROM conveyor.inbox" 5 60
kill -TERM "$pid"; wait "$pid" || fail "consumer did not stop cleanly"
stored=$(q "SELECT max(next_offset) FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads'")
[ "$stored" = 5 ] || fail "expected a stored offset of 5, got $stored"
# 800 x 8 KiB uncompressed into the same partition: more than the dev
# broker's 5 MiB, so it drops the oldest, including unprocessed ones
printf 'kafka = { properties = ( ["compression.codec", "none"] ); };\n' >"$T/nocomp.cfg"
big 800 5 | "$CONVEYOR_BIN" -c "$T/nocomp.cfg" produce --type marketplace.lead.submitted \
    --envelope 2>>"$T/produce.log" || fail "produce"
start_conveyor consumer --domain leads --no-relay
wait_for "SELECT count(*) FROM conveyor.retention_gaps" 1 60
row=$(q "SELECT topic, lost_from, lost_to > lost_from FROM conveyor.retention_gaps")
[ "$(cut -d'|' -f1,2,3 <<<"$row")" = "marketplace.leads|5|t" ] || fail "gap row: $row"
grep -q 'retention gap' "$T/consumer.log" || fail "no retention gap error in the log"
"$CONVEYOR_BIN" status >"$T/status.out" 2>&1 || fail "status"
grep -q 'RETENTION GAP: group conveyor.leads marketplace.leads' "$T/status.out" ||
    { cat "$T/status.out" >&2; fail "status does not show the gap"; }
sleep 2
# nothing after the gap was processed on that partition, the offset stayed
[ "$(q "SELECT count(*) FROM conveyor.inbox")" = 5 ] || fail "events past the gap were processed"
[ "$(q "SELECT max(next_offset) FROM conveyor.consumer_offsets")" = 5 ] || fail "the stored offset moved"
log "gap: $row"
echo "retention gap test: 1 passed, 0 failed"

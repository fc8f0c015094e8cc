# Replay by time on a running consumer: wave A (3,000 leads), a moment,
# wave B (2,000). `replay --from-time <between> --dry-run` plans 2,000
# events and changes nothing; the real replay rewinds the stored offsets
# and the running consumer re-runs exactly wave B once (the queue is the
# witness: wave B's events have two rows, wave A's one). A second replay by
# offset with --to-time on one partition re-runs only that partition's
# wave A events. Both are audited.
start_broker
migrate
start_conveyor consumer --domain leads --no-ticker
produce_leads 0 3000 0
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 3000 60
sleep 1.5
MID=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.5
produce_leads 3000 2000 0
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 5000 60
check_witnesses 5000
runs() { q "SELECT count(*) FROM (SELECT source_event_id FROM marketplace.email_verification_queue GROUP BY 1 HAVING count(*) = $1) r"; }
offsets() { q "SELECT string_agg(topic || partition || '=' || next_offset, ',' ORDER BY topic, partition) FROM conveyor.consumer_offsets"; }

before=$(offsets)
"$CONVEYOR_BIN" replay --group conveyor.leads --from-time "$MID" --dry-run >"$T/dry.out" || fail "dry run"
cat "$T/dry.out" >&2
grep -q '^2000 events to re-run in .* (dry run: nothing changed)$' "$T/dry.out" || fail "dry run did not plan 2000 events"
sleep 1
[ "$(offsets)" = "$before" ] || fail "the dry run moved offsets"
[ "$(q "SELECT count(*) FROM conveyor.inbox")" = 5000 ] || fail "the dry run touched the inbox"

"$CONVEYOR_BIN" replay --group conveyor.leads --from-time "$MID" --reason "reprocess wave B" --actor dave >"$T/replay.out" ||
    { cat "$T/replay.out" >&2; fail "replay"; }
grep -q '^rewound .* 2000 event ids forgotten by the inbox' "$T/replay.out" || { cat "$T/replay.out" >&2; fail "replay output"; }
wait_for "SELECT count(*) FROM marketplace.email_verification_queue" 7000 60
sleep 2
[ "$(runs 2)" = 2000 ] && [ "$(runs 1)" = 3000 ] || fail "wave B should run twice, wave A once: $(runs 2) twice, $(runs 1) once"
[ "$(q "SELECT count(*) FROM marketplace.leads")" = 5000 ] || fail "leads"
grep -q "rewound by a replay: re-seeking" "$T/consumer.log" || fail "the consumer did not re-seek on the replay's NOTIFY"

# one partition, by offset, up to MID: only that partition's wave A
part=$(q "SELECT partition FROM conveyor.consumer_offsets WHERE topic = 'marketplace.leads' AND next_offset > 0 ORDER BY partition LIMIT 1")
"$CONVEYOR_BIN" replay --group conveyor.leads --topic marketplace.leads --partition "$part" --from-offset 0 \
    --to-time "$MID" --dry-run >"$T/dry2.out" || fail "dry run 2"
n=$(sed -n 's/^\([0-9]*\) events to re-run.*/\1/p' "$T/dry2.out")
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt 3000 ] || fail "partition $part: planned '$n' events"
"$CONVEYOR_BIN" replay --group conveyor.leads --topic marketplace.leads --partition "$part" --from-offset 0 \
    --to-time "$MID" --actor dave >/dev/null || fail "replay 2"
wait_for "SELECT count(*) FROM marketplace.email_verification_queue" $((7000 + n)) 60
sleep 2
[ "$(runs 2)" = $((2000 + n)) ] && [ "$(runs 3)" = 0 ] || fail "the second replay re-ran more than partition $part's wave A"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE action = 'replay' AND actor = 'dave'")" = 2 ] ||
    fail "replays are not audited"
set +e
"$CONVEYOR_BIN" replay --group conveyor.leads 2>/dev/null; rc1=$?
"$CONVEYOR_BIN" replay --group nope --from-offset 0 2>/dev/null; rc2=$?
set -e
[ "$rc1$rc2" = 22 ] || fail "bad replay invocations exited $rc1 $rc2"
echo "replay test: 7 passed, 0 failed"

# Replay is safe for every shipped domain (leads, verification, jobs):
# replaying applied events changes nothing, and replaying after a fix
# applies it once.
#
# Wave A (3,000 leads, 20 job runs), then MID, then wave B (2,000 leads, an
# upload.completed that queues five of wave A's leads, 20 job runs), all
# consumed by one process with the relay. `replay --dry-run` says per
# partition and in all what will run again (events per type and handler)
# and changes nothing. Then, while a third wave streams in, the leads group
# is replayed from MID twice, the verification group (which also receives
# the re-emitted requests) and the jobs group once each, and wave A is
# replayed after a simulated fix (ten leads' effects missing). Afterwards
# every witness is exact: the rows of waves A and B are byte-for-byte what
# they were, the volume is the count of stored leads, each lead is queued
# once, and the outbox shows that every replayed handler really ran again,
# once per replay. All replays are audited.
topo=$T/topology.cfg
# the jobs domain records each run with declared SQL, keyed by the event id
sed -e 's/{ name = "marketplace.verification"; partitions = 16; }/&,\n    { name = "marketplace.jobs"; partitions = 4; }/' \
    -e 's/topic = "marketplace.verification"; key = "partner_id"; }/&,\n    { type = "marketplace.job.replay_test"; schema = "conveyor.ScheduledJob";\n      topic = "marketplace.jobs"; key = "schedule"; }/' \
    -e '$ d' "$CONVEYOR_TOPOLOGY" >"$topo"
tail -n 1 "$CONVEYOR_TOPOLOGY" | grep -qx ');' || fail "topology.cfg does not end with ');'"
cat >>"$topo" <<'EOF2'
,
    { name = "jobs"; group = "conveyor.jobs"; topics = [ "marketplace.jobs" ];
      batch_size = 500; batch_wait_ms = 50;
      routes = ( { event = "marketplace.job.replay_test";
                   sql = "INSERT INTO marketplace.job_runs (event_id, job, event_type,"
                         " fire_time, run) VALUES (:ce.id, :event.schedule, :ce.type,"
                         " to_timestamp(:event.fire_time::bigint / 1000.0), :event.run)"
                         " ON CONFLICT (event_id) DO NOTHING"; } ); }
);
EOF2
export CONVEYOR_TOPOLOGY=$topo
"$CONVEYOR_BIN" topology check >"$T/topology-check.log" 2>&1 ||
    { cat "$T/topology-check.log" >&2; fail "test topology does not check"; }
grep -q 'INSERT INTO marketplace.job_runs' "$topo" || fail "the jobs domain is not in the test topology"

start_broker
migrate
start_conveyor consumer --no-ticker

produce_jobs() { # FROM COUNT
    for i in $(seq "$1" $(($1 + $2 - 1))); do
        printf '{"id":"job-%d","data":{"schedule":"s%d","fire_time":%d,"run":"scheduled"}}\n' \
            "$i" $((i % 4)) $((1763790000000 + i * 60000))
    done | "$CONVEYOR_BIN" produce --type marketplace.job.replay_test --envelope 2>>"$T/produce.log" ||
        fail "produce jobs"
}
inbox() { q "SELECT count(*) FROM conveyor.inbox WHERE group_id = '$1'"; }
# the number of a lead's event (evt-N, lead N@example.com)
num="split_part(substr(email, 5), '@', 1)::int"
outbox_runs() { # FROM TO: committed lead_submitted runs of events FROM..TO
    q "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.verification.requested'
       AND split_part(split_part(event_id, '-', 2), '.', 1)::int BETWEEN $1 AND $2"
}
# digests of the rows waves A and B wrote (the ten "fixed" leads aside)
AB="$num < 5000 AND $num NOT BETWEEN 110 AND 119"
digest() {
    q "SELECT concat_ws(' ',
        (SELECT md5(string_agg(t::text, '|' ORDER BY lead_id)) FROM marketplace.leads t WHERE $AB),
        (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM marketplace.email_verification_queue t WHERE $AB),
        (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM marketplace.verification_requests t WHERE $num < 5000),
        (SELECT md5(string_agg(t::text, '|' ORDER BY event_id)) FROM marketplace.job_runs t),
        (SELECT md5(string_agg(t::text, '|' ORDER BY batch_id)) FROM marketplace.partner_upload_batches t))"
}
# replay ARGS...: runs `conveyor replay` into $T/replay.out; prints how
# many lead.submitted events it re-runs
replay() {
    "$CONVEYOR_BIN" replay --actor dave "$@" >"$T/replay.out" 2>>"$T/replay.log" ||
        { cat "$T/replay.out" >&2; fail "replay $*"; }
    cat "$T/replay.out" >>"$T/replays.out"
    grep -q '^rewound .* event ids forgotten by the inbox' "$T/replay.out" || { cat "$T/replay.out" >&2; fail "replay $* output"; }
    awk '/^in all/ { all = 1 } all && $3 == "marketplace.lead.submitted" { n = $1 } END { print n + 0 }' "$T/replay.out"
}
offsets() { q "SELECT string_agg(group_id || topic || partition || '=' || next_offset, ',' ORDER BY 1) FROM conveyor.consumer_offsets"; }

# ---- wave A, MID, wave B
produce_leads 0 3000 0
produce_jobs 0 20
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 3000 60
wait_for "SELECT count(*) FROM marketplace.verification_requests" 3000 60
wait_for "SELECT count(*) FROM marketplace.job_runs" 20 60
# a CSV import (not an event) put five of partner 7's leads in batch b1:
# they are not queued until the upload completes
B1=00000000-0000-4000-8000-0000000000b1
q "UPDATE marketplace.leads SET upload_batch_id = '$B1' WHERE $num IN (7, 57, 107, 157, 207)"
q "DELETE FROM marketplace.email_verification_queue WHERE lead_id IN (SELECT lead_id FROM marketplace.leads WHERE upload_batch_id = '$B1')"
q "INSERT INTO marketplace.partner_upload_batches (batch_id, partner_id, lead_count) VALUES ('$B1', '00000000-0000-4000-8000-000000000007', 5)"
MID=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
produce_leads 3000 2000 0
"$CONVEYOR_BIN" produce --type marketplace.upload.completed --id upload-1 \
    --data "{\"batch_id\":\"$B1\",\"partner_id\":\"00000000-0000-4000-8000-000000000007\",\"lead_count\":5}" \
    2>>"$T/produce.log" || fail "produce upload"
produce_jobs 20 20
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 5001 60
wait_for "SELECT count(*) FROM marketplace.verification_requests" 5000 60
wait_for "SELECT count(*) FROM marketplace.job_runs" 40 60
wait_for "SELECT count(*) FROM marketplace.email_verification_queue WHERE source_event_id = 'upload-1'" 5 60
wait_drained 60
check_witnesses 5000
[ "$(q "SELECT status FROM marketplace.partner_upload_batches")" = completed ] || fail "upload b1 not completed"
before=$(digest)

# ---- the dry run says what will run again and changes nothing
offs=$(offsets)
"$CONVEYOR_BIN" replay --group conveyor.leads --from-time "$MID" --dry-run >"$T/dry.out" || fail "dry run"
cat "$T/dry.out" >&2
grep -q '^2001 events to re-run in .* (dry run: nothing changed)$' "$T/dry.out" || fail "dry run did not plan 2001 events"
sed -n '/^in all/,$p' "$T/dry.out" >"$T/dry-all.out"
grep -q '^ *2000 x marketplace.lead.submitted -> leads.lead_submitted$' "$T/dry-all.out" ||
    fail "dry run: lead_submitted should re-run 2000 events"
grep -q '^ *1 x marketplace.upload.completed -> leads.upload_completed$' "$T/dry-all.out" ||
    fail "dry run: upload_completed should re-run 1 event"
# every partition row with events is followed by its handlers, summing to them
awk '$1 ~ /^marketplace\./ { if (want != got) bad = 1; want = $6; got = 0; next }
     $2 == "x" && !all { got += $1 } /^in all/ { all = 1; if (want != got) bad = 1 }
     END { exit bad }' "$T/dry.out" || fail "dry run: per-partition handler counts do not add up"
[ "$(offsets)" = "$offs" ] || fail "the dry run moved offsets"
[ "$(inbox conveyor.leads)" = 5001 ] || fail "the dry run touched the inbox"
[ "$(q "SELECT count(*) FROM conveyor.audit_log")" = 0 ] || fail "the dry run wrote an audit row"
# one partition, by offset, up to MID: only that partition's wave A
part=$(q "SELECT partition FROM conveyor.consumer_offsets WHERE topic = 'marketplace.leads' AND next_offset > 0 ORDER BY partition LIMIT 1")
"$CONVEYOR_BIN" replay --group conveyor.leads --topic marketplace.leads --partition "$part" --from-offset 0 \
    --to-time "$MID" --dry-run >"$T/dry2.out" || fail "dry run 2"
n=$(sed -n 's/^\([0-9]*\) events to re-run in 1 partitions (dry run.*/\1/p' "$T/dry2.out")
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt 3000 ] || { cat "$T/dry2.out" >&2; fail "partition $part: planned '$n' events"; }
grep -q "^ *$n x marketplace.lead.submitted -> leads.lead_submitted$" "$T/dry2.out" ||
    fail "dry run 2: partition $part's $n events should all run lead_submitted"

# ---- replays over a live stream (wave C: 3,000 leads in 10 runs)
( for i in $(seq 0 9); do produce_leads $((5000 + i * 300)) 300 0; done ) &
feeder=$!
L1=$(replay --group conveyor.leads --from-time "$MID" --reason "reprocess wave B")
log "replay 1 re-runs $L1 lead events"
[ "$L1" -ge 2000 ] || fail "replay 1 re-runs $L1 lead events, expected wave B's 2000 at least"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE event_id = 'upload-1'" 1 60
grep -q "rewound by a replay: re-seeking" "$T/consumer.log" || fail "the consumer did not re-seek on the replay's NOTIFY"
wait_for "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.verification.requested' AND split_part(split_part(event_id, '-', 2), '.', 1)::int BETWEEN 3000 AND 4999" 4000 60

# the verification group, which got wave B's requests a second time
# (absorbed by its inbox), replayed: its handler runs again, keyed by id
replay --group conveyor.verification --from-time "$MID" >/dev/null
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.verification' AND split_part(split_part(event_id, '-', 2), '.', 1)::int BETWEEN 3000 AND 4999" 2000 60
replay --group conveyor.jobs --from-offset 0 >/dev/null
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.jobs'" 40 60

# the same range again (and what of wave C was done by then)
L2=$(replay --group conveyor.leads --from-time "$MID" --reason "again")
log "replay 2 re-runs $L2 lead events"
[ "$L2" -ge 2000 ] || fail "replay 2 re-runs $L2 lead events"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE event_id = 'upload-1'" 1 60
wait_for "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.verification.requested' AND split_part(split_part(event_id, '-', 2), '.', 1)::int BETWEEN 3000 AND 4999" 6000 60
replay --group conveyor.jobs --from-time "$MID" >/dev/null
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.jobs'" 40 60

# a "fix": ten of wave A's leads had no effects (as if the handler had
# skipped them); replaying wave A applies them once and nothing else
FIXED="SELECT lead_id FROM marketplace.leads WHERE $num BETWEEN 110 AND 119"
q "WITH gone AS (DELETE FROM marketplace.leads WHERE lead_id IN ($FIXED) RETURNING partner_id, submitted_at)
   UPDATE marketplace.partner_monthly_volume v SET leads = v.leads - g.n
     FROM (SELECT partner_id, date_trunc('month', submitted_at AT TIME ZONE 'UTC')::date m, count(*) n
             FROM gone GROUP BY 1, 2) g
    WHERE v.partner_id = g.partner_id AND v.month = g.m"
q "DELETE FROM marketplace.email_verification_queue WHERE $num BETWEEN 110 AND 119"
L3=$(replay --group conveyor.leads --from-offset 0 --to-time "$MID" --reason "apply the fix")
log "replay 3 re-runs $L3 lead events"
[ "$L3" = 3000 ] || fail "replay 3 re-runs $L3 lead events, expected wave A's 3000"
wait_for "SELECT count(*) FROM marketplace.leads WHERE $num BETWEEN 110 AND 119" 10 60

wait "$feeder" || fail "wave C was not produced"
TOTAL=8000
APPLIED=$((TOTAL + L1 + L2 + L3))
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $((TOTAL + 1)) 120
wait_for "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.verification.requested'" $APPLIED 120
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL" 0 60
wait_for "SELECT count(*) FROM marketplace.verification_requests" $TOTAL 60
wait_drained 60

# ---- every witness
check_witnesses $TOTAL $APPLIED
[ "$(digest)" = "$before" ] || fail "the replays changed rows of waves A and B: $(digest) != $before"
[ "$(outbox_runs 0 2999)" = 6000 ] || fail "wave A ran $(outbox_runs 0 2999) times, expected 6000 (once + the fix)"
[ "$(outbox_runs 3000 4999)" = 6000 ] || fail "wave B ran $(outbox_runs 3000 4999) times, expected 6000 (three times)"
bad=$(q "SELECT count(*) FROM (SELECT partner_id, date_trunc('month', submitted_at AT TIME ZONE 'UTC')::date m, count(*) n
                               FROM marketplace.leads GROUP BY 1, 2) c
         FULL JOIN marketplace.partner_monthly_volume v ON v.partner_id = c.partner_id AND v.month = c.m
         WHERE v.leads IS DISTINCT FROM c.n")
[ "$bad" = 0 ] || fail "$bad partner_monthly_volume rows differ from the count of stored leads"
[ "$(q "SELECT count(*) FROM marketplace.email_verification_queue WHERE $num BETWEEN 110 AND 119")" = 10 ] ||
    fail "the fixed leads are not queued once each"
[ "$(q "SELECT count(*) FROM marketplace.email_verification_queue WHERE source_event_id = 'upload-1'")" = 5 ] ||
    fail "the upload's leads are not queued once each"
[ "$(q "SELECT count(DISTINCT source_event_id) FROM marketplace.verification_requests")" = $TOTAL ] ||
    fail "verification requests are not one per event"
[ "$(q "SELECT count(*) FROM marketplace.job_runs")" = 40 ] || fail "job runs: $(q "SELECT count(*) FROM marketplace.job_runs")"
[ "$(q "SELECT count(*) FROM conveyor.dead_letters")" = 0 ] ||
    fail "replayed events were dead-lettered: $(q "SELECT string_agg(event_id || ': ' || error, '; ') FROM conveyor.dead_letters")"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE action = 'replay' AND actor = 'dave'")" = 6 ] ||
    fail "replays are not audited"
set +e
"$CONVEYOR_BIN" replay --group conveyor.leads 2>/dev/null; rc1=$?
"$CONVEYOR_BIN" replay --group nope --from-offset 0 2>/dev/null; rc2=$?
set -e
[ "$rc1$rc2" = 22 ] || fail "bad replay invocations exited $rc1 $rc2"
echo "replay test: 9 passed, 0 failed"

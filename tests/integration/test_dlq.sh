# Dead-letter round trip: 2,000 leads, every 40th with an address a
# constraint (the test's "bug") refuses, so 50 fail permanently and land in
# conveyor.dead_letters with the raw event, and on the DLQ topic. `dlq list` filters them, `dlq
# show` decodes one, `dlq discard` closes one; after the fix (the
# constraint dropped) `dlq retry --all` re-runs the other 49 handlers, each
# exactly once (the inbox must not swallow them), and everything is
# audited. A second retry changes nothing.
start_broker
migrate
q "ALTER TABLE marketplace.leads ADD CONSTRAINT test_bug CHECK (email NOT LIKE '%@bad.example')"
TOTAL=2000
gen_leads 0 $TOTAL 0 | awk 'NR % 40 == 0 { sub(/@example\.com/, "@bad.example") } 1' |
    "$CONVEYOR_BIN" produce --type marketplace.lead.submitted --envelope 2>>"$T/produce.log" ||
    fail "produce"
start_conveyor consumer --domain leads
wait_for "SELECT count(*) FROM conveyor.dead_letters" 50 120
wait_drained 60
[ "$(q "SELECT count(*) FROM marketplace.leads")" = 1950 ] || fail "expected 1950 leads before the fix"
bad=$(q "SELECT count(*) FROM conveyor.dead_letters WHERE status = 'open' AND error LIKE '%test_bug%'
         AND event_type = 'marketplace.lead.submitted' AND value IS NOT NULL AND headers ? 'ce_id'")
[ "$bad" = 50 ] || fail "dead letters without error, raw value or headers: $bad of 50 complete"

# each one is also on the domain's DLQ topic: raw value, original headers,
# plus where and why it failed
wait_for "SELECT count(*) FROM conveyor.outbox WHERE topic = 'conveyor.dlq.leads' AND published_at IS NOT NULL" 50 60
kcat -C -b "$CONVEYOR_KAFKA_BROKERS" -t conveyor.dlq.leads -e -q -f '%h\n' >"$T/dlq-topic.txt" 2>"$T/kcat.log" ||
    fail "kcat conveyor.dlq.leads"
[ "$(wc -l <"$T/dlq-topic.txt")" = 50 ] || fail "$(wc -l <"$T/dlq-topic.txt") events on the DLQ topic, expected 50"
[ "$(grep -c 'conveyor_dlq_error=[^,]*test_bug' "$T/dlq-topic.txt")" = 50 ] || fail "DLQ events without the error header"
[ "$(grep -c 'conveyor_dlq_topic=marketplace.leads,' "$T/dlq-topic.txt")" = 50 ] || fail "DLQ events without their origin"
grep -o 'ce_id=[^,]*' "$T/dlq-topic.txt" | cut -d= -f2 | sort >"$T/dlq-topic.ids"
q "SELECT event_id FROM conveyor.dead_letters" | sort >"$T/dlq-rows.ids"
diff "$T/dlq-rows.ids" "$T/dlq-topic.ids" >/dev/null || fail "the DLQ topic's event ids differ from the dead letters'"

# list with filters, show one decoded
"$CONVEYOR_BIN" dlq list --group conveyor.leads --error TEST_BUG --limit 1000 >"$T/list.out" || fail "dlq list"
grep -q '^50 dead letters$' "$T/list.out" || { cat "$T/list.out" >&2; fail "dlq list did not find 50"; }
"$CONVEYOR_BIN" dlq list --type marketplace.upload.completed >"$T/none.out" || fail "dlq list --type"
grep -q '^0 dead letters$' "$T/none.out" || fail "dlq list --type matched other types"
first=$(q "SELECT min(id) FROM conveyor.dead_letters")
"$CONVEYOR_BIN" dlq show "$first" >"$T/show.out" || fail "dlq show"
grep -q '"email": *"lead[0-9]*@bad.example"' "$T/show.out" || { cat "$T/show.out" >&2; fail "dlq show did not decode the value"; }
grep -q '^status  *open$' "$T/show.out" || fail "dlq show: status"

# discard one, fix the bug, retry the rest
"$CONVEYOR_BIN" dlq discard "$first" --reason "bad lead, partner told" --actor bob >"$T/discard.out" || fail "dlq discard"
# the event id and where the event was, never a blank "(event )"
grep -qE "^discarded $first \(event [^ ,)]+, marketplace\.leads\[[0-9]+\]@[0-9]+\)$" "$T/discard.out" ||
    { cat "$T/discard.out" >&2; fail "dlq discard does not name the event"; }
# a group that does not exist is an error, not "0 dead letters"
set +e
"$CONVEYOR_BIN" dlq list --group conveyor.nosuch >"$T/nosuch.out" 2>&1; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "no domain with group 'conveyor.nosuch'" "$T/nosuch.out" ||
    { cat "$T/nosuch.out" >&2; fail "dlq list --group nosuch exited $rc"; }
# columns line up: each row's STATUS column starts where the header's does
awk 'NR == 1 { col = index($0, "STATUS") } / open / { if (index($0, " open ") + 1 != col) bad = 1 }
     END { exit bad || !col }' "$T/list.out" || { cat "$T/list.out" >&2; fail "dlq list columns do not line up"; }
q "ALTER TABLE marketplace.leads DROP CONSTRAINT test_bug"
"$CONVEYOR_BIN" dlq retry --all --group conveyor.leads --reason "constraint fixed" --actor bob >"$T/retry.out" ||
    fail "dlq retry --all"
grep -q '^49 dead letters re-queued$' "$T/retry.out" || { cat "$T/retry.out" >&2; fail "retry did not re-queue 49"; }
wait_for "SELECT count(*) FROM marketplace.leads" 1999 120
sleep 2
check_witnesses 1999
[ "$(q "SELECT count(*) FROM conveyor.dead_letters WHERE status = 'open'")" = 0 ] || fail "open dead letters left"
[ "$(q "SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n FROM conveyor.dead_letters GROUP BY 1) s")" = "discarded=1,retried=49" ] ||
    fail "dead letter states: $(q "SELECT string_agg(status || '=' || n, ',') FROM (SELECT status, count(*) n FROM conveyor.dead_letters GROUP BY 1) s")"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE actor = 'bob' AND action = 'dlq retry' AND reason = 'constraint fixed'")" = 49 ] ||
    fail "retry audit rows"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE actor = 'bob' AND action = 'dlq discard' AND target = 'dead_letter:$first'")" = 1 ] ||
    fail "discard audit row"
# retrying again re-queues nothing; bad invocations exit 2
"$CONVEYOR_BIN" dlq retry --all >"$T/retry2.out" || fail "second retry"
grep -q '^0 dead letters re-queued$' "$T/retry2.out" || fail "a second retry re-queued something"
set +e
"$CONVEYOR_BIN" dlq retry 2>/dev/null; rc1=$?
"$CONVEYOR_BIN" dlq discard 5 2>/dev/null; rc2=$?
"$CONVEYOR_BIN" dlq list --since yesterday 2>/dev/null; rc3=$?
set -e
[ "$rc1$rc2$rc3" = 222 ] || fail "bad dlq invocations exited $rc1 $rc2 $rc3, expected 2 2 2"
sleep 2
check_witnesses 1999
echo "dlq test: 9 passed, 0 failed"

# The kill switch under load: `conveyor pause --domain leads` while the
# consumer works through a backlog. Once the consumer acknowledges (its
# consumer_state row says 'paused'), nothing more is committed, even while
# new events arrive and across a SIGKILL and restart (the switch is in
# Postgres). `status` shows the switch and who set it. After `resume`
# everything is applied exactly once. A route switch holds only the
# partitions that reach an event of that type. The verification domain's
# environment kill switch (EMAIL_VERIFICATION_KILL_SWITCH) works the same.
start_broker
migrate
start_conveyor consumer --domain leads --no-ticker
produce_leads 0 40000 10
wait_for "SELECT count(*) >= 3000 FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" t 60
t0=$(date +%s%3N)
"$CONVEYOR_BIN" pause --domain leads --reason "deploy of the scoring service" --actor carol >/dev/null || fail "pause"
wait_for "SELECT count(*) FROM conveyor.consumer_state WHERE group_id = 'conveyor.leads' AND state = 'paused'" 1 10
ack_ms=$(( $(date +%s%3N) - t0 ))
acked=$(q "SELECT updated_at FROM conveyor.consumer_state WHERE group_id = 'conveyor.leads'")
applied=$(q "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'")
log "pause acknowledged after $ack_ms ms with $applied of 40000 applied"
[ "$applied" -lt 40000 ] || fail "the backlog was gone before the pause: nothing to test"
produce_leads 40000 10000 10
sleep 3
"$CONVEYOR_BIN" status >"$T/status.out" 2>/dev/null || fail "status"
grep -q '^PAUSED domain leads by carol since .*: deploy of the scoring service$' "$T/status.out" ||
    { cat "$T/status.out" >&2; fail "status does not show the switch"; }
grep -q '^consumer conveyor.leads .*: paused' "$T/status.out" || fail "status does not show the paused consumer"
# survives a crash and restart
kill -KILL "$LAST_PID"
start_conveyor consumer --domain leads --no-ticker
sleep 8
[ "$(q "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'")" = "$applied" ] ||
    fail "events were applied while paused"
late=$(q "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads' AND processed_at > '$acked'")
[ "$late" = 0 ] || fail "$late events committed after the pause was acknowledged"
moved=$(q "SELECT count(*) FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads' AND updated_at > '$acked'")
[ "$moved" = 0 ] || fail "$moved offsets moved after the pause was acknowledged"

"$CONVEYOR_BIN" resume --domain leads --actor carol >/dev/null || fail "resume"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 50000 120
wait_for "SELECT state FROM conveyor.consumer_state WHERE group_id = 'conveyor.leads' ORDER BY updated_at DESC LIMIT 1" running 10
check_witnesses 50000
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE actor = 'carol' AND target = 'domain:leads'")" = 2 ] ||
    fail "pause and resume are not both audited"

# a route switch: upload.completed events wait (their partitions hold at
# the first one), lead.submitted events flow on
"$CONVEYOR_BIN" pause --route leads/marketplace.upload.completed --reason "batch table migration" >/dev/null ||
    fail "pause --route"
sleep 2
for b in 1 2 3; do
    "$CONVEYOR_BIN" produce --type marketplace.upload.completed --id "upload-$b" \
        --data "{\"batch_id\":\"00000000-0000-4000-8000-00000000000$b\",\"partner_id\":\"00000000-0000-4000-8000-00000000000$b\",\"lead_count\":0}" \
        2>>"$T/produce.log" || fail "produce upload"
done
produce_leads 50000 5000 0
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 55000 60
[ "$(q "SELECT count(*) FROM marketplace.partner_upload_batches")" = 0 ] || fail "a paused route's events were handled"
grep -q "held at offset" "$T/consumer.log" || fail "no partition was held"
"$CONVEYOR_BIN" resume --route leads/marketplace.upload.completed >/dev/null || fail "resume --route"
wait_for "SELECT count(*) FROM marketplace.partner_upload_batches" 3 30
check_witnesses 55000

# the environment kill switch pauses the verification domain
export EMAIL_VERIFICATION_KILL_SWITCH=true
start_conveyor verification --domain verification --no-relay --no-ticker
unset EMAIL_VERIFICATION_KILL_SWITCH
wait_for "SELECT detail FROM conveyor.consumer_state WHERE group_id = 'conveyor.verification' AND state = 'paused'" \
    "EMAIL_VERIFICATION_KILL_SWITCH=true (environment)" 30
sleep 3
[ "$(q "SELECT count(*) FROM marketplace.verification_requests")" = 0 ] || fail "the env kill switch did not hold"
kill -TERM "$LAST_PID"; wait "$LAST_PID" || true
start_conveyor verification2 --domain verification --no-relay --no-ticker
wait_for "SELECT count(*) FROM marketplace.verification_requests" 55000 120

# every switch command says what it changed and what stays in force:
# resume --all clears the global switch only, and says so
"$CONVEYOR_BIN" pause --route leads/marketplace.upload.completed --reason "batch migration" --actor carol >/dev/null ||
    fail "pause --route"
"$CONVEYOR_BIN" pause --all --reason "incident 42" --actor alice >"$T/ctl.out" || fail "pause --all"
grep -q '^paused the global switch: every domain, schedule and target (by alice: incident 42)$' "$T/ctl.out" ||
    { cat "$T/ctl.out" >&2; fail "pause --all does not say what it set"; }
grep -q '^also in force: route leads/marketplace.upload.completed (since .*, by carol: batch migration)$' "$T/ctl.out" ||
    { cat "$T/ctl.out" >&2; fail "pause --all does not list the other switches"; }
"$CONVEYOR_BIN" resume --all --actor alice >"$T/ctl.out" || fail "resume --all"
grep -q '^resumed the global switch (by alice; it was paused since .*, by alice: incident 42)$' "$T/ctl.out" ||
    { cat "$T/ctl.out" >&2; fail "resume --all does not say what it cleared"; }
grep -q '^still paused: route leads/marketplace.upload.completed (since .*, by carol: batch migration)$' "$T/ctl.out" ||
    { cat "$T/ctl.out" >&2; fail "resume --all hides the route switch still in force"; }
[ "$(q "SELECT string_agg(scope || ':' || target, ',') FROM conveyor.controls")" = "route:leads/marketplace.upload.completed" ] ||
    fail "resume --all cleared more (or less) than the global switch"
"$CONVEYOR_BIN" resume --route leads/marketplace.upload.completed >"$T/ctl.out" || fail "resume --route"
grep -q '^still paused: nothing$' "$T/ctl.out" || { cat "$T/ctl.out" >&2; fail "resume --route: not 'nothing'"; }
"$CONVEYOR_BIN" resume --domain verification >"$T/ctl.out" || fail "resume --domain"
grep -q '^domain verification was not paused; nothing changed$' "$T/ctl.out" &&
    grep -q 'EMAIL_VERIFICATION_KILL_SWITCH' "$T/ctl.out" || { cat "$T/ctl.out" >&2; fail "resume of an unpaused domain"; }

# status sums up members long gone (killed processes) in one line per
# group, so a member that went silent recently stands out
q "INSERT INTO conveyor.consumer_state (group_id, member, state, updated_at) SELECT 'conveyor.leads', 'gone:' || g || '/0', 'running', now() - interval '3 minutes' - g * interval '1 second' FROM generate_series(1, 20) g"
q "INSERT INTO conveyor.consumer_state (group_id, member, state, updated_at) VALUES ('conveyor.leads', 'hung:1/0', 'running', now() - interval '45 seconds'), ('conveyor.gone', 'gone:5/0', 'running', now() - interval '5 minutes')"
"$CONVEYOR_BIN" status >"$T/status2.out" 2>/dev/null || fail "status"
[ "$(grep -c 'gone:' "$T/status2.out")" = 1 ] || { cat "$T/status2.out" >&2; fail "status lists stale members one by one"; }
grep -q '^consumer conveyor.leads: 20 stale members last seen .* or before (silent over 120s' "$T/status2.out" &&
    grep -q '^consumer conveyor.leads hung:1/0: SILENT for 4[0-9]s' "$T/status2.out" &&
    grep -q '^consumer conveyor.gone: SILENT: no member heard from for 30[0-9]s (1 member, the last gone:5/0 at ' "$T/status2.out" ||
    { cat "$T/status2.out" >&2; fail "status: stale members not summed up"; }
echo "pause test: 11 passed, 0 failed"

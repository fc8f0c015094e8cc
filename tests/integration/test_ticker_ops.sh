# Operations: a disabled schedule records its fire times as skipped and
# publishes nothing; `conveyor trigger` fires it by hand (own event id,
# audit row, the jobs consumer records the manual run once);
# `conveyor schedules` shows state, runs and next fire times; bad
# invocations exit 2; a paused schedule records skipped fires until resumed. The jobs domain records every fired run exactly once.
ticker_topology "$T/topology.cfg" "
    { name = \"disabledMinutes\"; cron = \"* * * * *\"; zone = \"Europe/Berlin\";
      event = \"marketplace.job.retry_stalled_uploads\"; enabled = false; }"
ticker_config "$T/conveyor.cfg" 100 60000 2000
start_broker
migrate
# ten simulated minutes a second
sim_clock 2026-10-20T00:00:00Z 600 0
start_conveyor all --domain jobs
wait_for "SELECT count(*) >= 30 FROM conveyor.schedule_runs WHERE schedule = 'disabledMinutes'" t 30

# 1. disabled: every fire time recorded as skipped, nothing published
bad=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule = 'disabledMinutes'
          AND (kind <> 'skipped' OR reason <> 'disabled' OR event_id IS NOT NULL)")
[ "$bad" = 0 ] || fail "$bad runs of the disabled schedule were not skipped as disabled"
[ "$(q "SELECT count(*) FROM conveyor.outbox WHERE event_id LIKE 'disabledMinutes@%'")" = 0 ] ||
    fail "the disabled schedule published events"

# 2. trigger: manual run, audit row, event consumed once
out=$("$CONVEYOR_BIN" trigger disabledMinutes --reason "re-run after the fix" --actor alice) ||
    fail "trigger failed"
id=$(sed -n 's/^triggered disabledMinutes: event \([^ ]*\) (actor alice)$/\1/p' <<<"$out")
[[ "$id" == disabledMinutes@manual:* ]] || fail "trigger printed '$out'"
[ "$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE event_id = '$id' AND kind = 'manual'
        AND actor = 'alice' AND reason = 're-run after the fix'")" = 1 ] || fail "no manual run row for $id"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE action = 'trigger' AND target = 'disabledMinutes'
        AND actor = 'alice' AND reason = 're-run after the fix' AND args->>'event_id' = '$id'")" = 1 ] ||
    fail "no audit row for the trigger"
wait_for "SELECT count(*) FROM marketplace.job_runs WHERE event_id = '$id' AND run = 'manual' AND job = 'disabledMinutes'" 1 30
# the default actor is the OS user
"$CONVEYOR_BIN" trigger disabledMinutes --reason "second run" >/dev/null || fail "trigger without --actor"
[ "$(q "SELECT actor FROM conveyor.audit_log WHERE reason = 'second run'")" = "$(id -un)" ] ||
    fail "the default actor is not the OS user"
wait_for "SELECT count(*) FROM marketplace.job_runs WHERE job = 'disabledMinutes'" 2 30

# 3. mistakes exit 2 with a message
set +e
"$CONVEYOR_BIN" trigger noSuchSchedule --reason x 2>"$T/err1"; rc1=$?
"$CONVEYOR_BIN" trigger disabledMinutes 2>"$T/err2"; rc2=$?
"$CONVEYOR_BIN" schedules --count 0 2>"$T/err3"; rc3=$?
set -e
[ $rc1 = 2 ] && grep -q "no schedule 'noSuchSchedule'" "$T/err1" || fail "unknown schedule: rc $rc1"
[ $rc2 = 2 ] && grep -q -- "--reason is required" "$T/err2" || fail "missing reason: rc $rc2"
[ $rc3 = 2 ] && grep -q -- "--count" "$T/err3" || fail "bad count: rc $rc3"

# 4. schedules: state, runs, next fire times in the zone and UTC
"$CONVEYOR_BIN" schedules --name disabledMinutes --count 3 >"$T/schedules.out" || fail "schedules"
cat "$T/schedules.out" >&2
grep -q "state disabled" "$T/schedules.out" || fail "schedules: no 'state disabled'"
grep -Eq "runs: 0 scheduled, 0 catch-up, [0-9]+ skipped, 2 manual" "$T/schedules.out" || fail "schedules: wrong run counts"
[ "$(grep -cE '^  (next|    ) 2026-.* CES?T \(\+0[12]:00\) +2026-.*Z$' "$T/schedules.out")" = 3 ] ||
    fail "schedules: expected 3 next fire times in Berlin time and UTC"

# 5. a paused schedule records its fire times as skipped ("paused") and
# fires again after resume
"$CONVEYOR_BIN" pause --schedule retryStalledUploads --reason "uploads bucket migration" --actor carol >/dev/null ||
    fail "pause --schedule"
paused_at=$(q "SELECT max(fire_time) FROM conveyor.schedule_runs WHERE schedule = 'retryStalledUploads'")
wait_for "SELECT count(*) >= 3 FROM conveyor.schedule_runs WHERE schedule = 'retryStalledUploads' AND kind = 'skipped' AND reason = 'paused'" t 30
"$CONVEYOR_BIN" status >"$T/status.out" 2>/dev/null || true
grep -q "^PAUSED schedule retryStalledUploads by carol since .*: uploads bucket migration$" "$T/status.out" ||
    { cat "$T/status.out" >&2; fail "status does not show the schedule switch"; }
"$CONVEYOR_BIN" resume --schedule retryStalledUploads --actor carol >/dev/null || fail "resume --schedule"
resumed=$(q "SELECT max(fire_time) FROM conveyor.schedule_runs WHERE schedule = 'retryStalledUploads'")
wait_for "SELECT count(*) >= 2 FROM conveyor.schedule_runs WHERE schedule = 'retryStalledUploads' AND kind = 'scheduled' AND fire_time > '$resumed'" t 30
[ "$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule = 'retryStalledUploads' AND kind <> 'skipped'
        AND fire_time > '$paused_at' AND fire_time <= (SELECT max(fire_time) FROM conveyor.schedule_runs
        WHERE schedule = 'retryStalledUploads' AND reason = 'paused')")" = 0 ] || fail "a paused schedule fired"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE actor = 'carol' AND action IN ('pause', 'resume') AND target = 'schedule:retryStalledUploads'")" = 2 ] ||
    fail "pause/resume audit rows"

# 6. downstream: every fired run recorded once by the jobs domain
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL" 0 60
kill -TERM "$LAST_PID"; wait "$LAST_PID" || true
# (the runs of the jobs on marketplace.jobs: the verification and payout
# crons go to their own domains)
fired=$(q "SELECT count(*) FROM conveyor.schedule_runs r JOIN conveyor.outbox o USING (event_id)
           WHERE r.kind <> 'skipped' AND o.topic = 'marketplace.jobs'")
start_conveyor drain --domain jobs --no-ticker
wait_for "SELECT count(*) FROM marketplace.job_runs" "$fired" 60
[ "$(q "SELECT count(*) FROM marketplace.job_runs j JOIN conveyor.schedule_runs r USING (event_id)
        WHERE r.schedule = j.job AND r.kind = j.run")" = "$fired" ] || fail "job_runs do not match the runs"
log "$fired fired runs, each recorded once by the jobs domain"
echo "ticker ops test: 6 passed, 0 failed"

# A simulated year (2026) of every marketplace schedule plus test schedules
# in New York and Sydney (both DST transitions, L/W), on a clock running
# 262,800 times real time (a year in two minutes). Two ticker processes; the
# leader is SIGKILLed (and replaced), SIGSTOPped (the standby must
# terminate its session) or has its Postgres session terminated, at random
# moments. The relay runs in its own process and is not killed.
#
# Afterwards: every expected (schedule, fire time) is in schedule_runs
# exactly once; "all" schedules skipped nothing; "latest" schedules fired
# only the newest missed fire after each outage; every fired run's event is
# on the topic exactly once and nothing else is.
START=2026-01-01T00:00:00Z
END=2027-01-01T00:00:00Z
SPEED=262800
WIN=31622400
EV=marketplace.job.retry_stalled_uploads
ticker_topology "$T/topology.cfg" "
    { name = \"nyEarlyMinutes\"; cron = \"* 0-3 * * *\"; zone = \"America/New_York\";
      event = \"$EV\"; catch_up = \"all\"; catch_up_window_s = $WIN; },
    { name = \"sydneySevens\"; cron = \"*/7 * * * *\"; zone = \"Australia/Sydney\";
      event = \"$EV\"; catch_up = \"all\"; catch_up_window_s = $WIN; },
    { name = \"sydneyBackupDrill\"; cron = \"0 7 1W * *\"; zone = \"Australia/Sydney\";
      event = \"$EV\"; catch_up = \"all\"; catch_up_window_s = $WIN; },
    { name = \"nyHalfHours\"; cron = \"*/30 * * * *\"; zone = \"America/New_York\";
      event = \"$EV\"; catch_up = \"latest\"; catch_up_window_s = $WIN; },
    { name = \"sydneyDigest\"; cron = \"0 8 * * *\"; zone = \"Australia/Sydney\";
      event = \"$EV\"; catch_up = \"latest\"; catch_up_window_s = $WIN; }"
ALL_TEST="'nyEarlyMinutes','sydneySevens','sydneyBackupDrill'"
LATEST_TEST="'nyHalfHours','sydneyDigest'"
# a tick every 50 ms is 3.65 simulated hours: late_after 12 h, so a fire is
# missed only when no ticker ran for a while; a stopped leader is replaced
# after 1 s of real time
ticker_config "$T/conveyor.cfg" 50 43200000 1000
start_broker
migrate
sim_clock "$START" "$SPEED" 3000
kcat_follow marketplace.jobs "$T/topic.txt"
start_conveyor relay --relay-only
start_conveyor ticker-a --ticker-only
start_conveyor ticker-b --ticker-only
wait_for "SELECT count(*) > 0 FROM conveyor.ticker_leader" t 30

end_real=$(( SIM_REAL0 + ( $(date -d "$END" +%s%3N) - $(date -d "$START" +%s%3N) ) / SPEED ))
kills=0 stops=0 terms=0 n=0
while [ "$(date +%s%3N)" -lt $(( end_real - 8000 )) ]; do
    sleep "$(( 4 + RANDOM % 4 )).$(( RANDOM % 10 ))"
    leader=$(ticker_leader_pid)
    [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null || continue
    case $(( n % 3 )) in
    0)  kill -KILL "$leader"
        kills=$((kills + 1))
        log "SIGKILL leader $leader"
        sleep 0.5
        start_conveyor "ticker-$n" --ticker-only ;;
    1)  kill -STOP "$leader"
        stops=$((stops + 1))
        log "SIGSTOP leader $leader for 3 s"
        sleep 3
        kill -CONT "$leader" ;;
    2)  q "SELECT pg_terminate_backend(backend_pid) FROM conveyor.ticker_leader" >/dev/null
        terms=$((terms + 1))
        log "terminated the Postgres session of leader $leader" ;;
    esac
    n=$((n + 1))
done
[ $kills -ge 2 ] && [ $stops -ge 2 ] && [ $terms -ge 2 ] ||
    fail "too few outages: $kills kills, $stops stops, $terms terminations"

# every schedule's fires up to END recorded, then stop the tickers
FIRST=$(q "SELECT min(first_seen) FROM conveyor.schedules")
[ "$(q "SELECT count(DISTINCT first_seen) FROM conveyor.schedules")" = 1 ] ||
    fail "schedules registered at different times"
FIRST_RFC=$(q "SELECT to_char('$FIRST'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
"$CONVEYOR_BIN" schedules --between "$FIRST_RFC" "$END" >"$T/expected.txt" ||
    fail "schedules --between"
expected=$(wc -l <"$T/expected.txt")
log "expected fire times in ($FIRST_RFC, $END]: $expected"
wait_for "SELECT count(*) FROM conveyor.schedule_runs WHERE kind <> 'manual' AND fire_time <= '$END'" "$expected" 120
for p in "${PIDS[@]}"; do
    [ "$p" = "$KCAT_PID" ] && continue
    ps -o args= -p "$p" 2>/dev/null | grep -q -- --ticker-only && kill -TERM "$p" 2>/dev/null || true
done
sleep 2

# 1. exactly the expected fire times, once each
awk '{ print $1, $2 }' "$T/expected.txt" | sort >"$T/expected.sorted"
q "SELECT schedule || ' ' || (extract(epoch FROM fire_time) * 1000)::bigint
     FROM conveyor.schedule_runs WHERE kind <> 'manual' AND fire_time <= '$END'" |
    sort >"$T/actual.sorted"
diff "$T/expected.sorted" "$T/actual.sorted" >"$T/runs.diff" ||
    { head -20 "$T/runs.diff" >&2; fail "schedule_runs differ from the expected fire times"; }
q "SELECT kind, count(*) FROM conveyor.schedule_runs GROUP BY 1 ORDER BY 1" | tr '\n' ' ' >&2; echo >&2

# 2. "all": nothing skipped, and the outages did cause catch-up fires
skipped=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule IN ($ALL_TEST) AND kind = 'skipped'")
[ "$skipped" = 0 ] || fail "$skipped fires of catch_up=all schedules were skipped"
caught=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule IN ($ALL_TEST) AND kind = 'catch_up'")
[ "$caught" -gt 0 ] || fail "no catch-up fires: the outages did not delay the ticker"
log "catch_up=all: $caught catch-up fires, none skipped"

# 3. "latest": a skipped fire is always followed by another skipped one or
# by the catch-up fire that ends the outage, never by an on-time fire
bad=$(q "SELECT count(*) FROM (SELECT kind, lead(kind) OVER (PARTITION BY schedule ORDER BY fire_time) AS next
           FROM conveyor.schedule_runs WHERE schedule IN ($LATEST_TEST) AND kind <> 'manual') r
         WHERE kind = 'skipped' AND next IS DISTINCT FROM 'skipped' AND next IS DISTINCT FROM 'catch_up'")
[ "$bad" = 0 ] || fail "$bad outages of catch_up=latest schedules ended without exactly one catch-up fire"
lskipped=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule IN ($LATEST_TEST) AND kind = 'skipped'")
lcaught=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule IN ($LATEST_TEST) AND kind = 'catch_up'")
[ "$lskipped" -gt 0 ] && [ "$lcaught" -gt 0 ] || fail "catch_up=latest saw no outage ($lskipped skipped, $lcaught caught up)"
log "catch_up=latest: $lcaught catch-up fires, $lskipped older missed fires skipped"

# 4. the topic: each fired run's event exactly once, nothing else
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL" 0 120
outbox=$(q "SELECT count(*) FROM conveyor.outbox")
fired=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE kind IN ('scheduled', 'catch_up')")
[ "$outbox" = "$fired" ] || fail "$outbox outbox rows for $fired fired runs"
# the topic followed: the test schedules' and the jobs domain's (the
# verification and payout jobs travel on their domains' topics)
on_topic=$(q "SELECT count(*) FROM conveyor.outbox WHERE topic = 'marketplace.jobs'")
for _ in $(seq 120); do
    [ "$(wc -l <"$T/topic.txt")" -ge "$on_topic" ] && break
    sleep 1
done
sleep 1
grep -o 'ce_id=[^,]*' "$T/topic.txt" | cut -d= -f2- | sort >"$T/topic.ids"
q "SELECT r.event_id FROM conveyor.schedule_runs r JOIN conveyor.outbox o USING (event_id)
   WHERE r.kind IN ('scheduled', 'catch_up') AND o.topic = 'marketplace.jobs'" | sort >"$T/runs.ids"
dups=$(uniq -d "$T/topic.ids" | wc -l)
[ "$dups" = 0 ] || { uniq -d "$T/topic.ids" | head >&2; fail "$dups events are on the topic more than once"; }
diff "$T/runs.ids" "$T/topic.ids" >"$T/topic.diff" ||
    { head -20 "$T/topic.diff" >&2; fail "the topic differs from the fired runs"; }
log "topic: $(wc -l <"$T/topic.ids") events, each fired run exactly once"
log "outages: $kills SIGKILL, $stops SIGSTOP, $terms session terminations"
echo "ticker year test: 6 passed, 0 failed"

# A handler that hangs is cut off by its route's timeout (1 s here, 2
# attempts allowed): the watchdog records the attempt in conveyor.retries
# and the process exits with status 3 for its supervisor to restart. The
# restarted consumer waits for the next attempt, which hangs again; after
# the second restart the event has no attempts left and is dead-lettered
# without running a third time, and the events behind it go on.
testkit_setup
{
    ev t-before ok K
    ev t-hang hang:30000 K
    for i in $(seq 1 5); do ev "t-after$i" ok K; done
} | "$CONVEYOR_BIN" produce --type test.timeout --envelope 2>>"$T/produce.log" || fail "produce"

for round in 1 2; do
    start=$(date +%s%N)
    set +e
    timeout 60 "$CONVEYOR_BIN" run --domain timeout --no-ticker >>"$T/run$round.log" 2>&1
    rc=$?
    set -e
    secs=$(( ($(date +%s%N) - start) / 1000000 ))
    log "round $round: exit status $rc after $secs ms"
    [ "$rc" = 3 ] || { cat "$T/run$round.log" >&2; fail "round $round: exit status $rc, expected 3"; }
    grep -q 'still running after 1000 ms: cutting it off' "$T/run$round.log" || fail "no cut-off in the log"
    [ "$(q "SELECT attempts || ' ' || (last_error LIKE 'handler timeout%') FROM conveyor.retries WHERE event_id = 't-hang'")" = "$round true" ] ||
        fail "round $round: retries row $(q "SELECT attempts, last_error FROM conveyor.retries")"
    [ "$(ncalls t-hang)" = "$round" ] || fail "t-hang called $(ncalls t-hang) times in round $round"
done
start_conveyor run --domain timeout --no-ticker
wait_for "SELECT count(*) FROM conveyor.dead_letters WHERE event_id = 't-hang'" 1 60
wait_for "SELECT count(*) FROM testkit_effects" 6 60
[ "$(ncalls t-hang)" = 2 ] || fail "t-hang ran $(ncalls t-hang) times, expected 2"
err=$(q "SELECT attempts || ' ' || error FROM conveyor.dead_letters WHERE event_id = 't-hang'")
log "dead letter: $err"
case "$err" in "2 no attempts left (2 of 2 failed; the last: handler timeout"*) ;; *) fail "dead letter: $err" ;; esac
[ "$(q "SELECT count(*) FROM conveyor.retries")" = 0 ] || fail "retries left behind"
dups=$(q "SELECT count(*) FROM (SELECT event_id FROM testkit_effects GROUP BY 1 HAVING count(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups events applied more than once"
echo "handler timeout test: 1 passed, 0 failed"

# Kill -9 while retries are parked or waiting (issue 4, test 2): the attempt
# counts live in Postgres, so after each SIGKILL and restart they go on
# where they were. Events fail their first 3 calls (4 attempts allowed,
# 1 s, 2 s, 4 s apart) or every call; the consumer is killed twice while
# they wait. Nothing is lost or applied twice, each event succeeds at
# exactly its 4th attempt as the engine counts it, and an event that always
# fails is dead-lettered after exactly 4 calls, crash or not. Calls are
# counted by the handler in a file of its own (tests/testkit).
testkit_setup
result_of() { awk -v id="$1" -v n="$2" '$1 == id && $2 == n { print $4 }' "$CONVEYOR_TESTKIT_LOG"; }
keys=(A B C D E F G H)
N=10
for mode in deferred blocking; do
    {
        for i in $(seq 1 $N); do ev "$mode-f$i" fail:3 "${keys[$((i % 8))]}"; done
        ev "$mode-never" fail:99 Z
        for i in $(seq 1 40); do ev "$mode-ok$i" ok "${keys[$((i % 8))]}"; done
    } | "$CONVEYOR_BIN" produce --type "test.$mode" --envelope 2>>"$T/produce.log" || fail "produce"
done
start_conveyor run --domain deferred --domain blocking --no-ticker
# first kill: as soon as every flaky event has failed once or more
wait_for "SELECT count(*) >= $((N + 1)) FROM conveyor.retries WHERE group_id = 'test.deferred'" t 60
wait_for "SELECT count(*) > 0 FROM conveyor.retries WHERE group_id = 'test.blocking'" t 60
before=$(q "SELECT string_agg(group_id || ':' || parked || ':' || attempts, ' ' ORDER BY id) FROM conveyor.retries")
kill -KILL "$LAST_PID"
log "SIGKILL 1 with retries waiting: $before"
sleep 1
start_conveyor run --domain deferred --domain blocking --no-ticker
# second kill: once some event is at its third attempt
wait_for "SELECT count(*) > 0 FROM conveyor.retries WHERE attempts >= 2" t 60
kill -KILL "$LAST_PID"
log "SIGKILL 2: $(q "SELECT count(*) FROM conveyor.retries") retries waiting, most attempts $(q "SELECT max(attempts) FROM conveyor.retries")"
sleep 1
start_conveyor run --domain deferred --domain blocking --no-ticker
total=$((2 * (N + 40)))
wait_for "SELECT count(*) FROM testkit_effects" $total 120
wait_for "SELECT count(*) FROM conveyor.dead_letters" 2 60
for mode in deferred blocking; do
    for i in $(seq 1 $N); do
        id=$mode-f$i
        [ "$(nfailed "$id")" = 3 ] && [ "$(result_of "$id" 4)" = ok ] ||
            fail "$id failed $(nfailed "$id") times and call 4 was '$(result_of "$id" 4)', expected 3 and ok"
    done
    [ "$(ncalls "$mode-never")" = 4 ] || fail "$mode-never was called $(ncalls "$mode-never") times, expected 4"
    [ "$(q "SELECT attempts FROM conveyor.dead_letters WHERE event_id = '$mode-never'")" = 4 ] ||
        fail "$mode-never's dead letter does not say 4 attempts"
done
dups=$(q "SELECT count(*) FROM (SELECT event_id FROM testkit_effects GROUP BY 1 HAVING count(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups events applied more than once"
wrong=$(q "SELECT string_agg(event_id || '@' || attempt, ' ') FROM testkit_effects WHERE event_id LIKE '%-f%' AND attempt <> 4")
[ -z "$wrong" ] || fail "attempt counts restarted: $wrong"
[ "$(q "SELECT count(*) FROM conveyor.retries")" = 0 ] || fail "retries left behind"
wait_drained 60
log "$total events applied once, $((3 * N * 2)) failed calls of flaky events, 2 dead letters after 4 attempts each"
echo "retry crash test: 1 passed, 0 failed"

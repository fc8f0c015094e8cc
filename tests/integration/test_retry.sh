# Retry modes (issue 4, test 1). The testkit handler fails an event's first
# N calls and records every call in a file of its own, so the attempt times
# are measured outside the engine. Policy (tests/integration/retry.cfg):
# 4 attempts, delays 1 s then 2 s then 4 s, jitter 20%.
#   blocking: the failing event's partition waits and order is kept, the
#             other partition flows on;
#   deferred: the event is parked and its partition flows on;
# and in both the effects happen exactly once. An event that fails every
# time is dead-lettered after the 4th attempt, cv_fail() at once.
testkit_setup

keys=(A B C D E F G H)
calls() { awk -v id="$1" '$1 == id' "$CONVEYOR_TESTKIT_LOG"; }
call_ms() { calls "$1" | awk -v n="$2" '$2 == n { print $3 }'; }
partition_of() { calls "$1" | awk 'NR == 1 { print $5 }'; }
effects() { q "SELECT count(*) FROM testkit_effects WHERE event_id = '$1'"; }

# check_gap ID N DELAY_MS: call N+1 of ID came DELAY_MS (+-20%) after call
# N, plus at most 1.5 s for the partition to be fetched again
check_gap() {
    local a b gap lo hi
    a=$(call_ms "$1" "$2"); b=$(call_ms "$1" $(($2 + 1)))
    [ -n "$a" ] && [ -n "$b" ] || fail "$1: no calls $2 and $(($2 + 1))"
    gap=$((b - a)); lo=$(($3 * 8 / 10 - 20)); hi=$(($3 * 12 / 10 + 1500))
    log "$1: call $2 -> $(($2 + 1)) after $gap ms (policy $3 ms +-20%)"
    [ "$gap" -ge "$lo" ] && [ "$gap" -le "$hi" ] || fail "$1: gap $gap ms outside [$lo, $hi]"
}

# ---- blocking
{
    ev b-flaky fail:2 A
    for i in $(seq 1 24); do ev "b-$i" ok "${keys[$((i % 8))]}"; done
} | "$CONVEYOR_BIN" produce --type test.blocking --envelope 2>>"$T/produce.log" || fail "produce"
start_conveyor blocking --domain blocking --no-ticker
wait_for "SELECT count(*) FROM testkit_effects WHERE event_id LIKE 'b-%'" 25 60
[ "$(nfailed b-flaky)" = 2 ] && [ "$(calls b-flaky | awk '$2 == 3 { print $4 }')" = ok ] ||
    fail "b-flaky: $(nfailed b-flaky) failed calls and call 3 not ok, expected 2 failures then ok"
check_gap b-flaky 1 1000
check_gap b-flaky 2 2000
[ "$(q "SELECT attempt FROM testkit_effects WHERE event_id = 'b-flaky'")" = 3 ] ||
    fail "the engine did not count b-flaky's attempts"
held=$(partition_of b-flaky); ok_at=$(call_ms b-flaky 3); second=$(call_ms b-flaky 2)
same=0; other=0
for i in $(seq 1 24); do
    t=$(call_ms "b-$i" 1)
    if [ "$(partition_of "b-$i")" = "$held" ]; then
        [ "$t" -ge "$ok_at" ] || fail "b-$i ran before b-flaky succeeded on their partition (blocking)"
        same=$((same + 1))
    else
        [ "$t" -lt "$second" ] || fail "b-$i on the other partition waited for b-flaky"
        other=$((other + 1))
    fi
done
[ "$same" -gt 0 ] && [ "$other" -gt 0 ] || fail "keys did not spread over both partitions ($same/$other)"
log "blocking: $same events waited behind b-flaky, $other on the other partition did not"
for i in flaky $(seq 1 24); do [ "$(effects "b-$i")" = 1 ] || fail "b-$i applied $(effects "b-$i") times"; done

# ---- deferred
{
    ev d-flaky fail:2 A
    ev d-never fail:99 B
    ev d-hard failhard C
    for i in $(seq 1 24); do ev "d-$i" ok "${keys[$((i % 8))]}"; done
} | "$CONVEYOR_BIN" produce --type test.deferred --envelope 2>>"$T/produce.log" || fail "produce"
start_conveyor deferred --domain deferred --no-ticker
wait_for "SELECT count(*) FROM conveyor.dead_letters WHERE group_id = 'test.deferred'" 2 60
wait_for "SELECT count(*) FROM testkit_effects WHERE event_id LIKE 'd-%'" 25 60
[ "$(nfailed d-flaky)" = 2 ] && [ "$(calls d-flaky | awk '$2 == 3 { print $4 }')" = ok ] ||
    fail "d-flaky: $(nfailed d-flaky) failed calls and call 3 not ok, expected 2 failures then ok"
check_gap d-flaky 1 1000
check_gap d-flaky 2 2000
second=$(call_ms d-flaky 2)
for i in $(seq 1 24); do
    [ "$(call_ms "d-$i" 1)" -lt "$second" ] || fail "d-$i waited for the parked d-flaky (deferred)"
    [ "$(effects "d-$i")" = 1 ] || fail "d-$i applied $(effects "d-$i") times"
done
[ "$(effects d-flaky)" = 1 ] || fail "d-flaky applied $(effects d-flaky) times"
[ "$(q "SELECT attempt FROM testkit_effects WHERE event_id = 'd-flaky'")" = 3 ] ||
    fail "the engine did not count d-flaky's attempts"
# always failing: 4 attempts 1 s, 2 s, 4 s apart, then a dead letter
[ "$(ncalls d-never)" = 4 ] || fail "d-never was called $(ncalls d-never) times, expected 4"
check_gap d-never 1 1000
check_gap d-never 2 2000
check_gap d-never 3 4000
[ "$(q "SELECT attempts || ' ' || (error LIKE '%told to fail 99 times%') || ' ' || (first_failed_at < last_failed_at - interval '6 seconds') FROM conveyor.dead_letters WHERE event_id = 'd-never'")" = "4 true true" ] ||
    fail "d-never's dead letter: $(q "SELECT attempts, error, first_failed_at, last_failed_at FROM conveyor.dead_letters WHERE event_id = 'd-never'")"
# cv_fail(): no retry at all
[ "$(ncalls d-hard)" = 1 ] || fail "d-hard was called $(ncalls d-hard) times, expected 1"
[ "$(q "SELECT attempts FROM conveyor.dead_letters WHERE event_id = 'd-hard'")" = 1 ] || fail "d-hard's dead letter"
[ "$(q "SELECT count(*) FROM conveyor.retries")" = 0 ] || fail "retries left behind: $(q "SELECT * FROM conveyor.retries")"
echo "retry test: 1 passed, 0 failed"

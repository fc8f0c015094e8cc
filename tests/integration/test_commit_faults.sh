# Faults on the commit path, swept the way SQLite sweeps its malloc and
# I/O faults: round n runs a consumer (conveyor-testkit) whose n-th
# pipelined Postgres statement fails on the server (tests/testkit/faults.c),
# and the rounds go on until one in which the fault never fires. A batch's
# statements come in a fixed order (BEGIN and the inbox look-up; the
# handlers' statements, the inbox insert, the offset compare-and-set,
# COMMIT; the retry's own statements after a failure), so the rounds fail
# each of them in turn, without taking Postgres down. Odd rounds fail with
# 40001 (serialization failure: an attempt that may be retried), even ones
# with 08006 (the connection's fault: the batch runs again as it is); the
# domain alternates between blocking and deferred retries every two rounds.
# In every round each event takes effect exactly once; at the end the
# stored offsets are at the end of both topics and nothing is left in
# conveyor.retries or the dead letters.
testkit_setup

keys=(A B C D E F G H)
per_round=8
produced_blocking=0
produced_deferred=0
round=0
while :; do
    round=$((round + 1))
    [ "$round" -le 60 ] || fail "the fault still fired in round 60: the sweep does not end"
    if [ $(((round - 1) % 4)) -lt 2 ]; then domain=blocking; else domain=deferred; fi
    if [ $((round % 2)) = 1 ]; then state=40001; else state=08006; fi
    for i in $(seq 1 "$per_round"); do ev "r$round-$i" ok "${keys[$((i % 8))]}"; done |
        "$CONVEYOR_BIN" produce --type "test.$domain" --envelope 2>>"$T/produce.log" || fail "produce"
    if [ "$domain" = blocking ]; then
        produced_blocking=$((produced_blocking + per_round))
    else
        produced_deferred=$((produced_deferred + per_round))
    fi
    export CONVEYOR_PG_FAULT="$round:$state"
    start_conveyor "round$round" --domain "$domain" --no-ticker
    unset CONVEYOR_PG_FAULT
    wait_for "SELECT count(DISTINCT event_id) FROM testkit_effects WHERE event_id LIKE 'r$round-%'" "$per_round" 90
    kill -TERM "$LAST_PID"
    wait "$LAST_PID" || fail "round $round: the consumer did not stop cleanly"
    applied=$(q "SELECT count(*) FROM testkit_effects WHERE event_id LIKE 'r$round-%'")
    [ "$applied" = "$per_round" ] ||
        fail "round $round ($domain, statement $round fails with $state): $applied effects for $per_round events"
    fired=$(grep -c 'injected fault' "$T/round$round.log" || true)
    if [ "$fired" = 0 ]; then
        log "round $round ($domain): the consumer ran fewer than $round pipelined statements; sweep done"
        break
    fi
    log "round $round ($domain): statement $round failed with $state; $per_round events applied once each"
done
[ "$round" -gt 10 ] || fail "the sweep ended in round $round: fewer statements than one batch has"
# both ways out were taken: a fault blamed on an event (its attempt failed
# and was retried) and one that rolled the whole batch back
grep -q 'isolating it' "$T"/round*.log || fail "no fault was blamed on an event"
grep -q 'batch rolled back' "$T"/round*.log || fail "no fault rolled a batch back as transient"

stored() { q "SELECT coalesce(sum(next_offset), 0) FROM conveyor.consumer_offsets WHERE group_id = 'test.$1'"; }
[ "$(stored blocking)" = "$produced_blocking" ] ||
    fail "test.blocking: stored offsets sum to $(stored blocking), $produced_blocking events produced"
[ "$(stored deferred)" = "$produced_deferred" ] ||
    fail "test.deferred: stored offsets sum to $(stored deferred), $produced_deferred events produced"
[ "$(q "SELECT count(*) FROM conveyor.retries")" = 0 ] ||
    fail "retries left behind: $(q "SELECT * FROM conveyor.retries")"
[ "$(q "SELECT count(*) FROM conveyor.dead_letters")" = 0 ] ||
    fail "dead letters: $(q "SELECT event_id, error FROM conveyor.dead_letters")"
echo "commit faults test: $((round - 1)) statements failed in turn, 1 passed, 0 failed"

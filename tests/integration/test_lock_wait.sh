# Lock wait: a psql session holds, in an open transaction, a row that the
# leads handler must update (a partner's monthly volume). Consumer b's
# batches wait on it; a second consumer c joins during the hold, and the
# rebalance must complete while the row is still held: each lock wait is
# bounded by postgres.lock_timeout_ms, the batch rolls back and b serves its
# group before retrying. After the hold is released every event is applied
# exactly once. Without the bound, b would not serve the rebalance until
# the holder let go.
start_broker
migrate
start_conveyor b --domain leads --no-relay
produced=0
feed() { produce_leads "$produced" "$1" 0; produced=$((produced + $1)); }
feed 500
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 500 60
grep -q 'assigned 36 partitions' "$T/b.log" || fail "b does not own all partitions"

# the hold: partner 0's volume row, locked by an open transaction
P0="partner_id = '00000000-0000-4000-8000-000000000000'"
[ "$(q "SELECT count(*) FROM marketplace.partner_monthly_volume WHERE $P0")" = 1 ] ||
    fail "partner 0 has no volume row to hold"
mkfifo "$T/hold.in"
psql -X -v ON_ERROR_STOP=1 -Atq <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLDER=$!
PIDS+=($HOLDER)
exec 7>"$T/hold.in"
echo "SET application_name = 'lock-holder';
BEGIN;
SELECT leads FROM marketplace.partner_monthly_volume WHERE $P0 FOR UPDATE;" >&7
wait_for "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lock-holder'
          AND state = 'idle in transaction' AND backend_xid IS NOT NULL" 1 30
holder_pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'lock-holder'")
log "psql (pid $holder_pid) holds partner 0's volume row"

# events for every partner, partner 0's among them: b's batches must wait
feed 2000
# evidence while it waits: b's backend waits on the holder's transaction
waiting=""
for _ in $(seq 300); do
    waiting=$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE NOT l.granted AND l.locktype = 'transactionid'
                 AND a.application_name LIKE 'conveyor/leads#%'
                 AND $holder_pid = ANY (pg_blocking_pids(l.pid))")
    [ "$waiting" -gt 0 ] && break
    sleep 0.1
done
[ "$waiting" -gt 0 ] || fail "b's batch never waited on the held row"
log "b's backend waits on the holder (pg_locks: $waiting ungranted transactionid lock)"
for _ in $(seq 300); do grep -q 'rolled back: canceling statement due to lock timeout' "$T/b.log" && break; sleep 0.1; done
grep 'rolled back: canceling statement due to lock timeout' "$T/b.log" | tail -n 1 >&2 ||
    fail "b never logged a batch rolled back after a lock wait"
grep 'lock timeout' "$T/b.log" | tail -n 1 | grep -q "pid $holder_pid (lock-holder" ||
    fail "b's log does not name the holder (pid $holder_pid)"
# the consumer writes its state between batches: wait for it to say so
for _ in $(seq 300); do
    "$CONVEYOR_BIN" status >"$T/status.out" 2>&1 || fail "status"
    grep -q 'running, postgres: .*rolled back after waiting since' "$T/status.out" && break
    sleep 0.1
done
grep -q 'running, postgres: .*rolled back after waiting since' "$T/status.out" ||
    { cat "$T/status.out" >&2; fail "status does not say that b waits on Postgres"; }
grep 'postgres:' "$T/status.out" | head -n 1 >&2

# a second consumer joins during the hold: both must follow the group
b_before=$(grep -c 'assigned 18 partitions' "$T/b.log" || true)
start_conveyor c --domain leads --no-relay
C=$LAST_PID
joined=0
for _ in $(seq 600); do
    b_now=$(grep -c 'assigned 18 partitions' "$T/b.log" || true)
    if [ "$b_now" -gt "$b_before" ] && grep -q 'assigned 18 partitions' "$T/c.log" 2>/dev/null; then
        joined=1
        break
    fi
    sleep 0.1
done
[ "$joined" = 1 ] || fail "the rebalance did not complete while the row was held (b and c never got 18 partitions each)"
kill -0 "$HOLDER" 2>/dev/null || fail "the holder is gone: the rebalance did not happen during the hold"
[ "$(q "SELECT state FROM pg_stat_activity WHERE pid = $holder_pid")" = "idle in transaction" ] ||
    fail "the holder's transaction is no longer open"
log "rebalanced during the hold: b and c own 18 partitions each"
feed 1000

# release: everything applies, exactly once
# (\q, not EOF: the consumers started since inherited the fifo's fd 7)
printf 'COMMIT;\n\\q\n' >&7
exec 7>&-
wait "$HOLDER" || fail "the holder's psql failed"
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $produced 180
wait_drained 60
check_witnesses $produced
check_offsets_at_end
for _ in $(seq 300); do
    "$CONVEYOR_BIN" status >"$T/status.out" 2>&1 || true
    grep -q 'postgres: .*rolled back' "$T/status.out" || break
    sleep 0.1
done
grep -q 'postgres: .*rolled back' "$T/status.out" &&
    { cat "$T/status.out" >&2; fail "status still reports the lock wait after the release"; }
kill -0 "$C" 2>/dev/null || fail "consumer c died"
echo "lock wait test: 1 passed, 0 failed"

# Start-up errors: `conveyor run` ends at once, with the cause, on what no
# retry can fix (a missing migration, a wrong password, no such database
# or role), and keeps retrying, attempt by attempt, on what may pass (no
# server listening yet); a signal ends that wait.
start_broker

# run_expect_exit NAME PATTERN [env assignments...]: conveyor run exits 1
# within 30 s, and its log matches PATTERN
run_expect_exit() {
    local name=$1 pattern=$2 rc=0
    shift 2
    env "$@" timeout 30 "$CONVEYOR_BIN" run --domain leads >"$T/$name.log" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat "$T/$name.log" >&2; fail "$name: conveyor run exited $rc, expected 1 at once"; }
    grep -q -- "$pattern" "$T/$name.log" ||
        { cat "$T/$name.log" >&2; fail "$name: the log does not say '$pattern'"; }
    grep -q 'retrying' "$T/$name.log" &&
        { cat "$T/$name.log" >&2; fail "$name: a permanent error was retried"; }
    log "$name: exit 1: $(grep -m1 -- "$pattern" "$T/$name.log" | cut -c1-160)"
}

# before `conveyor migrate`
n=$(ls "$CONVEYOR_SOURCE_DIR"/migrations/*.sql | wc -l)
run_expect_exit unmigrated "lacks $n of this binary's migrations (the first: 0001_conveyor_engine): run .conveyor migrate. first"
migrate
last=$(q "SELECT max(version) FROM conveyor.schema_migrations")
q "UPDATE conveyor.schema_migrations SET version = 'hidden' WHERE version = '$last'"
run_expect_exit one_missing "lacks 1 of this binary's migrations (the first: $last)"
q "UPDATE conveyor.schema_migrations SET version = '$last' WHERE version = 'hidden'"

run_expect_exit password "password authentication failed" PGPASSWORD=wrong-password
grep -q 'wrong-password' "$T/password.log" && fail "the password is in the log"
run_expect_exit database 'database .*conveyor_nosuch.* does not exist' PGDATABASE=conveyor_nosuch
# (under password authentication Postgres does not say that a role is missing)
run_expect_exit role 'authentication failed for user .*conveyor_nosuch' PGUSER=conveyor_nosuch

# transient: nothing listens on the port yet
port=$PGPORT
while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done
PGHOST=127.0.0.1 PGPORT=$port "$CONVEYOR_BIN" run --domain leads >"$T/refused.log" 2>&1 &
pid=$!
PIDS+=($pid)
for _ in $(seq 300); do
    grep -q 'attempt 4), retrying in' "$T/refused.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null || { cat "$T/refused.log" >&2; fail "conveyor run gave up on a refused connection"; }
grep -q 'Postgres unavailable (attempt 1), retrying in 100ms: .*refused' "$T/refused.log" &&
    grep -q 'Postgres unavailable (attempt 2), retrying in 200ms' "$T/refused.log" &&
    grep -q 'Postgres unavailable (attempt 4), retrying in 800ms' "$T/refused.log" ||
    { cat "$T/refused.log" >&2; fail "the retries do not log their attempt and delay"; }
kill -TERM "$pid"
rc=0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "conveyor run did not stop on SIGTERM while waiting for Postgres"
wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "conveyor run exited $rc on SIGTERM while waiting for Postgres, expected 0"
log "refused: retried with attempt numbers and delays; SIGTERM ended the wait (exit 0)"

# and with everything right it starts
start_conveyor ok --domain leads --no-relay --no-ticker
produce_leads 0 50 0
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 50 60
echo "startup test: 1 passed, 0 failed"

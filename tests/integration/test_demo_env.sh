# test_demo_env.sh - the quick start's second terminal. scripts/demo.sh runs
# as a user runs it (its own pg_virtualenv cluster, nested in this test's,
# and `conveyor dev` with the in-process dev broker; only the build is
# skipped: CONVEYOR_DEMO_BIN) and writes the environment that reaches it.
# From another directory, with nothing of this test's environment left,
# that file alone must let `conveyor status`, `pause`, `dlq list`,
# `replay --dry-run` and `trigger` work against the running demo. Then
# Ctrl-C (SIGINT to the demo's process group, as a terminal sends it) must
# stop it cleanly, and the file must be gone. Also: the live lines count the events waiting
# before the first commit as lag, and migrating prints no NOTICE.

demo_env=$T/demo.env
DEMO_PID=

# SIGINT to the demo's process group, then wait for it to end (pg_virtualenv
# drops its cluster after conveyor exits). Sets DEMO_RC.
stop_demo() {
    local limit=$1
    kill -INT -- "-$DEMO_PID" 2>/dev/null || true
    for _ in $(seq $((limit * 10))); do
        kill -0 "$DEMO_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$DEMO_PID" 2>/dev/null; then
        kill -KILL -- "-$DEMO_PID" 2>/dev/null || true
        DEMO_RC=timeout
        return
    fi
    DEMO_RC=0
    wait "$DEMO_PID" || DEMO_RC=$?
}

# If the test fails half-way, stop the demo the same way, so that its
# cluster is dropped too, then run lib.sh's cleanup.
trap 'rc=$?; if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
        stop_demo 30; fi; (exit $rc); cleanup' EXIT

log "starting scripts/demo.sh"
set -m # its own process group, SIGINT not ignored: a terminal's foreground job
CONVEYOR_DEMO_BIN=$CONVEYOR_BIN CONVEYOR_DEMO_ENV=$demo_env \
    bash "$CONVEYOR_SOURCE_DIR/scripts/demo.sh" --rate 200 \
    >"$T/demo.out" 2>"$T/demo.log" </dev/null &
DEMO_PID=$!
set +m

for _ in $(seq 600); do
    [ -s "$demo_env" ] && break
    kill -0 "$DEMO_PID" 2>/dev/null || fail "demo.sh exited before writing $demo_env"
    sleep 0.1
done
[ -s "$demo_env" ] || fail "no $demo_env after 60 s"
log "demo up: $(grep -c '^export' "$demo_env") export lines in the env file"

mode=$(stat -c %a "$demo_env")
[ "$mode" = 600 ] || fail "env file mode is $mode, want 600"
for v in PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE CONVEYOR_KAFKA_BROKERS \
    CONVEYOR_CONFIG CONVEYOR_TOPOLOGY CONVEYOR_SCHEMAS PATH; do
    grep -q "^export $v=" "$demo_env" || fail "env file has no $v"
done
grep -q "^export CONVEYOR_KAFKA_BROKERS='127.0.0.1:[0-9]*'" "$demo_env" ||
    fail "the dev broker is not on a loopback TCP port: $(grep BROKERS "$demo_env")"
grep -q "export CONVEYOR_KAFKA_BROKERS='127.0.0.1:" "$T/demo.out" ||
    fail "the demo did not print the broker's address"
grep -q "$demo_env" "$T/demo.out" || fail "the demo did not print where the env file is"

# A second terminal: another directory, none of this test's settings.
outer_pgport=$PGPORT
unset PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSYSCONFDIR DATABASE_URL \
    CONVEYOR_KAFKA_BROKERS CONVEYOR_CONFIG CONVEYOR_TOPOLOGY CONVEYOR_SCHEMAS
mkdir "$T/elsewhere"
cd "$T/elsewhere"
# shellcheck disable=SC1090
. "$demo_env"
[ "$PGPORT" != "$outer_pgport" ] || fail "the demo's Postgres is the test's own cluster"
[ "$(command -v conveyor)" -ef "$CONVEYOR_BIN" ] ||
    fail "conveyor on PATH is $(command -v conveyor), not $CONVEYOR_BIN"
if grep -qF -- "$PGPASSWORD" "$T/demo.out" "$T/demo.log"; then
    fail "the Postgres password is in the demo's output"
fi

# status: the groups join (the dev broker takes 3 s) and commit
ok=
for _ in $(seq 60); do
    if out=$(conveyor status 2>&1) && grep -q '^conveyor\.leads ' <<<"$out" &&
        grep -q '^conveyor\.verification ' <<<"$out"; then
        ok=1
        break
    fi
    sleep 0.5
done
[ -n "$ok" ] || fail "conveyor status never showed both groups: $out"
grep -qE '^total lag: [0-9]+$' <<<"$out" || fail "status: no total lag: $out"
log "status: $(grep -c '^conveyor\.' <<<"$out") partitions, $(grep '^total lag' <<<"$out")"

out=$(conveyor pause --domain leads --reason "demo env test" 2>&1) ||
    fail "pause: $out"
grep -q "paused domain leads" <<<"$out" || fail "pause said: $out"
out=$(conveyor status 2>&1) || fail "status after pause: $out"
grep -qi "paused domain leads" <<<"$out" || fail "status does not show the pause: $out"
out=$(conveyor resume --domain leads --reason "demo env test" 2>&1) ||
    fail "resume: $out"
grep -q "resumed domain leads" <<<"$out" || fail "resume said: $out"

out=$(conveyor dlq list 2>&1) || fail "dlq list: $out"
grep -qE '^[0-9]+ dead letters?$' <<<"$out" || fail "dlq list said: $out"

out=$(conveyor replay --group conveyor.leads --from-offset 0 --dry-run 2>&1) ||
    fail "replay --dry-run: $out"
grep -qE '^[0-9]+ events to re-run in [0-9]+ partitions \(dry run: nothing changed\)$' \
    <<<"$out" || fail "replay --dry-run said: $out"
out=$(conveyor trigger weeklyPartnerPayouts --reason "demo env test" 2>&1) ||
    fail "trigger: $out"
grep -q "^triggered weeklyPartnerPayouts: event " <<<"$out" || fail "trigger said: $out"
log "pause, resume, dlq list, replay --dry-run and trigger ran against the demo"

# the demo sets no service secrets: a verification run's calls are refused
# ("not sent"), recorded as failed, and the demo keeps running
out=$(conveyor trigger processEmailVerificationQueue --reason "demo env test" 2>&1) ||
    fail "trigger processEmailVerificationQueue: $out"
refused=
for _ in $(seq 300); do
    kill -0 "$DEMO_PID" 2>/dev/null || fail "the demo died while refusing calls without a secret"
    refused=$(psql -XAtq -c "SELECT count(*) FROM conveyor.effects WHERE target = 'millionverifier'
                             AND state = 'failed' AND last_error LIKE 'not sent:%secret is not set%'")
    [ "${refused:-0}" -gt 0 ] && break
    sleep 0.1
done
[ "${refused:-0}" -gt 0 ] || fail "no refused millionverifier call recorded within 30 s"
sleep 1
kill -0 "$DEMO_PID" 2>/dev/null || fail "the demo died after refusing calls without a secret"
log "$refused verification calls refused without a secret; the demo runs on"

# lag before the first commit: a line where events were produced and none
# processed yet (the group is still joining) must show them waiting
early=$(grep -E '^\[ *[0-9]+s\]' "$T/demo.out" |
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
           if (v["processed"] == 0 && v["produced"] >= 100) print }')
[ -n "$early" ] || fail "no live line from before the first commit"
if awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          if (v["lag"] <= 0) bad = 1 } END { exit !bad }' <<<"$early"; then
    fail "lag shown as 0 while events waited: $early"
fi
log "before the first commit: $(head -1 <<<"$early")"

cd "$CONVEYOR_SOURCE_DIR"
log "Ctrl-C"
stop_demo 40
[ "$DEMO_RC" = 0 ] || fail "the demo exited with $DEMO_RC after SIGINT"
DEMO_PID=
grep -q "stopped cleanly" "$T/demo.log" || fail "the demo did not stop cleanly"
grep -q "^conveyor dev: produced [1-9]" "$T/demo.out" || fail "no final summary"
[ ! -e "$demo_env" ] || fail "$demo_env is still there after the demo exited"
[ ! -e "$demo_env.tmp" ] || fail "$demo_env.tmp was left behind"
if grep -q "NOTICE" "$T/demo.log" "$T/demo.out"; then
    fail "migrating printed a NOTICE: $(grep NOTICE "$T/demo.log" "$T/demo.out")"
fi
log "PASS: the demo's environment reaches it; Ctrl-C stopped it and removed the file"

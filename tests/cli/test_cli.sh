#!/usr/bin/env bash
# The command line as a user meets it: exit codes (0 ok, 1 runtime, 2 usage
# or configuration), --help on every command, and errors that say
# file:line and what was expected. Needs no broker and no Postgres.
set -uo pipefail
bin=${CONVEYOR_BIN:?}
src=${CONVEYOR_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$src"
passed=0 failed=0

# expect CODE PATTERN -- command...: exit code and a pattern in the output
expect() {
    local code=$1 pattern=$2
    shift 3
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" = "$code" ] && grep -qE -- "$pattern" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $* -> exit $rc (want $code), output:" >&2
        echo "$out" | head -5 >&2
        echo "(wanted /$pattern/)" >&2
    fi
}

expect 0 'usage: conveyor' -- "$bin" --help
expect 2 "unknown command 'bogus'" -- "$bin" bogus
expect 0 '3 a handler ran past its timeout' -- "$bin" --help
expect 0 '3 a handler ran past its timeout' -- "$bin" run --help
expect 2 'usage: conveyor run' -- "$bin" run --no-consumers --domain leads
expect 0 'clears the global switch only; domain, route and' -- "$bin" resume --help
expect 0 'the global switch: every domain, schedule and target' -- "$bin" pause --help
expect 2 'usage: conveyor' -- "$bin"
for cmd in run dev dev-broker migrate produce status topology schedules trigger pause resume dlq replay; do
    expect 0 "usage: conveyor $cmd" -- "$bin" "$cmd" --help
done
expect 0 'ok \(5 topics, 24 event types, 4 domains, 12 schedules\)' -- "$bin" topology check

# schedules without Postgres: next fire times in the zone and in UTC
expect 0 'next 2026-11-23 02:00 UTC \(\+00:00\) +2026-11-23T02:00:00Z' -- \
    env CONVEYOR_CLOCK=sim:2026-11-22T12:00:00Z@$(date +%s%3N)x1 "$bin" schedules --offline --name weeklyPartnerPayouts
expect 0 '^monthlyVolumeBonusUpdate 1780282800000 2026-06-01T03:00:00Z' -- \
    "$bin" schedules --between 2026-05-15T00:00:00Z 2026-06-15T00:00:00Z --name monthlyVolumeBonusUpdate
expect 2 "no schedule 'nope'" -- "$bin" schedules --offline --name nope
expect 2 'not an RFC 3339 time' -- "$bin" schedules --between yesterday 2026-06-15T00:00:00Z
expect 2 '--reason is required' -- "$bin" trigger weeklyPartnerPayouts
expect 2 'expected "system"' -- env CONVEYOR_CLOCK=later "$bin" schedules --offline

# the kill switch and dead letters: mistakes are caught before Postgres
expect 2 'exactly one of --all, --domain' -- "$bin" pause --reason x
expect 2 '--reason is required' -- "$bin" pause --domain leads
expect 2 "no domain 'nope'" -- "$bin" pause --domain nope --reason x
expect 2 "domain 'leads' has no route for 'nope'" -- "$bin" pause --route leads/nope --reason x
expect 2 'expected DOMAIN/EVENT_TYPE' -- "$bin" resume --route leads
expect 2 "no schedule 'nope'" -- "$bin" resume --schedule nope
expect 2 "no target 'nope'" -- "$bin" pause --target nope --reason x
expect 2 "unknown subcommand 'bogus'" -- "$bin" dlq bogus
expect 2 'not an RFC 3339 time' -- "$bin" dlq list --since yesterday
expect 2 'expected open, retried, discarded or all' -- "$bin" dlq list --status closed
expect 2 "dlq: --group: no domain with group 'nosuch' in .*marketplace.cfg \(groups: conveyor.leads" -- "$bin" dlq list --group nosuch
expect 2 "no domain with group 'nosuch'" -- "$bin" dlq retry --all --group nosuch
expect 2 'give --group and one of --from-time, --from-offset' -- "$bin" replay --group conveyor.leads
expect 2 'times are RFC 3339' -- "$bin" replay --group conveyor.leads --from-time noon
expect 2 "no domain with group 'nope'" -- "$bin" replay --group nope --from-offset 0
expect 2 "does not consume 'marketplace.jobs'" -- "$bin" replay --group conveyor.leads --topic marketplace.jobs --from-offset 0

# a broken topology: every error reported with file:line, exit 2
cat >"$T/bad.cfg" <<'CFG'
topics = ( { name = "t1"; partitions = 2; },
           { name = "t1"; partitions = 2; } );
events = ( { type = "e.one"; schema = "marketplace.Nope"; topic = "t1"; } );
domains = ( { name = "d"; group = "g"; topics = [ "t1" ];
              routes = ( { event = "e.one"; handler = "leads.nope"; } ); } );
CFG
out=$("$bin" topology check "$T/bad.cfg" 2>&1); rc=$?
if [ $rc = 2 ] && grep -q "bad.cfg:2:" <<<"$out" && grep -q "bad.cfg:3:" <<<"$out" &&
   grep -q "bad.cfg:5:" <<<"$out"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: bad topology: exit $rc: $out" >&2; fi

printf 'topics = ( { name = "t1"; partitions = "many"; } );\nevents = ();\ndomains = ();\n' >"$T/type.cfg"
expect 2 'type.cfg:1:.*partitions' -- "$bin" topology check "$T/type.cfg"
printf 'topics = ( { name = ; } );\n' >"$T/syntax.cfg"
expect 2 'syntax.cfg:1:' -- "$bin" topology check "$T/syntax.cfg"

# schedules that can never fire, and bad cron words: file:line of the cron
# key itself (not of the '{' lines above it), and the reason
cat >"$T/never.cfg" <<'CFG'
topics = ( { name = "marketplace.jobs"; partitions = 1; } );
events = ( { type = "marketplace.job.x"; schema = "conveyor.ScheduledJob";
             topic = "marketplace.jobs"; } );
domains = ( { name = "jobs"; group = "g"; topics = [ "marketplace.jobs" ];
              routes = ( { event = "marketplace.job.x"; sql = "SELECT :event.run"; } ); } );
schedules = (
  {
    name = "feb30";
    event = "marketplace.job.x";
    cron = "0 0 30 2 *";
  },
  {
    name = "apr31";
    event = "marketplace.job.x";
    cron = "0 0 31 4,6,9,11 *";
  },
  { name = "feb30w"; event = "marketplace.job.x";
    cron = "0 0 30W 2 *"; },
  { name = "l30"; event = "marketplace.job.x";
    cron = "0 0 L-30 2 *"; },
  { name = "umlaut"; event = "marketplace.job.x";
    cron = "0 0 * * MÖN"; },
  { name = "lhour"; event = "marketplace.job.x";
    cron = "0 L * * *"; },
  { name = "leap"; event = "marketplace.job.x"; cron = "0 0 29 2 *"; }
);
CFG
out=$("$bin" topology check "$T/never.cfg" 2>&1); rc=$?
want="never.cfg:10: schedule 'feb30': cron \"0 0 30 2 \*\": never fires: day-of-month \"30\" matches no day of February \(28 or 29 days\)
never.cfg:15: schedule 'apr31': cron \"0 0 31 4,6,9,11 \*\": never fires: day-of-month \"31\" matches no day of April, June, September or November \(30 days\)
never.cfg:18: schedule 'feb30w': .*never fires: day-of-month \"30W\" matches no day of February
never.cfg:20: schedule 'l30': .*never fires: day-of-month \"L-30\" matches no day of February
never.cfg:22: schedule 'umlaut': .*unknown day-of-week name 'MÖN' \(expected SUN-SAT\)
never.cfg:24: schedule 'lhour': .*field 2 \(hour\) at column 3: 'L' is only allowed in day-of-month \(L, L-n, LW\) and day-of-week \(5L\)
.*never.cfg: 6 errors"
if [ $rc = 2 ] && [ "$(grep -c . <<<"$out")" = 7 ] && paste -d'\n' <(grep -o 'never.cfg.*' <<<"$out") <(printf '%s\n' "$want") |
    awk 'NR % 2 { line = $0; next } { if (line !~ $0) { print "mismatch: " line " !~ " $0; bad = 1 } } END { exit bad }' >&2; then
    passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: never-firing schedules: exit $rc: $out" >&2; fi

# configuration errors: file:line and the key
printf 'kafka = { brokers = "dev"; bogus = 1; };\n' >"$T/c1.cfg"
expect 2 "c1.cfg:1:.*bogus" -- "$bin" -c "$T/c1.cfg" topology check
printf 'outbox = {\n  batch_size = 0;\n};\n' >"$T/c2.cfg"
expect 2 "c2.cfg:2:.*batch_size" -- "$bin" -c "$T/c2.cfg" topology check
printf 'postgres = { conninfo = "host=db password=hunter2"; };\n' >"$T/c3.cfg"
expect 2 "c3.cfg:1:.*password" -- "$bin" -c "$T/c3.cfg" topology check
out=$("$bin" -c "$T/c3.cfg" topology check 2>&1)
if grep -q hunter2 <<<"$out"; then failed=$((failed + 1)); echo "FAIL: secret echoed: $out" >&2;
else passed=$((passed + 1)); fi
expect 2 "no such file|cannot" -- "$bin" -c "$T/missing.cfg" topology check

# produce: bad input names the field, and the line on stdin
export CONVEYOR_KAFKA_BROKERS=127.0.0.1:1
expect 2 "unknown event type|not declared" -- "$bin" produce --type no.such.type --data '{}'
out=$(printf '{"lead_id":"a","partner_id":"b","email":5,"submitted_at":1}\n' |
      "$bin" produce --type marketplace.lead.submitted 2>&1); rc=$?
if [ $rc != 0 ] && grep -q "stdin:1: field 'email'" <<<"$out"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: produce bad field: exit $rc: $out" >&2; fi

# produce holds each field to its Avro logical type before sending
out=$(printf '{"lead_id":"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4","partner_id":"not-a-uuid","email":"a@b","submitted_at":1}\n' |
      "$bin" produce --type marketplace.lead.submitted 2>&1); rc=$?
if [ $rc != 0 ] && grep -q "stdin:1: field 'partner_id': expected a uuid (logicalType uuid: 32 hex digits as 8-4-4-4-12, e.g. 123e4567-e89b-42d3-a456-426614174000), got \"not-a-uuid\"" <<<"$out" &&
   grep -q '0 events' <<<"$out"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: produce bad uuid: exit $rc: $out" >&2; fi
out=$(printf '\n{"data":{"lead_id":"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4","partner_id":"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4","email":"a@b","submitted_at":1763790000000000}}\n' |
      "$bin" produce --type marketplace.lead.submitted --envelope --stop-on-error 2>&1); rc=$?
if [ $rc != 0 ] && grep -q "stdin:2: field 'submitted_at': expected a timestamp-millis (logicalType timestamp-millis: milliseconds since 1970-01-01T00:00:00, -62135596800000..253402300799999, years 0001-9999), got 1763790000000000" <<<"$out"; then
    passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: produce bad timestamp: exit $rc: $out" >&2; fi
# a valid event and no broker: an error within seconds, not a minute
t0=$(date +%s)
expect 1 "stdin:1: no Kafka broker answered within 5 s \(kafka.brokers = 127.0.0.1:1\).*nothing was sent" -- \
    sh -c "printf '{\"lead_id\":\"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4\",\"partner_id\":\"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4\",\"email\":\"a@b\",\"submitted_at\":1}\n' |
        '$bin' produce --type marketplace.lead.submitted"
if [ $(( $(date +%s) - t0 )) -le 10 ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: produce to an unreachable broker took $(( $(date +%s) - t0 ))s" >&2; fi
expect 1 "field 'lead_id': expected a uuid" -- "$bin" produce --type marketplace.lead.submitted \
    --data '{"lead_id":"x","partner_id":"6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4","email":"a@b","submitted_at":1}'

# run refuses the in-process dev broker setting
unset CONVEYOR_KAFKA_BROKERS
expect 2 'dev broker' -- env CONVEYOR_KAFKA_BROKERS=dev "$bin" run

# --version; a missing schemas dir or topology names the setting, where its
# value came from, the path tried and the environment variable
expect 0 '^conveyor [0-9]+\.[0-9]+\.[0-9]+$' -- "$bin" --version
expect 2 "schemas.dir is \"$T/nope\" \(environment variable CONVEYOR_SCHEMAS\): $T/nope: No such file" -- \
    env CONVEYOR_SCHEMAS="$T/nope" "$bin" topology check
expect 2 'topology.path is .*nope.cfg.*CONVEYOR_TOPOLOGY' -- \
    env CONVEYOR_TOPOLOGY="$T/nope.cfg" "$bin" topology check
expect 2 "$T/nope.cfg: cannot open" -- "$bin" topology check "$T/nope.cfg"
# outside the repository, nothing configured: the built-in default is not
# there (unless an installed copy is: then it is used)
out=$(cd "$T" && env -u CONVEYOR_CONFIG -u CONVEYOR_SCHEMAS -u CONVEYOR_TOPOLOGY \
      "$bin" topology check 2>&1); rc=$?
if { [ $rc = 2 ] && grep -q "schemas.dir is \"schemas\" (the built-in default): $T/schemas: No such file" <<<"$out" &&
     grep -q 'CONVEYOR_SCHEMAS' <<<"$out"; } ||
   { [ $rc = 0 ] && grep -q '/share/conveyor/topology/' <<<"$out"; }; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: outside the repository: exit $rc: $out" >&2
fi

# the README's map of the source names every file of src/, and nothing else
src=${CONVEYOR_SOURCE_DIR:?}/src
mapped=$(awk '/^## A map of the source/ { on = 1; next } on && /^## / { on = 0 } on' \
             "$CONVEYOR_SOURCE_DIR/README.md" |
         grep -o '`[a-z_]*\.\(c/\.h\|c\|h\)`' | tr -d '`' |
         sed 's|^\(.*\)\.c/\.h$|\1.c\n\1.h|' | sort -u)
actual=$(cd "$src" && ls *.c *.h | sort -u)
if [ -n "$mapped" ] && [ "$mapped" = "$actual" ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAIL: README's map of the source and src/ differ (< map, > src/):" >&2
    diff <(echo "$mapped") <(echo "$actual") >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

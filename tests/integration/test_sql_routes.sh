# Declared SQL (routes that run SQL named in the topology, no C):
#   1. a parameter the schema or the settings do not have fails `topology
#      check` with file:line, naming the route and what was expected;
#   2. an SQL typo fails `conveyor run` at start-up (exit 1), before any
#      event, naming the route, the statement and its file:line;
#   3. a declared route retries and dead-letters like a C handler: a
#      statement failing with SQLSTATE 40001 is retried by the route's
#      policy and applied once at its 3rd attempt, one that always fails is
#      dead-lettered after max_attempts, another error (division by zero)
#      at once; the good events of the same batches apply exactly once
#      (their per-event statements and their set-based rows); an emit
#      query's rows become events the domain applies once; :setting and
#      :env are bound.
start_broker
migrate

# ---- 1. a wrong parameter name: topology check, file:line
src=$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg
sed '0,/:setting.freshness_floor::float8)"/s//:setting.freshness_flor::float8)"/' "$src" >"$T/param.cfg"
grep -q 'freshness_flor::' "$T/param.cfg" || fail "the typo was not planted"
want_line=$(grep -n 'freshness_flor::' "$T/param.cfg" | cut -d: -f1)
rc=0
"$CONVEYOR_BIN" topology check "$T/param.cfg" >"$T/param.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "topology check exited $rc on a wrong parameter, expected 2"
grep -q "^$T/param.cfg:$want_line: domain 'jobs': route for 'marketplace.job.daily_freshness_decay': sql statement 2: parameter ':setting.freshness_flor': no setting 'freshness_flor' in the topology (expected one of: .*freshness_floor" "$T/param.out" ||
    { cat "$T/param.out" >&2; fail "topology check did not name the parameter at line $want_line"; }
sed '0,/to_timestamp(:event.fire_time::bigint"/s//to_timestamp(:event.fire_at::bigint"/' "$src" >"$T/field.cfg"
want_line=$(grep -n ':event.fire_at::' "$T/field.cfg" | cut -d: -f1)
[ -n "$want_line" ] || fail "the field typo was not planted"
"$CONVEYOR_BIN" topology check "$T/field.cfg" >"$T/field.out" 2>&1 && fail "topology check passed a wrong field"
grep -q "^$T/field.cfg:$want_line: domain 'jobs': route for '[a-z_.]*': sql statement 2: parameter ':event.fire_at': the event's schema conveyor.ScheduledJob has no field 'fire_at' (expected one of: schedule, fire_time, run)" "$T/field.out" ||
    { cat "$T/field.out" >&2; fail "topology check did not name the field at line $want_line"; }
log "a wrong setting and a wrong field: refused at their lines"

# ---- 2. an SQL typo: conveyor run exits 1 at start-up, naming the route
sed 's/"UPDATE marketplace.leads SET freshness_score ="/"UPDTE marketplace.leads SET freshness_score ="/' "$src" >"$T/typo.cfg"
first=$(grep -n 'UPDTE marketplace.leads' "$T/typo.cfg" | cut -d: -f1)
last=$first
[ -n "$first" ] && [ -n "$last" ] || fail "the SQL typo was not planted"
CONVEYOR_TOPOLOGY=$T/typo.cfg "$CONVEYOR_BIN" topology check >/dev/null 2>&1 ||
    fail "the typo must pass topology check (it is Postgres' to find)"
rc=0
CONVEYOR_TOPOLOGY=$T/typo.cfg timeout 60 "$CONVEYOR_BIN" run >"$T/typo.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { tail -5 "$T/typo.log" >&2; fail "conveyor run exited $rc on an SQL typo, expected 1"; }
line=$(sed -n "s|.*$T/typo.cfg:\([0-9]*\): domain 'jobs': route for 'marketplace.job.daily_freshness_decay': sql statement 2 does not prepare: syntax error at or near .*UPDTE.*|\1|p" "$T/typo.log" | head -1)
[ "$line" = "$first" ] ||
    { cat "$T/typo.log" >&2; fail "the start-up error does not name the route and the typo's line $first (got '$line')"; }
grep -q "consumer started" "$T/typo.log" && fail "a consumer started before the typo was found"
log "an SQL typo: conveyor run exited 1 naming line $line"

# ---- 3. retries, dead letters, rows, emit
cat >"$T/sql.cfg" <<'EOF'
topics = ( { name = "test.sql"; partitions = 2; }, { name = "test.echo"; partitions = 1; } );
events = (
    { type = "test.sql"; schema = "conveyor.ScheduledJob"; topic = "test.sql"; key = "run"; },
    { type = "test.echo"; schema = "conveyor.ScheduledJob"; topic = "test.echo"; key = "run"; }
);
settings = ( { name = "greeting"; value = "hello"; env = "SQLKIT_GREETING"; } );
domains = (
    { name = "sqlkit"; group = "test.sqlkit"; topics = [ "test.sql", "test.echo" ];
      batch_size = 100; batch_wait_ms = 20;
      retry = { mode = "deferred"; max_attempts = 4; initial_ms = 300;
                factor = 2.0; max_ms = 1200; jitter = 0.0; };
      routes = (
          { event = "test.sql";
            sql = ( "SELECT public.act(:ce.attempt::int, :event.schedule)",
                    "INSERT INTO public.sql_effects (event_id, attempt, greeting, env)"
                    " VALUES (:ce.id, :ce.attempt::int, :setting.greeting, :env.SQLKIT_ENV)" );
            rows = "INSERT INTO public.sql_rows (event_id, run)"
                   " SELECT * FROM unnest(:ce.id::text[], :event.run::text[])";
            emit = ( { event = "test.echo";
                       sql = "SELECT 'echo-' || :event.run AS schedule,"
                             " :event.fire_time::bigint AS fire_time, :event.run AS run"
                             " WHERE :event.schedule = 'emit'"; } ); },
          { event = "test.echo";
            rows = "INSERT INTO public.echoes (event_id, schedule)"
                   " SELECT * FROM unnest(:ce.id::text[], :event.schedule::text[])"; }
      ); }
);
EOF
q "CREATE TABLE public.sql_effects (event_id text PRIMARY KEY, attempt int, greeting text, env text)"
q "CREATE TABLE public.sql_rows (event_id text PRIMARY KEY, run text)"
q "CREATE TABLE public.echoes (event_id text PRIMARY KEY, schedule text)"
psql -X -q -v ON_ERROR_STOP=1 <<'EOF' || fail "the test function"
CREATE FUNCTION public.act(attempt int, cmd text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cmd LIKE 'fail:%' AND attempt <= split_part(cmd, ':', 2)::int THEN
        RAISE EXCEPTION 'attempt % fails on purpose', attempt USING ERRCODE = '40001';
    END IF;
    IF cmd = 'boom' THEN
        PERFORM 1 / 0;
    END IF;
END $$;
EOF
export CONVEYOR_TOPOLOGY=$T/sql.cfg
"$CONVEYOR_BIN" topology check >"$T/sql-check.log" 2>&1 || { cat "$T/sql-check.log" >&2; fail "the test topology"; }
{
    for i in $(seq 1 40); do printf '{"id":"ok-%d","data":{"schedule":"ok","fire_time":%d,"run":"r%d"}}\n' "$i" "$i" "$i"; done
    printf '{"id":"flaky","data":{"schedule":"fail:2","fire_time":0,"run":"flaky"}}\n'
    printf '{"id":"always","data":{"schedule":"fail:99","fire_time":0,"run":"always"}}\n'
    printf '{"id":"boom","data":{"schedule":"boom","fire_time":0,"run":"boom"}}\n'
    for i in 1 2 3; do printf '{"id":"emit-%d","data":{"schedule":"emit","fire_time":%d,"run":"e%d"}}\n' "$i" "$i" "$i"; done
    for i in $(seq 41 80); do printf '{"id":"ok-%d","data":{"schedule":"ok","fire_time":%d,"run":"r%d"}}\n' "$i" "$i" "$i"; done
} | "$CONVEYOR_BIN" produce --type test.sql --envelope 2>>"$T/produce.log" >/dev/null || fail "produce"
SQLKIT_ENV=from-env SQLKIT_GREETING=bonjour start_conveyor sqlkit --no-ticker
wait_for "SELECT count(*) FROM public.sql_effects" 84 60
wait_for "SELECT count(*) FROM conveyor.dead_letters WHERE group_id = 'test.sqlkit'" 2 60
wait_for "SELECT count(*) FROM public.echoes" 3 60
wait_drained 60
# the flaky event: two failed attempts, applied once at the third
[ "$(q "SELECT attempt FROM public.sql_effects WHERE event_id = 'flaky'")" = 3 ] ||
    fail "flaky was applied at attempt $(q "SELECT attempt FROM public.sql_effects WHERE event_id = 'flaky'"), expected 3"
# dead letters: after 4 attempts (class 40), at once (division by zero)
[ "$(q "SELECT attempts FROM conveyor.dead_letters WHERE event_id = 'always'")" = 4 ] ||
    fail "always was dead-lettered after $(q "SELECT attempts FROM conveyor.dead_letters WHERE event_id = 'always'") attempts, expected 4"
[ "$(q "SELECT attempts FROM conveyor.dead_letters WHERE event_id = 'boom'")" = 1 ] ||
    fail "boom was dead-lettered after $(q "SELECT attempts FROM conveyor.dead_letters WHERE event_id = 'boom'") attempts, expected 1"
q "SELECT error FROM conveyor.dead_letters WHERE event_id = 'boom'" | grep -q "division by zero" ||
    fail "boom's dead letter does not say why"
[ "$(q "SELECT count(*) FROM public.sql_effects WHERE event_id IN ('always', 'boom')")" = 0 ] ||
    fail "a failed event's statements committed"
# every good event once, its per-event statements and its set-based row
[ "$(q "SELECT count(*) FROM public.sql_effects WHERE event_id LIKE 'ok-%' AND attempt = 1")" = 80 ] ||
    fail "not every good event was applied once at its first attempt"
[ "$(q "SELECT count(*) FROM public.sql_rows")" = 84 ] || fail "the set-based rows are not one per applied event"
[ "$(q "SELECT count(*) FROM public.sql_rows r JOIN public.sql_effects e USING (event_id)")" = 84 ] ||
    fail "set-based rows and per-event statements disagree"
# settings (the environment wins) and environment variables
[ "$(q "SELECT count(*) FROM public.sql_effects WHERE greeting = 'bonjour' AND env = 'from-env'")" = 84 ] ||
    fail ":setting and :env were not bound from the environment"
# emit: three events, each applied once, with the derived ids
[ "$(q "SELECT string_agg(event_id || '=' || schedule, ',' ORDER BY event_id) FROM public.echoes")" = \
  "emit-1.1=echo-e1,emit-2.1=echo-e2,emit-3.1=echo-e3" ] ||
    fail "echoes: $(q "SELECT string_agg(event_id || '=' || schedule, ',' ORDER BY event_id) FROM public.echoes")"
[ "$(q "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'test.echo'")" = 3 ] ||
    fail "the emit query's rows were queued more than once"
log "retried once to success, dead-lettered after 4 and at once, 80 good events once, 3 emitted events once"
echo "sql routes test: 1 passed, 0 failed"

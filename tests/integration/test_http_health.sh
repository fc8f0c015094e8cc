# test_http_health.sh - the probes. /readyz turns unready (503, saying
# Postgres is unreachable) when Postgres stops and ready again when it is
# back; /healthz stays up through that (a consumer waiting for Postgres is
# alive) and fails (503, naming the loop) while a consumer loop is stuck:
# the testkit handler hangs for 8 s under a liveness timeout of 2 s (its
# route's handler timeout is longer, so the watchdog does not end it
# first), and /healthz is healthy again once the handler returns. Last,
# the failure counters: one retried attempt, one dead letter, exactly.
cat >"$T/hang.cfg" <<'CFG'
topics = ( { name = "test.hang"; partitions = 1; } );
events = ( { type = "test.hang"; schema = "conveyor.ScheduledJob";
             topic = "test.hang"; key = "run"; } );
domains = (
    { name = "hang"; group = "test.hang"; topics = [ "test.hang" ];
      batch_size = 10; batch_wait_ms = 20;
      retry = { mode = "blocking"; max_attempts = 2; initial_ms = 100;
                timeout_ms = 60000; };
      routes = ( { event = "test.hang"; handler = "testkit.act"; } ); }
);
CFG
export CONVEYOR_TOPOLOGY=$T/hang.cfg
export CONVEYOR_TESTKIT_LOG=$T/calls.log
CONVEYOR_BIN=${CONVEYOR_TESTKIT_BIN:?conveyor-testkit is needed}
sed -e 's/^\( *liveness_timeout_ms = \).*/\12000;/' \
    "$CONVEYOR_SOURCE_DIR/config/conveyor.cfg" >"$T/conveyor.cfg"
grep -q 'liveness_timeout_ms = 2000;' "$T/conveyor.cfg" || fail "config edit did not apply"
export CONVEYOR_CONFIG=$T/conveyor.cfg
cluster=(${PGVERSION:-15} regress)
: >"$CONVEYOR_TESTKIT_LOG"
q "CREATE TABLE public.testkit_effects (event_id text NOT NULL, attempt int NOT NULL)"
start_broker
migrate
start_conveyor run --http-port-file "$T/port"
pid=$LAST_PID
http_port "$T/port"
wait_http "$HTTP/readyz" 200 60 '"ready"'
wait_http "$HTTP/healthz" 200 10 '"ok"'
log "ready and live: $(cat "$T/http.body")"

pg_ctlcluster "${cluster[@]}" stop -m fast
log "Postgres stopped"
wait_http "$HTTP/readyz" 503 30 'Postgres unreachable'
log "unready: $(cat "$T/http.body")"
pg_ctlcluster "${cluster[@]}" start
log "Postgres started again"
wait_http "$HTTP/readyz" 200 60 '"ready"'
wait_http "$HTTP/healthz" 200 10 '"ok"'
log "ready again"

ev hang-1 "hang:8000" x | "$CONVEYOR_BIN" produce --type test.hang --envelope \
    2>>"$T/produce.log" || fail "produce"
wait_http "$HTTP/healthz" 503 30 '"name": "conveyor/hang#0", "last_round_ms_ago": [0-9]*, "stuck": true'
log "stuck: $(cat "$T/http.body")"
wait_http "$HTTP/healthz" 200 30 '"ok"'
kill -0 "$pid" || fail "conveyor exited"
wait_for "SELECT count(*) FROM public.testkit_effects WHERE event_id = 'hang-1'" 1 30
log "live again once the handler returned; the event was applied once"

# the failure counters of the runbook's failure-rate alert: a flaky event
# (one failed attempt, then applied) and one that fails for good
{ ev flaky-1 "fail:1" x; ev broken-1 failhard x; } |
    "$CONVEYOR_BIN" produce --type test.hang --envelope 2>>"$T/produce.log" || fail "produce"
wait_for "SELECT count(*) FROM public.testkit_effects WHERE event_id = 'flaky-1'" 1 30
wait_for "SELECT count(*) FROM conveyor.dead_letters WHERE event_id = 'broken-1'" 1 30
for _ in $(seq 50); do
    scrape
    [ "$(msum conveyor_events_dead_lettered_total 'domain="hang"')" = 1 ] && break
    sleep 0.2
done
r=$(msum conveyor_events_retried_total 'route="test.hang"')
p=$(msum conveyor_events_processed_total 'route="test.hang"')
x=$(msum conveyor_events_dead_lettered_total 'route="test.hang"')
log "counters: processed=$p retried=$r dead-lettered=$x"
[ "$r $p $x" = "1 2 1" ] || fail "expected 1 retried, 2 processed (hang-1, flaky-1), 1 dead-lettered"

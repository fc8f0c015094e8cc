# test_http_metrics.sh - /metrics under a running workload, and the offset
# mirror. The leads domain is paused while 3,000 leads (1% re-sent) arrive:
# its lag in events rises to exactly what was produced and its lag in
# seconds above zero; resumed, both fall to zero, and the counters count
# exactly the events produced (processed, deduplicated, none
# dead-lettered), in both domains. Every scrape passes `promtool check
# metrics`. Then a plain Kafka client reads the group's committed offsets:
# they equal the offsets stored in Postgres (mirrored, never read back).
command -v promtool >/dev/null || fail "promtool is not installed (Debian package prometheus)"
N=3000
start_broker
migrate
"$CONVEYOR_BIN" pause --domain leads --reason "metrics test: build up lag" >/dev/null || fail "pause"
start_conveyor run --http-port-file "$T/port"
http_port "$T/port"
wait_http "$HTTP/readyz" 200 60 '"ready"'

produce_leads 0 $N 10
sent=$((N + N / 100))
log "produced $sent events ($N distinct) while leads is paused"
for _ in $(seq 150); do
    scrape
    [ "$(msum conveyor_consumer_lag_events 'group="conveyor.leads"')" = $sent ] &&
        awk -v m="$(mmax conveyor_consumer_lag_seconds 'group="conveyor.leads"')" 'BEGIN { exit !(m >= 1) }' &&
        break
    sleep 0.2
done
lag=$(msum conveyor_consumer_lag_events 'group="conveyor.leads"')
lag_s=$(mmax conveyor_consumer_lag_seconds 'group="conveyor.leads"')
log "lag while paused: $lag events, oldest ${lag_s}s"
[ "$lag" = $sent ] || fail "lag of conveyor.leads is $lag events, expected $sent"
awk -v m="$lag_s" 'BEGIN { exit !(m >= 1) }' || fail "lag in seconds did not rise: $lag_s"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || { cat "$T/promtool.out" >&2; fail "promtool check metrics (paused)"; }
[ "$(msum conveyor_kill_switch_active 'name="leads"')" = 1 ] || fail "the switch is not shown"
[ "$(msum conveyor_events_processed_total 'domain="leads"')" = 0 ] || fail "a paused domain processed events"

"$CONVEYOR_BIN" resume --domain leads >/dev/null || fail "resume"
for _ in $(seq 300); do
    scrape
    [ "$(msum conveyor_consumer_lag_events 'group="conveyor.')" = 0 ] &&
        [ "$(msum conveyor_events_processed_total 'domain="verification"')" = $N ] &&
        [ "$(mmax conveyor_consumer_lag_seconds)" = 0 ] && break
    sleep 0.2
done
log "after resume: lag $(msum conveyor_consumer_lag_events) events, oldest $(mmax conveyor_consumer_lag_seconds)s"
[ "$(msum conveyor_consumer_lag_events)" = 0 ] || fail "lag did not fall to 0"
[ "$(mmax conveyor_consumer_lag_seconds)" = 0 ] || fail "lag in seconds did not fall to 0"
p=$(msum conveyor_events_processed_total 'route="marketplace.lead.submitted"')
d=$(msum conveyor_events_deduplicated_total 'domain="leads"')
v=$(msum conveyor_events_processed_total 'domain="verification"')
x=$(msum conveyor_events_dead_lettered_total)
r=$(msum conveyor_events_retried_total)
log "counters: processed leads=$p verification=$v deduplicated=$d dead-lettered=$x retried=$r"
[ "$p" = $N ] || fail "processed_total{leads} is $p, expected $N"
[ "$d" = $((N / 100)) ] || fail "deduplicated_total is $d, expected $((N / 100))"
[ "$v" = $N ] || fail "processed_total{verification} is $v, expected $N"
[ "$x" = 0 ] && [ "$r" = 0 ] || fail "dead letters or retries counted: $x, $r"
[ "$(msum conveyor_batch_apply_duration_seconds_count 'domain="leads"')" -gt 0 ] || fail "no batch durations"
[ "$(msum conveyor_outbox_publish_latency_seconds_count)" = $N ] || fail "publish latencies: $(msum conveyor_outbox_publish_latency_seconds_count)"
[ "$(msum conveyor_postgres_up)" = 1 ] && [ "$(msum conveyor_kafka_up)" = 1 ] || fail "postgres_up or kafka_up not 1"
grep -q '^conveyor_build_info{version="' "$T/metrics.txt" || fail "no build info"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || { cat "$T/promtool.out" >&2; fail "promtool check metrics"; }
check_witnesses $N

# the offsets Kafka tools see: the mirror of Postgres' after every commit
parts=$(q "SELECT count(*) FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads' AND topic = 'marketplace.leads'")
q "SELECT topic, partition, next_offset FROM conveyor.consumer_offsets WHERE group_id = 'conveyor.leads' AND topic = 'marketplace.leads' ORDER BY 2" |
    tr '|' ' ' >"$T/stored.txt"
for _ in $(seq 60); do
    "$KAFKA_COMMITTED_BIN" "$CONVEYOR_KAFKA_BROKERS" conveyor.leads marketplace.leads "$parts" >"$T/committed.txt" 2>"$T/committed.log" &&
        diff -q "$T/stored.txt" "$T/committed.txt" >/dev/null && break
    sleep 0.5
done
diff "$T/stored.txt" "$T/committed.txt" >&2 || fail "Kafka's committed offsets of conveyor.leads differ from Postgres'"
log "Kafka sees conveyor.leads at Postgres' offsets in all $parts partitions ($(awk '{ s += $3 } END { print s }' "$T/committed.txt") events)"

# Postgres outages while events flow: the cluster is stopped with
# `pg_ctlcluster ... stop -m immediate` (a crash, no shutdown checkpoint) 12
# times at random moments for 1-3 s, and the consumers' sessions are killed
# with pg_terminate_backend 6 times, while 6,000 new events arrive each
# round. The consumers and the relay must stay
# up, reconnect, re-read their offsets and go on: the exactly-once
# witnesses are exact at the end and every stored offset is at the end of
# its partition.
start_broker
migrate
CHUNK=6000
TOTAL=$((18 * CHUNK))
start_conveyor consumer --domain leads
consumer=$LAST_PID
start_conveyor verification --domain verification --no-relay
verification=$LAST_PID
cluster=(${PGVERSION:-15} regress)
stops=0 terms=0 producers=()
for i in $(seq 1 18); do
    # events keep arriving through every outage (the broker buffers them)
    (produce_leads $(( (i - 1) * CHUNK )) $CHUNK 10) &
    producers+=($!)
    sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    if [ $((i % 3)) = 0 ]; then
        n=$(q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'conveyor/%'")
        terms=$((terms + 1))
        log "terminated $n conveyor sessions"
    else
        pg_ctlcluster "${cluster[@]}" stop -m immediate
        stops=$((stops + 1))
        down="$((1 + RANDOM % 3)).$((RANDOM % 10))"
        log "Postgres stopped (immediate), down for $down s"
        sleep "$down"
        pg_ctlcluster "${cluster[@]}" start
    fi
    sleep 1
    kill -0 "$consumer" 2>/dev/null || fail "the leads consumer exited after an outage"
    kill -0 "$verification" 2>/dev/null || fail "the verification consumer exited after an outage"
done
for p in "${producers[@]}"; do wait "$p" || fail "producer"; done
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $TOTAL 300
wait_for "SELECT count(*) FROM marketplace.verification_requests" $TOTAL 300
wait_drained 120
check_witnesses $TOTAL
dup=$(q "SELECT count(*) FROM (SELECT lead_id FROM marketplace.verification_requests GROUP BY 1 HAVING count(*) > 1) d")
[ "$dup" = 0 ] || fail "$dup verification requests applied twice"
check_offsets_at_end
reconnects=$(cat "$T/consumer.log" "$T/verification.log" | grep -ci "connect" || true)
log "$stops immediate stops, $terms session kills; $reconnects connection log lines"
echo "postgres outage test: 4 passed, 0 failed"

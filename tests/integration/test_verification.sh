# Email verification of 10,000 queued leads through the MillionVerifier
# double: never more than 3 calls in flight (the double's own count); the
# target switched off mid-run sends no new call within a second, and
# switched on again the queue finishes with nothing lost; an address the
# service keeps answering with an error is tried exactly 3 times and fails;
# every other address is checked exactly once and its lead gets the result.
# The API key appears in no log.
topo=$T/marketplace.cfg
# the queue drained in batches of 2,000, a failed attempt due again after
# 1 s, 2 s: the job is triggered by hand below instead of every 5 minutes
sed -e 's/payload = "{\\"batch_size\\": 50, \\"max_attempts\\": 3}";/payload = "{\\"batch_size\\": 2000, \\"max_attempts\\": 3}";/' \
    -e '/name = "verification_retry_s";/{n;s/value = "300";/value = "1";/}' \
    "$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg" >"$topo"
grep -q 'batch_size\\": 2000' "$topo" && grep -A1 'verification_retry_s' "$topo" | grep -q '"1"' ||
    fail "the test topology was not made"
export CONVEYOR_TOPOLOGY=$topo
export MILLIONVERIFIER_API_KEY=mv_test_$RANDOM$RANDOM$RANDOM
start_broker
migrate
start_double mv millionverifier --seed 5 \
    --fault '{"kind": "delay", "path": "/api/v3", "min_ms": 1, "max_ms": 6}'
double_ctl mv POST /_double/millionverifier/rules \
    '[{"domain": "flaky.example", "result": "error", "error": "Server busy, try later"}]' >/dev/null
export MILLIONVERIFIER_API_BASE=$mv_URL

N=10000
# lead i: every 100th address is undeliverable, 50 are at flaky.example
q "INSERT INTO marketplace.leads (lead_id, partner_id, email, submitted_at)
   SELECT md5('l' || i)::uuid, md5('p' || (i % 20))::uuid,
          CASE WHEN i <= 50 THEN 'lead' || i || '@flaky.example'
               WHEN i % 100 = 0 THEN 'invalid' || i || '@example.com'
               ELSE 'lead' || i || '@example.com' END, now()
     FROM generate_series(1, $N) i"
q "INSERT INTO marketplace.email_verification_queue (lead_id, partner_id, email, status)
   SELECT lead_id, partner_id, email, 'pending' FROM marketplace.leads"

start_conveyor c
# drain: the job fires every second, each run claims what is due
queue() { q "SELECT count(*) FROM marketplace.email_verification_queue WHERE status = '$1'"; }
paused=0
for _ in $(seq 300); do
    "$CONVEYOR_BIN" trigger processEmailVerificationQueue --reason test >/dev/null 2>&1 ||
        fail "trigger"
    verified=$(queue verified)
    if [ "$paused" = 0 ] && [ "$verified" -ge 3000 ]; then
        # the switch: no new call within a second
        "$CONVEYOR_BIN" pause --target millionverifier --reason "provider outage" >/dev/null ||
            fail "pause --target"
        t0=$(date +%s%3N)
        for _ in $(seq 30); do "$CONVEYOR_BIN" trigger processEmailVerificationQueue --reason test >/dev/null 2>&1; sleep 0.1; done
        late=$(jq -s --argjson t "$((t0 + 1000))" '[.[] | select(.start_ms > $t)] | length' "$T/mv.ledger")
        held=$(q "SELECT count(*) FROM conveyor.effects WHERE target = 'millionverifier' AND state = 'pending'")
        log "paused at $verified verified: $late calls started more than 1 s later; $held requests wait"
        [ "$late" = 0 ] || fail "$late calls were sent more than a second after the pause"
        [ "$held" -gt 0 ] || fail "no request waited during the pause: nothing to test"
        "$CONVEYOR_BIN" status >"$T/status.out" 2>&1 || fail "status"
        grep -q '^PAUSED target millionverifier' "$T/status.out" ||
            { cat "$T/status.out" >&2; fail "status does not show the paused target"; }
        "$CONVEYOR_BIN" resume --target millionverifier >/dev/null || fail "resume --target"
        paused=1
    fi
    [ "$(queue pending)" = 0 ] && [ "$(queue processing)" = 0 ] && break
    sleep 1
done
[ "$paused" = 1 ] || fail "the run never reached 3,000 verified leads"
[ "$(queue pending)" = 0 ] && [ "$(queue processing)" = 0 ] || fail "the queue did not drain"

[ "$(queue verified)" = $((N - 50)) ] || fail "$(queue verified) verified, expected $((N - 50))"
[ "$(queue failed)" = 50 ] || fail "$(queue failed) failed, expected the 50 flaky addresses"
[ "$(q "SELECT count(*) FROM marketplace.email_verification_queue WHERE status = 'failed' AND attempts = 3
        AND email LIKE '%@flaky.example'")" = 50 ] || fail "the flaky addresses did not stop at 3 attempts"
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE verification_status = 'invalid'")" = 100 ] ||
    fail "the undeliverable addresses are not marked invalid"
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE verification_status = 'ok'")" = $((N - 50 - 100)) ] ||
    fail "the deliverable addresses are not marked ok"
# the double's side: calls per address, and what was in flight
jq -r 'select(.path == "/api/v3/" or .path == "/api/v3") | .params.email' "$T/mv.ledger" |
    sort | uniq -c | awk '{ print $1 }' | sort -n | uniq -c >"$T/calls.txt"
[ "$(cat "$T/calls.txt" | tr -s ' ')" = "$(printf ' %d 1\n 50 3' $((N - 50)) | tr -s ' ')" ] ||
    { cat "$T/calls.txt" >&2; fail "not one call per address (three per flaky one)"; }
most=$(jq -s 'map(.in_flight) | max' "$T/mv.ledger")
stats_most=$(double_ctl mv GET /_double/stats | jq .max_in_flight)
log "calls: $(wc -l <"$T/mv.ledger"); at most $most in flight (the double's stats: $stats_most)"
[ "$most" -le 3 ] && [ "$stats_most" -le 3 ] || fail "more than 3 calls were in flight"
[ "$stats_most" = 3 ] || fail "never 3 calls in flight: the concurrency was not used"
if grep -rl -- "$MILLIONVERIFIER_API_KEY" "$T" >/dev/null 2>&1; then
    fail "the MillionVerifier key is in $(grep -rl -- "$MILLIONVERIFIER_API_KEY" "$T" | head -3)"
fi
echo "verification test: 1 passed, 0 failed"

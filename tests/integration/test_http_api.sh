# test_http_api.sh - the admin API's gate and a dead-letter retry through
# it. Every endpoint refuses without a token (401), with a wrong one (401)
# and, for changes, with the read-only token (403, and nothing changed);
# malformed JSON, unknown fields and bad values are 400 with a reason;
# unknown paths 404, wrong methods 405, oversized bodies 413; with no
# token configured the API is off (404). Then 400 leads, every 40th
# refused by a constraint (the test's "bug"): 10 dead letters, listed and
# shown through the API; after the fix, POST /dead-letters/retry applies
# each exactly once (the witnesses and the handler runs in the outbox), a
# second retry changes nothing, and the audit log names api:admin.
ADMIN=adm-$RANDOM$RANDOM$RANDOM
RO=ro-$RANDOM$RANDOM$RANDOM
export CONVEYOR_ADMIN_TOKEN=$ADMIN CONVEYOR_READONLY_TOKEN=$RO
start_broker
migrate
q "ALTER TABLE marketplace.leads ADD CONSTRAINT test_bug CHECK (email NOT LIKE '%@bad.example')"
start_conveyor run --http-port-file "$T/port"
http_port "$T/port"
wait_http "$HTTP/readyz" 200 60 '"ready"'
A="$HTTP/api/v1"

# method path body: every endpoint, with a body a writer could send
endpoints=(
    "GET /status -" "GET /topology -" "GET /schedules -" "GET /dead-letters -"
    "GET /dead-letters/1 -" "GET /switches -" "GET /effects -"
    'POST /pause {"scope":"domain","target":"leads","reason":"t"}'
    'POST /resume {"scope":"domain","target":"leads"}'
    'POST /dead-letters/retry {"ids":[1]}'
    'POST /dead-letters/discard {"ids":[1],"reason":"t"}'
    'POST /schedules/nope/trigger {"reason":"t"}'
    'POST /replay {"group":"conveyor.leads","from_offset":0}'
)
call() { # call TOKEN METHOD PATH BODY -> status code
    local auth=() data=()
    [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
    [ "$4" != - ] && data=(-H 'Content-Type: application/json' --data "$4")
    http_code "$A$3" -X "$2" "${auth[@]}" "${data[@]}"
}
for e in "${endpoints[@]}"; do
    read -r m p b <<<"$e"
    [ "$(call "" "$m" "$p" "$b")" = 401 ] || fail "$m $p without a token: not 401"
    [ "$(call "wrong" "$m" "$p" "$b")" = 401 ] || fail "$m $p with a wrong token: not 401"
    [ "$(call "${ADMIN}x" "$m" "$p" "$b")" = 401 ] || fail "$m $p with a longer token: not 401"
    [ "$(call "${ADMIN:0:8}" "$m" "$p" "$b")" = 401 ] || fail "$m $p with a prefix of the token: not 401"
    if [ "$m" = POST ]; then
        [ "$(call "$RO" "$m" "$p" "$b")" = 403 ] || fail "$m $p with the read-only token: not 403"
    else
        code=$(call "$RO" "$m" "$p" "$b")
        [ "$code" = 200 ] || [ "$p" = /dead-letters/1 -a "$code" = 404 ] ||
            fail "$m $p with the read-only token: $code"
    fi
done
grep -q "$ADMIN\|$RO" "$T"/*.log && fail "a token appears in a log"
[ "$(q "SELECT count(*) FROM conveyor.controls") $(q "SELECT count(*) FROM conveyor.audit_log")" = "0 0" ] ||
    fail "a refused request changed something"
log "${#endpoints[@]} endpoints: 401 without or with a wrong token, 403 for changes with the read-only token"
# a dry run changes nothing: the read-only token may ask for one
[ "$(call "$RO" POST /replay '{"group":"conveyor.leads","from_offset":0,"dry_run":true}')" = 200 ] ||
    fail "dry-run replay with the read-only token: $(cat "$T/http.body")"

bad() { # bad CODE PATTERN METHOD PATH BODY
    local code
    code=$(call "$ADMIN" "$3" "$4" "$5")
    [ "$code" = "$1" ] && grep -q "$2" "$T/http.body" ||
        fail "$3 $4 $5: expected $1 /$2/, got $code $(cat "$T/http.body")"
}
bad 400 'malformed JSON' POST /pause '{"scope": "domain",'
bad 400 'must be a JSON object' POST /pause '["domain"]'
bad 400 "unknown field 'colour'" POST /pause '{"scope":"domain","target":"leads","reason":"x","colour":1}'
bad 400 "field 'reason' is required" POST /pause '{"scope":"domain","target":"leads"}'
bad 400 "no domain 'nope'" POST /pause '{"scope":"domain","target":"nope","reason":"x"}'
bad 400 "expected all, domain, route, schedule or target" POST /pause '{"scope":"planet","target":"x","reason":"x"}'
bad 400 "field 'scope': expected a string" POST /pause '{"scope":7,"reason":"x"}'
bad 400 "field 'ids'" POST /dead-letters/retry '{"ids":["1"]}'
bad 400 'give ids or' POST /dead-letters/retry '{}'
bad 400 'status: expected' GET '/dead-letters?status=lost' -
bad 400 'not an RFC 3339 time' GET '/dead-letters?since=yesterday' -
bad 400 "no domain with group 'nope'" GET '/dead-letters?group=nope' -
bad 400 'not a dead letter id' GET /dead-letters/abc -
bad 400 'give one of from_time, from_offset' POST /replay '{"group":"conveyor.leads"}'
bad 400 "no domain with group" POST /replay '{"group":"nope","from_offset":0}'
bad 404 'no endpoint' GET /nothing -
bad 404 "no schedule 'nope'" POST /schedules/nope/trigger '{"reason":"x"}'
bad 405 'not allowed' DELETE /status -
head -c 70000 /dev/zero | tr '\0' 'a' >"$T/big.json"
code=$(http_code "$A/pause" -H "Authorization: Bearer $ADMIN" --data-binary @"$T/big.json")
[ "$code" = 413 ] || fail "a 70 kB body: $code"
for req in 'GARBAGE / HTTP/9\r\n\r\n' 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' \
           '\x00\xff\xfe\r\n\r\n' 'GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'; do
    (exec 3<>"/dev/tcp/127.0.0.1/${HTTP##*:}" && printf "$req" >&3 && timeout 5 cat <&3 >/dev/null) 2>/dev/null || true
done
[ "$(http_code "$HTTP/healthz")" = 200 ] || fail "the server did not survive a malformed request"
log "bad requests: 400/404/405/413 with a reason"

# the kill switch through the API, seen by `conveyor status`
[ "$(call "$ADMIN" POST /pause '{"scope":"route","target":"leads/marketplace.upload.completed","reason":"api test"}')" = 200 ] ||
    fail "pause: $(cat "$T/http.body")"
"$CONVEYOR_BIN" status >"$T/status.out" 2>&1 || fail "status"
grep -q '^PAUSED route leads/marketplace.upload.completed by api:admin' "$T/status.out" ||
    fail "status does not show the API's switch"
[ "$(call "$ADMIN" POST /resume '{"scope":"route","target":"leads/marketplace.upload.completed"}')" = 200 ] &&
    grep -q '"changed": true' "$T/http.body" || fail "resume: $(cat "$T/http.body")"

# dead letters, and a retry through the API
TOTAL=400
gen_leads 0 $TOTAL 0 | awk 'NR % 40 == 0 { sub(/@example\.com/, "@bad.example") } 1' |
    "$CONVEYOR_BIN" produce --type marketplace.lead.submitted --envelope 2>>"$T/produce.log" ||
    fail "produce"
wait_for "SELECT count(*) FROM conveyor.dead_letters" 10 120
wait_drained 60
[ "$(call "$RO" GET '/dead-letters?group=conveyor.leads&error=TEST_BUG&limit=1000' -)" = 200 ] || fail "dlq list"
[ "$(grep -c '"id":' "$T/http.body")" = 10 ] || fail "dlq list did not find 10: $(head -c 400 "$T/http.body")"
id=$(q "SELECT min(id) FROM conveyor.dead_letters")
[ "$(call "$RO" GET "/dead-letters/$id" -)" = 200 ] && grep -q 'bad.example' "$T/http.body" ||
    fail "dlq show does not decode the value: $(head -c 400 "$T/http.body")"
# the counters say the same as the tables
for _ in $(seq 50); do
    scrape
    [ "$(msum conveyor_dead_letters_open 'group="conveyor.leads"')" = 10 ] && break
    sleep 0.2
done
[ "$(msum conveyor_events_dead_lettered_total 'route="marketplace.lead.submitted"')" = 10 ] ||
    fail "dead_lettered_total is $(msum conveyor_events_dead_lettered_total), expected 10"
[ "$(msum conveyor_events_processed_total 'route="marketplace.lead.submitted"')" = $((TOTAL - 10)) ] ||
    fail "processed_total is $(msum conveyor_events_processed_total 'route="marketplace.lead.submitted"'), expected $((TOTAL - 10))"
[ "$(msum conveyor_dead_letters_open 'group="conveyor.leads"')" = 10 ] || fail "dead_letters_open is not 10"
q "ALTER TABLE marketplace.leads DROP CONSTRAINT test_bug"
[ "$(call "$ADMIN" POST /dead-letters/retry '{"all":true,"group":"conveyor.leads","error":"test_bug","reason":"fixed"}')" = 200 ] ||
    fail "retry: $(cat "$T/http.body")"
grep -q '"count": 10' "$T/http.body" || fail "retry did not re-queue 10: $(head -c 300 "$T/http.body")"
wait_for "SELECT count(*) FROM marketplace.leads" $TOTAL 60
wait_drained 60
check_witnesses $TOTAL
# the counter moves after the commit the tables show: give it 10 s
for _ in $(seq 50); do
    scrape
    [ "$(msum conveyor_events_processed_total 'route="marketplace.lead.submitted"')" = $TOTAL ] && break
    sleep 0.2
done
[ "$(msum conveyor_events_processed_total 'route="marketplace.lead.submitted"')" = $TOTAL ] ||
    fail "processed_total after the retry is $(msum conveyor_events_processed_total 'route="marketplace.lead.submitted"'), expected $TOTAL"
[ "$(call "$ADMIN" POST /dead-letters/retry '{"all":true,"group":"conveyor.leads"}')" = 200 ] &&
    grep -q '"count": 0' "$T/http.body" || fail "a second retry changed something: $(head -c 300 "$T/http.body")"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE action = 'dlq retry' AND actor = 'api:admin' AND reason = 'fixed'")" = 10 ] ||
    fail "the retries were not audited as api:admin"
[ "$(q "SELECT count(*) FROM conveyor.dead_letters WHERE status = 'retried' AND resolved_by = 'api:admin'")" = 10 ] ||
    fail "the dead letters were not marked retried by api:admin"
log "DLQ retry through the API: each of 10 events applied exactly once, audited as api:admin"

# with no token configured the API is off
CONVEYOR_ADMIN_TOKEN= CONVEYOR_READONLY_TOKEN= start_conveyor off --relay-only --http-port-file "$T/port-off"
HTTP_ON=$HTTP
http_port "$T/port-off"
[ "$(http_code "$HTTP/api/v1/status" -H "Authorization: Bearer $ADMIN")" = 404 ] &&
    grep -q 'the admin API is off' "$T/http.body" || fail "the API is not off without tokens"
[ "$(http_code "$HTTP/metrics")" = 200 ] || fail "metrics without the API"
HTTP=$HTTP_ON
log "without tokens the API is off (404) and the rest is served"

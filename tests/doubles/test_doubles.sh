#!/usr/bin/env bash
# The doubles as the effect runner's tests will meet them: each one started
# as a real process, driven with curl over TCP, and checked for what it
# promises: Stripe's idempotency and errors, MillionVerifier's errors as
# HTTP 200 and its credits, storage ranges and stalls, every fault kind, a
# ledger line per call that never holds a key, and the in-flight counts.
# Needs no Postgres and no broker. Waits for conditions, never for time.
set -uo pipefail
bin=${CONVEYOR_DOUBLE_BIN:?}
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
passed=0 failed=0
api_calls=0 # API requests made to the double under test (not control ones)

fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}
# eq WHAT GOT WANT
eq() {
    if [ "$2" = "$3" ]; then passed=$((passed + 1)); else fail "$1: got '$2', want '$3'"; fi
}
# is WHAT -- command: passes if the command succeeds
is() {
    local what=$1
    shift 2
    if "$@"; then passed=$((passed + 1)); else fail "$what"; fi
}
# wait_for SECONDS WHAT -- command: polls until the command succeeds
wait_for() {
    local limit=$1 what=$2 deadline=$((SECONDS + $1))
    shift 3
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            fail "$what (not within ${limit}s)"
            return 1
        fi
        sleep 0.02
    done
}

# start NAME ARGS...: runs a double; its address goes into $NAME
start() {
    local name=$1
    shift
    "$bin" "$@" --port-file "$T/$name.port" --ledger "$T/$name.ledger" \
        2>"$T/$name.log" &
    pids+=($!)
    eval "${name}_pid=$!"
    if ! wait_for 20 "the $name double wrote its port file" -- test -s "$T/$name.port"; then
        cat "$T/$name.log" >&2
        exit 1
    fi
    eval "$name=http://$(cat "$T/$name.port")"
}

# call CURL-ARGS...: an API request; sets $code, $body and headers in $T/head
call() {
    api_calls=$((api_calls + 1))
    code=$(curl -s -o "$T/body" -D "$T/head" -w '%{http_code}' "$@")
    body=$(cat "$T/body")
}
# ctl METHOD URL [JSON]: a control request; sets $body
ctl() {
    if [ $# -ge 3 ]; then
        body=$(curl -s -X "$1" -H 'Content-Type: application/json' -d "$3" "$2")
    else
        body=$(curl -s -X "$1" "$2")
    fi
}
hdr() { grep -i "^$1:" "$T/head" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
j() { jq -r "$1" <<<"$body"; }
stat_of() { curl -s "$1/_double/stats" | jq -r "$2"; }
ledger_lines() { wc -l <"$T/$1.ledger" | tr -d ' '; }
# conditions for wait_for, evaluated anew at each try
stat_is() { test "$(stat_of "$1" "$2")" "$3" "$4"; }
size_is() { test "$(stat -c %s "$1" 2>/dev/null)" = "$2"; }

# ==== Stripe ====
SK="sk_test_dbl$RANDOM$RANDOM$RANDOM"
cat >"$T/accounts.json" <<'EOF'
{"accounts": {"acct_ok": {"transfers": "active"},
              "acct_list": {"transfers": true},
              "acct_off": {"transfers": "inactive"}},
 "balance": {"usd": 1000000, "eur": 500}}
EOF
STRIPE_SECRET_KEY=$SK start stripe stripe --accounts "$T/accounts.json" --seed 7
auth=(-H "Authorization: Bearer $SK")
tr_args=(-d amount=1500 -d currency=usd -d destination=acct_ok)

# authentication: missing, wrong, basic, bearer
call "$stripe/v1/balance"
eq "no key" "$code $(j .error.type) $(hdr Stripe-Should-Retry)" "401 invalid_request_error false"
is "Request-Id on a 401" -- test -n "$(hdr Request-Id)"
call -H "Authorization: Bearer sk_test_wrong" "$stripe/v1/transfers" "${tr_args[@]}"
eq "wrong key" "$code" 401
call -u "$SK:" "$stripe/v1/balance"
eq "basic auth" "$code $(j '.available[] | select(.currency=="eur") | .amount')" "200 500"
call "${auth[@]}" "$stripe/v1/balance"
eq "bearer auth" "$code" 200

# a transfer, then the same key: replayed, not created twice
call "${auth[@]}" -H 'Idempotency-Key: k-create' "$stripe/v1/transfers" \
    "${tr_args[@]}" -d 'metadata[payout]=p1' -d transfer_group=g1
tr1=$(j .id)
eq "create" "$code $(j .object) $(j .amount) $(j .reversed) $(j .metadata.payout)" \
    "200 transfer 1500 false p1"
is "transfer id shape" -- grep -qE '^tr_[0-9A-Za-z]{24}$' <<<"$tr1"
is "no Stripe-Should-Retry on success" -- test -z "$(hdr Stripe-Should-Retry)"
first_body=$body
call "${auth[@]}" -H 'Idempotency-Key: k-create' "$stripe/v1/transfers" \
    -d transfer_group=g1 -d 'metadata[payout]=p1' "${tr_args[@]}"
eq "replay" "$code $(hdr Idempotent-Replayed)" "200 true"
eq "replayed body" "$body" "$first_body"
eq "one transfer after a replay" "$(stat_of "$stripe" .transfers)" 1
call "${auth[@]}" -H 'Idempotency-Key: k-create' "$stripe/v1/transfers" \
    -d amount=1501 -d currency=usd -d destination=acct_ok
eq "same key, other parameters" "$code $(j .error.type) $(hdr Stripe-Should-Retry)" \
    "400 idempotency_error false"

# validation failures are not saved under the key
call "${auth[@]}" -H 'Idempotency-Key: k-valid' "$stripe/v1/transfers" \
    -d currency=usd -d destination=acct_ok
eq "missing amount" "$code $(j .error.code) $(j .error.param)" "400 parameter_missing amount"
call "${auth[@]}" -H 'Idempotency-Key: k-valid' "$stripe/v1/transfers" "${tr_args[@]}"
eq "key reusable after a validation error" "$code $(hdr Idempotent-Replayed)" "200 "
call "${auth[@]}" "$stripe/v1/transfers" "${tr_args[@]}" -d bogus=1
eq "unknown parameter" "$code $(j .error.code) $(j .error.param)" "400 parameter_unknown bogus"
call "${auth[@]}" "$stripe/v1/transfers" -d amount=abc -d currency=usd -d destination=acct_ok
eq "invalid integer" "$code $(j .error.code)" "400 parameter_invalid_integer"

# balance_insufficient is saved under its key and replayed
call "${auth[@]}" -H 'Idempotency-Key: k-poor' "$stripe/v1/transfers" \
    -d amount=600 -d currency=eur -d destination=acct_ok
eq "balance_insufficient" "$code $(j .error.code) $(hdr Stripe-Should-Retry)" \
    "400 balance_insufficient false"
ctl POST "$stripe/_double/stripe/config" '{"balance": {"eur": 100000}}'
eq "balance raised" "$(j .balance.eur)" 100000
call "${auth[@]}" -H 'Idempotency-Key: k-poor' "$stripe/v1/transfers" \
    -d amount=600 -d currency=eur -d destination=acct_ok
eq "balance_insufficient replayed" "$code $(j .error.code) $(hdr Idempotent-Replayed)" \
    "400 balance_insufficient true"
call "${auth[@]}" -H 'Idempotency-Key: k-rich' "$stripe/v1/transfers" \
    -d amount=600 -d currency=eur -d destination=acct_ok
eq "a new key sees the new balance" "$code" 200
call "${auth[@]}" "$stripe/v1/balance"
eq "balance debited" "$(j '.available[] | select(.currency=="eur") | .amount')" 99400

# destination accounts
call "${auth[@]}" "$stripe/v1/transfers" -d amount=1 -d currency=usd -d destination=acct_off
eq "no transfers capability" "$code $(j .error.code) $(j .error.param)" \
    "400 insufficient_capabilities_for_transfer destination"
call "${auth[@]}" "$stripe/v1/transfers" -d amount=1 -d currency=usd -d destination=acct_nope
eq "unknown account" "$code $(j .error.code) $(j .error.message)" \
    "400 resource_missing No such destination: 'acct_nope'"
ctl POST "$stripe/_double/stripe/config" '{"accounts": {"acct_off": {"transfers": "active"}}}'
call "${auth[@]}" "$stripe/v1/transfers" -d amount=1 -d currency=usd -d destination=acct_off
eq "capability enabled at run time" "$code" 200
ctl POST "$stripe/_double/stripe/config" '{"accounts": {"nope": {"transfers": 3}}}'
is "bad config refused" -- grep -q expected <<<"$body"

# a request in flight holds its key: 409, then the answer, then a replay
ctl POST "$stripe/_double/faults" '{"kind": "delay", "ms": 60000, "method": "POST", "path": "/v1/transfers", "count": 1}'
keys_before=$(stat_of "$stripe" .idempotency_keys)
api_calls=$((api_calls + 1))
curl -s -o "$T/slow.body" -w '%{http_code}' "${auth[@]}" -H 'Idempotency-Key: k-slow' \
    "$stripe/v1/transfers" "${tr_args[@]}" >"$T/slow.code" &
slow=$!
wait_for 20 "the slow request claimed its key" -- \
    stat_is "$stripe" .idempotency_keys -gt "$keys_before"
call "${auth[@]}" -H 'Idempotency-Key: k-slow' "$stripe/v1/transfers" "${tr_args[@]}"
eq "conflict in flight" "$code $(j .error.code) $(hdr Stripe-Should-Retry)" \
    "409 idempotency_key_in_use true"
ctl POST "$stripe/_double/release"
wait "$slow"
eq "the slow request succeeded" "$(cat "$T/slow.code")" 200
call "${auth[@]}" -H 'Idempotency-Key: k-slow' "$stripe/v1/transfers" "${tr_args[@]}"
eq "replay after the conflict" "$code $(j .id) $(hdr Idempotent-Replayed)" \
    "200 $(jq -r .id "$T/slow.body") true"

# keys expire after 24 hours of the double's clock
call "${auth[@]}" -H 'Idempotency-Key: k-old' "$stripe/v1/transfers" "${tr_args[@]}"
old_id=$(j .id)
ctl POST "$stripe/_double/clock" '{"advance_s": 86401}'
eq "clock advanced" "$(j .offset_ms)" 86401000
call "${auth[@]}" -H 'Idempotency-Key: k-old' "$stripe/v1/transfers" "${tr_args[@]}"
is "an expired key runs again" -- test "$code" = 200 -a "$(j .id)" != "$old_id" -a -z "$(hdr Idempotent-Replayed)"

# listing: 120 transfers in three groups, a 1000 s apart
for g in 40 50 30; do
    for _ in $(seq "$g"); do
        call "${auth[@]}" "$stripe/v1/transfers" -d amount=7 -d currency=usd \
            -d destination=acct_list -d "transfer_group=size$g"
        [ "$code" = 200 ] || fail "listing setup: $code $body"
    done
    ctl POST "$stripe/_double/clock" '{"advance_s": 1000}'
done
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list&limit=100"
eq "page 1" "$code $(j '.data | length') $(j .has_more) $(j .object) $(j .url)" \
    "200 100 true list /v1/transfers"
page1=$(j '[.data[].id] | join(" ")')
is "newest first" -- test "$(j '[.data[].created] == ([.data[].created] | sort | reverse)')" = true
eq "newest is of the last group" "$(j '.data[0].transfer_group')" size30
last=$(j '.data[99].id')
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list&limit=100&starting_after=$last"
eq "page 2" "$(j '.data | length') $(j .has_more) $(j '.data[19].transfer_group')" "20 false size40"
all="$page1 $(j '[.data[].id] | join(" ")')"
eq "120 distinct transfers" "$(tr ' ' '\n' <<<"$all" | sort -u | wc -l | tr -d ' ')" 120
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list&limit=100&ending_before=$(j '.data[0].id')"
eq "ending_before returns page 1" "$(j '[.data[].id] | join(" ")')" "$page1"
call "${auth[@]}" "$stripe/v1/transfers?transfer_group=size50&limit=100"
lo=$(j '[.data[].created] | min')
hi=$(j '[.data[].created] | max')
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list&limit=100&created%5Bgte%5D=$lo&created%5Blte%5D=$hi"
eq "created[gte]/[lte]" "$(j '.data | length') $(j '[.data[].transfer_group] | unique | join(",")')" "50 size50"
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list&limit=100&created%5Bgt%5D=$hi"
eq "created[gt]" "$(j '.data | length') $(j '.data[0].transfer_group')" "30 size30"
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list&limit=100&created%5Blt%5D=$lo"
eq "created[lt]" "$(j '.data | length')" 40
call "${auth[@]}" "$stripe/v1/transfers?destination=acct_list"
eq "default limit" "$(j '.data | length') $(j .has_more)" "10 true"
call "${auth[@]}" "$stripe/v1/transfers?limit=101"
eq "limit above 100" "$code $(j .error.param)" "400 limit"
call "${auth[@]}" "$stripe/v1/transfers?limit=0"
eq "limit 0" "$code" 400
call "${auth[@]}" "$stripe/v1/transfers/$tr1"
eq "retrieve" "$code $(j .id)" "200 $tr1"
call "${auth[@]}" "$stripe/v1/transfers/tr_nope"
eq "retrieve unknown" "$code $(j .error.code)" "404 resource_missing"

# faults: 429 and 5xx are answered before execution, so nothing is saved
ctl POST "$stripe/_double/faults" '{"kind": "status", "status": 429, "retry_after": 2, "count": 1}'
call "${auth[@]}" -H 'Idempotency-Key: k-429' "$stripe/v1/transfers" "${tr_args[@]}"
eq "429" "$code $(hdr Retry-After) $(hdr Stripe-Should-Retry) $(j .error.code)" "429 2 true rate_limit"
call "${auth[@]}" -H 'Idempotency-Key: k-429' "$stripe/v1/transfers" "${tr_args[@]}"
eq "after a 429 the key runs" "$code $(hdr Idempotent-Replayed)" "200 "
ctl POST "$stripe/_double/faults" '[{"kind": "status", "status": 500, "count": 1}, {"kind": "status", "status": 503, "count": 1}]'
call "${auth[@]}" "$stripe/v1/balance"
eq "500" "$code $(j .error.type) $(hdr Stripe-Should-Retry)" "500 api_error true"
call "${auth[@]}" "$stripe/v1/balance"
eq "503" "$code" 503
call "${auth[@]}" "$stripe/v1/balance"
eq "counted faults are spent" "$code" 200

# closing the connection after the work: the transfer exists, the client
# hears nothing, a retry with the key gets it
ctl POST "$stripe/_double/faults" '{"kind": "close", "count": 1, "path": "/v1/transfers", "method": "POST"}'
n_before=$(stat_of "$stripe" .transfers)
call "${auth[@]}" -H 'Idempotency-Key: k-close' "$stripe/v1/transfers" "${tr_args[@]}"
eq "closed without an answer" "$code" 000
eq "the closed request's transfer exists" "$(stat_of "$stripe" .transfers)" $((n_before + 1))
closed_line=$(tail -1 "$T/stripe.ledger")
eq "ledgered as closed" "$(jq -r '"\(.status) \(.would_status) \(.faults[0].kind)"' <<<"$closed_line")" "closed 200 close"
call "${auth[@]}" -H 'Idempotency-Key: k-close' "$stripe/v1/transfers" "${tr_args[@]}"
eq "retry after the close" "$code $(j .id) $(hdr Idempotent-Replayed)" \
    "200 $(jq -r .object.id <<<"$closed_line") true"

# a fraction of requests, from a seeded generator, on one path only
ctl POST "$stripe/_double/faults" '{"kind": "status", "status": 500, "probability": 0.5, "path": "/v1/balance"}'
fives=0
for _ in $(seq 100); do
    call "${auth[@]}" "$stripe/v1/balance"
    [ "$code" = 500 ] && fives=$((fives + 1))
done
is "about half failed ($fives of 100)" -- test "$fives" -ge 25 -a "$fives" -le 75
call "${auth[@]}" "$stripe/v1/transfers/$tr1"
eq "other paths untouched" "$code" 200
ctl DELETE "$stripe/_double/faults"
eq "faults reset" "$(j '.rules | length')" 0
call "${auth[@]}" "$stripe/v1/balance"
eq "no fault after reset" "$code" 200

# delays: fixed and drawn from a range
ctl POST "$stripe/_double/faults" '[{"kind": "delay", "ms": 300, "count": 1}, {"kind": "delay", "min_ms": 100, "max_ms": 150, "count": 1}]'
api_calls=$((api_calls + 2))
t1=$(curl -s -o /dev/null -w '%{time_total}' "${auth[@]}" "$stripe/v1/balance")
t2=$(curl -s -o /dev/null -w '%{time_total}' "${auth[@]}" "$stripe/v1/balance")
is "fixed delay ($t1 s)" -- awk -v t="$t1" 'BEGIN { exit !(t >= 0.3) }'
is "uniform delay ($t2 s)" -- awk -v t="$t2" 'BEGIN { exit !(t >= 0.1) }'

# five requests held at once: the double saw exactly five in flight
ctl POST "$stripe/_double/stats/reset"
ctl POST "$stripe/_double/faults" '{"kind": "delay", "ms": 60000, "count": 5}'
held=()
for i in 1 2 3 4 5; do
    curl -s -o /dev/null "${auth[@]}" "$stripe/v1/balance" &
    held+=($!)
done
api_calls=$((api_calls + 5))
wait_for 20 "five requests in flight" -- stat_is "$stripe" .in_flight = 5
ctl POST "$stripe/_double/release"
wait "${held[@]}"
eq "max in flight" "$(stat_of "$stripe" .max_in_flight) $(stat_of "$stripe" .in_flight)" "5 0"
eq "stats after reset count the five" "$(stat_of "$stripe" .requests)" 5

# the ledger: a line per API call, none with the key
eq "ledger lines = API calls" "$(ledger_lines stripe)" "$api_calls"
eq "GET /_double/ledger = the file" "$(curl -s "$stripe/_double/ledger" | md5sum)" "$(md5sum <"$T/stripe.ledger")"
eq "ledger since" "$(curl -s "$stripe/_double/ledger?since=$((api_calls - 3))" | jq -r .seq | tr '\n' ' ')" \
    "$((api_calls - 2)) $((api_calls - 1)) $api_calls "
eq "replays in the ledger" "$(jq -s '[.[] | select(.replayed)] | length' "$T/stripe.ledger")" 4
eq "refused keys in the ledger" "$(jq -s '[.[] | select(.key_ok == false)] | length' "$T/stripe.ledger")" 2
is "Stripe key never in the ledger or the log" -- \
    test -z "$(grep -F "$SK" "$T/stripe.ledger" "$T/stripe.log"; curl -s "$stripe/_double/ledger" | grep -F "$SK")"

# SIGTERM with a request held: the double stops at once and cleanly
ctl POST "$stripe/_double/faults" '{"kind": "delay", "ms": 600000}'
curl -s -o /dev/null "${auth[@]}" "$stripe/v1/balance" &
wait_for 20 "a request held" -- stat_is "$stripe" .in_flight = 1
kill -TERM "$stripe_pid"
wait "$stripe_pid"
eq "exit status on SIGTERM" $? 0

# ==== MillionVerifier ====
MK="mvkey$RANDOM$RANDOM$RANDOM"
api_calls=0
MILLIONVERIFIER_API_KEY=$MK start mv millionverifier --credits 6
v() { call -G "$mv/api/v3/" --data-urlencode "api=${2:-$MK}" --data-urlencode "email=$1"; }
v alice@example.com
eq "ok" "$code $(j .result) $(j .resultcode) $(j .quality) $(j .subresult) $(j .credits) $(j .free) $(j .role) $(j .livemode)" \
    "200 ok 1 good ok 5 false false true"
is "answer has every field" -- test "$(j 'keys | sort | join(",")')" = \
    "credits,didyoumean,email,error,executiontime,free,livemode,quality,result,resultcode,role,subresult"
v invalid.bob@example.com
eq "invalid" "$(j .result) $(j .resultcode) $(j .quality)" "invalid 6 bad"
v unknown7@example.com
eq "unknown" "$(j .result) $(j .resultcode)" "unknown 3"
v x@catchall.example
eq "catch_all" "$(j .result) $(j .resultcode) $(j .quality)" "catch_all 2 risky"
v x@mailinator.com
eq "disposable" "$(j .result) $(j .resultcode)" "disposable 5"
v info@gmial.com
eq "role, typo" "$(j .result) $(j .role) $(j .didyoumean) $(j .credits)" "ok true info@gmail.com 0"
v carol@example.com
eq "no credits: an error as HTTP 200" "$code $(j .result) $(j .resultcode) $(j .error)" \
    "200 error 4 Insufficient credits"
v carol@example.com "$MK-wrong"
eq "wrong key: an error as HTTP 200" "$code $(j .result) $(j .error) $(j .credits) $(j .quality)" \
    "200 error Apikey not found 0 null"
ctl POST "$mv/_double/millionverifier/credits" '{"credits": 100}'
call "$mv/api/v3/?api=$MK"
eq "missing email" "$code $(j .result) $(j .error)" "200 error Missing email"
call "$mv/api/v3/?api=$MK&email=a@example.com&timeout=99"
eq "timeout out of range" "$(j .result) $(j .error)" "error Unsupported timeout value"
ctl POST "$mv/_double/millionverifier/rules" '[{"email": "alice@example.com", "result": "invalid", "subresult": "mailbox_full"}]'
v alice@example.com
eq "rule override" "$(j .result) $(j .subresult) $(j .credits)" "invalid mailbox_full 99"
ctl DELETE "$mv/_double/millionverifier/rules"
v alice@example.com
eq "rules reset" "$(j .result)" ok
ctl POST "$mv/_double/faults" '{"kind": "status", "status": 500, "count": 1}'
v alice@example.com
eq "MillionVerifier 500" "$code" 500
eq "verified counted" "$(stat_of "$mv" .verified) $(stat_of "$mv" .credits)" "8 98"
eq "MillionVerifier ledger lines" "$(ledger_lines mv)" "$api_calls"
is "MillionVerifier key never in the ledger or the log" -- \
    test -z "$(grep -F "$MK" "$T/mv.ledger" "$T/mv.log")"
eq "key_ok in the ledger" "$(jq -s '[.[] | select(.key_ok == false)] | length' "$T/mv.ledger")" 1

# ==== storage ====
SKEY="stkey$RANDOM$RANDOM"
mkdir -p "$T/root/uploads/partner"
seq 1 20000 | sed 's/$/,lead@example.com,Acme/' >"$T/root/uploads/partner/leads.csv"
f=$T/root/uploads/partner/leads.csv
size=$(stat -c %s "$f")
api_calls=0
STORAGE_SERVICE_KEY=$SKEY start st storage --root "$T/root"
sauth=(-H "Authorization: Bearer $SKEY")
call "$st/uploads/partner/leads.csv"
eq "storage without a key" "$code" 401
call "${sauth[@]}" "$st/uploads/partner/leads.csv"
eq "whole object" "$code $(hdr Content-Length) $(hdr Accept-Ranges)" "200 $size bytes"
is "same bytes" -- cmp -s "$T/body" "$f"
etag=$(hdr ETag)
is "ETag" -- test -n "$etag"
call -H "apikey: $SKEY" "$st/storage/v1/object/uploads/partner/leads.csv"
eq "Supabase path and apikey header" "$code $(hdr ETag)" "200 $etag"
call "${sauth[@]}" -H 'Range: bytes=1000-' "$st/uploads/partner/leads.csv"
eq "range from" "$code $(hdr Content-Range) $(hdr Content-Length)" \
    "206 bytes 1000-$((size - 1))/$size $((size - 1000))"
is "range bytes" -- cmp -s "$T/body" <(tail -c +1001 "$f")
call "${sauth[@]}" -H 'Range: bytes=10-19' "$st/uploads/partner/leads.csv"
eq "range from-to" "$code $(wc -c <"$T/body" | tr -d ' ')" "206 10"
call "${sauth[@]}" -H 'Range: bytes=-5' "$st/uploads/partner/leads.csv"
eq "suffix range" "$body" "$(tail -c 5 "$f")"
call "${sauth[@]}" -H "Range: bytes=$size-" "$st/uploads/partner/leads.csv"
eq "unsatisfiable" "$code $(hdr Content-Range)" "416 bytes */$size"
call "${sauth[@]}" -H 'Range: bytes=1000-' -H 'If-Range: "other"' "$st/uploads/partner/leads.csv"
eq "If-Range mismatch: the whole object" "$code" 200
call "${sauth[@]}" -I "$st/uploads/partner/leads.csv"
eq "HEAD" "$code $(hdr Content-Length)" "200 $size"
call "${sauth[@]}" "$st/uploads/partner/missing.csv"
eq "missing object" "$code $(j .error)" "404 not_found"
call "${sauth[@]}" --path-as-is "$st/uploads/../../etc/passwd"
eq "no way out of the root" "$code" 400

# a stalled download holds the connection; the reader resumes with a range
ctl POST "$st/_double/faults" '{"kind": "stall", "after_bytes": 5000, "count": 1}'
api_calls=$((api_calls + 1))
curl -s -N -o "$T/stalled" "${sauth[@]}" "$st/uploads/partner/leads.csv" &
stalled=$!
wait_for 20 "the first 5000 bytes arrived" -- size_is "$T/stalled" 5000
is "the connection is held open" -- kill -0 "$stalled"
ctl POST "$st/_double/release"
wait "$stalled"
eq "the stalled download ended short" "$? $(stat -c %s "$T/stalled")" "18 5000"
call "${sauth[@]}" -H 'Range: bytes=5000-' "$st/uploads/partner/leads.csv"
is "resumed download is whole" -- cmp -s <(cat "$T/stalled" "$T/body") "$f"
ctl POST "$st/_double/faults" '{"kind": "throttle", "bytes_per_s": 400000, "count": 1}'
api_calls=$((api_calls + 1))
t=$(curl -s -o "$T/slow.csv" -w '%{time_total}' "${sauth[@]}" "$st/uploads/partner/leads.csv")
is "throttled ($size bytes in $t s)" -- awk -v t="$t" -v s="$size" 'BEGIN { exit !(t >= 0.8 * s / 400000) }'
is "throttled bytes intact" -- cmp -s "$T/slow.csv" "$f"
ctl POST "$st/_double/faults" '{"kind": "status", "status": 429, "retry_after": 1, "count": 1}'
call "${sauth[@]}" "$st/uploads/partner/leads.csv"
eq "storage 429" "$code $(hdr Retry-After)" "429 1"
eq "storage ledger lines" "$(ledger_lines st)" "$api_calls"
is "storage key never in the ledger or the log" -- test -z "$(grep -F "$SKEY" "$T/st.ledger" "$T/st.log")"

# every double stops cleanly (under the sanitizers: without a leak)
for d in mv st; do
    pid_var=${d}_pid
    kill -TERM "${!pid_var}"
    wait "${!pid_var}"
    eq "$d exit status on SIGTERM" $? 0
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

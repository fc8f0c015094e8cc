# Payouts through effects against the Stripe double, three ways:
#   1. a storm of 429s (with Retry-After) and 500s: every retry waits what
#      Retry-After asks, no two calls start closer than the rate limit
#      allows, and every payout is paid once in the end;
#   2. manual payouts raced against the weekly run for the same partners,
#      on two consumer processes: one transfer per partner;
#   3. reconciliation over more than a page of transfers finds each
#      planted mismatch (a transfer missing, an amount that differs, a
#      transfer without a payout) and no other;
# and the Stripe key appears in no log line, no status output and no API
# answer.
export CONVEYOR_TOPOLOGY=$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg
export STRIPE_SECRET_KEY=sk_test_payouts_$RANDOM$RANDOM$RANDOM
start_broker
migrate
start_double stripe stripe --seed 11
double_ctl stripe POST /_double/stripe/config '{"accounts": {"*": {"transfers": "active"}}}' >/dev/null
export STRIPE_API_BASE=$stripe_URL

# seed_partners FROM TO: partners FROM..TO, each with 2 payable commissions
seed_partners() {
    q "INSERT INTO marketplace.partners (partner_id, name, stripe_account_id, payouts_enabled)
       SELECT md5('p' || i)::uuid, 'partner ' || i, 'acct_' || i, true
         FROM generate_series($1, $2) i"
    q "INSERT INTO marketplace.commissions (commission_id, partner_id, amount_cents, state, earned_at, payable_at)
       SELECT md5('c' || i || '/' || k)::uuid, md5('p' || i)::uuid, 1500 + i * 3 + k,
              'payable', now() - interval '10 days', now()
         FROM generate_series($1, $2) i, generate_series(1, 2) k"
}
transfers_made() {
    jq -s '[.[] | select(.method == "POST" and .path == "/v1/transfers"
            and .object != null and .object.id != null)] | length' "$T/stripe.ledger"
}

start_conveyor c1
C1=$LAST_PID

# ---- 1. the storm ----------------------------------------------------
seed_partners 1 60
double_ctl stripe POST /_double/faults \
    '[{"kind": "status", "status": 429, "retry_after": 2, "path": "/v1/transfers", "count": 25},
      {"kind": "status", "status": 500, "path": "/v1/transfers", "probability": 0.15}]' >/dev/null
"$CONVEYOR_BIN" trigger weeklyPartnerPayouts --reason "storm" >/dev/null || fail "trigger"
wait_for "SELECT count(*) FROM marketplace.payouts WHERE state = 'paid'" 60 180
double_ctl stripe POST /_double/faults/reset >/dev/null
[ "$(transfers_made)" = 60 ] || fail "$(transfers_made) transfers for 60 payouts"
jq -s -r '.[] | select(.path == "/v1/transfers" and .method == "POST")
          | [.start_ms, .idempotency_key, .status] | @tsv' "$T/stripe.ledger" >"$T/storm.tsv"
n429=$(awk -F'\t' '$3 == 429' "$T/storm.tsv" | wc -l)
n500=$(awk -F'\t' '$3 == 500' "$T/storm.tsv" | wc -l)
[ "$n429" = 25 ] && [ "$n500" -gt 0 ] || fail "the storm did not happen: $n429 429s, $n500 500s"
# after a 429 with Retry-After: 2, the same key comes back 2 s later at
# the earliest
early=$(awk -F'\t' '{ if (($2 in last) && st[$2] == 429 && $1 - last[$2] < 2000) n++;
               last[$2] = $1; st[$2] = $3 } END { print n + 0 }' "$T/storm.tsv")
[ "$early" = 0 ] || fail "$early retries came sooner than Retry-After asked"
# rate_per_s 25 with a burst of 1: the runner starts calls at least 40 ms
# apart. The double sees them arrive with the machine's delivery jitter, so
# the check is the rate over windows: any 11 consecutive calls span at least
# 10 x 40 ms, less 100 ms for one call's delivery delay. Without the limit,
# one call at a time against a double that answers at once, 11 calls take a
# few ms each.
sort -n "$T/storm.tsv" | cut -f1 >"$T/starts"
dense=$(awk 'NR > 10 && $1 - t[(NR - 10) % 10] < 300 { n++ } { t[NR % 10] = $1 } END { print n + 0 }' "$T/starts")
[ "$dense" = 0 ] || fail "$dense windows of 11 calls within 300 ms: faster than rate_per_s 25"
[ "$(wc -l <"$T/starts")" -gt 11 ] || fail "too few calls to judge the rate"
log "storm: $n429 429s and $n500 500s; every retry waited for Retry-After and the rate; 60 payouts paid once"

# ---- 2. manual payouts raced against the weekly run -------------------
seed_partners 61 80
start_conveyor c2 --domain payouts --no-relay --no-ticker --no-effects
wait_for "SELECT count(*) FROM conveyor.consumer_state WHERE group_id = 'conveyor.payouts'" 2 60
before=$(transfers_made)
for i in $(seq 61 80); do
    q "SELECT md5('p' || $i)::uuid" | sed 's/.*/{"partnerId":"&"}/'
done | "$CONVEYOR_BIN" produce --type marketplace.payout.manual >/dev/null 2>&1 &
producer=$!
"$CONVEYOR_BIN" trigger weeklyPartnerPayouts --reason "race" >/dev/null || fail "trigger"
wait "$producer" || fail "produce"
wait_for "SELECT count(*) FROM marketplace.payouts p WHERE p.state = 'paid' AND p.partner_id IN
          (SELECT md5('p' || i)::uuid FROM generate_series(61, 80) i)" 20 120
wait_drained 60
[ "$(($(transfers_made) - before))" = 20 ] || fail "$(($(transfers_made) - before)) transfers for 20 raced partners"
runs=$(q "SELECT string_agg(DISTINCT split_part(run, ':', 1), ',') FROM marketplace.payouts p
          WHERE p.partner_id IN (SELECT md5('p' || i)::uuid FROM generate_series(61, 80) i)")
[ "$(q "SELECT count(*) FROM marketplace.commissions c WHERE c.state = 'paid' AND c.partner_id IN
        (SELECT md5('p' || i)::uuid FROM generate_series(61, 80) i)")" = 40 ] ||
    fail "the raced partners' commissions were not all paid once"
log "race: 20 partners, manual and weekly payouts ($runs) raced: one transfer each"

# ---- 3. reconciliation ----------------------------------------------
seed_partners 81 130
"$CONVEYOR_BIN" trigger weeklyPartnerPayouts --reason "before reconciliation" >/dev/null || fail "trigger"
wait_for "SELECT count(*) FROM marketplace.payouts WHERE state = 'paid'" 130 120
# plant: a payout whose transfer Stripe does not have, an amount that
# differs, a transfer no payout knows
missing=$(q "INSERT INTO marketplace.payouts (payout_id, partner_id, run, amount_cents,
             state, idempotency_key, transfer_id, transfer_created, paid_at)
             VALUES (md5('planted')::uuid, md5('p81')::uuid, 'manual:planted', 4200, 'paid',
             'payout-planted', 'tr_planted_missing', now() - interval '1 hour', now())
             RETURNING payout_id")
differs=$(q "UPDATE marketplace.payouts SET amount_cents = amount_cents + 1
             WHERE payout_id = (SELECT payout_id FROM marketplace.payouts
                                WHERE run <> 'manual:planted' ORDER BY payout_id LIMIT 1)
             RETURNING payout_id")
stray=$(curl -sf -u "$STRIPE_SECRET_KEY:" "$stripe_URL/v1/transfers" -d amount=777 -d currency=usd \
        -d destination=acct_stray | jq -r .id) || fail "planting a stray transfer"
# the period ends at the fire time, in whole seconds: let the second of
# the last transfer pass
second=$(date +%s)
while [ "$(date +%s)" -le "$second" ]; do sleep 0.05; done
"$CONVEYOR_BIN" trigger reconcilePayouts --reason "test" >/dev/null || fail "trigger"
wait_for "SELECT count(*) FROM marketplace.reconciliations WHERE finished_at IS NOT NULL" 1 120
pages=$(q "SELECT pages FROM marketplace.reconciliations")
[ "$pages" -ge 2 ] || fail "reconciliation read $pages page(s) of 131 transfers"
got=$(q "SELECT string_agg(kind || ' ' || coalesce(payout_id::text, '-') || ' ' || coalesce(transfer_id, '-'), ',' ORDER BY kind)
         FROM marketplace.payout_mismatches")
want="amount_differs $differs $(q "SELECT transfer_id FROM marketplace.payouts WHERE payout_id = '$differs'"),transfer_missing $missing tr_planted_missing,transfer_without_payout - $stray"
[ "$got" = "$want" ] || fail "mismatches: got [$got], want [$want]"
"$CONVEYOR_BIN" status >"$T/status.out" 2>&1 || fail "status"
[ "$(grep -c 'payout_mismatch' "$T/status.out")" = 3 ] ||
    { cat "$T/status.out" >&2; fail "status does not list the 3 mismatches"; }
grep -q 'reconciliation finished: 3 mismatches in 131 transfers' "$T"/c*.log ||
    fail "the log does not report the mismatches"
log "reconciliation: $pages pages, exactly the 3 planted mismatches"

# ---- no secret anywhere ---------------------------------------------
"$CONVEYOR_BIN" effects list --state all >"$T/effects.out" 2>&1 || fail "effects list"
"$CONVEYOR_BIN" effects show 1 >>"$T/effects.out" 2>&1 || fail "effects show"
if grep -rl -- "$STRIPE_SECRET_KEY" "$T" >/dev/null 2>&1; then
    fail "the Stripe key is in $(grep -rl -- "$STRIPE_SECRET_KEY" "$T" | head -3)"
fi
echo "payouts test: 3 passed, 0 failed"

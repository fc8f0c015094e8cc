# Weekly payouts through effects while conveyor is killed with SIGKILL at
# random moments and the Stripe double sometimes closes the connection
# after making the transfer (the answer is lost, the work is done). In the
# end the double's ledger holds exactly one transfer per eligible partner,
# for exactly its payable commissions; the payouts table agrees with the
# ledger; no commission is paid twice, none of an eligible partner is left
# payable, and nothing of an ineligible partner is paid.
export CONVEYOR_TOPOLOGY=$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg
export STRIPE_SECRET_KEY=sk_test_payouts_crash_$RANDOM$RANDOM
start_broker
migrate
start_double stripe stripe --seed 7 \
    --fault '{"kind": "close", "path": "/v1/transfers", "method": "POST", "probability": 0.05}' \
    --fault '{"kind": "delay", "path": "/v1/transfers", "min_ms": 5, "max_ms": 25}'
double_ctl stripe POST /_double/stripe/config '{"accounts": {"*": {"transfers": "active"}}}' >/dev/null
export STRIPE_API_BASE=$stripe_URL

N=1000
# N eligible partners, each with 3 payable commissions (2,700..11,700
# cents in all) and 2 held ones; 50 below the minimum; 20 without a Stripe
# account; their commissions must stay as they are.
q "INSERT INTO marketplace.partners (partner_id, name, stripe_account_id, payouts_enabled)
   SELECT md5('p' || i)::uuid, 'partner ' || i,
          CASE WHEN i <= $N + 50 THEN 'acct_' || i END, true
     FROM generate_series(1, $N + 70) i"
q "INSERT INTO marketplace.commissions (commission_id, partner_id, amount_cents, state, earned_at, payable_at)
   SELECT md5('c' || i || '/' || k)::uuid, md5('p' || i)::uuid,
          CASE WHEN i > $N AND i <= $N + 50 THEN 500 ELSE 900 + (i * 7 + k * 13) % 3000 END,
          CASE WHEN k <= 3 THEN 'payable' ELSE 'held' END,
          now() - interval '20 days', CASE WHEN k <= 3 THEN now() END
     FROM generate_series(1, $N + 70) i, generate_series(1, 5) k"
q "CREATE TABLE expected AS
   SELECT partner_id, 'acct_' || i AS account, sum(amount_cents) AS cents, count(*) AS n
     FROM generate_series(1, $N) i
     JOIN marketplace.commissions c ON c.partner_id = md5('p' || i)::uuid AND c.state = 'payable'
    GROUP BY 1, 2"
[ "$(q "SELECT count(*) FROM expected WHERE cents >= 2500")" = "$N" ] || fail "the seed is wrong"

start_conveyor c
"$CONVEYOR_BIN" trigger weeklyPartnerPayouts --reason "payout crash test" >"$T/trigger.out" ||
    fail "trigger"
log "$(cat "$T/trigger.out")"

# SIGKILL at random moments while transfers go out (25/s: about 40 s of
# work): each life of the process gets to send a random 5..60 requests
# (the double's ledger grows), or 30 s, then it is killed and restarted
kills=0
while [ "$kills" -lt 20 ]; do
    base=$(wc -l <"$T/stripe.ledger")
    quota=$((5 + RANDOM % 56))
    for _ in $(seq 300); do
        [ "$(wc -l <"$T/stripe.ledger")" -ge $((base + quota)) ] && break
        sleep 0.1
    done
    kill -KILL "$LAST_PID" 2>/dev/null || true
    wait "$LAST_PID" 2>/dev/null || true
    kills=$((kills + 1))
    start_conveyor c
done
paid=$(q "SELECT count(*) FROM marketplace.payouts WHERE state = 'paid'")
log "$kills SIGKILLs, each after the process had made calls; $paid payouts paid by the last one"
[ "$paid" -gt 0 ] && [ "$paid" -lt "$N" ] ||
    fail "$paid payouts paid before the last kill: the kills did not fall in the middle of the run"
wait_for "SELECT count(*) FROM marketplace.payouts WHERE state = 'paid'" "$N" 300

closed=$(jq -s '[.[] | select(.status == "closed")] | length' "$T/stripe.ledger")
replays=$(jq -s '[.[] | select(.replayed == true)] | length' "$T/stripe.ledger")
log "the double closed $closed connections after the work; $replays answers were idempotent replays"
[ "$closed" -gt 0 ] || fail "no connection was closed after the work: the fault did not fire"

# the ledger: every transfer made (answered or not), by destination
jq -r 'select(.method == "POST" and .path == "/v1/transfers" and .object != null and .object.id != null)
       | [.object.id, .object.destination, .object.amount, .idempotency_key] | @tsv' \
    "$T/stripe.ledger" >"$T/transfers.tsv"
q "CREATE TABLE ledger (transfer_id text, account text, cents bigint, key text)"
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy ledger FROM '$T/transfers.tsv'" || fail "loading the ledger"
made=$(q "SELECT count(*) FROM ledger")
log "the double made $made transfers for $N eligible partners"
[ "$made" = "$N" ] || fail "$made transfers were made, expected exactly $N"
[ "$(q "SELECT count(DISTINCT account) FROM ledger")" = "$N" ] || fail "a partner got two transfers"
[ "$(q "SELECT count(*) FROM expected e JOIN ledger l USING (account) WHERE l.cents = e.cents")" = "$N" ] ||
    fail "a transfer's amount differs from the partner's payable commissions"
[ "$(q "SELECT count(*) FROM marketplace.payouts p JOIN ledger l USING (transfer_id)
        JOIN expected e USING (partner_id)
        WHERE p.state = 'paid' AND p.amount_cents = l.cents AND l.account = e.account")" = "$N" ] ||
    fail "the payouts table does not agree with the ledger"
[ "$(q "SELECT count(*) FROM marketplace.payouts")" = "$N" ] || fail "payouts other than the eligible partners' exist"
# commissions: each eligible payable one paid once, by its partner's payout
[ "$(q "SELECT count(*) FROM marketplace.commissions c JOIN marketplace.payouts p USING (payout_id)
        WHERE c.state = 'paid' AND p.partner_id = c.partner_id")" = "$((N * 3))" ] ||
    fail "not every eligible commission was paid by its partner's payout"
[ "$(q "SELECT count(*) FROM marketplace.commissions WHERE state = 'paid'")" = "$((N * 3))" ] ||
    fail "commissions other than the eligible ones were paid"
[ "$(q "SELECT count(*) FROM marketplace.commissions c JOIN expected e USING (partner_id)
        WHERE c.state = 'payable'")" = 0 ] || fail "an eligible partner's commission is left payable"
[ "$(q "SELECT count(*) FROM marketplace.commissions WHERE state = 'held'")" = "$(((N + 70) * 2))" ] ||
    fail "held commissions changed"
# the requests: one per payout, all done
[ "$(q "SELECT count(*) FROM conveyor.effects WHERE target = 'stripe' AND state = 'done'")" = "$N" ] ||
    fail "not every transfer request is done"
reclaimed=$(q "SELECT coalesce(sum(reclaims), 0) FROM conveyor.effects")
log "requests reclaimed from killed runners: $reclaimed"
# the secret never reached a log
if grep -rl -- "$STRIPE_SECRET_KEY" "$T" >/dev/null 2>&1; then
    fail "the Stripe key is in $(grep -rl -- "$STRIPE_SECRET_KEY" "$T" | head -3)"
fi
echo "payouts crash test: 1 passed, 0 failed"

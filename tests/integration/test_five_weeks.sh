# Five weeks of seed 000 on the simulated clock: every one of its 15 jobs,
# the 12 crons in America/New_York (crossing the end of DST on 2026-11-01,
# which is also a month boundary) and the 3 event-triggered ones, against
# seeded partners, leads, commissions and uploads, with the Stripe and
# MillionVerifier doubles.
#
# Phase 1 (no ticker): leads arrive as lead.submitted events, two CSV
# uploads go through processPartnerUpload and queueNewLeadsForVerification,
# an admin's manual payout (triggerManualPayout) for a partner whose
# account cannot take transfers fails, and is paid after the runbook's
# Payout Failure Recovery (`conveyor send marketplace.payout.retry`).
# Phase 2: a ticker on a clock 40,000 times real time fires five weeks.
#
# Then: every cron fired at exactly its times (computed here from the crons
# and the zone's rules, not by the engine), once, in seed 000's daily order
# (section 7), and each run was applied once by its domain; and the scoring
# tables equal the formulas computed here, in this file's own SQL, from the
# leads, sales, verifications and commissions (not by the engine's SQL).
export CONVEYOR_TOPOLOGY=$T/topology.cfg
sed 's/zone = "UTC";/zone = "America\/New_York";/' \
    "$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg" >"$T/topology.cfg"
[ "$(grep -c 'zone = "America/New_York";' "$T/topology.cfg")" = 12 ] || fail "not every schedule moved to New York"
ticker_config "$T/conveyor.cfg" 50 10800000 2000
export STRIPE_SECRET_KEY=sk_test_five_weeks
export MILLIONVERIFIER_API_KEY=mv_five_weeks
start_broker
migrate
start_double stripe stripe --seed 5
# partner 40's account cannot take transfers yet: its manual payout fails
double_ctl stripe POST /_double/stripe/config '{"accounts": {"acct_sim40": {"transfers": "inactive"}, "*": {"transfers": "active"}}}' >/dev/null
start_double mv millionverifier
mkdir -p "$T/root/partner-uploads"
start_double storage storage --root "$T/root"
export STRIPE_API_BASE=$stripe_URL MILLIONVERIFIER_API_BASE=$mv_URL UPLOADS_STORAGE_URL=$storage_URL

# ---- seeds: 40 partners (21-26 referred by 1, 27-29 by 2), commissions
q "INSERT INTO marketplace.partners (partner_id, name, stripe_account_id, payouts_enabled)
   SELECT md5('sim-p' || i)::uuid, 'partner ' || i, 'acct_sim' || i, true FROM generate_series(1, 40) i"
q "UPDATE marketplace.partners SET referred_by = md5('sim-p1')::uuid
    WHERE partner_id IN (SELECT md5('sim-p' || i)::uuid FROM generate_series(21, 26) i)"
q "UPDATE marketplace.partners SET referred_by = md5('sim-p2')::uuid
    WHERE partner_id IN (SELECT md5('sim-p' || i)::uuid FROM generate_series(27, 29) i)"
q "INSERT INTO marketplace.commissions (commission_id, partner_id, amount_cents, state, earned_at)
   SELECT md5('sim-c' || i || '/' || k)::uuid, md5('sim-p' || i)::uuid, 2500 + (i * 37 + k * 11) % 3000,
          'held', timestamptz '2026-09-20 12:00Z' + make_interval(days => k * 9 + i % 5, hours => i)
     FROM generate_series(1, 39) i, generate_series(1, 6) k"
# partner 40: commissions already payable, paid by the admin's manual payout
q "INSERT INTO marketplace.commissions (commission_id, partner_id, amount_cents, state, earned_at, payable_at)
   SELECT md5('sim-m' || k)::uuid, md5('sim-p40')::uuid, 3000 + k, 'payable', '2026-09-01Z', '2026-09-08Z'
     FROM generate_series(1, 3) k"

# leads: partner p gets n(p) leads spread over Aug 15 .. Nov 15 (partners 1
# and 2: 520 of theirs in October, for the volume bonus; 21-29: 90..170,
# each crossing the 100 of an active referral at its own time). Some
# addresses repeat (other case), some verify invalid or catch-all, some
# optional fields are empty or blank.
awk 'function uuid(a, b) { return sprintf("%08x-0000-4000-8000-%012x", a, b) }
BEGIN {
    aug15 = 1786752000000; oct1 = 1790812800000; nov1 = 1793491200000; nov15 = 1794700800000
    id = 0
    for (p = 1; p <= 39; p++) {
        n = (p <= 2) ? 600 : (p >= 21 && p <= 29) ? 90 + 10 * (p - 21) : 20 + (p * 7) % 40
        for (k = 0; k < n; k++) {
            id++
            if (p <= 2 && k < 520) t = oct1 + int(k * (nov1 - oct1 - 3600000) / 520)
            else t = aug15 + int(((k * 7919 + p * 104729) % 1000) * (nov15 - aug15) / 1000)
            email = sprintf("lead%d@example.com", id)
            if (id % 9 == 0) email = sprintf("invalid%d@example.com", id)
            if (id % 11 == 0) email = sprintf("lead%d@catchall.example", id)
            if (id % 25 == 0 && id > 30) email = sprintf("LEAD%d@Example.com", id - 17)
            first = (id % 3 == 0) ? "null" : "\"Ada\""
            last = (id % 4 == 0) ? "null" : (id % 7 == 0) ? "\"  \"" : "\"Lovelace\""
            company = (id % 5 == 0) ? "null" : "\"Acme\""
            phone = (id % 2 == 0) ? "null" : "\"555-0100\""
            printf "{\"id\":\"sim-lead-%d\",\"data\":{\"lead_id\":\"%s\",\"partner_id\":\"%s\",\"email\":\"%s\",\"first_name\":%s,\"last_name\":%s,\"company\":%s,\"phone\":%s,\"submitted_at\":%.0f}}\n", id, uuid(id, id), "P" p, email, first, last, company, phone, t
        }
    }
}' >"$T/leads.raw"
# partner ids are md5 uuids: substitute them
q "SELECT 'P' || i || ' ' || md5('sim-p' || i)::uuid FROM generate_series(1, 40) i" >"$T/pmap.txt"
awk 'NR == FNR { m["\"" $1 "\""] = "\"" $2 "\""; next }
     { for (k in m) if (index($0, k)) { sub(k, m[k]); break } print }' "$T/pmap.txt" "$T/leads.raw" >"$T/leads.ndjson"
nleads=$(wc -l <"$T/leads.ndjson")
# two uploads (partners 3 and 4), each 150 rows of which 3 bad, requested
# on Oct 20 (the leads' submitted_at)
for u in 3 4; do
    awk -v u="$u" 'BEGIN { print "email,first_name,last_name,company,phone"
        for (i = 1; i <= 150; i++) {
            if (i % 50 == 7) print "broken-address,Ada,L,Acme,1"
            else printf "up%d-%d@example.com,Ada,%s,Acme,\n", u, i, (i % 2 ? "L" : "")
        } }' >"$T/root/partner-uploads/p$u.csv"
done

start_conveyor phase1 --no-ticker
"$CONVEYOR_BIN" produce --type marketplace.lead.submitted --envelope <"$T/leads.ndjson" \
    >/dev/null 2>>"$T/produce.log" || fail "produce leads"
for u in 3 4; do
    printf '{"id":"sim-upload-%d","time":"2026-10-20T12:00:00Z","data":{"batch_id":"%s","partner_id":"%s","storage_path":"partner-uploads/p%d.csv"}}\n' \
        "$u" "b0000000-0000-4000-8000-00000000000$u" "$(q "SELECT md5('sim-p$u')::uuid")" "$u"
done | "$CONVEYOR_BIN" produce --type marketplace.upload.process --envelope >/dev/null 2>>"$T/produce.log" ||
    fail "produce uploads"
"$CONVEYOR_BIN" produce --type marketplace.payout.manual --id sim-manual-40 \
    --data "{\"partnerId\": \"$(q "SELECT md5('sim-p40')::uuid")\"}" >/dev/null 2>>"$T/produce.log" ||
    fail "produce the manual payout"
wait_for "SELECT count(*) FROM marketplace.partner_upload_batches WHERE status = 'completed'" 2 120
wait_for "SELECT count(*) FROM marketplace.leads" $((nleads + 294)) 120
# the runbook's Payout Failure Recovery: the account fixed, one command
wait_for "SELECT count(*) FROM marketplace.payouts WHERE run LIKE 'manual:%' AND state = 'failed'" 1 60
double_ctl stripe POST /_double/stripe/config '{"accounts": {"acct_sim40": {"transfers": "active"}}}' >/dev/null
"$CONVEYOR_BIN" send marketplace.payout.retry --reason "account verified" --actor ops \
    --data "{\"payout_id\": \"$(q "SELECT payout_id FROM marketplace.payouts WHERE run LIKE 'manual:%'")\"}" \
    >/dev/null 2>>"$T/send.log" || fail "conveyor send marketplace.payout.retry"
wait_for "SELECT count(*) FROM marketplace.payouts WHERE run LIKE 'manual:%' AND state = 'paid' AND key_generation = 2" 1 60
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE actor = 'ops' AND reason = 'account verified'")" = 1 ] ||
    fail "the payout retry was not audited"
wait_drained 60
# buyers: a third of the leads sold 0..19 days after they came in
q "UPDATE marketplace.leads SET sold_at = submitted_at + make_interval(days => ('x' || substr(md5(lead_id::text), 1, 4))::bit(16)::int % 20)
    WHERE ('x' || substr(md5(lead_id::text), 5, 4))::bit(16)::int % 3 = 0"
log "phase 1: $nleads leads submitted, 2 uploads (294 rows, 6 bad), 1 manual payout (failed, retried, paid), $(q "SELECT count(*) FROM marketplace.email_verification_queue") leads queued for verification"

# ---- phase 2: five weeks
START=2026-10-10T04:00:00Z   # Saturday 00:00 EDT
END=2026-11-14T05:00:00Z     # Saturday 00:00 EST, 35 days later
SPEED=40000
sim_clock "$START" "$SPEED" 2000
start_conveyor ticker --ticker-only
end_real=$(( SIM_REAL0 + ( $(date -d "$END" +%s%3N) - $(date -d "$START" +%s%3N) ) / SPEED ))
while [ "$(date +%s%3N)" -lt "$end_real" ]; do sleep 1; done
FIRST=$(q "SELECT min(first_seen) FROM conveyor.schedules")
# the expected fire times, from the crons and New York's rules: a local
# time that occurs twice fires at its first occurrence; */N minutes fire at
# every real instant (New York's offsets are whole hours)
q "CREATE TABLE exp_fires AS
   WITH days AS (SELECT d::date AS day FROM generate_series(date '2026-10-01', date '2026-11-30', interval '1 day') d),
   local (schedule, ord, ts) AS (
       SELECT v.s, v.o, day + v.t FROM days, (VALUES
           ('dailyFreshnessDecay', 1, time '00:00'), ('dailyCommissionRelease', 2, time '01:00'),
           ('dailyPartnerScoreCalculation', 3, time '02:00'), ('reverifyStaleLeads', 4, time '03:00'),
           ('updatePartnerVerificationRates', 5, time '04:00'), ('processReferralMilestones', 6, time '05:00'),
           ('updatePartnerDataCompleteness', 7, time '06:00')) v(s, o, t)
       UNION ALL SELECT 'weeklyPartnerPayouts', 0, day + time '02:00' FROM days WHERE extract(isodow FROM day) = 1
       UNION ALL SELECT 'reconcilePayouts', 0, day + time '04:00' FROM days WHERE extract(isodow FROM day) = 7
       UNION ALL SELECT 'monthlyVolumeBonusUpdate', 0, day + time '03:00' FROM days WHERE extract(day FROM day) = 1)
   SELECT schedule, ord, ts AS local_time,
          (SELECT min(c) FROM (VALUES ((ts AT TIME ZONE 'UTC') + interval '4 hours'),
                                      ((ts AT TIME ZONE 'UTC') + interval '5 hours')) v(c)
            WHERE (c AT TIME ZONE 'America/New_York') = ts) AS fire
     FROM local
   UNION ALL SELECT 'processEmailVerificationQueue', 0, NULL, g
     FROM generate_series(timestamptz '2026-10-01Z', '2026-11-30Z', interval '5 minutes') g
   UNION ALL SELECT 'retryStalledUploads', 0, NULL, g
     FROM generate_series(timestamptz '2026-10-01Z', '2026-11-30Z', interval '10 minutes') g"
q "CREATE TABLE exp_all AS SELECT * FROM exp_fires"
q "DELETE FROM exp_fires WHERE fire <= '$FIRST' OR fire > '$END'"
expected=$(q "SELECT count(*) FROM exp_fires")
wait_for "SELECT count(*) FROM conveyor.schedule_runs WHERE kind <> 'manual' AND fire_time <= '$END'" "$expected" 120
kill -TERM "$LAST_PID"
wait "$LAST_PID" 2>/dev/null || true
wait_drained 120
log "phase 2: $expected fire times from $FIRST to $END"

# 1. every cron at exactly its times, once, on time
q "SELECT schedule || ' ' || fire FROM exp_fires ORDER BY 1" >"$T/exp.txt"
q "SELECT schedule || ' ' || fire_time FROM conveyor.schedule_runs WHERE kind <> 'manual' AND fire_time <= '$END' ORDER BY 1" >"$T/act.txt"
diff "$T/exp.txt" "$T/act.txt" >"$T/fires.diff" || { head -20 "$T/fires.diff" >&2; fail "the fire times differ from the crons'"; }
[ "$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE kind <> 'scheduled' AND fire_time <= '$END'")" = 0 ] ||
    fail "some fires were late or skipped: $(q "SELECT kind, count(*) FROM conveyor.schedule_runs WHERE kind <> 'scheduled' GROUP BY 1")"
# the end of DST: the 01:00 job once, at 01:00 EDT; the monthly job at 03:00 EST
[ "$(q "SELECT string_agg(to_char(fire_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), ',') FROM conveyor.schedule_runs
        WHERE schedule = 'dailyCommissionRelease' AND fire_time >= '2026-11-01 04:00Z' AND fire_time < '2026-11-02 04:00Z'")" = \
  "2026-11-01 05:00" ] || fail "dailyCommissionRelease on the day DST ended did not fire once at 01:00 EDT"
[ "$(q "SELECT to_char(fire_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM conveyor.schedule_runs WHERE schedule = 'monthlyVolumeBonusUpdate'")" = "2026-11-01 08:00" ] ||
    fail "monthlyVolumeBonusUpdate did not fire once, on Nov 1 at 03:00 EST"
# seed 000's daily order, every local day
bad=$(q "SELECT count(*) FROM (SELECT e.local_time::date AS day, e.ord, r.fire_time,
            lag(r.fire_time) OVER (PARTITION BY e.local_time::date ORDER BY e.ord) AS prev
          FROM exp_fires e JOIN conveyor.schedule_runs r ON r.schedule = e.schedule AND r.fire_time = e.fire
         WHERE e.ord > 0) x WHERE prev IS NOT NULL AND fire_time <= prev")
[ "$bad" = 0 ] || fail "$bad daily jobs fired out of seed 000's order"
days=$(q "SELECT count(DISTINCT local_time::date) FROM exp_fires WHERE ord = 7")
# each run applied exactly once by its domain (the inbox holds its id once)
missing=$(q "SELECT count(*) FROM conveyor.schedule_runs r WHERE r.kind = 'scheduled' AND r.fire_time <= '$END'
             AND (SELECT count(*) FROM conveyor.inbox i WHERE i.event_id = r.event_id) <> 1")
[ "$missing" = 0 ] || fail "$missing runs were not applied exactly once"
[ "$(q "SELECT count(*) FROM marketplace.job_runs WHERE fire_time <= '$END'")" = "$(q "SELECT count(*) FROM exp_fires WHERE schedule IN
    ('dailyFreshnessDecay', 'dailyPartnerScoreCalculation', 'monthlyVolumeBonusUpdate', 'processReferralMilestones',
     'updatePartnerDataCompleteness', 'retryStalledUploads')")" ] || fail "the jobs domain did not record each run once"
log "12 crons: $expected fires exactly at their times, in seed 000's daily order on $days days, each applied once"
# the event-triggered three, each once
[ "$(q "SELECT count(*) FROM conveyor.imports WHERE state = 'done' AND rows_ok = 147 AND rows_bad = 3")" = 2 ] ||
    fail "processPartnerUpload: the two uploads are not done with 147 rows and 3 bad each"
[ "$(q "SELECT count(*) FROM marketplace.email_verification_queue q JOIN marketplace.leads l USING (lead_id)
        WHERE l.upload_batch_id IS NOT NULL")" = 294 ] || fail "queueNewLeadsForVerification did not queue each upload lead once"
[ "$(q "SELECT count(*) || '|' || sum(amount_cents) FROM marketplace.payouts WHERE partner_id = md5('sim-p40')::uuid")" = "1|9006" ] ||
    fail "triggerManualPayout did not pay partner 40 once"
log "3 event jobs: 2 uploads, their leads queued once, 1 manual payout"

# ---- 2. the scoring tables against the formulas, computed here
# the ticker ran on a little past END: the last run of each job is the
# last fire it recorded, which must be one of the cron's
at() { q "SELECT max(fire_time) FROM conveyor.schedule_runs WHERE schedule = '$1' AND fire_time < ${2:-'infinity'}"; }
DECAY=$(at dailyFreshnessDecay); SCORE=$(at dailyPartnerScoreCalculation)
RATES=$(at updatePartnerVerificationRates); COMPL=$(at updatePartnerDataCompleteness)
COMPL_FOR_SCORE=$(at updatePartnerDataCompleteness "'$SCORE'")
for f in "dailyFreshnessDecay $DECAY" "dailyPartnerScoreCalculation $SCORE" \
         "updatePartnerVerificationRates $RATES" "updatePartnerDataCompleteness $COMPL"; do
    [ "$(q "SELECT count(*) FROM exp_all WHERE schedule = '${f%% *}' AND fire = '${f#* }'")" = 1 ] ||
        fail "${f%% *}'s last run at ${f#* } is not one of its fire times"
done
# every verification finished long before the last runs that read them
[ "$(q "SELECT count(*) FROM marketplace.email_verification_queue WHERE status <> 'verified'")" = 0 ] ||
    fail "verifications left: $(q "SELECT status, count(*) FROM marketplace.email_verification_queue GROUP BY 1")"
# freshness = max(15, 100 / (1 + e^(0.15 (age - 30)))), age in days at the fire
q "CREATE FUNCTION public.exp_fresh(age float8) RETURNS numeric LANGUAGE sql AS
   \$\$ SELECT round(greatest(15.0, 100.0 / (1.0 + exp(least(0.15 * (greatest(age, 0) - 30.0), 700))))::numeric, 2) \$\$"
bad=$(q "SELECT count(*) FROM marketplace.leads
    WHERE freshness_score IS DISTINCT FROM public.exp_fresh(extract(epoch FROM timestamptz '$DECAY' - submitted_at) / 86400)")
[ "$bad" = 0 ] || fail "$bad leads' freshness differs from the formula at $DECAY"
[ "$(q "SELECT count(DISTINCT freshness_score) > 100 AND min(freshness_score) = 15 AND max(freshness_score) > 98 FROM marketplace.leads")" = t ] ||
    fail "the freshness spread is not what the seeds make: $(q "SELECT count(DISTINCT freshness_score), min(freshness_score), max(freshness_score) FROM marketplace.leads")"
# the partners: those of the partners table and those with leads
q "CREATE TABLE exp_partners AS SELECT partner_id FROM marketplace.partners UNION SELECT partner_id FROM marketplace.leads"
# verification rate: deliverable (ok) share of the verified leads
# (over the partners with leads: a partner without leads has no rate)
q "CREATE TABLE exp_rates AS SELECT l.partner_id,
     coalesce(round(100.0 * count(*) FILTER (WHERE l.verification_status = 'ok') / nullif(count(l.verification_status), 0), 2), 0) AS rate
     FROM marketplace.leads l GROUP BY 1"
bad=$(q "SELECT count(*) FROM exp_rates e FULL JOIN marketplace.partner_verification_rates r USING (partner_id)
         WHERE r.verification_rate IS DISTINCT FROM e.rate OR r.computed_for <> '$RATES'")
[ "$bad" = 0 ] || { q "SELECT e.partner_id, e.rate, r.verification_rate, r.verified_leads, r.computed_for FROM exp_rates e FULL JOIN marketplace.partner_verification_rates r USING (partner_id) LIMIT 3" >&2
    fail "$bad verification rates differ (at $RATES)"; }
# data completeness at a fire: filled optional fields / (4 x leads) of the 30 days before
completeness() { echo "SELECT p.partner_id, coalesce(round(100.0 * sum(
     (coalesce(trim(l.first_name), '') <> '')::int + (coalesce(trim(l.last_name), '') <> '')::int
     + (coalesce(trim(l.company), '') <> '')::int + (coalesce(trim(l.phone), '') <> '')::int)
     / nullif(4 * count(l.lead_id), 0), 2), 0) AS dc
     FROM exp_partners p LEFT JOIN marketplace.leads l ON l.partner_id = p.partner_id
      AND l.submitted_at > timestamptz '$1' - interval '30 days' AND l.submitted_at <= '$1' GROUP BY 1"; }
bad=$(q "SELECT count(*) FROM ($(completeness "$COMPL")) e FULL JOIN marketplace.partner_data_completeness c USING (partner_id)
         WHERE c.data_completeness IS DISTINCT FROM e.dc OR c.computed_for <> '$COMPL'")
[ "$bad" = 0 ] || fail "$bad data completeness rows differ"
# the score at its last fire, from the rates and completeness of the runs before it
bad=$(q "WITH dc AS ($(completeness "$COMPL_FOR_SCORE")),
   fas AS (SELECT partner_id, round(avg(public.exp_fresh(extract(epoch FROM sold_at - submitted_at) / 86400)), 2) AS fas
             FROM marketplace.leads WHERE sold_at > timestamptz '$SCORE' - interval '30 days' AND sold_at <= '$SCORE' GROUP BY 1),
   recent AS (SELECT l.partner_id, EXISTS (SELECT 1 FROM marketplace.leads e WHERE lower(e.email) = lower(l.email)
                AND (e.submitted_at < l.submitted_at OR (e.submitted_at = l.submitted_at AND e.lead_id < l.lead_id))) AS dup
              FROM marketplace.leads l WHERE l.submitted_at > timestamptz '$SCORE' - interval '30 days' AND l.submitted_at <= '$SCORE'),
   dr AS (SELECT partner_id, round(100.0 * avg(dup::int), 2) AS dr FROM recent GROUP BY 1),
   e AS (SELECT p.partner_id, coalesce(r.rate, 0) AS vr, coalesce(f.fas, 0) AS fas, dc.dc, coalesce(d.dr, 0) AS dr
           FROM exp_partners p LEFT JOIN exp_rates r USING (partner_id) JOIN dc USING (partner_id)
           LEFT JOIN fas f USING (partner_id) LEFT JOIN dr d USING (partner_id))
   SELECT count(*) FROM e FULL JOIN marketplace.partner_scores s USING (partner_id)
    WHERE s.score IS DISTINCT FROM round(e.vr * 0.40 + e.fas * 0.25 + e.dc * 0.20 + (100 - e.dr) * 0.15, 2)
       OR s.freshness_at_sale IS DISTINCT FROM e.fas OR s.duplicate_rate IS DISTINCT FROM e.dr
       OR s.computed_for <> '$SCORE'")
[ "$bad" = 0 ] || fail "$bad partner scores differ from the formula at $SCORE"
[ "$(q "SELECT count(*) FROM marketplace.partner_scores WHERE duplicate_rate > 0 AND freshness_at_sale > 0 AND verification_rate > 0")" -gt 0 ] ||
    fail "no partner has every metric: the seeds do not test the formula"
# the volume bonus: October, partners with >= 500 leads, 5% of October's lead commissions
bad=$(q "WITH e AS (SELECT l.partner_id, count(*) AS leads FROM marketplace.leads l JOIN marketplace.partners USING (partner_id)
          WHERE l.submitted_at >= '2026-10-01Z' AND l.submitted_at < '2026-11-01Z' GROUP BY 1 HAVING count(*) >= 500),
     b AS (SELECT e.partner_id, e.leads, round(0.05 * coalesce((SELECT sum(amount_cents) FROM marketplace.commissions c
          WHERE c.partner_id = e.partner_id AND c.kind = 'lead' AND c.earned_at >= '2026-10-01Z' AND c.earned_at < '2026-11-01Z'), 0)) AS bonus FROM e)
   SELECT count(*) FROM b FULL JOIN marketplace.volume_bonuses v USING (partner_id)
    WHERE v.month IS DISTINCT FROM date '2026-10-01' OR v.leads IS DISTINCT FROM b.leads OR v.bonus_cents IS DISTINCT FROM b.bonus")
[ "$bad" = 0 ] || fail "$bad volume bonuses differ"
[ "$(q "SELECT count(*) FROM marketplace.volume_bonuses")" = 2 ] || fail "expected the bonus for partners 1 and 2"
# referral milestones (1, 5, 10, 25 active referrals; active = 100 leads by
# the fire): each awarded once, at the first 05:00 fire that reached it
bad=$(q "WITH f AS (SELECT fire FROM exp_all WHERE schedule = 'processReferralMilestones' AND fire > '$FIRST'
              AND fire <= (SELECT max(fire_time) FROM conveyor.schedule_runs WHERE schedule = 'processReferralMilestones')),
     act AS (SELECT f.fire, p.referred_by AS partner_id, count(*) AS refs FROM f CROSS JOIN marketplace.partners p
              WHERE p.referred_by IS NOT NULL AND (SELECT count(*) FROM marketplace.leads l
                    WHERE l.partner_id = p.partner_id AND l.submitted_at <= f.fire) >= 100 GROUP BY 1, 2),
     won AS (SELECT DISTINCT ON (a.partner_id, m) a.partner_id, m AS milestone, a.refs, a.fire
               FROM act a, unnest(array[1, 5, 10, 25]) m WHERE a.refs >= m ORDER BY a.partner_id, m, a.fire)
   SELECT count(*) FROM won w FULL JOIN marketplace.referral_milestones r USING (partner_id, milestone)
    WHERE r.awarded_for IS DISTINCT FROM w.fire OR r.referrals IS DISTINCT FROM w.refs::int OR r.bonus_cents IS DISTINCT FROM 5000")
[ "$bad" = 0 ] || fail "$bad referral milestones differ"
[ "$(q "SELECT count(*) FROM marketplace.referral_milestones")" -ge 2 ] || fail "the seeds reached too few milestones"
# payouts: every commission released by the last Monday's run is paid
# once, by its partner's payout, for what its commissions add up to
bad=$(q "SELECT count(*) FROM marketplace.commissions c WHERE c.partner_id <> md5('sim-p40')::uuid
          AND c.earned_at <= (SELECT max(fire) FROM exp_fires WHERE schedule = 'weeklyPartnerPayouts') - interval '9 days'
          AND (c.state <> 'paid' OR c.payout_id IS NULL)")
[ "$bad" = 0 ] || fail "$bad commissions due before the last weekly run are not paid"
bad=$(q "SELECT count(*) FROM marketplace.payouts p WHERE p.amount_cents <>
          (SELECT sum(amount_cents) FROM marketplace.commissions c WHERE c.payout_id = p.payout_id AND c.partner_id = p.partner_id)
          OR p.state <> 'paid'")
[ "$bad" = 0 ] || fail "$bad payouts do not add up or are not paid"
transfers=$(jq -s '[.[] | select(.method == "POST" and .path == "/v1/transfers" and .object.id != null)] | length' "$T/stripe.ledger")
[ "$transfers" = "$(q "SELECT count(*) FROM marketplace.payouts")" ] || fail "$transfers transfers for $(q "SELECT count(*) FROM marketplace.payouts") payouts"
log "scoring: freshness of $(q "SELECT count(*) FROM marketplace.leads") leads, $(q "SELECT count(*) FROM marketplace.partner_scores") scores, rates and completeness, $(q "SELECT count(*) FROM marketplace.volume_bonuses") bonuses, $(q "SELECT count(*) FROM marketplace.referral_milestones") milestones as computed here; $transfers transfers paid"
echo "five weeks test: 1 passed, 0 failed"

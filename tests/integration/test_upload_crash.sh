# processPartnerUpload under SIGKILL: a 200,000-row CSV (a BOM, CRLF, quoted
# commas and line breaks, 1% bad rows of four kinds) is imported from the
# storage double (throttled, so the import spans many process lives) while
# conveyor is SIGKILLed at random moments, at least 10 times, and restarted.
# In the end every good row is a lead exactly once (keyed by its line),
# every bad row is in conveyor.import_errors exactly once with its line and
# reason, the counters agree with the tables, the committed progress never
# went back, the upload completed once and queued its leads.
#
# Then the same file and one ten times larger are read through an importer
# with a trivial sink by a fresh process each: the peak RSS must not grow
# with the file.
export CONVEYOR_TOPOLOGY=$T/topology.cfg
# the marketplace, plus an importer that reads and drops (the RSS probe)
sed 's|^imports = (|imports = (\n    { name = "rss_probe"; columns = [ "email", "first_name" ]; required = [ "email" ]; emails = [ "email" ]; concurrency = 1;\n      sql = "SELECT NULL::bigint, NULL::text WHERE :row.line::bigint[] IS NULL"; },|' \
    "$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg" >"$T/topology.cfg"
"$CONVEYOR_BIN" topology check >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; fail "test topology"; }

# gen_csv N FILE EXPECTED: N data rows; the expected outcome of each row
# goes to EXPECTED as "line<TAB>good<TAB>email" or "line<TAB>bad<TAB>reason"
gen_csv() {
    awk -v n="$1" -v out="$3" 'BEGIN {
        printf "\xEF\xBB\xBFEmail,First Name,Last Name,Company,Phone,Extra\r\n"
        line = 2
        for (i = 1; i <= n; i++) {
            email = sprintf("lead%d@example.com", i)
            company = (i % 7 == 0) ? "\"Acme, Inc\"" : "Acme"
            first = (i % 13 == 0) ? "\"Ada\nLovelace\"" : "Ada"
            k = i % 400
            if (k == 50) {
                printf "not-an-email-%d,Bob,B,Acme,1,x\r\n", i
                printf "%d\tbad\tinvalid email\n", line >out
            } else if (k == 150) {
                printf ",Bob,B,Acme,1,x\r\n"
                printf "%d\tbad\tmissing required field\n", line >out
            } else if (k == 250) {
                printf "lead%d@example.com,Bob,B,Acme,1,x\r\n", i - 1
                printf "%d\tbad\tduplicate in the file\n", line >out
            } else if (k == 350) {
                printf "x\"%d@example.com,Bob,B,Acme,1,x\r\n", i
                printf "%d\tbad\tbad quoting\n", line >out
            } else {
                printf "%s,%s,Last,%s,555-%04d,extra\r\n", email, first, company, i % 10000
                printf "%d\tgood\t%s\n", line, email >out
                if (i % 13 == 0) line++
            }
            line++
        }
    }' >"$2"
}

mkdir -p "$T/root/partner-uploads"
gen_csv 200000 "$T/root/partner-uploads/big.csv" "$T/expected.tsv"
good=$(awk -F'\t' '$2 == "good"' "$T/expected.tsv" | wc -l)
bad=$(awk -F'\t' '$2 == "bad"' "$T/expected.tsv" | wc -l)
size=$(stat -c %s "$T/root/partner-uploads/big.csv")
log "200,000 rows ($size bytes): $good good, $bad bad"
[ "$bad" = 2000 ] || fail "the generator made $bad bad rows"

start_broker
migrate
start_double storage storage --root "$T/root" \
    --fault '{"kind": "throttle", "path": "/partner-uploads/", "bytes_per_s": 400000}'
export UPLOADS_STORAGE_URL=$storage_URL
BATCH=7a1e0000-0000-4000-8000-000000000001
PARTNER=7a1e0000-0000-4000-8000-0000000000aa

# the committed progress, sampled while it runs
progress() { q "SELECT byte_offset, line, rows_ok, rows_bad, chunks FROM conveyor.imports WHERE importer = 'partner_leads'" 2>/dev/null || true; }
(while :; do progress; sleep 0.1; done) >"$T/progress.txt" &
SAMPLER=$!
PIDS+=($SAMPLER)

start_conveyor c
"$CONVEYOR_BIN" produce --type marketplace.upload.process \
    --data "{\"batch_id\": \"$BATCH\", \"partner_id\": \"$PARTNER\", \"storage_path\": \"partner-uploads/big.csv\"}" \
    2>>"$T/produce.log" >/dev/null || fail "produce"
wait_for "SELECT count(*) FROM conveyor.imports WHERE chunks > 0" 1 60

chunks() { q "SELECT chunks FROM conveyor.imports WHERE importer = 'partner_leads'"; }
finished() { [ "$(q "SELECT state FROM conveyor.imports WHERE importer = 'partner_leads'")" = done ]; }
kills=0
while [ "$kills" -lt 12 ] && ! finished; do
    base=$(chunks)
    quota=$((1 + RANDOM % 8))
    for _ in $(seq 600); do
        [ "$(chunks)" -ge $((base + quota)) ] && break
        finished && break
        sleep 0.1
    done
    finished && break
    sleep "0.$((RANDOM % 10))"
    kill -KILL "$LAST_PID" 2>/dev/null || true
    wait "$LAST_PID" 2>/dev/null || true
    kills=$((kills + 1))
    log "SIGKILL $kills at chunk $(chunks)"
    start_conveyor c
done
[ "$kills" -ge 10 ] || fail "only $kills kills before the import finished: it was too fast to test"
wait_for "SELECT status FROM marketplace.partner_upload_batches WHERE batch_id = '$BATCH'" completed 180
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true

q "SELECT starts, chunks, rows_ok, rows_bad FROM conveyor.imports" >"$T/import.txt"
log "import: starts|chunks|rows|bad = $(cat "$T/import.txt") after $kills kills"
[ "$(q "SELECT starts FROM conveyor.imports")" -gt "$kills" ] || fail "the import was not taken up again after each kill"

# the tables against the file
q "CREATE TABLE expected (line bigint, kind text, what text)"
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy expected FROM '$T/expected.tsv'" || fail "loading the expectations"
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE upload_batch_id = '$BATCH'")" = "$good" ] ||
    fail "$(q "SELECT count(*) FROM marketplace.leads WHERE upload_batch_id = '$BATCH'") leads, expected $good"
[ "$(q "SELECT count(*) FROM expected e JOIN marketplace.leads l ON l.upload_line = e.line
        AND l.email = e.what AND l.upload_batch_id = '$BATCH' WHERE e.kind = 'good'")" = "$good" ] ||
    fail "a good row is not the lead of its line"
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE first_name = E'Ada\nLovelace' AND company = 'Acme, Inc'")" -gt 0 ] ||
    fail "quoted line breaks and commas did not survive"
[ "$(q "SELECT count(*) FROM conveyor.import_errors")" = "$bad" ] ||
    fail "$(q "SELECT count(*) FROM conveyor.import_errors") bad rows recorded, expected $bad"
[ "$(q "SELECT count(*) FROM expected e JOIN conveyor.import_errors x ON x.line = e.line
        AND x.reason LIKE e.what || '%' WHERE e.kind = 'bad'")" = "$bad" ] ||
    { q "SELECT e.line, e.what, x.reason FROM expected e LEFT JOIN conveyor.import_errors x ON x.line = e.line WHERE e.kind = 'bad' AND (x.reason IS NULL OR x.reason NOT LIKE e.what || '%') LIMIT 5" >&2
      fail "a bad row is not recorded at its line with its reason"; }
[ "$(cat "$T/import.txt" | cut -d'|' -f3,4)" = "$good|$bad" ] || fail "the import's counters are not $good|$bad"
[ "$(q "SELECT lead_count || '|' || bad_rows FROM marketplace.partner_upload_batches")" = "$good|$bad" ] ||
    fail "the batch does not say $good leads and $bad bad rows"
# upload.completed ran once and queued every new lead
wait_for "SELECT count(*) FROM marketplace.email_verification_queue q JOIN marketplace.leads l USING (lead_id) WHERE l.upload_batch_id = '$BATCH'" "$good" 60
[ "$(q "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.upload.completed'")" = 1 ] ||
    fail "upload.completed was emitted $(q "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.upload.completed'") times"
[ "$(q "SELECT count(*) FROM conveyor.outbox WHERE event_type = 'marketplace.upload.imported'")" = 1 ] ||
    fail "the import's outcome was written more than once"
# progress never went back
awk -F'|' 'NF == 5 { for (k = 1; k <= 5; k++) { if ($k + 0 < last[k]) { print "went back: " prev " -> " $0; bad = 1 } last[k] = $k + 0 } prev = $0; n++ }
    END { if (n < 10) { print "only " n " samples"; bad = 1 } exit bad }' "$T/progress.txt" >&2 ||
    fail "the committed progress was not monotonic"
log "every good row once, every bad row once with its line; progress monotonic over $(wc -l <"$T/progress.txt") samples"

# ---- peak RSS against the file's size: 200,000 rows, then 2,000,000
gen_csv 2000000 "$T/huge.csv" /dev/null
rss_probe() { # FILE KEY -> prints VmHWM in kB of a fresh importer process
    start_conveyor "rss-$2" --effects-only
    local pid=$LAST_PID
    q "INSERT INTO conveyor.imports (importer, idempotency_key, source, outcome_type, domain, source_event_id)
       VALUES ('rss_probe', '$2', 'file://$1', 'marketplace.upload.imported', 'test', 'rss-$2')"
    wait_for "SELECT state FROM conveyor.imports WHERE importer = 'rss_probe' AND idempotency_key = '$2'" done 240
    awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}
small=$(rss_probe "$T/root/partner-uploads/big.csv" small)
large=$(rss_probe "$T/huge.csv" large)
[ "$(q "SELECT rows_ok + rows_bad FROM conveyor.imports WHERE idempotency_key = 'large'")" -ge 1990000 ] ||
    fail "the large file was not read to the end"
log "peak RSS: $small kB for $(stat -c %s "$T/root/partner-uploads/big.csv") bytes, $large kB for $(stat -c %s "$T/huge.csv") bytes"
[ "$large" -le $((small * 5 / 4 + 8192)) ] ||
    fail "peak RSS grew with the file: $small kB -> $large kB"
echo "upload crash test: 1 passed, 0 failed"

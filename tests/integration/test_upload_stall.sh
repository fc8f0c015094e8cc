# retryStalledUploads against a storage double that stops sending: every
# request for the file gets some 60 KB more of it, then the connection is
# held open and silent. An upload without progress for the stall threshold
# (UPLOAD_STALL_SECONDS, 3 s here) is resumed by the job: its worker lets go
# and a worker asks for the rest with Range from the last committed chunk;
# after the 3rd resume the next stall fails it, with the reason, and the
# batch says so. Then the runbook's "Upload Processing Failure" as one
# audited command (`conveyor send marketplace.upload.retry`): the storage
# is fixed, the import resumes where it stopped and completes, every row
# exactly once.
export CONVEYOR_TOPOLOGY=$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg
export UPLOAD_STALL_SECONDS=3
start_broker
migrate
mkdir -p "$T/root/partner-uploads"
awk 'BEGIN { print "email,first_name,company"
             for (i = 1; i <= 6000; i++) printf "stall%d@example.com,Ada,Acme %d\n", i, i }' \
    >"$T/root/partner-uploads/stall.csv"
start_double storage storage --root "$T/root" \
    --fault '{"kind": "stall", "path": "/partner-uploads/stall.csv", "after_bytes": 60000}'
export UPLOADS_STORAGE_URL=$storage_URL
BATCH=5a11ed00-0000-4000-8000-000000000001
start_conveyor c
"$CONVEYOR_BIN" produce --type marketplace.upload.process \
    --data "{\"batch_id\": \"$BATCH\", \"partner_id\": \"5a11ed00-0000-4000-8000-0000000000aa\", \"storage_path\": \"partner-uploads/stall.csv\"}" \
    >/dev/null 2>>"$T/produce.log" || fail "produce"

imp() { q "SELECT $1 FROM conveyor.imports WHERE idempotency_key = '$BATCH'"; }
# stalled: running, and silent for longer than the threshold
wait_stalled() {
    wait_for "SELECT count(*) FROM conveyor.imports WHERE idempotency_key = '$BATCH'
              AND state = 'running' AND progress_at < now() - interval '3.5 s'" 1 60
}
trigger() {
    "$CONVEYOR_BIN" trigger retryStalledUploads --reason "stall test $1" >/dev/null ||
        fail "trigger retryStalledUploads"
}
offsets=()
for resume in 1 2 3; do
    wait_stalled
    offsets+=("$(imp byte_offset)")
    trigger "$resume"
    wait_for "SELECT resumes FROM conveyor.imports WHERE idempotency_key = '$BATCH'" "$resume" 30
    log "stall $resume at byte ${offsets[-1]}: resumed ($(imp "generation || ' generation, state ' || state"))"
done
wait_stalled
offsets+=("$(imp byte_offset)")
trigger 4
wait_for "SELECT status FROM marketplace.partner_upload_batches WHERE batch_id = '$BATCH'" failed 30
err=$(q "SELECT error FROM marketplace.partner_upload_batches WHERE batch_id = '$BATCH'")
log "after the 4th stall: failed: $err"
[[ "$err" == "stalled after 3 resumes: no progress since "* ]] || fail "the batch does not say why it failed: '$err'"
[ "$(imp state)" = failed ] && [ "$(imp resumes)" = 3 ] || fail "the import is $(imp state) after $(imp resumes) resumes"
# each resume asked for the rest, from the last committed chunk on
jq -r 'select(.path == "/partner-uploads/stall.csv") | .params.range // "none"' "$T/storage.ledger" >"$T/ranges.txt"
[ "$(wc -l <"$T/ranges.txt")" = 4 ] || { cat "$T/ranges.txt" >&2; fail "expected 4 requests for the file"; }
want=$(printf 'none\nbytes=%s-\nbytes=%s-\nbytes=%s-' "${offsets[0]}" "${offsets[1]}" "${offsets[2]}")
[ "$(cat "$T/ranges.txt")" = "$want" ] || { cat "$T/ranges.txt" >&2; fail "the resumes did not ask for the rest ($want)"; }
[ "${offsets[0]}" -gt 0 ] && [ "${offsets[1]}" -gt "${offsets[0]}" ] &&
    [ "${offsets[2]}" -gt "${offsets[1]}" ] && [ "${offsets[3]}" -gt "${offsets[2]}" ] ||
    fail "no progress between stalls: ${offsets[*]}"
rows=$(imp rows_ok)
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE upload_batch_id = '$BATCH'")" = "$rows" ] ||
    fail "the leads do not match the committed chunks"
log "4 requests: none, then Range from ${offsets[0]}, ${offsets[1]}, ${offsets[2]}; $rows rows committed before the failure"

# the runbook's Upload Processing Failure: the file is fine again, one command
double_ctl storage DELETE /_double/faults >/dev/null
"$CONVEYOR_BIN" send marketplace.upload.retry --data "{\"batch_id\": \"$BATCH\"}" \
    --reason "storage fixed" --actor ops >"$T/send.out" 2>>"$T/send.log" || fail "conveyor send"
wait_for "SELECT status FROM marketplace.partner_upload_batches WHERE batch_id = '$BATCH'" completed 60
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE upload_batch_id = '$BATCH'")" = 6000 ] ||
    fail "$(q "SELECT count(*) FROM marketplace.leads WHERE upload_batch_id = '$BATCH'") leads after the retry, expected 6000"
[ "$(q "SELECT count(DISTINCT lower(email)) FROM marketplace.leads WHERE upload_batch_id = '$BATCH'")" = 6000 ] ||
    fail "a row was imported twice"
[ "$(q "SELECT lead_count || '|' || bad_rows || '|' || retry_count FROM marketplace.partner_upload_batches")" = "6000|0|1" ] ||
    fail "the batch says $(q "SELECT lead_count || '|' || bad_rows || '|' || retry_count FROM marketplace.partner_upload_batches")"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE actor = 'ops' AND reason = 'storage fixed'")" = 1 ] ||
    fail "the retry was not audited"
last=$(jq -r 'select(.path == "/partner-uploads/stall.csv") | .params.range // "none"' "$T/storage.ledger" | tail -1)
[ "$last" = "bytes=${offsets[3]}-" ] || fail "the retry asked for $last, not the rest from byte ${offsets[3]}"
# the stalled runs were recorded as job runs, each once
[ "$(q "SELECT count(*) FROM marketplace.job_runs WHERE job = 'retryStalledUploads' AND run = 'manual'")" = 4 ] ||
    fail "the job's manual runs were not each recorded once"
echo "upload stall test: 1 passed, 0 failed"

#!/usr/bin/env bash
# bench_jobs.sh - seed 000's two bulk jobs at scale, each beside its limit
# measured in the same run, with peak RSS.
#
#   bash tests/bench/bench_jobs.sh [LEADS] [ROWS]   (1000000, 1000000)
#
# Inside a throwaway Postgres cluster (pg_virtualenv -t, fsync off):
#
#   dailyFreshnessDecay over LEADS leads (submitted over 120 days, scores
#   empty): `conveyor trigger` and the jobs domain's declared SQL (the
#   ticker, relay and consumers of one `conveyor run` on the dev broker),
#   from the trigger until its transaction committed; then the scores
#   emptied again and the limit: a bare UPDATE of the same rows with the
#   same formula in psql.
#
#   processPartnerUpload of a ROWS-row CSV (file://): the importer of
#   `conveyor run --effects-only` from the request until the import is
#   done (rows streamed, checked, 1,000-row chunks committed with their
#   progress); the limit: the same file COPY'd into a staging table and
#   inserted into marketplace.leads the same way in one statement (and
#   COPY alone, for reference).
#
# Uses the build in build/ (BENCH_BUILD_DIR). Exit 0 whatever the figures;
# exit 1 if the run is wrong (a job that did not finish, rows missing).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
src=$(readlink -f "$here/../..")

if [ "${1:-}" != "--inside" ]; then
    build=${BENCH_BUILD_DIR:-$src/build}
    [ -x "$build/conveyor" ] || { echo "bench_jobs.sh: no $build/conveyor: build first" >&2; exit 1; }
    export BENCH_BUILD=$build BENCH_LEADS=${1:-1000000} BENCH_ROWS=${2:-1000000}
    exec pg_virtualenv -t -o fsync=off -o max_connections=100 \
        -o shared_buffers=256MB -o max_wal_size=4GB bash "$0" --inside
fi

build=$BENCH_BUILD
W=$(mktemp -d /tmp/conveyor-bench-jobs.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
q() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
ms() { date +%s%3N; }
die() { echo "bench_jobs.sh: $*" >&2; exit 1; }
wait_sql() { # SQL VALUE SECONDS
    for _ in $(seq $(($3 * 10))); do
        [ "$(q "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    die "waited $3 s for [$1] = $2"
}
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

export CONVEYOR_SCHEMAS=$src/schemas CONVEYOR_CONFIG=$src/config/conveyor.cfg
export CONVEYOR_TOPOLOGY=$src/topology/marketplace.cfg CONVEYOR_HTTP_LISTEN=""
"$build/conveyor" dev-broker --bootstrap-file "$W/bootstrap" >/dev/null 2>"$W/broker.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$W/bootstrap" ] && break; sleep 0.1; done
export CONVEYOR_KAFKA_BROKERS=$(cat "$W/bootstrap")
"$build/conveyor" migrate >/dev/null 2>"$W/migrate.log" || die "migrate"

# ---- dailyFreshnessDecay
n=$BENCH_LEADS
q "INSERT INTO marketplace.leads (lead_id, partner_id, email, submitted_at)
   SELECT md5('b' || i)::uuid, md5('p' || (i % 1000))::uuid, 'lead' || i || '@example.com',
          timestamptz '2026-12-01Z' - make_interval(secs => (i % 10368000))
     FROM generate_series(1, $n) i"
q "VACUUM ANALYZE marketplace.leads"
"$build/conveyor" run >"$W/run.log" 2>&1 &
run=$!
pids+=($run)
sleep 5 # the groups join (the dev broker takes 3 s)
t0=$(ms)
"$build/conveyor" trigger dailyFreshnessDecay --reason bench >"$W/trigger.out" 2>&1 || die "trigger"
wait_sql "SELECT count(*) FROM marketplace.job_runs WHERE job = 'dailyFreshnessDecay'" 1 1800
decay_ms=$(( $(ms) - t0 ))
[ "$(q "SELECT count(*) FROM marketplace.leads WHERE freshness_score IS NULL")" = 0 ] || die "leads left unscored"
fire=$(q "SELECT fire_time FROM marketplace.job_runs WHERE job = 'dailyFreshnessDecay'")
run_rss=$(hwm "$run")
kill -TERM "$run"; wait "$run" 2>/dev/null || true
# the limit: the same rows, the same formula, one bare UPDATE
q "UPDATE marketplace.leads SET freshness_score = NULL"
q "VACUUM ANALYZE marketplace.leads"
t0=$(ms)
q "UPDATE marketplace.leads SET freshness_score = round(greatest(15.0, 100.0 / (1.0 + exp(least(0.15 *
     (greatest(extract(epoch FROM timestamptz '$fire' - submitted_at) / 86400.0, 0) - 30.0), 700))))::numeric, 2)"
bare_ms=$(( $(ms) - t0 ))

# ---- processPartnerUpload
rows=$BENCH_ROWS
awk -v n="$rows" 'BEGIN { print "email,first_name,last_name,company,phone"
    for (i = 1; i <= n; i++) printf "up%d@example.com,Ada,Lovelace,\"Acme, Inc\",555-%04d\n", i, i % 10000 }' >"$W/upload.csv"
size=$(stat -c %s "$W/upload.csv")
q "TRUNCATE marketplace.leads, marketplace.partner_monthly_volume"
# the limit first: COPY alone, then COPY and the same insert in one statement
q "CREATE UNLOGGED TABLE staging (email text, first_name text, last_name text, company text, phone text)"
t0=$(ms)
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy staging FROM '$W/upload.csv' WITH (FORMAT csv, HEADER true)"
copy_ms=$(( $(ms) - t0 ))
t0=$(ms)
q "INSERT INTO marketplace.leads (lead_id, partner_id, email, first_name, last_name, company, phone,
     submitted_at, upload_batch_id, upload_line)
   SELECT md5('limit:' || n)::uuid, md5('p1')::uuid, lower(trim(email)), nullif(trim(first_name), ''),
          nullif(trim(last_name), ''), nullif(trim(company), ''), nullif(trim(phone), ''), now(),
          md5('limit')::uuid, n + 1
     FROM (SELECT s.*, row_number() OVER () AS n FROM staging s) x ON CONFLICT DO NOTHING"
insert_ms=$(( $(ms) - t0 ))
q "TRUNCATE marketplace.leads, marketplace.partner_monthly_volume"
q "VACUUM ANALYZE marketplace.leads"
"$build/conveyor" run --effects-only >"$W/import.log" 2>&1 &
imp=$!
pids+=($imp)
sleep 1
t0=$(ms)
q "INSERT INTO conveyor.imports (importer, idempotency_key, source, context, outcome_type, domain, source_event_id)
   VALUES ('partner_leads', 'bench', 'file://$W/upload.csv',
           jsonb_build_object('batch_id', md5('bench')::uuid, 'partner_id', md5('p1')::uuid, 'submitted_at', now()),
           'marketplace.upload.imported', 'bench', 'bench')"
wait_sql "SELECT state FROM conveyor.imports WHERE idempotency_key = 'bench'" done 3600
import_ms=$(( $(ms) - t0 ))
imp_rss=$(hwm "$imp")
kill -TERM "$imp"; wait "$imp" 2>/dev/null || true
[ "$(q "SELECT count(*) FROM marketplace.leads")" = "$rows" ] || die "the import stored $(q "SELECT count(*) FROM marketplace.leads") of $rows rows"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
cat <<EOF

| job | conveyor | limit, same run | conveyor / limit | peak RSS |
|---|---|---|---|---|
| dailyFreshnessDecay, $n leads (trigger to commit) | $decay_ms ms | bare UPDATE: $bare_ms ms | $(ratio "$decay_ms" "$bare_ms") | $(mb "$run_rss") (whole \`conveyor run\`) |
| processPartnerUpload, $rows rows, $size bytes (request to done) | $import_ms ms ($(awk -v r="$rows" -v t="$import_ms" 'BEGIN { printf "%.0f", r * 1000 / t }') rows/s) | COPY + INSERT: $((copy_ms + insert_ms)) ms (COPY alone $copy_ms ms) | $(ratio "$import_ms" "$((copy_ms + insert_ms))") | $(mb "$imp_rss") (\`run --effects-only\`) |
EOF
exit 0

# test_dashboard.sh - the dashboard in a real headless Chromium (Debian's
# chromium, driven by puppeteer-core from tests/browser, which never
# downloads a browser): the page loads without a console error, shows the
# running domains' partitions and lag, and pausing a route from the page
# pauses it (a row in conveyor.controls, audited as api:admin). It also
# writes the screenshot the README shows (SCREENSHOT, default in $T).
command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh)"
[ -x /usr/bin/chromium ] || fail "chromium is not installed (scripts/install-deps.sh)"
browser_dir=$CONVEYOR_SOURCE_DIR/tests/browser
if [ ! -d "$browser_dir/node_modules/puppeteer-core" ]; then
    log "installing puppeteer-core (npm ci, tests/browser/package-lock.json)"
    (cd "$browser_dir" && npm ci --ignore-scripts --no-audit --no-fund >"$T/npm.log" 2>&1) ||
        { cat "$T/npm.log" >&2; fail "npm ci"; }
fi

export CONVEYOR_ADMIN_TOKEN=dash-$RANDOM$RANDOM
# the marketplace itself: its schedules show too
export CONVEYOR_TOPOLOGY=$CONVEYOR_SOURCE_DIR/topology/marketplace.cfg
start_broker
migrate
start_conveyor run --http-port-file "$T/port"
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || fail "no HTTP port written"
port=$(cat "$T/port")
produce_leads 0 300 0
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" 300 60

log "driving the dashboard at http://127.0.0.1:$port/"
CONVEYOR_URL=http://127.0.0.1:$port/ EXPECT_GROUPS=conveyor.leads,conveyor.verification \
    SCREENSHOT=${SCREENSHOT:-$T/dashboard.png} CHROMIUM=/usr/bin/chromium \
    timeout 120 node "$browser_dir/dashboard.mjs" >"$T/browser.log" 2>&1 ||
    { cat "$T/browser.log" >&2; fail "the dashboard test failed"; }
cat "$T/browser.log" >&2
got=$(q "SELECT actor || ' ' || reason FROM conveyor.controls WHERE scope = 'route' AND target = 'leads/marketplace.lead.submitted'")
[ "$got" = "api:admin paused from the dashboard test" ] ||
    fail "conveyor.controls has '$got' for the route, expected the dashboard's pause"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE action = 'pause' AND actor = 'api:admin'")" = 1 ] ||
    fail "the pause was not audited as api:admin"
log "dashboard: loaded without errors, showed the lag, paused the route"

# the schedules' gauges, and a manual run through the API
HTTP=http://127.0.0.1:$port
scrape
[ "$(grep -c '^conveyor_schedule_next_run_timestamp_seconds{' "$T/metrics.txt")" = 12 ] ||
    fail "not 12 schedules' next run times"
awk -v now="$(date +%s)" '/^conveyor_schedule_next_run_timestamp_seconds\{/ && $NF < now { bad = 1 }
    END { exit bad }' "$T/metrics.txt" || fail "a next run time in the past"
code=$(http_code "$HTTP/api/v1/schedules/weeklyPartnerPayouts/trigger" \
    -H "Authorization: Bearer $CONVEYOR_ADMIN_TOKEN" --data '{"reason": "dashboard test"}')
[ "$code" = 200 ] || fail "trigger: $code $(cat "$T/http.body")"
for _ in $(seq 50); do
    scrape
    grep -q '^conveyor_schedule_last_success_timestamp_seconds{schedule="weeklyPartnerPayouts"}' "$T/metrics.txt" && break
    sleep 0.2
done
grep -q '^conveyor_schedule_last_success_timestamp_seconds{schedule="weeklyPartnerPayouts"}' "$T/metrics.txt" ||
    fail "the manual run is not the schedule's last success"
[ "$(q "SELECT count(*) FROM conveyor.audit_log WHERE action = 'trigger' AND actor = 'api:admin'")" = 1 ] ||
    fail "the trigger was not audited as api:admin"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || { cat "$T/promtool.out" >&2; fail "promtool check metrics"; }
log "schedule gauges for 12 schedules; a run triggered through the API is the last success"

# Failover: two tickers with the production timings (tick_ms 1000,
# leader_timeout_ms 5000); the leader is SIGKILLed three times, SIGSTOPped
# once and has its Postgres session terminated once. Measures how long the
# standby takes to lead and to fire, on a clock at 60x (a per-minute
# schedule fires every real second), and checks that no fire time was lost
# or doubled across the five failovers.
ticker_topology "$T/topology.cfg" "
    { name = \"everyMinute\"; cron = \"* * * * *\";
      event = \"marketplace.job.retry_stalled_uploads\"; catch_up = \"all\"; }"
ticker_config "$T/conveyor.cfg" 1000 60000 5000
start_broker
migrate
sim_clock 2026-06-01T00:00:00Z 60 0
start_conveyor ticker-1 --ticker-only
start_conveyor ticker-2 --ticker-only
wait_for "SELECT count(*) > 0 FROM conveyor.schedule_runs WHERE schedule = 'everyMinute'" t 30
holder() { q "SELECT holder FROM conveyor.ticker_leader"; }
session() { q "SELECT backend_pid FROM conveyor.ticker_leader"; }
now_ms() { date +%s%3N; }
n=0
# failover HOW: takes the leader down HOW and waits for a new leading
# session (after SIGKILL or SIGSTOP the standby's; after a terminated
# session, whichever ticker takes the free lock first, possibly the old
# leader reconnecting); prints "HOW lead_ms fire_ms"
failover() {
    local how=$1 old old_session pid t0 t1="" t2=""
    old=$(holder)
    old_session=$(session)
    pid=${old##*:}
    t0=$(now_ms)
    case $how in
    SIGKILL) kill -KILL "$pid" ;;
    SIGSTOP) kill -STOP "$pid" ;;
    terminate) q "SELECT pg_terminate_backend(backend_pid) FROM conveyor.ticker_leader" >/dev/null ;;
    esac
    for _ in $(seq 600); do
        [ -z "$t1" ] && [ "$(session)" != "$old_session" ] && t1=$(now_ms)
        if [ -n "$t1" ]; then
            t2=$(q "SELECT (extract(epoch FROM min(recorded_at)) * 1000)::bigint FROM conveyor.schedule_runs
                     WHERE ticker = (SELECT holder FROM conveyor.ticker_leader) AND recorded_at > to_timestamp($t0 / 1000.0)")
            [ -n "$t2" ] && break
        fi
        sleep 0.05
    done
    [ -n "$t1" ] && [ -n "$t2" ] || fail "$how: no ticker took over within 30 s"
    case $how in
    SIGKILL|SIGSTOP) [ "$(holder)" != "$old" ] || fail "$how: the stopped leader still leads" ;;
    esac
    echo "$how $((t1 - t0)) $((t2 - t0))" | tee -a "$T/failover.txt" >&2
    [ $((t2 - t0)) -lt 15000 ] || fail "$how: the new leader took $((t2 - t0)) ms to fire"
    case $how in
    SIGKILL) n=$((n + 1)); start_conveyor "ticker-r$n" --ticker-only ;;
    SIGSTOP) kill -CONT "$pid" ;;
    esac
    sleep 3
}
for how in SIGKILL SIGKILL SIGSTOP terminate SIGKILL; do
    failover $how
done
# no fire time lost or doubled: one run per minute from the first to the last
read -r first last count < <(q "SELECT (extract(epoch FROM min(fire_time)))::bigint, (extract(epoch FROM max(fire_time)))::bigint, count(*)
    FROM conveyor.schedule_runs WHERE schedule = 'everyMinute'" | tr '|' ' ')
[ "$count" = $(( (last - first) / 60 + 1 )) ] ||
    fail "everyMinute: $count runs between $first and $last, expected $(( (last - first) / 60 + 1 ))"
skipped=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE schedule = 'everyMinute' AND kind = 'skipped'")
[ "$skipped" = 0 ] || fail "everyMinute (catch_up all) skipped $skipped fires"
awk '{ lead[$1] = lead[$1] " " $2; fire[$1] = fire[$1] " " $3 }
     END { for (h in lead) printf "failover after %s: leading in%s ms; first fire in%s ms\n", h, lead[h], fire[h] }' \
    "$T/failover.txt" >&2
echo "ticker failover test: 6 passed, 0 failed"

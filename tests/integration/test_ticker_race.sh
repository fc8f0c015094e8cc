# Two leaders at once cannot double-fire (DESIGN.md I-7): both tickers skip
# the advisory lock (CONVEYOR_TICKER_FORCE_LEAD=1) and tick the same
# schedules over two simulated months. The unique (schedule, fire time)
# index and the outbox write in the same statement are the guarantee.
ticker_topology "$T/topology.cfg" "
    { name = \"everyMinute\"; cron = \"* * * * *\";
      event = \"marketplace.job.retry_stalled_uploads\"; catch_up = \"all\";
      catch_up_window_s = 31622400; }"
ticker_config "$T/conveyor.cfg" 20 43200000 1000
start_broker
migrate
sim_clock 2026-03-01T00:00:00Z 262800 2000
export CONVEYOR_TICKER_FORCE_LEAD=1
start_conveyor ticker-a --ticker-only
start_conveyor ticker-b --ticker-only
sleep 22
kill -TERM "${PIDS[@]}" 2>/dev/null || true
sleep 2
FIRST=$(q "SELECT to_char(min(first_seen) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM conveyor.schedules")
LAST=$(q "SELECT to_char(max(fire_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM conveyor.schedule_runs WHERE schedule = 'everyMinute'")
"$CONVEYOR_BIN" schedules --between "$FIRST" "$LAST" --name everyMinute | awk '{ print $2 }' | sort >"$T/expected"
q "SELECT (extract(epoch FROM fire_time) * 1000)::bigint FROM conveyor.schedule_runs WHERE schedule = 'everyMinute'" | sort >"$T/actual"
log "everyMinute: $(wc -l <"$T/expected") fire times from $FIRST to $LAST"
[ "$(wc -l <"$T/expected")" -gt 40000 ] || fail "too few fire times for a race"
diff "$T/expected" "$T/actual" >/dev/null || fail "everyMinute's runs differ from its fire times"
outbox=$(q "SELECT count(*) FROM conveyor.outbox")
fired=$(q "SELECT count(*) FROM conveyor.schedule_runs WHERE kind IN ('scheduled', 'catch_up')")
distinct=$(q "SELECT count(DISTINCT event_id) FROM conveyor.outbox")
[ "$outbox" = "$fired" ] && [ "$distinct" = "$fired" ] ||
    fail "$outbox outbox rows ($distinct distinct) for $fired fired runs"
races=$(cat "$T/ticker-a.log" "$T/ticker-b.log" | grep -c "already recorded" || true)
writers=$(q "SELECT count(DISTINCT ticker) FROM conveyor.schedule_runs")
log "both tickers wrote runs: $writers writers; $races ticks found fire times the other had recorded"
[ "$writers" = 2 ] || fail "only $writers ticker wrote runs: no race happened"
[ "$races" -gt 0 ] || fail "the tickers never collided on a fire time"
echo "ticker race test: 4 passed, 0 failed"

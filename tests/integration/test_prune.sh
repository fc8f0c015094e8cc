# Retention of the engine's bookkeeping: the leading relay deletes inbox
# rows past consumer.inbox_retention_hours (the dedupe window) and published
# outbox rows past outbox.retention_hours, finished calls to other services
# (effects) past the inbox's window, and nothing younger, and never an
# unpublished outbox row nor a failed call however old.
start_broker
migrate
q "INSERT INTO conveyor.inbox (group_id, event_id, processed_at)
   SELECT 'g', 'old-' || n, now() - interval '200 hours' FROM generate_series(1, 25000) n"
q "INSERT INTO conveyor.inbox (group_id, event_id, processed_at)
   SELECT 'g', 'young-' || n, now() - interval '100 hours' FROM generate_series(1, 300) n"
q "INSERT INTO conveyor.outbox (topic, value, event_id, event_type, source, event_time, created_at, published_at)
   SELECT 'marketplace.verification', '\\x00', 'old-' || n, 'x', 'x', 0, now() - interval '30 hours', now() - interval '30 hours'
   FROM generate_series(1, 12000) n"
q "INSERT INTO conveyor.outbox (topic, value, event_id, event_type, source, event_time, created_at, published_at)
   SELECT 'marketplace.verification', '\\x00', 'recent-' || n, 'x', 'x', 0, now() - interval '2 hours', now() - interval '2 hours'
   FROM generate_series(1, 50) n"
q "INSERT INTO conveyor.outbox (topic, value, event_id, event_type, source, event_time, created_at)
   VALUES ('marketplace.verification', '\\x00', 'unpublished-1', 'x', 'x', 0, now() - interval '300 hours')"
q "INSERT INTO conveyor.effects (target, method, path, idempotency_key, outcome_type, domain,
   source_event_id, state, finished_at)
   SELECT 'stripe', 'POST', '/v1/transfers', 'k-' || n, 'x', 'payouts', 'e',
          CASE WHEN n <= 40 THEN 'done' WHEN n <= 50 THEN 'cancelled'
               WHEN n <= 60 THEN 'failed' ELSE 'done' END,
          now() - CASE WHEN n <= 60 THEN interval '200 hours' ELSE interval '100 hours' END
   FROM generate_series(1, 70) n"
start_conveyor relay --relay-only
wait_for "SELECT count(*) FROM conveyor.inbox WHERE event_id LIKE 'old-%'" 0 30
wait_for "SELECT count(*) FROM conveyor.outbox WHERE event_id LIKE 'old-%'" 0 30
[ "$(q "SELECT count(*) FROM conveyor.inbox WHERE event_id LIKE 'young-%'")" = 300 ] || fail "young inbox rows were pruned"
[ "$(q "SELECT count(*) FROM conveyor.outbox WHERE event_id LIKE 'recent-%'")" = 50 ] || fail "recent outbox rows were pruned"
[ "$(q "SELECT count(*) FROM conveyor.outbox WHERE event_id = 'unpublished-1'")" = 1 ] || fail "an unpublished row was pruned"
[ "$(q "SELECT string_agg(state || '=' || n, ',' ORDER BY state) FROM (SELECT state, count(*) n
        FROM conveyor.effects GROUP BY 1) s")" = "done=10,failed=10" ] ||
    fail "finished calls were not pruned as they should be"
grep -q 'pruned 25000 inbox rows and 50 finished calls older than 168h, and 12000 published outbox rows older than 24h' "$T/relay.log" ||
    fail "no prune line in the relay's log"
echo "prune test: 1 passed, 0 failed"

# Hot-path statements stay index-bound however large the engine's tables
# grow. A consumer prepares its statements while the tables are empty (a
# fresh install); Postgres soon caches a generic plan, and a generic plan
# made for an empty table may be a sequential scan. If the table then grows,
# every batch costs time proportional to all the events ever processed.
# Here the tables grow by 2,000,000 rows under a running consumer and relay;
# afterwards each hot statement must touch a bounded number of buffer pages
# per call: a batch of 500 touches a few pages per row (index descents,
# heap, index inserts), about 6,000 at most; a scan touches over 15,000.
start_broker
migrate
q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
# no autovacuum: the plans must not depend on its timing
q "ALTER TABLE conveyor.inbox SET (autovacuum_enabled = false)"
q "ALTER TABLE conveyor.outbox SET (autovacuum_enabled = false)"
start_conveyor c --domain leads
produce_leads 0 5000 0
wait_for "SELECT count(*) FROM conveyor.inbox" 5000 120
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL" 0 60
q "INSERT INTO conveyor.inbox (group_id, event_id)
   SELECT 'conveyor.leads', 'old-' || g FROM generate_series(1, 2000000) g"
q "INSERT INTO conveyor.outbox (topic, value, event_id, event_type, source,
       event_time, published_at)
   SELECT 'marketplace.verification', '\\x00', 'old-' || g, 'x', 'x', 0, now()
   FROM generate_series(1, 2000000) g"
q "SELECT pg_stat_statements_reset()"
produce_leads 5000 20000 10
wait_for "SELECT count(*) FROM conveyor.inbox WHERE event_id LIKE 'evt-%'" 25000 180
wait_for "SELECT count(*) FROM conveyor.outbox WHERE published_at IS NULL" 0 120
q "SELECT calls, (shared_blks_hit + shared_blks_read) / calls AS pages,
          regexp_replace(left(query, 70), '\\s+', ' ', 'g')
   FROM pg_stat_statements
   WHERE query ~* '(conveyor\\.inbox|conveyor\\.outbox)' AND calls >= 5
     AND query !~* 'count\\('
   ORDER BY pages DESC" >"$T/plans.out"
cat "$T/plans.out" >&2
# the inbox look-up and insert, the outbox insert, the relay's read and
# update: all recorded
[ "$(wc -l <"$T/plans.out")" -ge 5 ] || fail "hot statements missing"
worst=$(head -1 "$T/plans.out" | cut -d'|' -f2)
log "most pages per call of a hot statement: $worst"
[ "$worst" -lt 12000 ] || fail "a hot statement reads $worst pages per call: a table scan"
echo "plans test: 1 passed, 0 failed"

# Zombie: two consumers in one group. Consumer a is frozen in the middle of
# a batch until the group gives its partitions to b and b has applied
# every event, then thawed: its commit must be refused (the offset
# compare-and-set, or the inbox), and the witnesses stay exact.
#
# To hold a mid-batch deterministically, a connects to Postgres as its own
# role, and the test SIGSTOPs a's backend only while it is idle outside a
# transaction (so it holds no lock that b could wait on), then waits until
# a's next batch sits unread in that backend's socket (a blocks on its first
# round trip), then SIGSTOPs a itself so the group's session times out.
# Thawing the backend and then a lets the stale batch run to its commit.
start_broker
migrate
q "CREATE ROLE zombie LOGIN SUPERUSER PASSWORD '${PGPASSWORD:-}'" >/dev/null
PGUSER=zombie start_conveyor a --domain leads --no-relay
A=$LAST_PID
start_conveyor b --domain leads --no-relay
B=$LAST_PID
produced=0
feed() { produce_leads "$produced" "$1" 0; produced=$((produced + $1)); }
feed 2000
wait_for "SELECT count(*) > 0 FROM conveyor.inbox" t 60
a_backend_sql="SELECT pid FROM pg_stat_activity WHERE usename = 'zombie' AND application_name LIKE 'conveyor/leads#%'"
wait_for "SELECT count(*) FROM ($a_backend_sql) s" 1 30
BACKEND=$(q "$a_backend_sql")
thaw() {
    kill -CONT "$BACKEND" 2>/dev/null || true
    kill -CONT "$A" 2>/dev/null || true
}
# a_owns: consumer a's latest assignment event is an assignment
a_owns() { grep -E 'msg="(assigned|revoked) [0-9]+ partitions' "$T/a.log" | tail -n 1 | grep -q assigned; }
for _ in $(seq 600); do a_owns && break; sleep 0.1; done
a_owns || fail "consumer a was never given partitions"

# unread bytes in the receive queue of a's (frozen) backend's socket
unread() {
    ss -Htnp state established "( sport = :${PGPORT:-5432} )" 2>/dev/null |
        awk -v pid="pid=$BACKEND," 'index($0, pid) { print $1; found = 1; exit }
                                    END { if (!found) print 0 }'
}
# keep events flowing, until a is frozen, so that a starts a batch on its
# frozen session however many tries that takes (a fixed amount ran out
# once before a's backend was caught idle); the feeder writes how many it
# produced
(
    n=0
    while [ ! -e "$T/feed.stop" ]; do
        gen_leads $((produced + n)) 500 0 | "$CONVEYOR_BIN" produce \
            --type marketplace.lead.submitted --envelope 2>>"$T/produce.log" || exit 1
        n=$((n + 500))
    done
    echo "$n" >"$T/fed"
) &
feeder=$!
frozen=0
for try in $(seq 100); do
    kill -STOP "$BACKEND"
    # Stopped mid-statement, the backend may hold a lightweight lock that
    # every other session, this check's own included, then waits for: the
    # check is bounded, and a check that does not answer means "not idle"
    # (the backend is let go below, and with it the lock).
    idle=$(PGCONNECT_TIMEOUT=3 timeout 5 psql -X -Atq -c "SELECT state = 'idle'
           AND backend_xid IS NULL AND backend_xmin IS NULL
           FROM pg_stat_activity WHERE pid = $BACKEND" 2>/dev/null || true)
    if [ "$idle" = t ]; then
        # a batch's first round trip (BEGIN, the inbox look-up of up to 500
        # ids) is thousands of bytes; a kill switch refresh is a few hundred
        for _ in $(seq 50); do
            n=$(unread)
            [ "$n" -ge 2000 ] && { frozen=1; break; }
            sleep 0.1
        done
    fi
    [ "$frozen" = 1 ] && break
    kill -CONT "$BACKEND" # mid-statement, or no batch came: try again
    sleep 0.05
done
[ "$frozen" = 1 ] || { touch "$T/feed.stop"; thaw; fail "never caught a's batch waiting on its idle backend"; }
before=$(grep -c 'assigned 36 partitions' "$T/b.log" || true)
kill -STOP "$A"
log "consumer a (backend $BACKEND idle, $n bytes of its batch unread) and a stopped (try $try)"

# the group gives a's partitions to b after the session timeout, and b
# applies every event, the ones of a's stale batch among them
now=$before
for _ in $(seq 600); do
    now=$(grep -c 'assigned 36 partitions' "$T/b.log" || true)
    [ "$now" -gt "$before" ] && break
    sleep 0.1
done
[ "$now" -gt "$before" ] || { thaw; fail "b never took over all partitions"; }
touch "$T/feed.stop"
wait "$feeder" || { thaw; fail "the feeder failed"; }
produced=$((produced + $(cat "$T/fed")))
got=""
for _ in $(seq 900); do
    got=$(distinct_events)
    [ "$got" = "$produced" ] && break
    sleep 0.2
done
[ "$got" = "$produced" ] || { thaw; fail "b applied $got of $produced events while a was stopped"; }
log "b applied all $produced events; thawing a"
thaw
for _ in $(seq 600); do grep -q 'commit refused' "$T/a.log" && break; sleep 0.1; done
fenced=$(grep -c 'commit refused' "$T/a.log" || true)
[ "$fenced" -gt 0 ] || fail "the zombie's commit was never refused"
grep 'commit refused' "$T/a.log" | head -n 1 >&2
wait_for "SELECT count(*) FROM conveyor.inbox WHERE group_id = 'conveyor.leads'" $produced 180
wait_drained 60
check_witnesses $produced
check_offsets_at_end
log "fenced commits: $fenced"
echo "zombie test: 1 passed, 0 failed"

# test_install.sh - an installed conveyor finds its files. `cmake --install`
# from the build of $CONVEYOR_BIN into a temporary prefix; the installed
# binary, run from another directory with no CONVEYOR_* variables, reports
# its version, checks the installed topology against the installed schemas
# (through the installed etc/conveyor/conveyor.cfg) and migrates this
# test's Postgres, without a NOTICE, twice. A tree staged with DESTDIR for
# another prefix works from where it lies too (paths relative to the binary).

bdir=$(dirname "$(readlink -f "$CONVEYOR_BIN")")
[ -f "$bdir/CMakeCache.txt" ] ||
    fail "$CONVEYOR_BIN is not in a CMake build directory: cannot install it"
P=$T/prefix
cmake --install "$bdir" --prefix "$P" >"$T/install.log" 2>&1 ||
    fail "cmake --install: $(tail -5 "$T/install.log")"
for f in bin/conveyor etc/conveyor/conveyor.cfg share/conveyor/schemas/ids.cfg \
    share/conveyor/topology/marketplace.cfg \
    share/conveyor/migrations/0001_conveyor_engine.sql; do
    [ -e "$P/$f" ] || fail "not installed: $P/$f"
done
log "installed into $P: $(find "$P" -type f | wc -l) files"

# nothing of the repository or of lib.sh's settings
unset CONVEYOR_CONFIG CONVEYOR_TOPOLOGY CONVEYOR_SCHEMAS CONVEYOR_KAFKA_BROKERS \
    DATABASE_URL
mkdir "$T/elsewhere"
cd "$T/elsewhere"

out=$("$P/bin/conveyor" --version 2>&1) || fail "--version: $out"
grep -qE '^conveyor [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out" || fail "--version said: $out"
out=$("$P/bin/conveyor" topology check 2>&1) || fail "topology check: $out"
grep -q "^$P/.*share/conveyor/topology/marketplace.cfg: ok (" <<<"$out" ||
    fail "topology check did not use the installed topology: $out"
out=$("$P/bin/conveyor" migrate --help 2>&1) || fail "migrate --help: $out"

"$P/bin/conveyor" migrate >"$T/migrate1.out" 2>"$T/migrate1.log" ||
    fail "installed migrate: $(cat "$T/migrate1.log")"
if grep -q NOTICE "$T/migrate1.log" "$T/migrate1.out"; then
    fail "migrate on a fresh database printed a NOTICE: $(cat "$T/migrate1.log")"
fi
n=$(ls "$P/share/conveyor/migrations"/*.sql | wc -l)
[ "$(q 'SELECT count(*) FROM conveyor.schema_migrations')" = "$n" ] ||
    fail "not all $n migrations applied"
"$P/bin/conveyor" migrate >"$T/migrate2.out" 2>"$T/migrate2.log" ||
    fail "second migrate: $(cat "$T/migrate2.log")"
if grep -qE 'NOTICE|applied migration' "$T/migrate2.log"; then
    fail "the second migrate was not silent: $(cat "$T/migrate2.log")"
fi
log "the installed binary checked the topology and applied $n migrations"

# staged for another prefix: found relative to the binary
DESTDIR=$T/stage cmake --install "$bdir" --prefix /opt/conveyor-test \
    >"$T/install2.log" 2>&1 || fail "DESTDIR install: $(tail -5 "$T/install2.log")"
out=$("$T/stage/opt/conveyor-test/bin/conveyor" topology check 2>&1) ||
    fail "staged topology check: $out"
grep -q "^$T/stage/opt/conveyor-test/.*: ok (" <<<"$out" ||
    fail "the staged binary did not use its own tree: $out"

# no installed copy and nothing configured: the error names the setting
mkdir "$T/bare"
cp "$P/bin/conveyor" "$T/bare/conveyor"
printf 'schemas = { dir = "nowhere"; };\n' >"$T/bare.cfg"
out=$("$T/bare/conveyor" -c "$T/bare.cfg" topology check 2>&1) && fail "a missing schemas.dir passed"
grep -q 'schemas.dir is ".*nowhere" (.*bare.cfg:1)' <<<"$out" &&
    grep -q 'CONVEYOR_SCHEMAS' <<<"$out" ||
    fail "the error does not name schemas.dir, where it came from and CONVEYOR_SCHEMAS: $out"
log "PASS: installed and staged binaries find their files"

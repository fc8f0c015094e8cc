#!/usr/bin/env bash
# The long campaigns that do not fit in CI's hour, each on its own:
#   scripts/soak.sh asan          the soak tests (label soak: the crash,
#                                 outage and simulated-year tests) under
#                                 AddressSanitizer + UBSan
#   scripts/soak.sh zombie [N]    test_zombie N times in a row (default 50)
#   scripts/soak.sh TEST [N]      any integration test N times in a row
# Stops at the first failure and says which run it was.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
what=${1:-asan}
jobs=$(nproc)
if [ "$what" = asan ]; then
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCONVEYOR_SANITIZE=ON >/dev/null
    cmake --build build-asan -j"$jobs" >/dev/null
    cd build-asan
    exec env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -L soak
fi
[ "$what" = zombie ] && what=test_zombie
n=${2:-50}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
cd build
for i in $(seq "$n"); do
    start=$(date +%s)
    if ! ctest --output-on-failure -R "^integration\.$what\$" >"soak-$what.log" 2>&1; then
        echo "$what: run $i of $n failed (build/soak-$what.log)"
        exit 1
    fi
    echo "$what: run $i of $n passed ($(( $(date +%s) - start )) s)"
done
echo "$what: $n of $n runs passed"

#!/usr/bin/env bash
# Quick start, command 2: install, build and run the whole test suite
# (CTest): unit tests, the unit tests under valgrind, the integration tests
# (real Postgres via pg_virtualenv, the dev broker in its own process,
# conveyor processes killed with real signals); then the same suite again
# built with AddressSanitizer and UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    unit tests only (both builds)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
label=()
[ "${1:-}" = "--quick" ] && label=(-L unit)
jobs=$(nproc)

echo "== build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
echo "== test suite"
(cd build && ctest --output-on-failure "${label[@]}")

echo "== sanitizer build (address, undefined)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCONVEYOR_SANITIZE=ON \
    >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
echo "== test suite under ASan+UBSan (the soak tests: scripts/soak.sh)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -LE 'valgrind|soak' "${label[@]}")

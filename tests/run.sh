#!/bin/sh
# Install dependencies, build everything with AddressSanitizer + UBSan, and
# run the whole test suite (unit and integration) with ctest.
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DPARTNERD_SANITIZE=ON >/dev/null
cmake --build build-test -j2
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build-test --output-on-failure -j2

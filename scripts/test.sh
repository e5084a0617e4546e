#!/usr/bin/env bash
# Builds tpmkms and runs every test; exits non-zero if anything fails.
#
#   1. build/      -DTPMKMS_WERROR=ON; ctest: unit (cmocka) and integration
#                  (test/integration/*.sh against swtpm)
#      build/      static analysis: test/static/clang_tidy.sh (.clang-tidy's
#                  checks over provider/ and cli/, fails on any warning)
#      build/      valgrind memcheck: ctest -L valgrind (the unit tests and
#                  test/integration/valgrind_flows.sh; test/valgrind.supp)
#   2. build-asan/ -DTPMKMS_SANITIZE=ON (ASan + UBSan); ctest: every unit
#                  and integration test (what each process is checked for:
#                  the comment above that stage)
#   3. build-fuzz/ CC=clang -DTPMKMS_FUZZ=ON: the libFuzzer targets
#                  (test/fuzz/), each run 30 s by test/fuzz/run.sh
#
# Every stage runs even when an earlier one failed, so one run shows all
# that is broken; the summary at the end names the failed stages.
#
# Needs the packages scripts/setup.sh installs; run as root (the tests make
# machine keys).  The build directories are in the source tree
# (TPMKMS_BUILD_DIR and TPMKMS_ASAN_BUILD_DIR move them).
# CTEST_PARALLEL_LEVEL (default 2) sets how many tests run at once: each
# integration test has its own swtpm, HOME and key stores.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TPMKMS_BUILD_DIR:-$SRC/build}
ASAN_BUILD=${TPMKMS_ASAN_BUILD_DIR:-$SRC/build-asan}
FUZZ_BUILD=${TPMKMS_FUZZ_BUILD_DIR:-$SRC/build-fuzz}
readonly SRC BUILD ASAN_BUILD FUZZ_BUILD
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-2}
# The test scripts get these from CMake; do not let a caller's leak in.
unset TPMKMS_BUILD_DIR TPMKMS_SOURCE_DIR TPMKMS_ASAN_BUILD_DIR TPMKMS_FUZZ_BUILD_DIR

failed=()

# stage NAME CMD...: runs CMD, remembers NAME if it fails.
stage() {
    local name=$1
    shift
    printf '\n=== %s\n' "$name"
    if ! "$@"; then
        printf '=== FAILED: %s\n' "$name"
        failed+=("$name")
        return 1
    fi
}

build() {
    local dir=$1
    shift
    cmake -S "$SRC" -B "$dir" -DTPMKMS_WERROR=ON "$@" && cmake --build "$dir" -j2
}

if stage "build ($BUILD, -Werror)" build "$BUILD" -DTPMKMS_SANITIZE=OFF; then
    stage "tests: unit and integration ($BUILD)" \
        ctest --test-dir "$BUILD" --output-on-failure --no-tests=error -LE valgrind
fi

if [[ -f $BUILD/compile_commands.json ]]; then
    stage "static analysis: clang-tidy over provider/ and cli/ ($BUILD)" \
        bash "$SRC/test/static/clang_tidy.sh" "$BUILD" "$SRC"
    stage "valgrind memcheck: unit tests and valgrind_flows ($BUILD)" \
        ctest --test-dir "$BUILD" --output-on-failure --no-tests=error -L valgrind
fi

# ASan + UBSan over every unit and integration test (not the
# integration-global reruns of the same scripts), LeakSanitizer on.
#   - ASan-built programs: the unit tests, the tpmkms command and the C
#     drivers of test/integration (test_backend_esys, exit_holding_key, ...)
#     link the sanitizers; their leaks, ours or tpm2-tss's, fail the test.
#   - Programs that are not (openssl, nginx, openvpn, curl) load the
#     sanitized tpmkms.so through helpers.sh's wrapper, which preloads the
#     runtime (and test/sanitizer/asan_init_first.so, without which curl
#     deadlocks at start): the provider's code in them is checked by ASan
#     and UBSan, and LeakSanitizer runs in openssl, curl and openvpn; not in
#     nginx, which leaves its pools to the process's exit.  nginx's and
#     openvpn's reports go to files that fail the test (helpers.sh).
#   - Every integration test runs with intercept_tls_get_addr=0 (helpers.sh
#     says why: GCC 12's runtime misreads dynamic TLS blocks, and
#     LeakSanitizer's tracer then crashes at exit).
#   - tpm2-tools, fixtures only, run without tpmkms and without the runtime.

if stage "build ($ASAN_BUILD, AddressSanitizer + UBSan)" \
    build "$ASAN_BUILD" -DTPMKMS_SANITIZE=ON; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        stage "tests under ASan + UBSan: unit and integration ($ASAN_BUILD)" \
        ctest --test-dir "$ASAN_BUILD" --output-on-failure --no-tests=error \
        -L '^(unit|integration)$'
fi

# libFuzzer needs clang; only the fuzz targets and the core they link are
# built (the module would need clang's shared ASan runtime).
build_fuzz() {
    CC=clang cmake -S "$SRC" -B "$FUZZ_BUILD" -DTPMKMS_WERROR=ON \
        -DTPMKMS_FUZZ=ON -DTPMKMS_BUILD_TESTS=OFF &&
        cmake --build "$FUZZ_BUILD" -j2 --target fuzz
}

if stage "build ($FUZZ_BUILD, libFuzzer + ASan + UBSan)" build_fuzz; then
    TPMKMS_FUZZ_BUILD_DIR=$FUZZ_BUILD \
        stage "fuzz: each target of test/fuzz 30 s ($FUZZ_BUILD)" \
        "$SRC/test/fuzz/run.sh" 30
fi

printf '\n'
if ((${#failed[@]})); then
    printf '=== %d stage(s) failed:\n' "${#failed[@]}"
    printf '    %s\n' "${failed[@]}"
    exit 1
fi
printf '=== all stages passed\n'

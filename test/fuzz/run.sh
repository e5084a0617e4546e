#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 30); builds nothing.
#
#   test/fuzz/run.sh [SECONDS]        (FUZZ_JOBS targets at once, default 2)
#
# Targets: the fuzz_* executables in $TPMKMS_FUZZ_BUILD_DIR (default
# build-fuzz/, made by: CC=clang cmake -S . -B build-fuzz -DTPMKMS_FUZZ=ON
# -DTPMKMS_BUILD_TESTS=OFF && cmake --build build-fuzz -j2 --target fuzz).
# Each runs on a copy of its seed corpus (test/fuzz/corpus/<target>/) in a
# temp directory, so the seeds in git stay as they are.  A crash, leak,
# sanitizer report, round-trip abort or timeout stops that target: its
# input is kept as $BUILD/fuzz-artifacts/<target>-crash-... (the path is
# printed) and the script exits non-zero after running the others.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${TPMKMS_FUZZ_BUILD_DIR:-$SRC/build-fuzz}
SECONDS_EACH=${1:-30}
readonly SRC BUILD SECONDS_EACH

if [[ ! $SECONDS_EACH =~ ^[1-9][0-9]*$ ]]; then
    printf 'usage: %s [SECONDS]\n' "$0" >&2
    exit 64
fi

targets=()
for src in "$SRC"/test/fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
done
for t in "${targets[@]}"; do
    if [[ ! -x $BUILD/test/fuzz/$t ]]; then
        printf 'fuzz: %s is not built: CC=clang cmake -S %s -B %s -DTPMKMS_FUZZ=ON -DTPMKMS_BUILD_TESTS=OFF && cmake --build %s -j2 --target fuzz\n' \
            "$BUILD/test/fuzz/$t" "$SRC" "$BUILD" "$BUILD" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tpmkms-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
artifacts=$BUILD/fuzz-artifacts
mkdir -p "$artifacts" || exit 1

# Leaks are findings too; UBSan stops at its first report (the build has
# -fno-sanitize-recover=undefined) and shows where.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one TARGET: one target on a copy of its seeds; its exit code in
# $work/TARGET.rc.
run_one() {
    local t=$1 corpus=$work/$1
    mkdir -p "$corpus"
    if [[ -d $SRC/test/fuzz/corpus/$t ]]; then
        cp "$SRC"/test/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
    fi
    "$BUILD/test/fuzz/$t" "$corpus" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
        >"$artifacts/$t.log" 2>&1
    echo $? >"$work/$t.rc"
}

# FUZZ_JOBS targets at once (default 2, one per core of the CI machine):
# each still gets its SECONDS_EACH of its own.
jobs_max=${FUZZ_JOBS:-2}
for t in "${targets[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs_max)); do
        wait -n
    done
    run_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
    log=$artifacts/$t.log
    rc=$(cat "$work/$t.rc" 2>/dev/null || echo 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if ((rc == 0)); then
        printf 'fuzz %s: %s executions, 0 findings\n' "$t" "${execs:-?}"
    else
        printf 'fuzz %s: FAILED (libFuzzer exit %d) after %s executions; log %s\n' \
            "$t" "$rc" "${execs:-?}" "$log"
        # The report without libFuzzer's progress lines ("#123 NEW ...").
        grep -v '^#[0-9]' "$log" | tail -n 60 | sed 's/^/    /'
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    printf 'fuzz: %d target(s) found something: %s (inputs in %s)\n' \
        "${#failed[@]}" "${failed[*]}" "$artifacts"
    exit 1
fi

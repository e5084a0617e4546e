#!/usr/bin/env bash
# clang-tidy over every .c file of provider/ and cli/, with the checks of
# the top-level .clang-tidy and the flags of BUILD_DIR/compile_commands.json
# (CMake writes it: CMAKE_EXPORT_COMPILE_COMMANDS is on).  Fails on any
# warning, printing each; a file missing from compile_commands.json (not
# built on this platform, e.g. provider/platform/windows.c) is skipped and
# named.
#   bash test/static/clang_tidy.sh BUILD_DIR [SOURCE_DIR]
# TPMKMS_TIDY_JOBS (default 2) files at once.
set -uo pipefail
build=${1:?usage: clang_tidy.sh BUILD_DIR [SOURCE_DIR]}
src=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=$(cd "$build" && pwd) || exit 1
cd "$src" || exit 1
tidy=${CLANG_TIDY:-clang-tidy}
command -v "$tidy" >/dev/null || { echo "clang_tidy: missing program: $tidy — run scripts/setup.sh" >&2; exit 1; }
[[ -f $build/compile_commands.json ]] || { echo "clang_tidy: no $build/compile_commands.json (configure with CMake first)" >&2; exit 1; }
[[ -f .clang-tidy ]] || { echo "clang_tidy: no .clang-tidy in $src" >&2; exit 1; }

files=()
while IFS= read -r f; do
    if grep -qF "\"$src/$f\"" "$build/compile_commands.json"; then
        files+=("$f")
    else
        echo "clang_tidy: skipped $f (not in this build's compile_commands.json)"
    fi
done < <(find provider cli -name '*.c' | sort)
((${#files[@]})) || { echo "clang_tidy: no files to check" >&2; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# --quiet drops the "N warnings generated" counts (most are in system
# headers and filtered out); what remains is ours.
printf '%s\0' "${files[@]}" |
    xargs -0 -n 1 -P "${TPMKMS_TIDY_JOBS:-2}" "$tidy" -p "$build" --quiet >"$out" 2>&1
status=$?
n=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' "$out")
if ((n > 0 || status != 0)); then
    cat "$out" >&2
    echo "clang_tidy: $n finding(s) in ${#files[@]} files (exit $status)" >&2
    exit 1
fi
echo "clang_tidy: ${#files[@]} files, no findings"

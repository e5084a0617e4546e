#!/usr/bin/env bash
# The hardening of what ships, read back from the built files with readelf:
# tpmkms.so and the tpmkms command each have full RELRO (a GNU_RELRO
# segment and BIND_NOW / FLAGS NOW in the dynamic section), a GNU_STACK
# segment that is not executable, and import __stack_chk_fail
# (-fstack-protector-strong) and at least one fortified __*_chk function
# (-D_FORTIFY_SOURCE=2); the command is PIE (ELF type DYN).  Fails naming
# each missing property.
#   bash test/static/hardening.sh BUILD_DIR
# A sanitizer build (TPMKMS_SANITIZE=ON, no _FORTIFY_SOURCE) or a Debug
# build (-O0, no _FORTIFY_SOURCE) fails the fortify check: run it on a
# release build.
set -uo pipefail
build=${1:?usage: hardening.sh BUILD_DIR}
command -v readelf >/dev/null || { echo "hardening: missing program: readelf — run scripts/setup.sh" >&2; exit 1; }

bad=0
fail() {
    printf 'hardening: %s: %s\n' "$1" "$2" >&2
    bad=1
}

check() {
    local f=$1 what=$2 headers dynamic symbols
    if [[ ! -f $f ]]; then
        fail "$f" "not built"
        return
    fi
    headers=$(readelf -W -h -l "$f") || { fail "$f" "readelf -h -l failed"; return; }
    dynamic=$(readelf -W -d "$f") || { fail "$f" "readelf -d failed"; return; }
    symbols=$(readelf -W --dyn-syms "$f") || { fail "$f" "readelf --dyn-syms failed"; return; }

    grep -q 'GNU_RELRO' <<<"$headers" ||
        fail "$f" "no GNU_RELRO segment (link with -Wl,-z,relro)"
    grep -qE '\(BIND_NOW\)|\(FLAGS\).*\bNOW\b|\(FLAGS_1\).*\bNOW\b' <<<"$dynamic" ||
        fail "$f" "no BIND_NOW / FLAGS NOW: RELRO is partial (link with -Wl,-z,now)"
    local stack
    stack=$(grep -E '^[[:space:]]*GNU_STACK' <<<"$headers")
    if [[ -z $stack ]]; then
        fail "$f" "no GNU_STACK segment: the stack is executable by default (link with -Wl,-z,noexecstack)"
    elif [[ $(awk '{ print $(NF-1) }' <<<"$stack") == *E* ]]; then
        fail "$f" "GNU_STACK is executable: $stack (link with -Wl,-z,noexecstack)"
    fi
    # Imported (undefined) dynamic symbols: column 7 is Ndx, UND.
    local imports
    imports=$(awk '$7 == "UND" { sub(/@.*/, "", $8); print $8 }' <<<"$symbols")
    grep -qx '__stack_chk_fail' <<<"$imports" ||
        fail "$f" "does not import __stack_chk_fail (compile with -fstack-protector-strong)"
    if ! grep -E '^__[a-z0-9_]+_chk$' <<<"$imports" | grep -qvx '__stack_chk_fail'; then
        fail "$f" "imports no fortified __*_chk function (compile with -O2 -D_FORTIFY_SOURCE=2)"
    fi
    if [[ $what == executable ]]; then
        grep -qE 'Type:[[:space:]]+DYN' <<<"$headers" ||
            fail "$f" "not PIE: $(grep -E 'Type:' <<<"$headers" | xargs) (link with -pie)"
    fi
}

check "$build/tpmkms.so" module
check "$build/tpmkms" executable
if ((bad)); then
    exit 1
fi
echo "hardening: tpmkms.so and tpmkms: full RELRO, non-executable stack, stack protector, fortified calls, PIE command"

# shellcheck shell=bash
# Sourced by every test/integration/*.sh script:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
#   require_program openssl
#   start_swtpm
#   step "make a CSR"
#   ...
#   pass
#
# ctest sets TPMKMS_BUILD_DIR, TPMKMS_SOURCE_DIR and OPENSSL_MODULES; run by
# hand, the source dir is two levels above the script and the build dir is
# $TPMKMS_SOURCE_DIR/build.  TPMKMS_KEEP_WORK=1 keeps the work directory
# (swtpm state and log, key stores, files the test made) for a look after.
# TPMKMS_TEST_GLOBAL_CONF=tpmkms-first|default-first runs the test with
# tpmkms activated globally: start_swtpm writes an openssl.cnf activating
# tpmkms and default in that order (write_openssl_cnf) and exports
# OPENSSL_CONF, so every OpenSSL program the test runs loads both, as on a
# machine whose system openssl.cnf activates tpmkms (ctest label
# integration-global).
#
# Functions:
#   require_program NAME...   fail unless each program is on PATH
#   start_swtpm               work dir, swtpm, isolated HOME and key stores,
#                             PATH and OPENSSL_MODULES pointing at the build
#   start_swtpm_with_ek_certs the same with a TPM manufactured with EK
#                             certificates from a local CA (see below)
#   on_exit CMD               run CMD (eval'd) at exit, last registered first
#   write_openssl_cnf FILE [tpmkms-first|default-first]
#   step DESCRIPTION          print a numbered step
#   fail MESSAGE              print FAIL and exit 1
#   expect_fail [--hide TEXT]... [--provider-errors] REGEX CMD...
#   pass                      print PASS <script name>
#   make_test_user            (root) a machine group and an unprivileged
#                             user, removed at exit
#   as_user in|out CMD...     CMD as that user, in or out of the group
#
# A missing program or build is a failure with a message, never a skip: a
# suite that can pass without running proves nothing.

set -Eeuo pipefail

TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
_helpers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${TPMKMS_SOURCE_DIR:=$(cd "$_helpers_dir/../.." && pwd)}"
: "${TPMKMS_BUILD_DIR:=$TPMKMS_SOURCE_DIR/build}"
_dir=$(cd "$TPMKMS_BUILD_DIR" 2>/dev/null && pwd) || {
    printf 'FAIL %s: build directory %s does not exist: build first (scripts/test.sh)\n' \
        "$TEST_NAME" "$TPMKMS_BUILD_DIR" >&2
    exit 1
}
TPMKMS_BUILD_DIR=$_dir
export TPMKMS_SOURCE_DIR TPMKMS_BUILD_DIR

TPMKMS_WORK=
TPMKMS_SANITIZED=0      # 1 in a TPMKMS_SANITIZE=ON build (start_swtpm)
_step=0
_on_exit=()

fail() {
    printf 'FAIL %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

# Names the command that failed under set -e, so a red test says where.
_on_err() {
    local rc=$1 line=$2 cmd=$3
    printf 'FAIL %s: line %s: exit %s: %s\n' "$TEST_NAME" "$line" "$rc" "$cmd" >&2
}
trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR

_cleanup() {
    local rc=$? i
    trap - ERR
    set +e
    for ((i = ${#_on_exit[@]} - 1; i >= 0; i--)); do
        eval "${_on_exit[i]}"
    done
    if [[ -n $TPMKMS_WORK && -d $TPMKMS_WORK ]]; then
        "$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" stop "$TPMKMS_WORK/swtpm"
        # Reports of the wrapped servers (_wrap_for_sanitizer).
        for i in "$TPMKMS_WORK"/sanitizer/*; do
            [[ -f $i ]] || continue
            printf -- '--- sanitizer report %s ---\n' "$i" >&2
            cat "$i" >&2
            printf 'FAIL %s: a sanitizer report from %s\n' "$TEST_NAME" "$(basename "$i")" >&2
            rc=1
        done
        if ((rc != 0)) && [[ -s $TPMKMS_WORK/swtpm/swtpm.log ]]; then
            printf -- '--- swtpm log (%s) ---\n' "$TPMKMS_WORK/swtpm/swtpm.log" >&2
            tail -n 20 "$TPMKMS_WORK/swtpm/swtpm.log" >&2
        fi
        if [[ ${TPMKMS_KEEP_WORK:-0} == 1 ]]; then
            printf '%s: work directory kept: %s\n' "$TEST_NAME" "$TPMKMS_WORK" >&2
        else
            rm -rf "$TPMKMS_WORK"
        fi
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

on_exit() {
    _on_exit+=("$*")
}

require_program() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 ||
            fail "missing program: $p — run scripts/setup.sh"
    done
}

step() {
    _step=$((_step + 1))
    printf '== %s [%d] %s\n' "$TEST_NAME" "$_step" "$*"
}

pass() {
    printf 'PASS %s\n' "$TEST_NAME"
}

# In a build with TPMKMS_SANITIZE=ON the module needs the ASan runtime
# loaded first, so programs that load it (openssl, nginx, ...) run through
# a wrapper in $TPMKMS_WORK/bin that preloads the runtime the module links.
#
# Every process the test starts gets intercept_tls_get_addr=0 (appended to
# ASAN_OPTIONS, so it wins).  GCC 12's sanitizer runtime watches
# __tls_get_addr to learn where the thread-local blocks of dlopen'ed
# modules are (tpmkms.so's, libtss2-rc's); it takes a block that happens to
# start 16 bytes into a page for a glibc 2.19 block with a header and reads
# the two words before it (here, ASan's own chunk header) as its address
# and size.  At exit LeakSanitizer's tracer then scans that bogus range and
# dies ("Tracer caught signal 11", after "DTLS ... at 0x...ea" in
# LSAN_OPTIONS=verbosity=1:log_threads=1), whichever process it is.  Since
# glibc 2.25 those blocks are malloc'ed, so LeakSanitizer reaches them
# through the thread's DTV like any heap block: nothing goes unchecked.
# (LLVM fixed the heuristic in 2023, "Fix tls_get_addr handling for glibc
# >=2.25".)
_wrap_for_sanitizer() {
    local asan first prog real opts
    grep -q '^TPMKMS_SANITIZE:BOOL=ON' "$TPMKMS_BUILD_DIR/CMakeCache.txt" 2>/dev/null || return 0
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}intercept_tls_get_addr=0
    asan=$(ldd "$TPMKMS_BUILD_DIR/tpmkms.so" | awk '/libasan/ {print $3; exit}')
    [[ -n $asan ]] || fail "sanitized build, but $TPMKMS_BUILD_DIR/tpmkms.so does not link libasan"
    # Initializes the runtime before the program's libraries' constructors:
    # without it curl (libp11-kit) deadlocks in its first setlocale()
    # (test/sanitizer/asan_init_first.c says how).
    first=$TPMKMS_BUILD_DIR/test/asan_init_first.so
    [[ -f $first ]] || fail "sanitized build, but $first is not built (cmake --build $TPMKMS_BUILD_DIR)"
    # The servers (nginx, openvpn) write their sanitizer reports to files
    # in $TPMKMS_WORK/sanitizer, which fail the test at exit (_cleanup):
    # their stderr goes to their own logs and no test sees a worker's exit
    # status.  nginx runs without LeakSanitizer: it leaves its memory pools
    # to the process's exit (every report is of ngx_alloc/ngx_memalign).
    mkdir -p "$TPMKMS_WORK/sanitizer"
    for prog in openssl nginx openvpn curl; do
        real=$(PATH=${PATH#"$TPMKMS_WORK/bin:"} command -v "$prog") || continue
        opts=
        case $prog in
        nginx) opts=":detect_leaks=0:log_path=$TPMKMS_WORK/sanitizer/$prog" ;;
        openvpn) opts=":log_path=$TPMKMS_WORK/sanitizer/$prog" ;;
        esac
        {
            printf '#!/bin/sh\n'
            if [[ -n $opts ]]; then
                # shellcheck disable=SC2016 # expanded by the wrapper, not here
                printf 'ASAN_OPTIONS=${ASAN_OPTIONS}%s UBSAN_OPTIONS=${UBSAN_OPTIONS}%s \\\n    ' \
                    "$opts" ":log_path=$TPMKMS_WORK/sanitizer/$prog"
            fi
            # shellcheck disable=SC2016 # expanded by the wrapper, not here
            printf 'LD_PRELOAD=%s:%s${LD_PRELOAD:+:$LD_PRELOAD} exec %s "$@"\n' \
                "$asan" "$first" "$real"
        } >"$TPMKMS_WORK/bin/$prog"
        chmod +x "$TPMKMS_WORK/bin/$prog"
    done
    # tpm2-tools cannot load a sanitized module (and hang at exit with the
    # ASan runtime preloaded, in p11-kit), so with tpmkms activated by
    # OPENSSL_CONF they run without it in a sanitized build.
    TPMKMS_SANITIZED=1
    while read -r prog; do
        real=$(PATH=${PATH#"$TPMKMS_WORK/bin:"} command -v "$prog") || continue
        printf '#!/bin/sh\nexec env -u OPENSSL_CONF %s "$@"\n' "$real" \
            >"$TPMKMS_WORK/bin/$prog"
        chmod +x "$TPMKMS_WORK/bin/$prog"
    done < <(compgen -c | grep -E '^tpm2([_-]|$)' | sort -u)
}

# Starts swtpm in a fresh work directory and points everything at it:
# TPMKMS_TCTI (and TPM2TOOLS_TCTI for tpm2-tools), a HOME of its own with the
# user store under XDG_DATA_HOME, the machine store TPMKMS_MACHINE_STORE,
# OPENSSL_MODULES and PATH at the build.  Sets TPMKMS_WORK.
start_swtpm() {
    local swtpm_opts=("$@")
    require_program swtpm tpm2_getcap openssl
    [[ -x $TPMKMS_BUILD_DIR/tpmkms && -f $TPMKMS_BUILD_DIR/tpmkms.so ]] ||
        fail "$TPMKMS_BUILD_DIR has no tpmkms and tpmkms.so: build first (scripts/test.sh)"
    TPMKMS_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tpmkms-$TEST_NAME.XXXXXX")
    mkdir -m 700 "$TPMKMS_WORK/home" "$TPMKMS_WORK/bin"
    TPMKMS_TCTI=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$TPMKMS_WORK/swtpm" "${swtpm_opts[@]}") ||
        fail "could not start swtpm"
    export TPMKMS_WORK TPMKMS_TCTI
    export TPM2TOOLS_TCTI=$TPMKMS_TCTI
    export HOME=$TPMKMS_WORK/home
    export XDG_DATA_HOME=$HOME/.local/share
    export TPMKMS_MACHINE_STORE=$TPMKMS_WORK/machine
    export OPENSSL_MODULES=$TPMKMS_BUILD_DIR
    export PATH=$TPMKMS_WORK/bin:$TPMKMS_BUILD_DIR:$PATH
    unset OPENSSL_CONF
    if [[ -n ${TPMKMS_TEST_GLOBAL_CONF:-} ]]; then
        write_openssl_cnf "$TPMKMS_WORK/global-openssl.cnf" "$TPMKMS_TEST_GLOBAL_CONF"
        export OPENSSL_CONF=$TPMKMS_WORK/global-openssl.cnf
        printf '%s: tpmkms activated globally (%s), OPENSSL_CONF=%s\n' \
            "$TEST_NAME" "$TPMKMS_TEST_GLOBAL_CONF" "$OPENSSL_CONF"
    fi
    _wrap_for_sanitizer
    [[ $(command -v tpmkms) == "$TPMKMS_BUILD_DIR/tpmkms" ]] ||
        fail "tpmkms on PATH is $(command -v tpmkms), not the build's"
    printf '%s: swtpm at %s, work dir %s\n' "$TEST_NAME" "$TPMKMS_TCTI" "$TPMKMS_WORK"
}

# start_swtpm on a TPM manufactured as a vendor would: swtpm_setup
# --create-ek-cert --create-platform-cert with swtpm_localca's CA kept in
# the work directory (scripts/swtpm.sh start DIR --ek-certs).  swtpm 0.7.1
# makes an RSA 2048 EK (certificate at NV 0x01C00002, template L-1,
# persistent at 0x81010001) and an ECC P-384 EK (0x01C00016, H-3,
# 0x81010016).  Sets, for chain checks:
#   TPMKMS_EK_ROOT_CA    the local CA's root certificate (PEM)
#   TPMKMS_EK_ISSUER_CA  the intermediate that signed the EK certificates
start_swtpm_with_ek_certs() {
    require_program swtpm_setup swtpm_localca
    start_swtpm --ek-certs
    TPMKMS_EK_ROOT_CA=$TPMKMS_WORK/swtpm/localca/swtpm-localca-rootca-cert.pem
    TPMKMS_EK_ISSUER_CA=$TPMKMS_WORK/swtpm/localca/issuercert.pem
    [[ -s $TPMKMS_EK_ROOT_CA && -s $TPMKMS_EK_ISSUER_CA ]] ||
        fail "swtpm_setup left no local CA certificates in $TPMKMS_WORK/swtpm/localca"
    export TPMKMS_EK_ROOT_CA TPMKMS_EK_ISSUER_CA
}

# An openssl.cnf that activates tpmkms (the built module) and default, in
# the given order: tpmkms-first (the default) or default-first.
write_openssl_cnf() {
    local file=$1 order=${2:-tpmkms-first} providers
    case $order in
    tpmkms-first) providers=$'tpmkms = tpmkms_sect\ndefault = default_sect' ;;
    default-first) providers=$'default = default_sect\ntpmkms = tpmkms_sect' ;;
    *) fail "write_openssl_cnf: order must be tpmkms-first or default-first, not $order" ;;
    esac
    cat >"$file" <<EOF
# Written by $TEST_NAME ($order).
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect

[provider_sect]
$providers

[tpmkms_sect]
module = $TPMKMS_BUILD_DIR/tpmkms.so
activate = 1

[default_sect]
activate = 1
EOF
}

# The TPM's persistent handles (tpm2_getcap, lower-case hex, one a line);
# has_handle / lacks_handle HANDLE fail the test unless it is / is not there.
persistent_handles() {
    tpm2_getcap -T "$TPMKMS_TCTI" handles-persistent | tr -d '\055 '
}
has_handle() {
    persistent_handles | grep -ix "$1" >/dev/null || fail "handle $1 is not in the TPM: $(persistent_handles | tr '\n' ' ')"
}
lacks_handle() {
    if persistent_handles | grep -ix "$1" >/dev/null; then fail "handle $1 is still in the TPM"; fi
}

# expect_fail [--hide TEXT]... [--provider-errors] REGEX CMD...
#
# Runs CMD, which must fail with an ordinary error: exit 1..125, not a
# signal, not "not found", no sanitizer report.  Its stdout+stderr must
# match REGEX (grep -E, case-insensitive).
#   --hide TEXT        remove TEXT from the output first; used to hide the
#                      URI that openssl itself echoes ("Could not open ...
#                      from tpmkms:name=x"), so the match must come from
#                      what tpmkms said about it
#   --provider-errors  match only the OpenSSL error-queue lines raised by
#                      the tpmkms provider (not OpenSSL's own, which quote
#                      the URI, e.g. the file loader's "stat(tpmkms:...)")
expect_fail() {
    local hide=() only_provider=0 regex out rc=0 seen t where
    while (($#)); do
        case $1 in
        --hide) hide+=("$2"); shift 2 ;;
        --provider-errors) only_provider=1; shift ;;
        *) break ;;
        esac
    done
    (($# >= 2)) || fail "expect_fail: need REGEX and a command"
    regex=$1
    shift
    out=$("$@" 2>&1 </dev/null) || rc=$?
    if ((rc == 0)); then
        printf '%s\n' "$out" >&2
        fail "expected failure, but it succeeded: $*"
    fi
    if ((rc >= 126)) || grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$out"; then
        printf '%s\n' "$out" >&2
        fail "crashed or not run (exit $rc): $*"
    fi
    seen=$out
    for t in "${hide[@]}"; do
        seen=${seen//"$t"/<hidden>}
    done
    if ((only_provider)); then
        seen=$(grep -E ':error:[0-9A-Fa-f]{8}:(tpmkms|lib\([0-9]+\)):' <<<"$seen" || true)
    fi
    if ! grep -Eqi -- "$regex" <<<"$seen"; then
        printf -- '--- output (exit %d) ---\n%s\n---\n' "$rc" "$out" >&2
        where=output
        if ((only_provider)); then where="tpmkms's error lines"; fi
        if ((${#hide[@]})); then where+=" (with ${hide[*]} hidden)"; fi
        fail "no match for /$regex/ in $where: $*"
    fi
    printf '   failed as expected (exit %d): %s\n' "$rc" "$(grep -Eim1 -- "$regex" <<<"$seen")"
}

# expect_exit CODE REGEX CMD...: CMD fails with exactly exit CODE, saying REGEX.
expect_exit() {
    local want=$1 regex=$2 out rc=0
    shift 2
    out=$("$@" 2>&1 </dev/null) || rc=$?
    if ((rc != want)); then
        printf -- '--- output ---\n%s\n---\n' "$out" >&2
        fail "expected exit $want, got $rc: $*"
    fi
    grep -Eqi -- "$regex" <<<"$out" || {
        printf -- '--- output ---\n%s\n---\n' "$out" >&2
        fail "no match for /$regex/: $*"
    }
    printf '   failed as expected (exit %d): %s\n' "$rc" "$(grep -Eim1 -- "$regex" <<<"$out")"
}

# make_test_user: a test group, made the machine group
# (TPMKMS_MACHINE_GROUP), and an unprivileged test user with its own HOME
# ($TPMKMS_WORK/uhome, 0700), both removed at exit.  Sets TGROUP, TUSER,
# TUID, TUGID, TGID and UHOME.  The user reaches the build and the work
# dir (not its contents).  Needs root (after start_swtpm).
make_test_user() {
    require_program useradd userdel groupadd groupdel setpriv getent
    (($(id -u) == 0)) || fail "make_test_user must run as root"
    TGROUP=tkg$$r$RANDOM
    TUSER=tku$$r$RANDOM
    UHOME=$TPMKMS_WORK/uhome
    groupadd --system "$TGROUP"
    on_exit "groupdel '$TGROUP' 2>/dev/null"
    useradd --system --user-group --no-create-home --home-dir "$UHOME" \
        --shell /usr/sbin/nologin "$TUSER"
    on_exit "userdel '$TUSER' 2>/dev/null"
    TUID=$(id -u "$TUSER")
    TUGID=$(id -g "$TUSER")
    TGID=$(getent group "$TGROUP" | cut -d: -f3)
    export TPMKMS_MACHINE_GROUP=$TGROUP
    chmod 0711 "$TPMKMS_WORK"
    chmod 0755 "$TPMKMS_WORK/bin"
    mkdir -m 0700 "$UHOME"
    chown "$TUSER:" "$UHOME"
}

# as_user in|out CMD...: CMD as the test user, in or out of the machine group.
as_user() {
    local groups=--clear-groups
    [[ $1 == in ]] && groups=--groups=$TGID
    shift
    setpriv --reuid="$TUID" --regid="$TUGID" "$groups" \
        env HOME="$UHOME" XDG_DATA_HOME="$UHOME/.local/share" USER="$TUSER" LOGNAME="$TUSER" "$@"
}

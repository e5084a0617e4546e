#!/usr/bin/env bash
# The ESYS backend against a fresh swtpm of its own:
#   1. on a TPM without an SRK, one cold and three warm signatures, counted
#      on the wire (pcap TCTI + tshark): ReadPublic CreatePrimary Load,
#      FlushContext of the primary (swtpm has no resource manager: it is
#      needed again only to load another key), Sign, then Sign alone;
#   2. test_backend_esys all: every algorithm, scheme and hash verified in
#      software, setup, auth, lockout, object budget, persist/evict, fork;
#   3. the same count with the SRK persistent: ReadPublic Load Sign, then
#      Sign alone.
# A missing swtpm, tshark or build is a failure, never a skip.
set -Eeuo pipefail

name=backend_esys
fail() {
    printf 'FAIL %s: %s\n' "$name" "$*" >&2
    exit 1
}
trap 'printf "FAIL %s: line %s: %s\n" "$name" "$LINENO" "$BASH_COMMAND" >&2' ERR

for p in swtpm tshark; do
    command -v "$p" >/dev/null 2>&1 ||
        fail "$p is not installed; this test needs it (Debian: apt-get install $p)"
done
src=${TPMKMS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${TPMKMS_BUILD_DIR:-$src/build}
prog=$build/test/test_backend_esys
[[ -x $prog ]] ||
    fail "$prog is not built (cmake --build $build --target test_backend_esys)"

work=$(mktemp -d)
swtpm_pid=
cleanup() {
    local rc=$?
    trap - ERR
    if [[ -n $swtpm_pid ]]; then
        kill "$swtpm_pid" 2>/dev/null || true
    fi
    if ((rc != 0)) && [[ -s $work/swtpm.log ]]; then
        printf -- '--- swtpm log ---\n' >&2
        tail -n 20 "$work/swtpm.log" >&2
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free pair of ports (server, control) at or above 20000.
start_swtpm() {
    local try port
    mkdir -p "$work/state"
    for try in $(seq 1 20); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if port_busy "$port" || port_busy "$((port + 1))"; then
            continue
        fi
        if swtpm socket --tpm2 --tpmstate dir="$work/state" \
            --server type=tcp,port="$port",bindaddr=127.0.0.1 \
            --ctrl type=tcp,port="$((port + 1))",bindaddr=127.0.0.1 \
            --flags not-need-init,startup-clear \
            --log file="$work/swtpm.log" \
            --daemon --pid file="$work/swtpm.pid" 2>>"$work/swtpm.log"; then
            swtpm_pid=$(cat "$work/swtpm.pid")
            for _ in $(seq 1 50); do
                port_busy "$port" && { PORT=$port; return 0; }
                sleep 0.1
            done
            fail "swtpm (pid $swtpm_pid) does not answer on port $port"
        fi
    done
    fail "could not start swtpm on a free port (see $work/swtpm.log)"
}

# The TPM commands in a pcap, by name, separated by spaces.
tpm_commands() {
    tshark -r "$1" -Y tpm.req.cc -T fields -e tpm.req.cc 2>/dev/null |
        while read -r cc; do
            case $((cc)) in
            $((0x173))) printf 'ReadPublic ' ;;
            $((0x131))) printf 'CreatePrimary ' ;;
            $((0x157))) printf 'Load ' ;;
            $((0x15d))) printf 'Sign ' ;;
            $((0x165))) printf 'FlushContext ' ;;
            $((0x153))) printf 'Create ' ;;
            *) printf 'cc=%s ' "$cc" ;;
            esac
        done | sed 's/ $//'
}

# The response codes in a pcap, in order.
tpm_responses() {
    tshark -r "$1" -Y tpm.resp.rc -T fields -e tpm.resp.rc 2>/dev/null |
        paste -sd' '
}

expect_sequence() {
    local pcap=$1 want=$2 want_rc=$3 got got_rc
    got=$(tpm_commands "$pcap")
    got_rc=$(tpm_responses "$pcap")
    printf '  commands: %s\n  responses: %s\n' "$got" "$got_rc"
    [[ $got == "$want" ]] || fail "TPM commands were \"$got\", expected \"$want\""
    [[ $got_rc == "$want_rc" ]] ||
        fail "TPM responses were \"$got_rc\", expected \"$want_rc\""
}

start_swtpm
export TPMKMS_TCTI="swtpm:host=127.0.0.1,port=$PORT"
# ESYS logs handled TPM errors (an absent SRK, a wrong auth the test makes)
# to stderr; keep the output to what the test says unless asked.
export TSS2_LOG=${TSS2_LOG:-all+none}
echo "swtpm pid $swtpm_pid on $TPMKMS_TCTI"

echo "1. cold and warm signatures without a persistent SRK"
TCTI_PCAP_FILE=$work/fresh.pcap "$prog" sign-sequence "pcap:$TPMKMS_TCTI" ||
    fail "sign-sequence on a fresh TPM failed"
ok=0x00000000
expect_sequence "$work/fresh.pcap" \
    "ReadPublic CreatePrimary Load FlushContext Sign Sign Sign Sign FlushContext" \
    "0x0000018b $ok $ok $ok $ok $ok $ok $ok $ok"

echo "2. test_backend_esys all"
"$prog" all || fail "test_backend_esys all failed"

echo "3. cold and warm signatures with the SRK persistent at 0x81000001"
TCTI_PCAP_FILE=$work/srk.pcap "$prog" sign-sequence "pcap:$TPMKMS_TCTI" ||
    fail "sign-sequence with a persistent SRK failed"
expect_sequence "$work/srk.pcap" \
    "ReadPublic Load Sign Sign Sign Sign FlushContext" \
    "$ok $ok $ok $ok $ok $ok $ok"

echo "PASS $name"

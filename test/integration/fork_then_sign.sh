#!/usr/bin/env bash
# A server's fork pattern, straight on swtpm (no resource manager): a
# process opens a TPM key through OSSL_STORE, forks several children that
# all sign at once while the parent signs too, and every signature
# verifies.  Each process records its own TPM commands (pcap TCTI, one
# file per process), which shows that:
#   - a child opens its own connection: its commands are in its own file,
#     and the parent's file holds exactly the parent's commands;
#   - the parent, which signed before forking, keeps its key loaded: one
#     TPM2_Sign per signature, and its key flushed when it exits;
#   - a forked child on a TPM without a resource manager holds no object
#     between signatures: TPM2_Load, TPM2_Sign, TPM2_FlushContext each
#     time (retrying TPM2_Load while its siblings hold the slots), so that
#     the TPM's three object slots serve them all;
#   - nothing is left loaded in the TPM afterwards.
# Also: forking before the first signature (nginx's master and workers),
# the default library context, RSA-PSS; and the error when other programs
# hold every slot names the key and the decoded TPM code.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program openssl tshark tpm2_getcap tpm2_createprimary tpm2_flushcontext
start_swtpm
# tpm2-tools are fixtures here, run without the test's
# OPENSSL_CONF: in a sanitizer build they cannot load an instrumented
# tpmkms.so that a global configuration activates.
fixture() { env -u OPENSSL_CONF "$@"; }
W=$TPMKMS_WORK
PROG=$TPMKMS_BUILD_DIR/test/fork_then_sign
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR --target fork_then_sign)"
SWTPM=$TPMKMS_TCTI
CHILDREN=4
# A forked child keeps its parent's TCTI without finalizing it (that could
# send on the parent's connection), so in a sanitizer build LeakSanitizer
# reports it when the child exits.  TCTI allocations are not reported in
# this test; the other tests check that a process finalizes its own.
printf 'leak:Tss2_TctiLdr_Initialize_Ex\n' >"$W/lsan.supp"
export LSAN_OPTIONS=suppressions=$W/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
SIGNS=5

transient_handles() {
    fixture tpm2_getcap -T "$SWTPM" handles-transient | tr -d '\n'
}

# run_fork NAME ARGS...: fork_then_sign through a pcap TCTI; the parent
# writes $W/NAME/parent.pcap and child i $W/NAME/child-i.pcap.
run_fork() {
    local name=$1
    shift
    mkdir -p "$W/$name"
    TPMKMS_TCTI=pcap:$SWTPM TCTI_PCAP_FILE=$W/$name/parent.pcap \
        "$PROG" --children "$CHILDREN" --signs "$SIGNS" --pcap-dir "$W/$name" "$@" ||
        fail "$name: fork_then_sign failed"
}

count_of() {               # count_of NAME PCAP: commands NAME answered 0
    tpm_trace "$2" | awk -v n="$1" '$1 == n && $2 == "0x00000000"' | grep -c . || true
}

# A child's trace without its TPM2_Load retries (0x902: a sibling held
# the slots), which it prints for the log.
child_sequence() {
    local pcap=$1 retries
    retries=$(tpm_trace "$pcap" | awk '$1 == "Load" && $2 == "0x00000902"' | grep -c . || true)
    printf '   %s: %s TPM2_Load retries (object memory)\n' "${pcap##*/}" "$retries" >&2
    tpm_trace "$pcap" | awk '!($1 == "Load" && $2 == "0x00000902") {
        printf "%s%s", (n++ ? " " : ""), $1 } END { print "" }'
}

repeat() {                 # repeat N WORDS: WORDS N times, space-separated
    local n=$1 out= i
    shift
    for ((i = 0; i < n; i++)); do out+="${out:+ }$*"; done
    printf '%s\n' "$out"
}

check_children() {         # check_children NAME: each child's own trace
    local name=$1 i pcap want got
    want="ReadPublic $(repeat "$SIGNS" Load Sign FlushContext)"
    for ((i = 0; i < CHILDREN; i++)); do
        pcap=$W/$name/child-$i.pcap
        [[ -s $pcap ]] || fail "$name: child $i wrote no pcap of its own: it did not open its own TPM connection"
        got=$(child_sequence "$pcap")
        [[ $got == "$want" ]] ||
            fail "$name: child $i sent \"$got\", expected \"$want\" (a forked child without a resource manager loads, signs and flushes each time)"
        [[ -z $(tpm_errors "$pcap" | tr ' ' '\n' | grep -v '^Load:0x00000902$' || true) ]] ||
            fail "$name: child $i had TPM errors: $(tpm_errors "$pcap")"
    done
}

step "tpmkms setup persists the SRK; create an EC P-256 and an RSA-2048 key"
tpmkms setup
tpmkms create 'tpmkms:name=fork-ec' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=fork-rsa' --alg rsa-2048 >/dev/null
[[ -z $(transient_handles) ]] || fail "objects left loaded before the test: $(transient_handles)"

step "EC: the parent signs, forks $CHILDREN children; all sign at once, all verify"
run_fork sign-first 'tpmkms:name=fork-ec'

step "the parent's connection carried exactly the parent's $((SIGNS + 2)) signatures"
want="ReadPublic Load $(repeat $((SIGNS + 2)) Sign) FlushContext"
got=$(tpm_commands "$W/sign-first/parent.pcap")
[[ $got == "$want" ]] ||
    fail "the parent's pcap has \"$got\", expected \"$want\" (a child's command over the parent's connection would be in it)"
printf '   parent: %s\n' "$got"

step "each child signed on its own connection, holding no object between signatures"
check_children sign-first
printf '   child: %s\n' "$(child_sequence "$W/sign-first/child-0.pcap" 2>/dev/null)"

step "nothing is left loaded in the TPM"
[[ -z $(transient_handles) ]] || fail "objects left loaded: $(transient_handles)"

step "RSA-PSS, default library context, fork before the first signature (nginx master pattern)"
run_fork fork-first --default-libctx --fork-first --pss 'tpmkms:name=fork-rsa'
check_children fork-first
n=$(count_of Sign "$W/fork-first/parent.pcap")
((n == SIGNS + 1)) ||
    fail "the parent's pcap has $n signatures, expected its own $((SIGNS + 1))"
[[ -z $(transient_handles) ]] || fail "objects left loaded: $(transient_handles)"

step "8 children at once, no pcap: the TPM's three slots serve them all"
"$PROG" --children 8 --signs 10 'tpmkms:name=fork-ec' >"$W/eight.log" 2>&1 || {
    cat "$W/eight.log" >&2
    fail "8 children signing at once failed"
}
tail -n 1 "$W/eight.log"
[[ -z $(transient_handles) ]] || fail "objects left loaded: $(transient_handles)"

step "another program holds all three slots: tpmkms waits, then names the key and the TPM code"
for i in 1 2 3; do
    fixture tpm2_createprimary -T "$SWTPM" -C o -c "$W/hog$i.ctx" >/dev/null
done
on_exit "fixture tpm2_flushcontext -T '$SWTPM' -t >/dev/null 2>&1"
expect_fail --provider-errors \
    'tpmkms:name=fork-ec;key-scope=user: TPM2_ReadPublic\(0x81000001\) failed: 0x00000902 \(tpm:warn\(2\.0\): out of memory for object contexts\).*waited [0-9]+ ms' \
    "$PROG" --children 1 --signs 1 'tpmkms:name=fork-ec'
fixture tpm2_flushcontext -T "$SWTPM" -t

pass

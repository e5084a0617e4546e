#!/usr/bin/env bash
# Scripted TPM faults (issue 20): the ESYS backend talks to swtpm through
# libtss2-tcti-faults.so (test/faults/tcti_faults.c), which passes commands
# through and answers the ones its script names with a fault; its log
# holds every command and fault.  The backend's policy, proved three ways:
#   1. the backend itself (scripted_faults.c, through backend.h): RETRY,
#      YIELDED, TESTING resent (29 answers then success signs, 30 give up,
#      exactly 30 sends); LOCKOUT, AUTH_FAIL, BAD_AUTH sent once, the
#      error naming the decoded code; OBJECT_MEMORY on Load flushes our
#      key and loads again, and if it persists waits 10 s and fails; a
#      short, garbled or missing answer drops the connection (the next one
#      flushes what it left loaded) and the next call works;
#   2. the provider: openssl pkeyutl -sign with the faults TCTI in the URI
#      (tcti=LIB:SCRIPT) or in TPMKMS_TCTI;
#   3. the tpmkms command: create and probe with --tcti LIB:SCRIPT.
# Each fault is listed with its result; the last line counts the faults
# injected.  A missing program or build is a failure, never a skip.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl timeout grep
LIB=$TPMKMS_BUILD_DIR/test/libtss2-tcti-faults.so
DRIVER=$TPMKMS_BUILD_DIR/test/scripted_faults
[[ -f $LIB ]] || fail "$LIB is not built (cmake --build $TPMKMS_BUILD_DIR)"
[[ -x $DRIVER ]] || fail "$DRIVER is not built (cmake --build $TPMKMS_BUILD_DIR)"
start_swtpm
W=$TPMKMS_WORK
REAL=$TPMKMS_TCTI
S=$W/faults.script
FAULTY=$LIB:$S
TPM=(-provider tpmkms -provider default)
# ESYS logs the TPM errors the test provokes to stderr; tpmkms reports them.
export TSS2_LOG=${TSS2_LOG:-all+none}
TOTAL=0

# faults RULE...: the script for the next command (an empty log).
faults() {
    printf 'tcti %s\nlog %s\n' "$REAL" "$S.log" >"$S"
    printf '%s\n' "$@" >>"$S"
    : >"$S.log"
}

# sent CMD: how many times the TCTI saw TPM2_CMD since faults().
sent() {
    grep -c "^$1 " "$S.log" || true
}

# result TEXT: lists the faults of the last command with TEXT; counts them.
result() {
    local n rules
    n=$(grep -c ' fault ' "$S.log" || true)
    TOTAL=$((TOTAL + n))
    rules=$(sed -n '3,$p' "$S" | grep . | paste -sd';' || true)
    printf '   fault "%s": %s (%d injected; commands: %s)\n' \
        "${rules:-none}" "$*" "$n" \
        "$(awk '{printf "%s%s ", $1, ($2 == "fault" ? "!" : "")}' "$S.log")"
}

# expect_sent CMD N: the TCTI saw TPM2_CMD exactly N times.
expect_sent() {
    local got
    got=$(sent "$1")
    ((got == $2)) || fail "TPM2_$1 was sent $got times, expected $2: $(cat "$S.log")"
}

# within SECONDS CMD...: CMD ends within SECONDS (ctest's timeout is the
# backstop for one that hangs).
within() {
    local bound=$1 t0 ms rc=0
    shift
    t0=$(date +%s%N)
    "$@" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    ((ms <= bound * 1000)) || fail "took ${ms} ms, more than ${bound} s: $*"
    printf '   took %d ms\n' "$ms"
    return "$rc"
}

step "the backend, case by case (scripted_faults through backend.h)"
"$DRIVER" "$LIB" "$W/backend.script" | tee "$W/backend.out" ||
    fail "scripted_faults: a case failed (above)"
n=$(awk '/^faults injected: [0-9]+$/ {print $3}' "$W/backend.out")
if ! [[ $n =~ ^[0-9]+$ ]] || ((n == 0)); then
    fail "scripted_faults did not count its faults"
fi
TOTAL=$((TOTAL + n))

step "the provider: openssl pkeyutl -sign, faults TCTI in the URI"
tpmkms create 'tpmkms:name=web' --alg ec-p256 >/dev/null
openssl pkey "${TPM[@]}" -in 'tpmkms:name=web' -pubout -out "$W/web.pub"
openssl dgst -sha256 -binary -out "$W/dg" /etc/hostname
URI="tpmkms:name=web;tcti=$FAULTY"
sign() {
    openssl pkeyutl -sign "${TPM[@]}" -inkey "$1" -in "$W/dg" -out "$W/sig"
}

faults 'Sign rc=RETRY times=3'
sign "$URI" || fail "pkeyutl -sign after three RETRY answers failed"
openssl pkeyutl -verify -provider default -pubin -inkey "$W/web.pub" \
    -in "$W/dg" -sigfile "$W/sig" | grep -q 'Signature Verified Successfully' ||
    fail "the signature made after RETRY answers does not verify"
expect_sent Sign 4
result "signed and verified; TPM2_Sign sent 4 times"

faults 'Sign rc=AUTH_FAIL'
expect_fail --provider-errors \
    'TPM2_Sign failed: 0x0000098e \(tpm:session\(1\):the authorization HMAC check failed.*not retried' \
    sign "$URI"
expect_sent Sign 1
result "refused, sent once"

faults 'Load rc=LOCKOUT'
TPMKMS_TCTI=$FAULTY expect_fail --provider-errors \
    'TPM2_Load \(parent 0x81000001\) failed: 0x00000921 \(tpm:warn\(2\.0\): authorizations for objects subject to DA protection.*dictionary-attack lockout' \
    sign 'tpmkms:name=web'
expect_sent Load 1
result "refused, sent once (faults TCTI from TPMKMS_TCTI)"

faults 'Sign garbled'
expect_fail --provider-errors \
    'TPM2_Sign failed: 0x00080011 \(sys:Response is malformed\).*cannot talk to the TPM' \
    sign "$URI"
expect_sent Sign 1
result "refused: the TPM cannot be talked to"

faults 'Sign silent'
within 8 expect_fail --provider-errors \
    'TPM2_Sign got no answer from the TPM within 2 s' \
    sign "$URI;tpm-timeout=2"
expect_sent Sign 1
result "gave up at the deadline"

# openssl exited after each broken connection: the key it had loaded is
# still in swtpm (no resource manager; a later connection of the same
# process would have flushed it, scripted_faults shows).  Two such and
# TPM2_Load finds no room: flush them as an administrator would.
require_program tpm2_getcap tpm2_flushcontext
left=$(tpm2_getcap -T "$REAL" handles-transient | grep -c 0x || true)
printf '   transient objects left in swtpm by the two openssl processes: %d\n' "$left"
tpm2_flushcontext -T "$REAL" -t

faults
sign "$URI" || fail "pkeyutl -sign through the faults TCTI without faults failed"
expect_sent Sign 1
result "signed"

step "the tpmkms command: create and probe with --tcti LIB:SCRIPT"
faults 'Create rc=YIELDED times=2'
tpmkms --tcti "$FAULTY" create 'tpmkms:name=cli' >/dev/null ||
    fail "tpmkms create after two YIELDED answers failed"
expect_sent Create 3
result "created; TPM2_Create sent 3 times"

faults 'Create rc=LOCKOUT'
expect_fail 'TPM2_Create failed: 0x00000921 .*dictionary-attack lockout' \
    tpmkms --tcti "$FAULTY" create 'tpmkms:name=cli2'
expect_sent Create 1
result "refused, sent once"

faults 'GetCapability rc=TESTING times=3'
tpmkms --tcti "$FAULTY" probe >"$W/probe.out" ||
    fail "tpmkms probe after three TESTING answers failed"
grep -qi 'lockout' "$W/probe.out" || fail "probe printed no lockout state: $(cat "$W/probe.out")"
n=$(grep -c '^GetCapability fault ' "$S.log" || true)
((n == 3)) || fail "expected 3 faulted GetCapability, got $n"
result "probed"

faults 'GetCapability short'
expect_fail 'TPM2_GetCapability\(TPM_PROPERTIES\) failed: 0x00080013 \(sys:Response is not long enough\).*cannot talk to the TPM' \
    tpmkms --tcti "$FAULTY" probe
expect_sent GetCapability 1
result "refused: the TPM cannot be talked to"

faults 'GetCapability silent'
TPMKMS_TPM_TIMEOUT=2 within 8 expect_fail \
    'TPM2_GetCapability got no answer from the TPM within 2 s' \
    tpmkms --tcti "$FAULTY" probe
expect_sent GetCapability 1
result "gave up at the deadline"

printf '%s: faults injected: %d\n' "$TEST_NAME" "$TOTAL"
pass

#!/usr/bin/env bash
# No call waits for ever on a TPM that stopped answering (issue 20, 2).
# silent_tpm.py plays a TPM device (a pseudo-terminal, used through the
# device TCTI) that answers the TCTI's opening probe and then nothing, as a
# TPM whose firmware hung.  Each command must give up after its response
# deadline, saying which command, the deadline and the TPM:
#   - TPMKMS_TPM_TIMEOUT=2: `tpmkms probe` returns in about 2 s;
#   - a URI's tpm-timeout=3 wins over TPMKMS_TPM_TIMEOUT=60 for
#     `openssl pkeyutl -sign` of a key whose record names the silent TPM
#     (device=), and openssl.cnf's tpm-timeout wins over the environment;
#   - malformed settings are errors naming the setting, not defaults.
# Then the same with swtpm itself stopped (kill -STOP): tpm2-tss 3.2's
# swtpm and mssim TCTIs ignore receive timeouts and block in read(), so
# tpmkms talks to simulators through its own client (tcti_socket.c):
#   - `tpmkms probe` (TPMKMS_TPM_TIMEOUT=2) and `openssl pkeyutl -sign`
#     (tpm-timeout=2 in the URI, or TPMKMS_TPM_TIMEOUT=2) give up in
#     bounded time, naming what got no answer, the deadline and the TPM;
#   - a warm multi-threaded signer (concurrent_signing --go/--after): all
#     its threads return, TPM2_Sign named; once swtpm runs again
#     (kill -CONT), the same process signs again, and so does pkeyutl.
# The wall time of each call is checked against a bound well above its
# deadline and far below the 30 s default, so a deadline that is not
# applied fails the test.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl timeout python3
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)

python3 "$TPMKMS_SOURCE_DIR/test/integration/silent_tpm.py" --seconds 300 \
    >"$W/silent.path" 2>"$W/silent.log" &
silent_pid=$!
on_exit 'kill "$silent_pid" 2>/dev/null || true'
for _ in $(seq 50); do
    [[ -s $W/silent.path ]] && break
    sleep 0.1
done
DEV=$(<"$W/silent.path")
[[ $DEV == /dev/pts/* ]] || fail "silent_tpm.py did not start (got '$DEV')"

# gives_up_within SECONDS REGEX CMD...: CMD fails within SECONDS of wall
# time (it is killed after 40 s), saying REGEX.
gives_up_within() {
    local bound=$1 regex=$2 out rc=0 t0 t1 ms
    shift 2
    t0=$(date +%s%N)
    out=$(timeout 40 "$@" 2>&1 </dev/null) || rc=$?
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    ((rc != 124)) || fail "waited 40 s and was killed: $*"
    ((rc != 0)) || fail "expected a failure, but it succeeded: $*"
    if ! grep -Eqi -- "$regex" <<<"$out"; then
        printf -- '--- output (exit %d) ---\n%s\n---\n' "$rc" "$out" >&2
        fail "no match for /$regex/: $*"
    fi
    ((ms <= bound * 1000)) ||
        fail "gave up after ${ms} ms, more than ${bound} s: $*"
    printf '   gave up after %d ms (exit %d): %s\n' "$ms" "$rc" \
        "$(grep -Eim1 -- "$regex" <<<"$out" | cut -c1-220)"
}

step "tpmkms probe on a TPM that stopped answering: TPMKMS_TPM_TIMEOUT=2"
TPMKMS_TPM_TIMEOUT=2 gives_up_within 8 \
    "TPM2_GetCapability got no answer from the TPM within 2 s \(TCTI \"device:$DEV\"\)" \
    tpmkms --tcti "device:$DEV" probe

step "a key whose URI names the silent TPM: tpm-timeout=3 in the URI beats TPMKMS_TPM_TIMEOUT=60"
tpmkms create 'tpmkms:name=web' --alg ec-p256 >/dev/null
openssl dgst -sha256 -binary -out "$W/dg" /etc/hostname
TPMKMS_TPM_TIMEOUT=60 gives_up_within 9 \
    "TPM2_ReadPublic got no answer from the TPM within 3 s" \
    openssl pkeyutl -sign "${TPM[@]}" \
    -inkey "tpmkms:name=web;device=$DEV;tpm-timeout=3" -in "$W/dg" -out "$W/sig"

step "openssl.cnf's tpm-timeout beats TPMKMS_TPM_TIMEOUT"
write_openssl_cnf "$W/timeout.cnf" tpmkms-first
sed -i 's/^\[tpmkms_sect\]$/[tpmkms_sect]\ntpm-timeout = 2/' "$W/timeout.cnf"
grep -q '^tpm-timeout = 2$' "$W/timeout.cnf" || fail "could not write tpm-timeout into $W/timeout.cnf"
OPENSSL_CONF=$W/timeout.cnf TPMKMS_TPM_TIMEOUT=60 gives_up_within 8 \
    "got no answer from the TPM within 2 s" \
    openssl pkeyutl -sign -inkey "tpmkms:name=web;device=$DEV" \
    -in "$W/dg" -out "$W/sig"

step "the key still signs through the TPM that answers"
openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web' -in "$W/dg" \
    -out "$W/sig" || fail "signing through swtpm failed"

# ------------------------------------------------ swtpm stops answering
SWTPM_PID=$(<"$W/swtpm/swtpm.pid")
[[ $SWTPM_PID =~ ^[0-9]+$ ]] || fail "no swtpm pid in $W/swtpm/swtpm.pid"
PORT=${TPMKMS_TCTI##*port=}
# What gets no answer when a connection opens: the control channel's
# CMD_SET_LOCALITY, or (once the stopped swtpm's listen backlog is full)
# the connection itself.
NO_ANSWER="(CMD_SET_LOCALITY got no answer from the swtpm control channel at 127\.0\.0\.1:$((PORT + 1))|connecting to the swtpm at 127\.0\.0\.1:$PORT got no answer) within 2 s"
on_exit 'kill -CONT "$SWTPM_PID" 2>/dev/null || true'
CS=$TPMKMS_BUILD_DIR/test/concurrent_signing
[[ -x $CS ]] || fail "$CS is not built (cmake --build $TPMKMS_BUILD_DIR --target concurrent_signing)"

step "swtpm stopped (kill -STOP): tpmkms probe gives up (TPMKMS_TPM_TIMEOUT=2)"
kill -STOP "$SWTPM_PID"
TPMKMS_TPM_TIMEOUT=2 gives_up_within 8 \
    "cannot open the TPM through TCTI \"$TPMKMS_TCTI\": $NO_ANSWER" \
    tpmkms probe

step "swtpm stopped: openssl pkeyutl -sign gives up, by the URI's tpm-timeout=2 and by TPMKMS_TPM_TIMEOUT=2"
TPMKMS_TPM_TIMEOUT=60 gives_up_within 8 \
    "TCTI \"$TPMKMS_TCTI\": $NO_ANSWER" \
    openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web;tpm-timeout=2' \
    -in "$W/dg" -out "$W/sig"
TPMKMS_TPM_TIMEOUT=2 gives_up_within 8 \
    "TCTI \"$TPMKMS_TCTI\": $NO_ANSWER" \
    openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web' \
    -in "$W/dg" -out "$W/sig"

step "swtpm resumed (kill -CONT): the next signature works"
kill -CONT "$SWTPM_PID"
timeout 40 openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web;tpm-timeout=2' \
    -in "$W/dg" -out "$W/sig" || fail "signing after kill -CONT failed"

step "a warm 4-thread signer while swtpm is stopped: every thread returns, TPM2_Sign named"
rm -f "$W/go" "$W/after"
timeout 60 "$CS" --threads 4 --signs 1 --go "$W/go" --after "$W/after" \
    'tpmkms:name=web;tpm-timeout=2' >"$W/cs.out" 2>"$W/cs.err" &
cs_pid=$!
on_exit 'kill "$cs_pid" 2>/dev/null || true'
for _ in $(seq 200); do
    grep -q '^holding$' "$W/cs.out" && break
    kill -0 "$cs_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q '^holding$' "$W/cs.out" || {
    cat "$W/cs.out" "$W/cs.err" >&2
    fail "concurrent_signing did not sign its warm-up signature"
}
kill -STOP "$SWTPM_PID"
t0=$(date +%s%N)
: >"$W/go"
# 4 threads one after the other (one lock per connection): each gives up
# after 2 s, so about 8 s; the bound is 20 s.
for _ in $(seq 200); do
    grep -q 'verified.*failed' "$W/cs.out" && break
    kill -0 "$cs_pid" 2>/dev/null || break
    sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q '4 threads x 1 signatures on 1 key (SHA256): 0 verified, 4 failed' "$W/cs.out" || {
    cat "$W/cs.out" "$W/cs.err" >&2
    fail "the threads did not all return failing within 20 s (after ${ms} ms)"
}
printf '   all 4 threads returned after %d ms\n' "$ms"
grep -q "TPM2_Sign got no answer from the TPM within 2 s (TCTI \"$TPMKMS_TCTI\")" "$W/cs.err" || {
    cat "$W/cs.err" >&2
    fail "no thread's error named TPM2_Sign, the 2 s deadline and the TPM"
}
grep -Eq 'TPM unavailable' "$W/cs.err" || fail "no TPM unavailable error: $(<"$W/cs.err")"

step "swtpm resumed: the same process signs again, and so does pkeyutl"
kill -CONT "$SWTPM_PID"
: >"$W/after"
rc=0
wait "$cs_pid" || rc=$?
((rc == 1)) || fail "concurrent_signing exited $rc (expected 1: its 4 threads failed): $(<"$W/cs.err")"
grep -q '^after: verified$' "$W/cs.out" || {
    cat "$W/cs.out" "$W/cs.err" >&2
    fail "the process did not sign again once swtpm answered"
}
openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web' -in "$W/dg" \
    -out "$W/sig" || fail "signing through swtpm after kill -CONT failed"

step "malformed deadlines are errors that name the setting"
TPMKMS_TPM_TIMEOUT=soon expect_fail "TPMKMS_TPM_TIMEOUT 'soon' is invalid" \
    tpmkms probe
expect_fail --provider-errors "tpm-timeout '0' is invalid: give whole seconds" \
    openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web;tpm-timeout=0' \
    -in "$W/dg" -out "$W/sig"
sed -i 's/^tpm-timeout = 2$/tpm-timeout = 2s/' "$W/timeout.cnf"
OPENSSL_CONF=$W/timeout.cnf expect_fail --provider-errors \
    "openssl.cnf section \\[tpmkms_sect\\], setting tpm-timeout: '2s' is invalid" \
    openssl pkeyutl -sign -inkey 'tpmkms:name=web' -in "$W/dg" -out "$W/sig"

pass

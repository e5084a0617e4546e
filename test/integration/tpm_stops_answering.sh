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
# The wall time of each call is checked against a bound well above its
# deadline and far below the 30 s default, so a deadline that is not
# applied fails the test.
# (swtpm cannot play this part: tpm2-tss 3.2's swtpm TCTI ignores receive
# timeouts and blocks in read(); the device TCTI, which real TPMs use,
# polls.)
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

step "malformed deadlines are errors that name the setting"
TPMKMS_TPM_TIMEOUT=soon expect_fail "TPMKMS_TPM_TIMEOUT 'soon' is invalid" \
    tpmkms probe
expect_fail --provider-errors "tpm-timeout '0' is invalid: give whole seconds" \
    openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web;tpm-timeout=0' \
    -in "$W/dg" -out "$W/sig"
sed -i 's/^tpm-timeout = 2$/tpm-timeout = 2s/' "$W/timeout.cnf"
OPENSSL_CONF=$W/timeout.cnf expect_fail --provider-errors \
    "the openssl.cnf setting tpm-timeout '2s' is invalid" \
    openssl pkeyutl -sign -inkey 'tpmkms:name=web' -in "$W/dg" -out "$W/sig"

pass

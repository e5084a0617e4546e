#!/usr/bin/env bash
# A TCTI that forks while it connects (cmd: starts its program; tpm2-abrmd's
# TCTI may autolaunch a D-Bus session) used to hang the process for ever:
# the pthread_atfork handler took every backend's lock, including the one
# the forking thread already held for its connection.  Each of these must
# now return, with an error naming what it was doing, within the time
# limit (20 s, where a working call takes well under a second):
#   - tpmkms --tcti 'cmd:cat' probe (cat echoes each command back: not a
#     TPM, so the probe fails, but it fails);
#   - openssl pkeyutl -sign through a URI whose tcti= is a cmd: TCTI,
#     for a key made on the real (sw)TPM;
#   - the same with tpmkms activated globally (OPENSSL_CONF), in both
#     orders, via the integration-global-* reruns of this script.
# And the process is not left broken: after such a connection, a signature
# through the real TPM in the same run still works (fork_then_sign and
# concurrent_signing cover fork() itself).
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl timeout
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
LIMIT=20

# returns_in_time REGEX CMD...: CMD fails (not hangs) within LIMIT seconds,
# saying REGEX.
returns_in_time() {
    local regex=$1 out rc=0
    shift
    out=$(timeout "$LIMIT" "$@" 2>&1 </dev/null) || rc=$?
    if ((rc == 124)); then
        printf -- '--- output ---\n%s\n---\n' "$out" >&2
        fail "hung for ${LIMIT}s (killed): $*"
    fi
    ((rc != 0)) || fail "expected a failure, but it succeeded: $*"
    if ((rc >= 126)) || grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$out"; then
        printf '%s\n' "$out" >&2
        fail "crashed (exit $rc): $*"
    fi
    grep -Eqi -- "$regex" <<<"$out" || {
        printf -- '--- output (exit %d) ---\n%s\n---\n' "$rc" "$out" >&2
        fail "no match for /$regex/: $*"
    }
    printf '   returned (exit %d): %s\n' "$rc" "$(grep -Eim1 -- "$regex" <<<"$out")"
}

step "tpmkms --tcti 'cmd:cat' probe returns instead of hanging"
returns_in_time 'tpmkms probe.*failed|TPM' tpmkms --tcti 'cmd:cat' probe

step "a key on the real TPM, signed through a URI whose tcti= forks (cmd:)"
tpmkms setup >/dev/null
tpmkms create 'tpmkms:name=web' --alg ec-p256 >/dev/null
printf 'message' >"$W/msg"
openssl dgst -sha256 -binary -out "$W/msg.sha256" "$W/msg"
returns_in_time 'tpmkms:name=web' \
    openssl pkeyutl -sign "${TPM[@]}" -inkey "tpmkms:name=web;tcti=cmd:cat" \
    -in "$W/msg.sha256" -out "$W/bad.sig"
returns_in_time 'tpmkms:name=web' \
    openssl pkeyutl -sign "${TPM[@]}" -inkey "tpmkms:name=web;tcti=cmd:true" \
    -in "$W/msg.sha256" -out "$W/bad.sig"

step "the same key through the real TPM still signs, and the signature verifies"
timeout "$LIMIT" openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=web' \
    -in "$W/msg.sha256" -out "$W/good.sig" ||
    fail "signing through the real TPM failed"
openssl pkey "${TPM[@]}" -in 'tpmkms:name=web' -pubout -out "$W/web.pub"
openssl pkeyutl -verify -provider default -pubin -inkey "$W/web.pub" \
    -in "$W/msg.sha256" -sigfile "$W/good.sig" >/dev/null ||
    fail "the signature does not verify"

pass

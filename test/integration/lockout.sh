#!/usr/bin/env bash
# Dictionary-attack lockout, on a TPM set to lock out after 2 failures and
# to forgive one failure every 60 s:
#   - a key created without auth carries noDA (its TPM2B_PUBLIC, decoded
#     by tpm2_print), so it can never lock the TPM for other users; a key
#     with a PIN is DA-protected;
#   - each wrong PIN fails once with an authorization error naming the key
#     and the decoded TPM response code, and costs exactly one try (never
#     retried), until the TPM locks out;
#   - in lockout, the error says so and when keys with a PIN work again,
#     computed from TPM2_PT_LOCKOUT_*; the right PIN is refused too;
#   - noDA keys keep signing in lockout;
#   - after tpm2_dictionarylockout --clear-lockout the right PIN works.
# (key_auth_pin.sh covers the PIN itself: pin-value, pin-source, no PIN.)
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_print tpm2_dictionarylockout awk
start_swtpm
# tpm2-tools are fixtures here, run without the test's
# OPENSSL_CONF: in a sanitizer build they cannot load an instrumented
# tpmkms.so that a global configuration activates.
fixture() { env -u OPENSSL_CONF "$@"; }
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
PINNED='tpmkms:name=pinned;key-scope=user'
MAX_TRIES=2
RECOVERY=60

# A TPM2_PT_* variable property, in decimal.
tpm_var() {
    local v
    v=$(fixture tpm2_getcap -T "$TPMKMS_TCTI" properties-variable |
        awk -v p="$1:" '$1 == p {print $2}')
    [[ $v =~ ^0x[0-9A-Fa-f]+$ ]] || fail "cannot read $1 (got '$v')"
    echo $((v))
}

in_lockout() {
    fixture tpm2_getcap -T "$TPMKMS_TCTI" properties-variable |
        awk '$1 == "inLockout:" {print $2}'
}

# The objectAttributes of a key's record, as tpm2_print names them.
attributes() {
    fixture tpm2_print -t TSSPRIVKEY_OBJ "$XDG_DATA_HOME/tpmkms/keys/$1.tpmkey" |
        awk '$1 == "attributes:" {a = 1; next} a && $1 == "value:" {print $2; exit}'
}

sign() {                    # sign URI: writes $W/sig
    rm -f "$W/sig"
    openssl pkeyutl -sign "${TPM[@]}" -inkey "$1" -pkeyopt digest:sha256 \
        -in "$W/data.sha256" -out "$W/sig"
}

sign_verify() {             # sign_verify NAME URI
    sign "$2"
    openssl pkeyutl -verify -provider default -pubin -inkey "$W/$1.pub.pem" \
        -pkeyopt digest:sha256 -in "$W/data.sha256" -sigfile "$W/sig" |
        grep -q 'Signature Verified Successfully' ||
        fail "the signature of $1 does not verify"
}

printf 'lockout\n' >"$W/data"
openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"

step "tpmkms setup; create keys without auth (EC, RSA) and one with a PIN"
tpmkms setup
tpmkms create 'tpmkms:name=free-ec' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=free-rsa' --alg rsa-2048 >/dev/null
tpmkms create 'tpmkms:name=pinned;pin-value=1234' --alg ec-p256 >/dev/null
for k in free-ec free-rsa; do
    openssl pkey "${TPM[@]}" -in "tpmkms:name=$k" -pubout -out "$W/$k.pub.pem"
done
openssl pkey "${TPM[@]}" -in "$PINNED;pin-value=1234" -pubout -out "$W/pinned.pub.pem"

step "keys without auth carry noDA; the key with a PIN is DA-protected"
for k in free-ec free-rsa; do
    a=$(attributes "$k")
    [[ $a == *noda* ]] || fail "$k has no noDA attribute: $a"
    printf '   %s: %s\n' "$k" "$a"
done
a=$(attributes pinned)
[[ $a == *userwithauth* && $a != *noda* ]] ||
    fail "pinned should be userWithAuth without noDA: $a"
printf '   pinned: %s\n' "$a"

step "the TPM locks out after $MAX_TRIES failures and forgives one every $RECOVERY s"
fixture tpm2_dictionarylockout -T "$TPMKMS_TCTI" --setup-parameters --max-tries=$MAX_TRIES \
    --recovery-time=$RECOVERY --lockout-recovery-time=120
(($(tpm_var TPM2_PT_MAX_AUTH_FAIL) == MAX_TRIES)) || fail "TPM2_PT_MAX_AUTH_FAIL is not $MAX_TRIES"
(($(tpm_var TPM2_PT_LOCKOUT_COUNTER) == 0)) || fail "the lockout counter is not 0 at the start"
sign_verify pinned "$PINNED;pin-value=1234"

for ((try = 1; try <= MAX_TRIES; try++)); do
    step "wrong PIN $try of $MAX_TRIES: an authorization error naming the key and TPM code; the counter rises by one"
    before=$(tpm_var TPM2_PT_LOCKOUT_COUNTER)
    expect_fail --provider-errors \
        "$PINNED: TPM2_Sign failed: 0x0000098e \\(tpm:session\\(1\\):the authorization HMAC check failed and DA counter incremented\\) — wrong auth value; not retried" \
        sign "$PINNED;pin-value=9999"
    after=$(tpm_var TPM2_PT_LOCKOUT_COUNTER)
    ((after == before + 1)) ||
        fail "TPM2_PT_LOCKOUT_COUNTER went from $before to $after after one wrong PIN (want +1: a wrong PIN is never retried)"
    [[ ! -s $W/sig ]] || fail "a signature was written despite the wrong PIN"
done
[[ $(in_lockout) == 1 ]] || fail "the TPM is not in lockout after $MAX_TRIES failures"

step "in lockout: the right PIN fails too, the error names the lockout and when it recovers"
expect_fail --provider-errors \
    "$PINNED: TPM2_Sign failed: 0x00000921 \\(tpm:warn\\(2\\.0\\): authorizations for objects subject to DA protection are not allowed at this time because the TPM is in DA lockout mode\\) — the TPM is in dictionary-attack lockout \\($MAX_TRIES failures, the limit is $MAX_TRIES\\); it forgives one failure every $RECOVERY s, so keys with an auth value work again in about $RECOVERY s" \
    sign "$PINNED;pin-value=1234"
step "in lockout: a wrong PIN gets the same lockout error and costs nothing"
expect_fail --provider-errors "$PINNED: TPM2_Sign failed: 0x00000921 .*dictionary-attack lockout" \
    sign "$PINNED;pin-value=9999"
(($(tpm_var TPM2_PT_LOCKOUT_COUNTER) == MAX_TRIES)) ||
    fail "the lockout counter moved during lockout: $(tpm_var TPM2_PT_LOCKOUT_COUNTER)"
tpmkms probe | grep -Eq '^ +state +LOCKED OUT' || {
    tpmkms probe >&2
    fail "tpmkms probe does not report the lockout"
}

step "in lockout: keys without auth (noDA) still sign"
sign_verify free-ec 'tpmkms:name=free-ec'
sign_verify free-rsa 'tpmkms:name=free-rsa'

step "after tpm2_dictionarylockout --clear-lockout the right PIN signs again"
fixture tpm2_dictionarylockout -T "$TPMKMS_TCTI" --clear-lockout
[[ $(in_lockout) == 0 ]] || fail "still in lockout after --clear-lockout"
sign_verify pinned "$PINNED;pin-value=1234"

pass

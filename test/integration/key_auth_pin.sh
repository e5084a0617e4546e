#!/usr/bin/env bash
# A key created with a PIN (its TPM auth value) signs only with that PIN.
# A wrong PIN fails once, saying so, and costs exactly one dictionary-attack
# try; no PIN fails clearly; the PIN is never printed back.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap awk setsid
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)

# The TPM's failed-authorization counter (TPM2_PT_LOCKOUT_COUNTER).
lockout_counter() {
    local v
    v=$(tpm2_getcap -T "$TPMKMS_TCTI" properties-variable |
        awk '$1 == "TPM2_PT_LOCKOUT_COUNTER:" {print $2}')
    [[ $v =~ ^0x[0-9A-Fa-f]+$ ]] || fail "cannot read TPM2_PT_LOCKOUT_COUNTER (got '$v')"
    echo $((v))
}

sign() {
    openssl pkeyutl -sign "${TPM[@]}" -inkey "$1" -pkeyopt digest:sha256 \
        -in "$W/data.sha256" -out "$W/sig"
}

verify() {
    openssl pkeyutl -verify -provider default -pubin -inkey "$W/pinned.pub.pem" \
        -pkeyopt digest:sha256 -in "$W/data.sha256" -sigfile "$W/sig" |
        grep -q 'Signature Verified Successfully'
}

printf 'signed with a PIN\n' >"$W/data"
openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"

step "tpmkms setup persists the SRK"
tpmkms setup

step "create a key with pin-value=1234; the printed URI has no PIN"
uri=$(tpmkms create 'tpmkms:name=pinned;pin-value=1234' --alg ec-p256)
[[ $uri == tpmkms:*name=pinned* ]] || fail "tpmkms create printed '$uri'"
[[ $uri != *pin-value* && $uri != *1234* ]] ||
    fail "tpmkms create printed the PIN back: $uri"
tpmkms show 'tpmkms:name=pinned;pin-value=1234' >"$W/show.txt"
if grep -Eq 'pin-value|1234' "$W/show.txt"; then
    fail "tpmkms show printed the PIN: $(cat "$W/show.txt")"
fi

step "export the public key (the store asks for the PIN when it loads the key)"
openssl pkey "${TPM[@]}" -in 'tpmkms:name=pinned;pin-value=1234' -pubout \
    -out "$W/pinned.pub.pem"

step "the public key alone needs no PIN: openssl pkey -pubin, from the URI and from a key file"
# setsid and </dev/null: a prompt for the PIN could not be answered.
setsid -w openssl pkey "${TPM[@]}" -pubin -in 'tpmkms:name=pinned' -pubout \
    -out "$W/pubin.pem" </dev/null || fail "openssl pkey -pubin asked for a PIN it does not need"
cmp -s "$W/pubin.pem" "$W/pinned.pub.pem" || fail "openssl pkey -pubin gave another public key"
openssl pkey "${TPM[@]}" -in 'tpmkms:name=pinned;pin-value=1234' -out "$W/pinned.key.pem"
setsid -w openssl pkey "${TPM[@]}" -pubin -in "$W/pinned.key.pem" -pubout \
    -out "$W/pubin-file.pem" </dev/null ||
    fail "openssl pkey -pubin on a key file with an auth value asked for it"
cmp -s "$W/pubin-file.pem" "$W/pinned.pub.pem" || fail "the key file's public key differs"
step "without -pubin the private key is asked for: no PIN fails, naming -pubin"
expect_fail --provider-errors 'none was given.*openssl pkey -pubin' setsid -w openssl pkey \
    "${TPM[@]}" -in 'tpmkms:name=pinned' -pubout </dev/null

step "signing with pin-value=1234 works and verifies"
sign 'tpmkms:name=pinned;pin-value=1234'
verify || fail "the signature made with the right PIN does not verify"

step "a wrong PIN fails naming the auth failure, and costs exactly one try"
before=$(lockout_counter)
rm -f "$W/sig"
expect_fail --provider-errors 'auth' sign 'tpmkms:name=pinned;pin-value=9999'
after=$(lockout_counter)
((after == before + 1)) ||
    fail "TPM2_PT_LOCKOUT_COUNTER went from $before to $after after one wrong PIN (want +1)"
[[ ! -s $W/sig ]] || fail "a signature was written despite the wrong PIN"

step "no PIN, and no terminal to ask on: fails clearly, costs no try"
before=$(lockout_counter)
# setsid: no controlling terminal, so a PIN prompt cannot wait for input.
expect_fail --provider-errors '(auth|pin)' setsid -w openssl pkeyutl -sign \
    "${TPM[@]}" -inkey 'tpmkms:name=pinned' -pkeyopt digest:sha256 \
    -in "$W/data.sha256" -out "$W/sig"
after=$(lockout_counter)
((after == before)) ||
    fail "TPM2_PT_LOCKOUT_COUNTER went from $before to $after without a PIN being tried"

step "the right PIN still works after the failure"
sign 'tpmkms:name=pinned;pin-value=1234'
verify || fail "the signature made with the right PIN does not verify"

step "pin-source=file: reads the PIN from a file"
printf '1234\n' >"$W/pin"
chmod 600 "$W/pin"
sign "tpmkms:name=pinned;pin-source=file:$W/pin"
verify || fail "the signature made with pin-source does not verify"

pass

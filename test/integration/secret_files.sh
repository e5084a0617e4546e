#!/usr/bin/env bash
# The files secrets are read from: a key's PIN (pin-source=file:...) and
# the owner's auth (TPMKMS_OWNER_AUTH_FILE).  Each must be a regular file
# only its owner may use, as ssh wants a private key.  A FIFO (or a device,
# a directory) is refused at once, naming what it is, instead of hanging
# the program that opened it; a file its group or others may read is
# refused naming chmod 600; a 0600 file works.  Every command that could
# hang runs under `timeout 20`, so a regression fails here instead of
# hanging CI (timeout's exit 124 carries none of the expected messages).
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_createprimary tpm2_evictcontrol \
    tpm2_flushcontext mkfifo timeout
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)

sign() {
    timeout 20 openssl pkeyutl -sign "${TPM[@]}" -inkey "$1" -pkeyopt digest:sha256 \
        -in "$W/data.sha256" -out "$W/sig"
}

verify() {
    openssl pkeyutl -verify -provider default -pubin -inkey "$W/pinned.pub.pem" \
        -pkeyopt digest:sha256 -in "$W/data.sha256" -sigfile "$W/sig" |
        grep -q 'Signature Verified Successfully'
}

printf 'signed with a PIN from a file\n' >"$W/data"
openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"
mkfifo -m 600 "$W/secret.fifo"

step "TPMKMS_OWNER_AUTH_FILE naming a FIFO: tpmkms setup returns at once, naming it"
TPMKMS_OWNER_AUTH_FILE=$W/secret.fifo expect_fail \
    'owner auth file \(TPMKMS_OWNER_AUTH_FILE\) .*secret\.fifo is a FIFO.*not a regular file' \
    timeout 20 tpmkms setup
lacks_handle 0x81000001

step "TPMKMS_OWNER_AUTH_FILE naming a directory or a device: refused likewise"
TPMKMS_OWNER_AUTH_FILE=$W expect_fail 'owner auth file .* is a directory' \
    timeout 20 tpmkms setup
TPMKMS_OWNER_AUTH_FILE=/dev/zero expect_fail 'owner auth file .*/dev/zero is a character device' \
    timeout 20 tpmkms setup
lacks_handle 0x81000001

step "an owner auth file others may read (0644): refused naming chmod 600"
printf '\n' >"$W/owner.pw"    # the owner has no auth: an empty first line
chmod 644 "$W/owner.pw"
TPMKMS_OWNER_AUTH_FILE=$W/owner.pw expect_fail \
    "owner auth file .*owner\.pw is readable by its group and others \(mode 0644\): chmod 600 $W/owner\.pw" \
    timeout 20 tpmkms setup
lacks_handle 0x81000001

step "the same file at 0600: tpmkms setup reads it and persists the SRK"
chmod 600 "$W/owner.pw"
TPMKMS_OWNER_AUTH_FILE=$W/owner.pw timeout 20 tpmkms setup
has_handle 0x81000001

step "a key with a PIN, and a persistent key no record names at 0x81000020"
tpmkms create 'tpmkms:name=pinned;pin-value=1234' --alg ec-p256 >/dev/null
openssl pkey "${TPM[@]}" -in 'tpmkms:name=pinned;pin-value=1234' -pubout \
    -out "$W/pinned.pub.pem"
tpm2_createprimary -C o -c "$W/other.ctx" >/dev/null
tpm2_evictcontrol -C o -c "$W/other.ctx" 0x81000020 >/dev/null
tpm2_flushcontext -t    # no resource manager: tpm2-tools leave it loaded
has_handle 0x81000020

step "pin-source=file: naming a FIFO: signing returns at once, naming it"
rm -f "$W/sig"
expect_fail --provider-errors 'pin-source file .*secret\.fifo is a FIFO.*not a regular file' \
    sign "tpmkms:name=pinned;pin-source=file:$W/secret.fifo"
[[ ! -s $W/sig ]] || fail "a signature was written without a PIN"

step "pin-source naming a character device (/dev/zero): refused, nothing read"
expect_fail --provider-errors 'pin-source file /dev/zero is a character device' \
    sign 'tpmkms:name=pinned;pin-source=/dev/zero'

step "a PIN file its group may read (0640, 0644): refused naming chmod 600"
printf '1234\n' >"$W/pin"
chmod 640 "$W/pin"
expect_fail --provider-errors "pin-source file .*/pin is readable by its group \(mode 0640\): chmod 600 $W/pin" \
    sign "tpmkms:name=pinned;pin-source=file:$W/pin"
chmod 644 "$W/pin"
expect_fail --provider-errors 'readable by its group and others \(mode 0644\): chmod 600' \
    sign "tpmkms:name=pinned;pin-source=file:$W/pin"

step "the PIN file at 0600 (and 0400) signs, and the signature verifies"
chmod 600 "$W/pin"
sign "tpmkms:name=pinned;pin-source=file:$W/pin"
verify || fail "the signature made with a 0600 pin-source does not verify"
chmod 400 "$W/pin"
sign "tpmkms:name=pinned;pin-source=$W/pin"
verify || fail "the signature made with a 0400 pin-source does not verify"

step "tpmkms delete tpmkms:handle=... with TPMKMS_OWNER_AUTH_FILE naming a FIFO: returns, handle kept"
TPMKMS_OWNER_AUTH_FILE=$W/secret.fifo expect_fail \
    'owner auth file \(TPMKMS_OWNER_AUTH_FILE\) .*secret\.fifo is a FIFO' \
    timeout 20 tpmkms delete 'tpmkms:handle=0x81000020'
has_handle 0x81000020

step "with the 0600 owner auth file it evicts the handle"
TPMKMS_OWNER_AUTH_FILE=$W/owner.pw timeout 20 tpmkms delete 'tpmkms:handle=0x81000020' >/dev/null
lacks_handle 0x81000020

pass

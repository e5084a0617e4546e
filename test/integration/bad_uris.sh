#!/usr/bin/env bash
# A user who mistypes a tpmkms: URI gets an ordinary error (exit 1..125, no
# crash) that names the attribute at fault or the key that is missing, from
# the tpmkms command and from openssl alike, and no key name can reach
# outside the key store.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap find
start_swtpm
TPM=(-provider tpmkms -provider default)

# bad_attribute REGEX URI: the URI is refused, and what tpmkms says names
# the attribute (REGEX) apart from quoting the URI back.
bad_attribute() {
    local regex=$1 uri=$2
    expect_fail --hide "$uri" "$regex" tpmkms show "$uri"
    expect_fail --hide "$uri" --provider-errors "$regex" \
        openssl pkey "${TPM[@]}" -in "$uri" -pubout
    expect_fail --hide "$uri" --provider-errors "$regex" \
        openssl storeutl -noout "${TPM[@]}" "$uri"
}

# missing_key REGEX URI: a well-formed URI for a key that is not there; the
# error names the key (REGEX).
missing_key() {
    local regex=$1 uri=$2
    expect_fail "$regex" tpmkms show "$uri"
    expect_fail --provider-errors "$regex" \
        openssl pkey "${TPM[@]}" -in "$uri" -pubout
    expect_fail --provider-errors "$regex" \
        openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" -in /dev/null
}

step "tpmkms setup, and one real key so lookups have a store to search"
tpmkms setup
tpmkms create 'tpmkms:name=web' --alg ec-p256 >/dev/null

step "unknown attribute"
bad_attribute '\bcolour\b' 'tpmkms:name=web;colour=blue'
step "duplicate attribute"
bad_attribute '\bname\b' 'tpmkms:name=web;name=other'
step "empty name"
bad_attribute '\bname\b' 'tpmkms:name='
step "bad key-scope"
bad_attribute '\bkey-scope\b' 'tpmkms:name=web;key-scope=galaxy'
step "bad store-location"
bad_attribute '\bstore-location\b' 'tpmkms:name=web;store-location=galaxy'
step "handle outside the persistent range"
bad_attribute '\bhandle\b' 'tpmkms:handle=0x12345678'
step "handle that is not a number"
bad_attribute '\bhandle\b' 'tpmkms:handle=banana'
step "name together with handle"
bad_attribute '\b(name|handle)\b' 'tpmkms:name=web;handle=0x81000010'
step "device together with tcti"
bad_attribute '\b(device|tcti)\b' "tpmkms:name=web;device=/dev/tpmrm0;tcti=$TPMKMS_TCTI"
step "name with a path: ../x"
bad_attribute '\bname\b' 'tpmkms:name=../x'
step "name with an encoded slash: a%2Fb"
bad_attribute '\bname\b' 'tpmkms:name=a%2Fb'
step "name starting with a dot"
bad_attribute '\bname\b' 'tpmkms:name=.hidden'

step "names with paths cannot be created either"
expect_fail --hide 'tpmkms:name=../x' '\bname\b' \
    tpmkms create 'tpmkms:name=../x' --alg ec-p256
expect_fail --hide 'tpmkms:name=a%2Fb' '\bname\b' \
    tpmkms create 'tpmkms:name=a%2Fb' --alg ec-p256
records=$(find "$TPMKMS_WORK" -type f -name '*.tpmkey' | sort)
[[ $records == "$XDG_DATA_HOME/tpmkms/keys/web.tpmkey" ]] ||
    fail "key records after the refused creates are not just web's: $records"

step "a key that does not exist is named in the error"
missing_key '\bnosuchkey\b' 'tpmkms:name=nosuchkey'
missing_key '\bnosuchkey\b' 'tpmkms:name=nosuchkey;key-scope=machine'
missing_key '0x81000099' 'tpmkms:handle=0x81000099'
expect_fail '\bnosuchkey\b' tpmkms delete 'tpmkms:name=nosuchkey'

step "a key in the other scope is not found by a scoped URI"
missing_key '\bweb\b' 'tpmkms:name=web;key-scope=machine'

pass

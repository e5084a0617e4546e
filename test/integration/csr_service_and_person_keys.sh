#!/usr/bin/env bash
# The two CSR flows of examples/csr/README.md, with examples/csr/request.cnf:
# a service's key in the machine store and a person's key in the user's
# store, each signing a request whose subject, key usage, extended key
# usages and SANs are what the README promises, and whose public key is
# the TPM key's.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap cmp
start_swtpm
W=$TPMKMS_WORK
CNF=$TPMKMS_SOURCE_DIR/examples/csr/request.cnf
TK=(-provider tpmkms -provider default)

# expect_csr CSR URI WANT...: the request verifies, carries the key of
# URI, and its text has each WANT.
expect_csr() {
    local csr=$1 uri=$2 want
    shift 2
    openssl req -provider default -in "$csr" -noout -verify 2>&1 |
        grep -q 'verify OK' || fail "$csr does not verify"
    openssl req -provider default -in "$csr" -noout -pubkey >"$csr.pub"
    openssl pkey "${TK[@]}" -in "$uri" -pubout | cmp -s - "$csr.pub" ||
        fail "$csr does not carry the key of $uri"
    openssl req -provider default -in "$csr" -noout -text >"$csr.txt"
    for want in "$@"; do
        grep -qF -- "$want" "$csr.txt" || fail "$csr lacks '$want':"$'\n'"$(cat "$csr.txt")"
    done
}

tpmkms setup

step "a service's key: key-scope=machine, its record in the machine store"
tpmkms create 'tpmkms:name=www;key-scope=machine' --alg ec-p256 >/dev/null
[[ -f $TPMKMS_MACHINE_STORE/keys/www.tpmkey ]] || fail "the service key's record is not in the machine store"
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/www.tpmkey ]] || fail "the service key's record is in the user store"
openssl req -new -config "$CNF" "${TK[@]}" -key 'tpmkms:name=www;key-scope=machine' -out "$W/www.csr"
expect_csr "$W/www.csr" 'tpmkms:name=www;key-scope=machine' \
    'Subject: CN = www.example.com, O = Example Ltd, C = GB' \
    'DNS:www.example.com, DNS:example.com' \
    'TLS Web Server Authentication, TLS Web Client Authentication' \
    'Digital Signature' 'ecdsa-with-SHA256'

step "a person's key: key-scope=user, its record in the user's store, person_ext"
tpmkms create 'tpmkms:name=alice;key-scope=user' --alg ec-p256 >/dev/null
[[ -f $XDG_DATA_HOME/tpmkms/keys/alice.tpmkey ]] || fail "the person's record is not in the user store"
[[ ! -e $TPMKMS_MACHINE_STORE/keys/alice.tpmkey ]] || fail "the person's record is in the machine store"
openssl req -new -config "$CNF" -reqexts person_ext -subj '/CN=Alice Example/O=Example Ltd/C=GB' \
    "${TK[@]}" -key 'tpmkms:name=alice;key-scope=user' -out "$W/alice.csr"
expect_csr "$W/alice.csr" 'tpmkms:name=alice;key-scope=user' \
    'Subject: CN = Alice Example, O = Example Ltd, C = GB' \
    'email:alice@example.com' \
    'TLS Web Client Authentication, E-mail Protection' \
    'Digital Signature'
if grep -q 'DNS:' "$W/alice.csr.txt"; then fail "the person's request names DNS names"; fi

step "the service's request does not verify as the person's key (the check can fail)"
openssl req -provider default -in "$W/alice.csr" -noout -pubkey | cmp -s - "$W/www.csr.pub" &&
    fail "two TPM keys have the same public key"

pass

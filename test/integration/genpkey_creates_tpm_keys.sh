#!/usr/bin/env bash
# A user makes TPM keys with plain `openssl genpkey`, for each algorithm
# tpmkms creates: the key lands in the user store under the name the URI
# gives, genpkey writes its TSS2 PRIVATE KEY file (PEM or DER), and the key
# is then usable by URI.  Unsupported sizes and curves, a missing URI and
# an existing name are refused with messages that say what to do.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap cmp
start_swtpm
W=$TPMKMS_WORK
TK=(-provider tpmkms -provider default)
# Activated globally too (TPMKMS_TEST_GLOBAL_CONF), the order in which
# OpenSSL finds the two EC/RSA keymgmts is the configuration's and
# OpenSSL's, not these options': ask for tpmkms's, as README says.
if [[ -n ${TPMKMS_TEST_GLOBAL_CONF:-} ]]; then
    TK+=(-propquery provider=tpmkms)
fi
# With default loaded first, EC/RSA keygen is OpenSSL's unless asked for.
DK=(-provider default -provider tpmkms -propquery provider=tpmkms)

pubkey_of() {
    openssl pkey "${TK[@]}" -in "$1" -pubout
}

step "tpmkms setup persists the SRK"
tpmkms setup

for spec in "ec-p256 EC group:P-256" "ec-p384 EC group:secp384r1" \
            "rsa-2048 RSA bits:2048" "rsa-3072 RSA bits:3072"; do
    read -r alg type opt <<<"$spec"
    name=gen-$alg

    step "$alg: openssl genpkey -algorithm $type -pkeyopt $opt creates tpmkms:name=$name"
    openssl genpkey "${TK[@]}" -algorithm "$type" -pkeyopt "$opt" \
        -pkeyopt "uri:tpmkms:name=$name" -out "$W/$name.pem"
    [[ -f $XDG_DATA_HOME/tpmkms/keys/$name.tpmkey ]] ||
        fail "genpkey made no record $XDG_DATA_HOME/tpmkms/keys/$name.tpmkey"

    step "$alg: genpkey wrote a TSS2 PRIVATE KEY file, not a software key"
    head -n1 "$W/$name.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
        fail "genpkey's output does not start with BEGIN TSS2 PRIVATE KEY: $(head -n1 "$W/$name.pem")"
    if grep -q 'BEGIN PRIVATE KEY\|BEGIN EC PRIVATE KEY\|BEGIN RSA PRIVATE KEY' "$W/$name.pem"; then
        fail "genpkey wrote a software private key"
    fi

    step "$alg: the key file is the record's key block"
    sed -n '/-----BEGIN TSS2 PRIVATE KEY-----/,/-----END TSS2 PRIVATE KEY-----/p' \
        "$XDG_DATA_HOME/tpmkms/keys/$name.tpmkey" >"$W/$name.record.pem"
    cmp -s "$W/$name.pem" "$W/$name.record.pem" ||
        fail "genpkey's key file differs from the key block in the record"

    step "$alg: the key is usable by URI and is the $alg the options asked for"
    openssl pkey "${TK[@]}" -in "tpmkms:name=$name" -text -noout >"$W/$name.txt"
    grep -qxF "Algorithm: $alg" "$W/$name.txt" ||
        fail "tpmkms:name=$name is not $alg: $(grep Algorithm "$W/$name.txt")"
done

step "genpkey -outform DER writes the key file as DER"
openssl genpkey "${TK[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt uri:tpmkms:name=gen-der -outform DER -out "$W/gen-der.der"
openssl asn1parse -inform DER -in "$W/gen-der.der" | grep -q ':2.23.133.10.1.3' ||
    fail "genpkey -outform DER did not write a TSS2 key (OID 2.23.133.10.1.3)"

step "with the default provider loaded first, -propquery provider=tpmkms makes a TPM key"
openssl genpkey "${DK[@]}" -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt uri:tpmkms:name=gen-default-first -out "$W/gen-default-first.pem"
head -n1 "$W/gen-default-first.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
    fail "genpkey with default first did not write a TSS2 key file"
pubkey_of tpmkms:name=gen-default-first >/dev/null

step "a name that exists is refused, and force:1 replaces the key"
before=$(pubkey_of tpmkms:name=gen-ec-p256)
expect_fail --provider-errors 'already exists' openssl genpkey "${TK[@]}" \
    -algorithm EC -pkeyopt group:P-256 -pkeyopt uri:tpmkms:name=gen-ec-p256
[[ $(pubkey_of tpmkms:name=gen-ec-p256) == "$before" ]] ||
    fail "a refused genpkey changed tpmkms:name=gen-ec-p256"
openssl genpkey "${TK[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt uri:tpmkms:name=gen-ec-p256 -pkeyopt force:1 -out /dev/null
[[ $(pubkey_of tpmkms:name=gen-ec-p256) != "$before" ]] ||
    fail "force:1 did not replace tpmkms:name=gen-ec-p256"

step "genpkey without a URI makes an ordinary software key (tpmkms serves it for default)"
openssl genpkey "${TK[@]}" -algorithm EC -pkeyopt group:P-256 -out "$W/soft.pem"
head -n1 "$W/soft.pem" | grep -qxF -- '-----BEGIN PRIVATE KEY-----' ||
    fail "genpkey without a URI did not write a software key: $(head -n1 "$W/soft.pem")"
openssl pkey -provider default -in "$W/soft.pem" -check -noout >/dev/null ||
    fail "the software key genpkey wrote does not load in the default provider"

step "unsupported sizes and curves are refused, naming what is supported"
expect_fail --provider-errors '4096 bits.*2048 and 3072' openssl genpkey "${TK[@]}" \
    -algorithm RSA -pkeyopt bits:4096 -pkeyopt uri:tpmkms:name=gen-bad
expect_fail --provider-errors 'P-521.*P-256.*P-384' openssl genpkey "${TK[@]}" \
    -algorithm EC -pkeyopt group:P-521 -pkeyopt uri:tpmkms:name=gen-bad
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/gen-bad.tpmkey ]] ||
    fail "a refused genpkey left a record"

step "a URI that is not a tpmkms: URI is refused"
expect_fail --provider-errors 'tpmkms:' openssl genpkey "${TK[@]}" \
    -algorithm EC -pkeyopt group:P-256 -pkeyopt uri:name=gen-bad

pass

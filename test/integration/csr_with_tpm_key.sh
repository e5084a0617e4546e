#!/usr/bin/env bash
# A user makes a certificate request and a self-signed certificate with a
# key that lives in the TPM, for each algorithm tpmkms creates, and anyone
# with only OpenSSL's default provider can check the signatures.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap cmp od dd
start_swtpm
W=$TPMKMS_WORK

# `openssl req -verify` exits 0 even when the signature is bad: read what
# it says.
csr_verifies() {
    local out
    out=$(openssl req -provider default -in "$1" -verify -noout 2>&1) || return 1
    [[ $out == *"self-signature verify OK"* ]]
}

# Copies a PEM file ($1) to $2 with the last byte of its DER (inside the
# signature) changed.
tamper_last_byte() {
    local kind=$1 in=$2 out=$3 size last
    openssl "$kind" -in "$in" -outform DER -out "$out.der"
    size=$(stat -c %s "$out.der")
    last=$(od -An -tu1 -j $((size - 1)) -N1 "$out.der" | tr -d ' ')
    printf '%b' "\\$(printf '%03o' $((last ^ 1)))" |
        dd of="$out.der" bs=1 seek=$((size - 1)) conv=notrunc status=none
    openssl "$kind" -inform DER -in "$out.der" -out "$out"
}

step "tpmkms setup persists the SRK"
tpmkms setup

for alg in ec-p256 ec-p384 rsa-2048 rsa-3072; do
    name=csr-$alg

    step "$alg: tpmkms create prints the key's URI with key-scope="
    uri=$(tpmkms create "tpmkms:name=$name" --alg "$alg")
    re="^tpmkms:(.*;)?name=$name(;|$)"
    [[ $uri =~ $re ]] || fail "tpmkms create printed '$uri', not a URI naming $name"
    re="(:|;)key-scope=user(;|$)"
    [[ $uri =~ $re ]] || fail "tpmkms create printed '$uri', without key-scope=user"

    step "$alg: openssl req -new signs a CSR with tpmkms:name=$name"
    openssl req -new -provider tpmkms -provider default \
        -key "tpmkms:name=$name" -subj "/CN=$name" -out "$W/$name.csr"

    step "$alg: the CSR verifies with the default provider alone"
    csr_verifies "$W/$name.csr" || fail "the CSR made with $name does not verify"
    openssl req -provider default -in "$W/$name.csr" -noout -subject |
        grep -q "CN *= *$name" || fail "CSR subject is not CN=$name"

    step "$alg: the public key of the URI is the CSR's public key"
    openssl pkey -provider tpmkms -provider default -in "$uri" -pubout \
        -out "$W/$name.pub.pem"
    openssl req -provider default -in "$W/$name.csr" -noout -pubkey \
        -out "$W/$name.csr-pub.pem"
    cmp -s "$W/$name.pub.pem" "$W/$name.csr-pub.pem" ||
        fail "openssl pkey -in $uri -pubout differs from the CSR's public key"

    step "$alg: openssl req -x509 makes a self-signed certificate with $uri"
    openssl req -new -x509 -provider tpmkms -provider default \
        -key "$uri" -subj "/CN=$name" -days 1 -out "$W/$name.crt"

    # -check_ss_sig: without it a trusted self-signed certificate's own
    # signature is not checked at all.
    step "$alg: the certificate's signature verifies (default provider)"
    openssl verify -provider default -check_ss_sig -CAfile "$W/$name.crt" "$W/$name.crt" |
        grep -qxF "$W/$name.crt: OK" || fail "openssl verify did not say OK"

    step "$alg: its public key is the TPM key's"
    openssl x509 -provider default -in "$W/$name.crt" -noout -pubkey \
        -out "$W/$name.crt-pub.pem"
    cmp -s "$W/$name.pub.pem" "$W/$name.crt-pub.pem" ||
        fail "the certificate's public key is not the public key of $uri"
    case $alg in
    ec-*) want=id-ecPublicKey ;;
    rsa-*) want=rsaEncryption ;;
    esac
    openssl x509 -provider default -in "$W/$name.crt" -noout -text |
        grep -q "Public Key Algorithm: $want" ||
        fail "the certificate's key is not $want"
done

step "examples/openssl.cnf activates tpmkms: a CSR from examples/csr/request.cnf"
OPENSSL_CONF=$TPMKMS_SOURCE_DIR/examples/openssl.cnf openssl req -new \
    -config "$TPMKMS_SOURCE_DIR/examples/csr/request.cnf" \
    -key 'tpmkms:name=csr-ec-p256' -out "$W/example.csr"
csr_verifies "$W/example.csr" || fail "the CSR from the examples does not verify"
openssl req -provider default -in "$W/example.csr" -noout -text >"$W/example.txt"
for want in 'CN = www.example.com' 'DNS:www.example.com, DNS:example.com' \
    'TLS Web Server Authentication, TLS Web Client Authentication' \
    'Digital Signature' 'ecdsa-with-SHA256'; do
    grep -qF "$want" "$W/example.txt" || fail "the example CSR lacks '$want'"
done

for order in tpmkms-first default-first; do
    step "an openssl.cnf loading tpmkms and default ($order) signs CSRs"
    write_openssl_cnf "$W/$order.cnf" "$order"
    for key in csr-ec-p384 csr-rsa-2048; do
        OPENSSL_CONF=$W/$order.cnf openssl req -new -key "tpmkms:name=$key" \
            -subj "/CN=$order" -out "$W/$order-$key.csr"
        csr_verifies "$W/$order-$key.csr" || fail "the $order CSR with $key does not verify"
    done
done

step "a CSR or certificate with a changed signature does not verify"
# Proves the checks above can fail.
tamper_last_byte req "$W/csr-ec-p256.csr" "$W/bad.csr"
if csr_verifies "$W/bad.csr"; then fail "a tampered CSR verified"; fi
tamper_last_byte x509 "$W/csr-rsa-2048.crt" "$W/bad.crt"
expect_fail 'signature' openssl verify -provider default -check_ss_sig \
    -CAfile "$W/bad.crt" "$W/bad.crt"

pass

#!/usr/bin/env bash
# A user signs with a TPM key through `openssl pkeyutl` (a digest made
# beforehand) and `openssl dgst -sign` (the message), with every padding and
# hash tpmkms offers, and the signatures verify with the exported public key
# and OpenSSL's default provider alone.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap head
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)

head -c 4096 /dev/urandom >"$W/data"
printf 'not the data that was signed\n' >"$W/other"

# sign_and_verify URI PUB HASH [PKEYOPT...]: pkeyutl sign with the TPM key,
# verify with the public key only; a digest of other data must not verify.
sign_and_verify() {
    local uri=$1 pub=$2 hash=$3
    shift 3
    local opts=(-pkeyopt "digest:$hash") o
    for o in "$@"; do
        opts+=(-pkeyopt "$o")
    done
    openssl dgst "-$hash" -binary -out "$W/data.$hash" "$W/data"
    openssl dgst "-$hash" -binary -out "$W/other.$hash" "$W/other"
    rm -f "$W/sig"
    openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" "${opts[@]}" \
        -in "$W/data.$hash" -out "$W/sig"
    [[ -s $W/sig ]] || fail "pkeyutl -sign with $uri wrote no signature"
    openssl pkeyutl -verify -provider default -pubin -inkey "$pub" \
        "${opts[@]}" -in "$W/data.$hash" -sigfile "$W/sig" |
        grep -q 'Signature Verified Successfully' ||
        fail "signature by $uri ($hash $*) does not verify"
    expect_fail 'verif' openssl pkeyutl -verify -provider default -pubin \
        -inkey "$pub" "${opts[@]}" -in "$W/other.$hash" -sigfile "$W/sig"
}

# dgst_sign_and_verify URI PUB HASH [SIGOPT...]: the digest-sign path.
dgst_sign_and_verify() {
    local uri=$1 pub=$2 hash=$3
    shift 3
    local opts=() o
    for o in "$@"; do
        opts+=(-sigopt "$o")
    done
    rm -f "$W/sig"
    openssl dgst "-$hash" "${TPM[@]}" -sign "$uri" "${opts[@]}" \
        -out "$W/sig" "$W/data"
    openssl dgst "-$hash" -provider default -verify "$pub" "${opts[@]}" \
        -signature "$W/sig" "$W/data" | grep -qx 'Verified OK' ||
        fail "dgst -sign by $uri ($hash $*) does not verify"
    expect_fail 'fail' openssl dgst "-$hash" -provider default -verify "$pub" \
        "${opts[@]}" -signature "$W/sig" "$W/other"
}

# The modulus size in bytes of an RSA public key file.
rsa_bytes() {
    local bits
    bits=$(openssl pkey -provider default -pubin -in "$1" -noout -text |
        sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p')
    echo $(((bits + 7) / 8))
}

step "tpmkms setup persists the SRK"
tpmkms setup

for alg in ec-p256 ec-p384 rsa-2048 rsa-3072; do
    uri="tpmkms:name=sig-$alg"
    pub=$W/sig-$alg.pub.pem

    step "$alg: create the key and export its public key"
    tpmkms create "$uri" --alg "$alg" >/dev/null
    openssl pkey "${TPM[@]}" -in "$uri" -pubout -out "$pub"
    if grep -q PRIVATE "$pub"; then fail "pkey -pubout wrote a private key"; fi

    case $alg in
    ec-*)
        for hash in sha256 sha384 sha512; do
            step "$alg: ECDSA over a $hash digest"
            sign_and_verify "$uri" "$pub" "$hash"
        done
        ;;
    rsa-*)
        for hash in sha256 sha384 sha512; do
            step "$alg: RSA PKCS#1 v1.5 over a $hash digest"
            sign_and_verify "$uri" "$pub" "$hash" rsa_padding_mode:pkcs1
        done
        # Salt as long as the digest; then the longest salt the modulus
        # allows, which the verifier checks by its exact length.
        max_salt=$(($(rsa_bytes "$pub") - 32 - 2))
        step "$alg: RSA-PSS, sha256, rsa_pss_saltlen:digest (32 bytes)"
        sign_and_verify "$uri" "$pub" sha256 rsa_padding_mode:pss \
            rsa_pss_saltlen:digest
        step "$alg: RSA-PSS, sha256, rsa_pss_saltlen:max ($max_salt bytes)"
        openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" \
            -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
            -pkeyopt rsa_pss_saltlen:max -in "$W/data.sha256" -out "$W/sig"
        openssl pkeyutl -verify -provider default -pubin -inkey "$pub" \
            -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
            -pkeyopt "rsa_pss_saltlen:$max_salt" -in "$W/data.sha256" \
            -sigfile "$W/sig" | grep -q 'Signature Verified Successfully' ||
            fail "PSS salt of $uri with saltlen:max is not $max_salt bytes"
        ;;
    esac

    step "$alg: openssl dgst -sha256 -sign (digest-sign path)"
    dgst_sign_and_verify "$uri" "$pub" sha256
    case $alg in
    rsa-*)
        step "$alg: openssl dgst -sha384 -sign with PSS"
        dgst_sign_and_verify "$uri" "$pub" sha384 rsa_padding_mode:pss \
            rsa_pss_saltlen:digest
        ;;
    esac
done

pass

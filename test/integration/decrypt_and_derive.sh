#!/usr/bin/env bash
# A user decrypts with an RSA TPM key and agrees on keys with an EC TPM key,
# against what OpenSSL's default provider made alone: `pkeyutl -encrypt` of
# software (PKCS#1 v1.5, OAEP with SHA-1/256/384 and a label) is decrypted by
# the TPM; `cms -encrypt` / `smime -encrypt` to a certificate of the TPM key
# (RSA, and ECDH key agreement on P-256 and P-384) are decrypted by the TPM;
# `pkeyutl -derive` with the TPM key equals the software derivation from the
# peer's side.  Wrong padding, a wrong label, a label the TPM cannot take, a
# peer on another curve and a key made for signing only fail with tpmkms's
# message; the keys still sign (PKCS#1 and PSS) with the decrypt attribute.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl cmp head
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
SW=(-provider default)

head -c 100 /dev/urandom >"$W/secret"
printf 'a message for the TPM key only\n' >"$W/message"

# same FILE1 FILE2 WHAT: the files are equal.
same() {
    cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"
}

step "tpmkms setup persists the SRK"
tpmkms setup

for alg in rsa-2048 rsa-3072; do
    uri="tpmkms:name=dec-$alg"
    pub=$W/dec-$alg.pub.pem

    step "$alg: create the key (sign and decrypt) and export its public key"
    tpmkms create "$uri" --alg "$alg" >/dev/null
    openssl pkey "${TPM[@]}" -in "$uri" -pubout -out "$pub"

    # round_trip WHAT PKEYOPT...: software encrypts, the TPM decrypts.
    round_trip() {
        local what=$1 opts=() o
        shift
        for o in "$@"; do
            opts+=(-pkeyopt "$o")
        done
        step "$alg: $what: software encrypts, the TPM decrypts"
        rm -f "$W/ct" "$W/pt"
        openssl pkeyutl -encrypt "${SW[@]}" -pubin -inkey "$pub" \
            "${opts[@]}" -in "$W/secret" -out "$W/ct"
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" "${opts[@]}" \
            -in "$W/ct" -out "$W/pt"
        same "$W/secret" "$W/pt" "$alg $what"
    }
    round_trip "PKCS#1 v1.5"
    round_trip "PKCS#1 v1.5 (explicit)" rsa_padding_mode:pkcs1
    round_trip "OAEP SHA-1" rsa_padding_mode:oaep
    round_trip "OAEP SHA-256" rsa_padding_mode:oaep rsa_oaep_md:sha256
    round_trip "OAEP SHA-384, MGF1 SHA-384" rsa_padding_mode:oaep \
        rsa_oaep_md:sha384 rsa_mgf1_md:sha384
    # A label as a TPM takes it: a string with its terminating zero.
    round_trip "OAEP SHA-256 with the label 'label\\0'" rsa_padding_mode:oaep \
        rsa_oaep_md:sha256 rsa_oaep_label:6c6162656c00

    step "$alg: encryption with the TPM key runs in software on its public half"
    openssl pkeyutl -encrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -in "$W/secret" -out "$W/ct2"
    openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -in "$W/ct2" -out "$W/pt2"
    same "$W/secret" "$W/pt2" "$alg encrypt with the TPM key"

    step "$alg: wrong padding, hash or label fail with one tpmkms message"
    # $W/ct is OAEP SHA-256 with the label 'label\0' (the last round trip).
    expect_fail --provider-errors 'decryption failed.*refused the ciphertext.*not encrypted to this key with this padding \(RSAES-PKCS1-v1_5' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" -in "$W/ct"
    expect_fail --provider-errors 'decryption failed.*refused the ciphertext.*RSAES-OAEP with SHA-256 and no label' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -in "$W/ct"
    expect_fail --provider-errors 'decryption failed.*refused the ciphertext' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -pkeyopt rsa_oaep_label:6f7468657200 -in "$W/ct"
    expect_fail --provider-errors 'decryption failed.*refused the ciphertext.*SHA-384' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha384 \
        -pkeyopt rsa_oaep_label:6c6162656c00 -in "$W/ct"
    step "$alg: what the TPM cannot take is refused before it is sent"
    expect_fail --provider-errors 'OAEP label does not end in a zero octet' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_label:6c6162656c \
        -in "$W/ct"
    expect_fail --provider-errors 'MGF1 digest SHA1 and OAEP digest SHA256: the TPM uses the OAEP digest for MGF1' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -pkeyopt rsa_mgf1_md:sha1 -in "$W/ct"
    expect_fail --provider-errors 'raw RSA decryption \(padding none\) is not offered' \
        openssl pkeyutl -decrypt "${TPM[@]}" -inkey "$uri" \
        -pkeyopt rsa_padding_mode:none -in "$W/ct"

    step "$alg: the key still signs (PKCS#1 v1.5 and PSS)"
    openssl dgst -sha256 -binary -out "$W/digest" "$W/message"
    for pad in pkcs1 pss; do
        openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" -pkeyopt digest:sha256 \
            -pkeyopt "rsa_padding_mode:$pad" -in "$W/digest" -out "$W/sig"
        openssl pkeyutl -verify "${SW[@]}" -pubin -inkey "$pub" \
            -pkeyopt digest:sha256 -pkeyopt "rsa_padding_mode:$pad" \
            -in "$W/digest" -sigfile "$W/sig" |
            grep -q 'Signature Verified Successfully' ||
            fail "$alg: $pad signature does not verify"
    done

    step "$alg: cms -encrypt (software) to the key's certificate, cms -decrypt with the TPM"
    openssl req -x509 "${TPM[@]}" -key "$uri" -subj "/CN=dec-$alg" -days 1 \
        -out "$W/dec-$alg.crt"
    openssl cms -encrypt "${SW[@]}" -binary -aes256 -recip "$W/dec-$alg.crt" \
        -in "$W/message" -out "$W/msg.cms"
    openssl cms -decrypt "${TPM[@]}" -inkey "$uri" -recip "$W/dec-$alg.crt" \
        -in "$W/msg.cms" -out "$W/msg.out"
    same "$W/message" "$W/msg.out" "$alg cms (PKCS#1 v1.5)"
    openssl cms -encrypt "${SW[@]}" -binary -aes256 -recip "$W/dec-$alg.crt" \
        -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 \
        -in "$W/message" -out "$W/msg-oaep.cms"
    openssl cms -decrypt "${TPM[@]}" -inkey "$uri" -recip "$W/dec-$alg.crt" \
        -in "$W/msg-oaep.cms" -out "$W/msg.out"
    same "$W/message" "$W/msg.out" "$alg cms (OAEP SHA-256)"

    step "$alg: smime -encrypt (software), smime -decrypt with the TPM"
    openssl smime -encrypt "${SW[@]}" -binary -aes256 -in "$W/message" \
        -out "$W/msg.smime" "$W/dec-$alg.crt"
    openssl smime -decrypt "${TPM[@]}" -inkey "$uri" -recip "$W/dec-$alg.crt" \
        -in "$W/msg.smime" -out "$W/msg.out"
    same "$W/message" "$W/msg.out" "$alg smime"
done

for alg in ec-p256 ec-p384; do
    uri="tpmkms:name=kex-$alg"
    pub=$W/kex-$alg.pub.pem
    curve=P-${alg#ec-p}

    step "$alg: create the key and a software peer on $curve"
    tpmkms create "$uri" --alg "$alg" >/dev/null
    openssl pkey "${TPM[@]}" -in "$uri" -pubout -out "$pub"
    openssl genpkey "${SW[@]}" -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" \
        -out "$W/peer-$alg.pem"
    openssl pkey "${SW[@]}" -in "$W/peer-$alg.pem" -pubout -out "$W/peer-$alg.pub"

    step "$alg: pkeyutl -derive with the TPM key equals the peer's software derivation"
    openssl pkeyutl -derive "${TPM[@]}" -inkey "$uri" \
        -peerkey "$W/peer-$alg.pub" -out "$W/z.tpm"
    openssl pkeyutl -derive "${SW[@]}" -inkey "$W/peer-$alg.pem" \
        -peerkey "$pub" -out "$W/z.sw"
    same "$W/z.sw" "$W/z.tpm" "$alg ECDH"
    [[ $(wc -c <"$W/z.tpm") -eq $((${alg#ec-p} / 8)) ]] ||
        fail "$alg: the shared secret is not the field size"

    step "$alg: cms -encrypt (software, ECDH key agreement), cms -decrypt with the TPM"
    openssl req -x509 "${TPM[@]}" -key "$uri" -subj "/CN=kex-$alg" -days 1 \
        -out "$W/kex-$alg.crt"
    openssl cms -encrypt "${SW[@]}" -binary -aes256 -recip "$W/kex-$alg.crt" \
        -in "$W/message" -out "$W/kex.cms"
    openssl cms -decrypt "${TPM[@]}" -inkey "$uri" -recip "$W/kex-$alg.crt" \
        -in "$W/kex.cms" -out "$W/msg.out"
    same "$W/message" "$W/msg.out" "$alg cms key agreement"

    step "$alg: the key still signs (ECDSA)"
    openssl dgst -sha256 "${TPM[@]}" -sign "$uri" -out "$W/sig" "$W/message"
    openssl dgst -sha256 "${SW[@]}" -verify "$pub" -signature "$W/sig" \
        "$W/message" | grep -qx 'Verified OK' || fail "$alg: ECDSA does not verify"
done

step "a peer on another curve is refused before anything is sent"
expect_fail --provider-errors 'the peer key is not an EC key on P-384' \
    openssl pkeyutl -derive "${TPM[@]}" -inkey tpmkms:name=kex-ec-p384 \
    -peerkey "$W/peer-ec-p256.pub"

step "keys made for signing only: decryption and ECDH name the missing attribute"
tpmkms create tpmkms:name=sign-only-ec --usage sign >/dev/null
tpmkms create tpmkms:name=sign-only-rsa --alg rsa-2048 --usage sign >/dev/null
expect_fail --provider-errors 'name=sign-only-ec.*lacks the decrypt attribute.*cannot do ECDH.*nothing was sent' \
    openssl pkeyutl -derive "${TPM[@]}" -inkey tpmkms:name=sign-only-ec \
    -peerkey "$W/peer-ec-p256.pub"
expect_fail --provider-errors 'name=sign-only-rsa.*lacks the decrypt attribute.*cannot decrypt.*nothing was sent' \
    openssl pkeyutl -decrypt "${TPM[@]}" -inkey tpmkms:name=sign-only-rsa \
    -in "$W/ct"
openssl dgst -sha256 "${TPM[@]}" -sign tpmkms:name=sign-only-ec \
    -out "$W/sig" "$W/message"

step "a key made for decryption only does ECDH and refuses to sign"
tpmkms create tpmkms:name=kex-only --usage decrypt >/dev/null
openssl pkey "${TPM[@]}" -in tpmkms:name=kex-only -pubout -out "$W/kex-only.pub"
openssl pkeyutl -derive "${TPM[@]}" -inkey tpmkms:name=kex-only \
    -peerkey "$W/peer-ec-p256.pub" -out "$W/z.tpm"
openssl pkeyutl -derive "${SW[@]}" -inkey "$W/peer-ec-p256.pem" \
    -peerkey "$W/kex-only.pub" -out "$W/z.sw"
same "$W/z.sw" "$W/z.tpm" "decrypt-only key ECDH"
expect_fail --provider-errors 'no sign attribute' \
    openssl dgst -sha256 "${TPM[@]}" -sign tpmkms:name=kex-only \
    -out "$W/sig" "$W/message"

step "tpmkms create --usage takes both, sign or decrypt"
expect_exit 64 "unknown --usage 'encrypt': expected both, sign or decrypt" \
    tpmkms create tpmkms:name=x --usage encrypt

pass

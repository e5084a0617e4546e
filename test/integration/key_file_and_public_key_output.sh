#!/usr/bin/env bash
# A user takes what may leave the TPM out of a tpmkms key with `openssl
# pkey`: the public key (PEM, DER), a description (-text), and the key file
# (TSS2 PRIVATE KEY, PEM or DER), which holds only the TPM-wrapped private
# part.  tpm2-openssl, given that key file and the same TPM, signs with the
# same key, and the signature verifies with the public key tpmkms gave.
# Nothing is written that a key file cannot be: an encrypted key file, or a
# key file of a persistent TPM object.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_createprimary tpm2_evictcontrol cmp
start_swtpm
W=$TPMKMS_WORK
TK=(-provider tpmkms -provider default)
DK=(-provider default -provider tpmkms)
TPM2_MODULE=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')/tpm2.so
[[ -f $TPM2_MODULE ]] || fail "missing tpm2-openssl ($TPM2_MODULE) — run scripts/setup.sh"
T2=(-provider "$TPM2_MODULE" -provider default)
export TPM2OPENSSL_TCTI=$TPMKMS_TCTI

step "tpmkms setup persists the SRK"
tpmkms setup

for alg in ec-p256 rsa-2048; do
    name=out-$alg
    uri=$(tpmkms create "tpmkms:name=$name" --alg "$alg")

    step "$alg: -pubout gives a public key the default provider alone reads"
    openssl pkey "${TK[@]}" -in "$uri" -pubout -out "$W/$name.pub.pem"
    head -n1 "$W/$name.pub.pem" | grep -qxF -- '-----BEGIN PUBLIC KEY-----' ||
        fail "-pubout did not write a PUBLIC KEY"
    openssl pkey -provider default -pubin -in "$W/$name.pub.pem" -noout

    step "$alg: -pubout -outform DER is the same key as DER"
    openssl pkey "${TK[@]}" -in "$uri" -pubout -outform DER -out "$W/$name.pub.der"
    openssl pkey -provider default -pubin -in "$W/$name.pub.pem" -outform DER \
        -out "$W/$name.pub.pem.der"
    cmp -s "$W/$name.pub.der" "$W/$name.pub.pem.der" ||
        fail "-pubout -outform DER is not the DER of -pubout"

    step "$alg: -text -noout names the URI, the algorithm, the storage and the public key"
    openssl pkey "${TK[@]}" -in "$uri" -text -noout >"$W/$name.txt"
    for want in "URI: $uri" "Algorithm: $alg" "Persistent: no" \
                "Public-Key: ($(openssl pkey -provider default -pubin \
                    -in "$W/$name.pub.pem" -noout -text | sed -n 's/^Public-Key: (\(.*\))$/\1/p'))"; do
        grep -qxF "$want" "$W/$name.txt" ||
            fail "-text lacks the line '$want':"$'\n'"$(cat "$W/$name.txt")"
    done

    for order in tpmkms-first default-first; do
        if [[ $order == tpmkms-first ]]; then P=("${TK[@]}"); else P=("${DK[@]}"); fi

        step "$alg ($order): -out writes a TSS2 PRIVATE KEY file (PEM)"
        openssl pkey "${P[@]}" -in "$uri" -out "$W/$name.$order.pem"
        head -n1 "$W/$name.$order.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
            fail "-out wrote $(head -n1 "$W/$name.$order.pem"), not a TSS2 PRIVATE KEY"

        step "$alg ($order): -outform DER writes the same key file as DER"
        openssl pkey "${P[@]}" -in "$uri" -outform DER -out "$W/$name.$order.der"
        openssl asn1parse -inform DER -in "$W/$name.$order.der" |
            grep -q ':2.23.133.10.1.3' || fail "-outform DER is not a TSS2 key"
        sed '1d;$d' "$W/$name.$order.pem" | openssl base64 -d -out "$W/$name.$order.pem.der"
        cmp -s "$W/$name.$order.der" "$W/$name.$order.pem.der" ||
            fail "the DER key file is not the PEM key file's content"
    done

    step "$alg: tpm2-openssl reads the key file: same public key"
    openssl pkey "${T2[@]}" -in "$W/$name.tpmkms-first.pem" -pubout -out "$W/$name.tpm2.pub.pem"
    cmp -s "$W/$name.pub.pem" "$W/$name.tpm2.pub.pem" ||
        fail "tpm2-openssl sees another public key in the key file"

    step "$alg: tpm2-openssl signs with the key file; the tpmkms public key verifies it"
    printf 'signed by %s\n' "$name" >"$W/$name.msg"
    openssl dgst "${T2[@]}" -sha256 -sign "$W/$name.tpmkms-first.pem" \
        -out "$W/$name.sig" "$W/$name.msg"
    openssl dgst -provider default -sha256 -verify "$W/$name.pub.pem" \
        -signature "$W/$name.sig" "$W/$name.msg" | grep -qx 'Verified OK' ||
        fail "the signature made with the key file does not verify"
    printf 'not signed\n' >"$W/$name.other"
    expect_fail 'Verification failure' openssl dgst -provider default -sha256 \
        -verify "$W/$name.pub.pem" -signature "$W/$name.sig" "$W/$name.other"

    step "$alg: an encrypted key file is refused, not written in the clear"
    expect_fail --provider-errors 'cannot be encrypted' openssl pkey "${TK[@]}" \
        -in "$uri" -aes256 -passout pass:secret -out "$W/$name.enc.pem"
done

step "a persistent TPM key: -text says so, -pubout works, no key file"
tpm2_createprimary -Q -C o -G ecc256:ecdsa-sha256 \
    -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|noda' \
    -c "$W/persistent.ctx"
tpm2_evictcontrol -Q -C o -c "$W/persistent.ctx" 0x81000010
puri='tpmkms:handle=0x81000010'
openssl pkey "${TK[@]}" -in "$puri" -text -noout >"$W/persistent.txt"
grep -qxF 'Persistent: yes' "$W/persistent.txt" ||
    fail "-text of $puri does not say Persistent: yes"
grep -q 'handle 0x81000010' "$W/persistent.txt" ||
    fail "-text of $puri does not name its handle"
openssl pkey "${TK[@]}" -in "$puri" -pubout | openssl pkey -provider default -pubin -noout
expect_fail --provider-errors 'persistent TPM key.*no key file' \
    openssl pkey "${TK[@]}" -in "$puri" -out "$W/persistent.pem"
if [[ -s $W/persistent.pem ]]; then fail "a key file of a persistent key was written"; fi

pass

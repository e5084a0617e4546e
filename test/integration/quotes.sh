#!/usr/bin/env bash
# Quotes: tpmkms quote by an EC and an RSA AK of sha256:0,1,7 with a
# nonce; tpmkms verify-quote (software, no TPM) accepts them and
# tpm2_checkquote (tpm2-tools) accepts the same three files with the AK's
# public key as the provider prints it.  Each check fails on its own with
# its own exit code: a changed PCR value in the .pcrs file (24, the PCR
# digest), a wrong nonce (22), a tampered quote (21, the signature),
# another PCR selection (23), a file that is no quote (20); and after
# tpm2_pcrextend a new quote with the old .pcrs file fails (24), as does
# tpm2_checkquote.  A persistent AK quotes too; verify-quote takes the
# AK's key from a certificate as well.  An ordinary key does not quote.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_checkquote tpm2_pcrextend tpm2_pcrread xxd cmp stat
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
NONCE=00112233445566778899aabbccddeeff
tpmkms setup >/dev/null
# PCR 1 not all zeros, so that the values printed and shipped mean something.
tpm2_pcrextend 1:sha256=$(printf 'boot' | openssl dgst -sha256 -r | cut -c1-64)

# flip FILE OFFSET: a copy of FILE with the byte at OFFSET inverted, on stdout.
flip() {
    local file=$1 off=$2 b
    b=$(xxd -p -s "$off" -l 1 "$file")
    {
        head -c "$off" "$file"
        printf "\\x$(printf '%02x' $((0x$b ^ 0xff)))"
        tail -c +$((off + 2)) "$file"
    } 
}

for alg in ec-p256 rsa-2048; do
    ak="tpmkms:name=ak-$alg"
    q=$W/q-$alg
    step "$alg: an AK, its public key through the provider, a quote of sha256:0,1,7"
    tpmkms ak create "$ak" --alg "$alg" >/dev/null
    openssl pkey "${TPM[@]}" -in "$ak" -pubout -out "$W/ak-$alg.pem"
    out=$(tpmkms quote "$ak" --pcrs sha256:0,1,7 --nonce $NONCE -o "$q")
    printf '%s\n' "$out"
    grep -q "^nonce: $NONCE\$" <<<"$out" || fail "quote did not print the nonce"
    grep -Eq '^ +7: [0-9a-f]{64}$' <<<"$out" || fail "quote did not print PCR 7"
    for f in msg sig pcrs; do [[ -s $q.$f ]] || fail "no $q.$f"; done
    # The PCR values it printed are the TPM's.
    for p in 1 7; do
        want=$(tpm2_pcrread sha256:$p | awk -v p=$p '$1 == p && $2 == ":" {print tolower($3)}' | sed 's/^0x//')
        [[ -n $want && $want != 0000* ]] || [[ $p == 7 ]] || fail "tpm2_pcrread gave no value for PCR $p"
        grep -q " $p: $want\$" <<<"$out" || fail "PCR $p printed is not tpm2_pcrread's ($want)"
    done

    step "$alg: verify-quote accepts it"
    tpmkms verify-quote --ak-pub "$W/ak-$alg.pem" --msg "$q.msg" --sig "$q.sig" \
        --pcrs "$q.pcrs" --nonce $NONCE | grep -q '^quote OK' ||
        fail "verify-quote did not accept the quote"

    step "$alg: tpm2_checkquote accepts it"
    tpm2_checkquote -u "$W/ak-$alg.pem" -m "$q.msg" -s "$q.sig" -f "$q.pcrs" \
        -g sha256 -q $NONCE >"$W/checkquote.out" ||
        fail "tpm2_checkquote refused our quote: $(cat "$W/checkquote.out")"

    step "$alg: a changed PCR value in the .pcrs file fails on the PCR digest"
    # The first value sits after the selection (132 bytes), the count (4),
    # the list's count (4) and the digest's size (2).
    flip "$q.pcrs" 142 >"$W/bad.pcrs"
    cmp -s "$q.pcrs" "$W/bad.pcrs" && fail "flip changed nothing"
    expect_exit 24 'quote PCR digest mismatch.*PCR values shipped beside it' \
        tpmkms verify-quote --ak-pub "$W/ak-$alg.pem" --msg "$q.msg" --sig "$q.sig" \
        --pcrs "$W/bad.pcrs" --nonce $NONCE
    expect_fail 'digest|verif|fail|error' tpm2_checkquote -u "$W/ak-$alg.pem" \
        -m "$q.msg" -s "$q.sig" -f "$W/bad.pcrs" -g sha256 -q $NONCE

    step "$alg: a wrong nonce fails on the nonce"
    expect_exit 22 "quote nonce mismatch.*extraData\\) is $NONCE, not the nonce given, ff" \
        tpmkms verify-quote --ak-pub "$W/ak-$alg.pem" --msg "$q.msg" --sig "$q.sig" \
        --pcrs "$q.pcrs" --nonce ff112233445566778899aabbccddeeff

    step "$alg: a tampered quote fails on the signature"
    # The last byte of the quote is the pcrDigest's.
    size=$(stat -c %s "$q.msg")
    flip "$q.msg" $((size - 1)) >"$W/bad.msg"
    expect_exit 21 'quote signature invalid.*does not verify with the AK' \
        tpmkms verify-quote --ak-pub "$W/ak-$alg.pem" --msg "$W/bad.msg" --sig "$q.sig" \
        --pcrs "$q.pcrs" --nonce $NONCE
done

step "another AK's key fails on the signature; a key of the other type says so"
tpmkms ak create 'tpmkms:name=ak-other' --alg ec-p256 >/dev/null
openssl pkey "${TPM[@]}" -in 'tpmkms:name=ak-other' -pubout -out "$W/ak-other.pem"
expect_exit 21 'does not verify with the AK' tpmkms verify-quote --ak-pub "$W/ak-other.pem" \
    --msg "$W/q-ec-p256.msg" --sig "$W/q-ec-p256.sig" --pcrs "$W/q-ec-p256.pcrs" --nonce $NONCE
expect_exit 21 'signed with ECDSA, but the AK is an RSA key' tpmkms verify-quote \
    --ak-pub "$W/ak-rsa-2048.pem" --msg "$W/q-ec-p256.msg" --sig "$W/q-ec-p256.sig" \
    --pcrs "$W/q-ec-p256.pcrs" --nonce $NONCE

step "the .pcrs file of another selection fails on the selection"
tpmkms quote 'tpmkms:name=ak-ec-p256' --pcrs sha256:0,1 --nonce $NONCE -o "$W/q01" >/dev/null
expect_exit 23 'quote PCR selection mismatch' tpmkms verify-quote --ak-pub "$W/ak-ec-p256.pem" \
    --msg "$W/q-ec-p256.msg" --sig "$W/q-ec-p256.sig" --pcrs "$W/q01.pcrs" --nonce $NONCE

step "bytes that are no quote, and a short PCR file, are malformed (20)"
expect_exit 20 'malformed quote.*magic.*not made by a TPM' tpmkms verify-quote \
    --ak-pub "$W/ak-ec-p256.pem" --msg "$W/q-ec-p256.sig" --sig "$W/q-ec-p256.sig" \
    --pcrs "$W/q-ec-p256.pcrs" --nonce $NONCE
head -c 100 "$W/q-ec-p256.pcrs" >"$W/short.pcrs"
expect_exit 20 'malformed quote.*PCR file' tpmkms verify-quote \
    --ak-pub "$W/ak-ec-p256.pem" --msg "$W/q-ec-p256.msg" --sig "$W/q-ec-p256.sig" \
    --pcrs "$W/short.pcrs" --nonce $NONCE

step "after tpm2_pcrextend, a new quote with the old .pcrs file fails"
tpm2_pcrextend 7:sha256=$(printf 'event' | openssl dgst -sha256 -r | cut -c1-64)
tpmkms quote 'tpmkms:name=ak-ec-p256' --pcrs sha256:0,1,7 --nonce $NONCE -o "$W/q-new" >/dev/null
tpmkms verify-quote --ak-pub "$W/ak-ec-p256.pem" --msg "$W/q-new.msg" --sig "$W/q-new.sig" \
    --pcrs "$W/q-new.pcrs" --nonce $NONCE >/dev/null || fail "the new quote with its own values fails"
expect_exit 24 'quote PCR digest mismatch' tpmkms verify-quote --ak-pub "$W/ak-ec-p256.pem" \
    --msg "$W/q-new.msg" --sig "$W/q-new.sig" --pcrs "$W/q-ec-p256.pcrs" --nonce $NONCE
expect_fail 'digest|verif|fail|error' tpm2_checkquote -u "$W/ak-ec-p256.pem" \
    -m "$W/q-new.msg" -s "$W/q-new.sig" -f "$W/q-ec-p256.pcrs" -g sha256 -q $NONCE

step "a persistent AK quotes; --ak-cert takes the AK's key from a certificate"
tpmkms ak create 'tpmkms:name=ak-p;key-scope=machine' --alg ec-p256 --persistent 0x81000123 >/dev/null
openssl pkey "${TPM[@]}" -in 'tpmkms:name=ak-p;key-scope=machine' -pubout -out "$W/ak-p.pem"
tpmkms quote 'tpmkms:name=ak-p;key-scope=machine' --pcrs sha256:0,1,7 --nonce $NONCE -o "$W/qp" >/dev/null
tpm2_checkquote -u "$W/ak-p.pem" -m "$W/qp.msg" -s "$W/qp.sig" -f "$W/qp.pcrs" \
    -g sha256 -q $NONCE >/dev/null || fail "tpm2_checkquote refused the persistent AK's quote"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=ca \
    -keyout "$W/ca.key" -out "$W/ca.pem" -days 1 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x \
    -keyout "$W/x.key" -out "$W/x.csr" 2>/dev/null
openssl x509 -req -in "$W/x.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -force_pubkey "$W/ak-p.pem" -days 1 -out "$W/ak-p-cert.pem" 2>/dev/null
tpmkms verify-quote --ak-cert "$W/ak-p-cert.pem" --msg "$W/qp.msg" --sig "$W/qp.sig" \
    --pcrs "$W/qp.pcrs" --nonce $NONCE | grep -q '^quote OK' || fail "verify-quote --ak-cert refused it"
expect_exit 21 'does not verify with the AK' tpmkms verify-quote --ak-cert "$W/ak-p-cert.pem" \
    --msg "$W/q-new.msg" --sig "$W/q-new.sig" --pcrs "$W/q-new.pcrs" --nonce $NONCE
expect_exit 64 'one of --ak-pub PEM and --ak-cert PEM' tpmkms verify-quote --ak-pub "$W/ak-p.pem" \
    --ak-cert "$W/ak-p-cert.pem" --msg "$W/qp.msg" --sig "$W/qp.sig" --pcrs "$W/qp.pcrs" --nonce $NONCE

step "an ordinary key does not quote; bad --pcrs and --nonce are usage errors"
tpmkms create 'tpmkms:name=plain' >/dev/null
expect_fail 'not an attestation key' tpmkms quote 'tpmkms:name=plain' --pcrs sha256:7 --nonce $NONCE
expect_exit 64 '--pcrs takes' tpmkms quote 'tpmkms:name=ak-ec-p256' --pcrs sha256:24 --nonce $NONCE
expect_exit 64 '--nonce takes' tpmkms quote 'tpmkms:name=ak-ec-p256' --pcrs sha256:7 --nonce xyz

pass

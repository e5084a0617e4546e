#!/usr/bin/env bash
# A site provisions its keys with tpm2-tools (tpm2_createprimary,
# tpm2_create, tpm2_load, tpm2_evictcontrol) and names them by persistent
# handle: `tpmkms:handle=0x81000002` signs with such a key, EC and RSA
# (PKCS#1 and PSS), and with its auth value as pin-value.  The public key
# tpmkms gives is the one tpm2_readpublic gives, and every signature
# verifies with the default provider alone.  A persistent key costs no
# TPM2_Load: opening reads its public area, signing is one TPM2_Sign.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_createprimary tpm2_create tpm2_load \
    tpm2_evictcontrol tpm2_readpublic tpm2_flushcontext tshark cmp python3 timeout
start_swtpm
W=$TPMKMS_WORK
TK=(-provider tpmkms -provider default)
printf 'signed by a persistent key\n' >"$W/msg"
printf 'not signed\n' >"$W/other"

# The TPM commands in a pcap, by name.
tpm_commands() {
    tshark -r "$1" -Y tpm.req.cc -T fields -e tpm.req.cc 2>/dev/null |
        while read -r cc; do
            case $((cc)) in
            $((0x173))) printf 'ReadPublic ' ;;
            $((0x157))) printf 'Load ' ;;
            $((0x15d))) printf 'Sign ' ;;
            $((0x165))) printf 'FlushContext ' ;;
            $((0x131))) printf 'CreatePrimary ' ;;
            *) printf 'cc=%s ' "$cc" ;;
            esac
        done | sed 's/ $//'
}

# provision HANDLE ALG ATTRS [AUTH]: tpm2-tools make a key under a fresh
# primary and make it persistent.  Without a resource manager tpm2-tools
# leave their transient objects loaded, so each step starts by flushing.
provision() {
    local handle=$1 alg=$2 attrs=$3 auth=${4:-} base=$W/key-$1
    local pass=()
    [[ -z $auth ]] || pass=(-p "$auth")
    tpm2_flushcontext -t
    tpm2_createprimary -Q -C o -g sha256 -G ecc -c "$base.primary.ctx"
    tpm2_flushcontext -t
    tpm2_create -Q -C "$base.primary.ctx" -G "$alg" -a "$attrs" "${pass[@]}" \
        -u "$base.tpub" -r "$base.tpriv"
    tpm2_flushcontext -t
    tpm2_load -Q -C "$base.primary.ctx" -u "$base.tpub" -r "$base.tpriv" -c "$base.ctx"
    tpm2_evictcontrol -Q -C o -c "$base.ctx" "$handle"
    tpm2_flushcontext -t
    tpm2_readpublic -Q -c "$handle" -f pem -o "$W/$handle.tpm.pub"
}

# verify PUB SIG [sigopts]: the signature verifies for msg, not for other.
verify() {
    local pub=$1 sig=$2
    shift 2
    openssl dgst -provider default -sha256 "$@" -verify "$pub" -signature "$sig" \
        "$W/msg" | grep -qx 'Verified OK' || fail "$sig does not verify with $pub"
    expect_fail 'Verification failure' openssl dgst -provider default -sha256 "$@" \
        -verify "$pub" -signature "$sig" "$W/other"
}

ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'

step "tpm2-tools provision an EC P-256 key at 0x81000002 and an RSA 2048 key at 0x81000003"
provision 0x81000002 ecc256:ecdsa-sha256 "$ATTRS|noda"
provision 0x81000003 rsa2048 "$ATTRS|noda"

for h in 0x81000002 0x81000003; do
    uri="tpmkms:handle=$h"

    step "$h: tpmkms gives the public key tpm2_readpublic gives"
    openssl pkey "${TK[@]}" -in "$uri" -pubout -out "$W/$h.pub"
    cmp -s "$W/$h.pub" "$W/$h.tpm.pub" ||
        fail "$uri: tpmkms's public key differs from tpm2_readpublic's"

    step "$h: openssl dgst signs with $uri: ReadPublic and one TPM2_Sign, no Load"
    TPMKMS_TCTI=pcap:$TPMKMS_TCTI TCTI_PCAP_FILE=$W/$h.pcap \
        openssl dgst "${TK[@]}" -sha256 -sign "$uri" -out "$W/$h.sig" "$W/msg"
    got=$(tpm_commands "$W/$h.pcap")
    [[ $got == 'ReadPublic Sign' ]] ||
        fail "$uri: expected the TPM commands 'ReadPublic Sign', got '$got'"
    verify "$W/$h.pub" "$W/$h.sig"
done

step "0x81000003: RSA-PSS through the persistent key"
openssl dgst "${TK[@]}" -sha256 -sigopt rsa_padding_mode:pss -sign tpmkms:handle=0x81000003 \
    -out "$W/pss.sig" "$W/msg"
verify "$W/0x81000003.pub" "$W/pss.sig" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:auto

step "a TLS 1.3 server signs its handshake with the persistent key"
openssl req -new -x509 "${TK[@]}" -key tpmkms:handle=0x81000002 -subj /CN=persistent \
    -days 1 -out "$W/persistent.crt"
openssl x509 -in "$W/persistent.crt" -noout -pubkey | cmp -s - "$W/0x81000002.tpm.pub" ||
    fail "the certificate's public key is not the persistent key's"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl s_server -provider default -provider tpmkms -accept "127.0.0.1:$port" -naccept 1 \
    -www -key tpmkms:handle=0x81000002 -cert "$W/persistent.crt" >"$W/s_server.log" 2>&1 &
server=$!
on_exit "kill $server 2>/dev/null"
for _ in $(seq 100); do
    grep -q '^ACCEPT' "$W/s_server.log" && break
    sleep 0.1
done
timeout 20 openssl s_client -provider default -connect "127.0.0.1:$port" -tls1_3 \
    -CAfile "$W/persistent.crt" -verify_return_error </dev/null >"$W/s_client.log" 2>&1 || {
    cat "$W/s_client.log" "$W/s_server.log" >&2
    fail "TLS 1.3 handshake with the persistent key failed"
}
grep -q 'Verify return code: 0 (ok)' "$W/s_client.log" || fail "the client did not verify the server"
wait "$server" || true

step "a persistent key with an auth value signs with pin-value"
provision 0x81000004 ecc256:ecdsa-sha256 "$ATTRS" s3cret
openssl pkey "${TK[@]}" -in tpmkms:handle=0x81000004 -pubout -out "$W/0x81000004.pub"
cmp -s "$W/0x81000004.pub" "$W/0x81000004.tpm.pub" || fail "0x81000004: public keys differ"
openssl dgst "${TK[@]}" -sha256 -sign 'tpmkms:handle=0x81000004;pin-value=s3cret' \
    -out "$W/auth.sig" "$W/msg"
verify "$W/0x81000004.pub" "$W/auth.sig"

step "a wrong pin-value fails once, naming the handle and the TPM's answer"
expect_fail --provider-errors 'handle=0x81000004: TPM2_Sign failed: .*authorization HMAC check failed' \
    openssl dgst "${TK[@]}" -sha256 -sign 'tpmkms:handle=0x81000004;pin-value=wrong' \
    -out "$W/wrong.sig" "$W/msg"

step "a handle with no key fails, naming the handle"
expect_fail --provider-errors 'persistent handle 0x81000009: no key there' \
    openssl dgst "${TK[@]}" -sha256 -sign tpmkms:handle=0x81000009 -out "$W/none.sig" "$W/msg"

step "a persistent object that cannot sign (a storage key) is refused before the TPM"
tpm2_flushcontext -t
tpm2_createprimary -Q -C o -g sha256 -G ecc -c "$W/storage.ctx"
tpm2_evictcontrol -Q -C o -c "$W/storage.ctx" 0x81000006
tpm2_flushcontext -t
expect_fail --provider-errors 'handle=0x81000006: the TPM key has no sign attribute' \
    openssl dgst "${TK[@]}" -sha256 -sign tpmkms:handle=0x81000006 -out "$W/storage.sig" "$W/msg"

pass

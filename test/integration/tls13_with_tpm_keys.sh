#!/usr/bin/env bash
# A TLS server whose certificate key is in the TPM negotiates TLS 1.3 (and
# 1.2) with a plain OpenSSL client, for EC P-256, P-384 and RSA keys, over
# ECDHE on a NIST curve.  libssl decides whether an EC key can do TLS 1.3
# from the key's group name, so this fails if the keymgmt names the group
# in a way libssl cannot look up.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap timeout
start_swtpm
W=$TPMKMS_WORK
# default first: libssl takes its ECDHE groups from the provider whose EC
# keymgmt a plain fetch finds.
DK=(-provider default -provider tpmkms)

# handshake NAME VERSION GROUP: one connection to an s_server using the key.
handshake() {
    local name=$1 version=$2 group=$3 port= out
    # Port 0: the kernel picks a free one (a random one may be taken).
    openssl s_server "${DK[@]}" -accept 127.0.0.1:0 -naccept 1 -www \
        -key "tpmkms:name=$name" -cert "$W/$name.crt" >"$W/$name.server.log" 2>&1 &
    local pid=$!
    on_exit "kill $pid 2>/dev/null"
    for _ in $(seq 50); do
        port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$W/$name.server.log")
        [[ -n $port ]] && break
        sleep 0.1
    done
    [[ -n $port ]] || fail "$name: s_server did not start: $(cat "$W/$name.server.log")"
    out=$(timeout 20 openssl s_client -provider default -connect "127.0.0.1:$port" \
        "$version" -groups "$group" -CAfile "$W/$name.crt" -verify_return_error \
        </dev/null 2>&1) || {
        printf '%s\n--- server ---\n%s\n' "$out" "$(cat "$W/$name.server.log")" >&2
        fail "$name: $version handshake over $group failed"
    }
    wait "$pid" || true
    grep -q 'Verify return code: 0 (ok)' <<<"$out" ||
        fail "$name: the client did not verify the server certificate"
    grep -Eq "^New, TLSv1\\.${version#-tls1_}, Cipher is " <<<"$out" || {
        printf '%s\n' "$out" >&2
        fail "$name: $version did not give that TLS version"
    }
}

step "tpmkms setup persists the SRK"
tpmkms setup

for spec in "ec-p256 P-256" "ec-p384 P-384" "rsa-2048 P-256"; do
    read -r alg group <<<"$spec"
    name=tls-$alg
    tpmkms create "tpmkms:name=$name" --alg "$alg" >/dev/null
    openssl req -new -x509 "${DK[@]}" -key "tpmkms:name=$name" \
        -subj "/CN=$name" -days 1 -out "$W/$name.crt"

    step "$alg: TLS 1.3 over $group with the TPM key"
    handshake "$name" -tls1_3 "$group"

    step "$alg: TLS 1.2 over $group with the TPM key"
    handshake "$name" -tls1_2 "$group"
done

pass

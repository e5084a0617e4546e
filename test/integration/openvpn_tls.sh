#!/usr/bin/env bash
# Two OpenVPN 2.6 peers (Debian's openvpn), each with its TLS key in its
# own TPM (two swtpm, as two machines would have), complete the TLS
# handshake over loopback UDP and TCP with the example configuration in
# examples/openvpn/ (`providers tpmkms default`, `dev null`, key files):
# both logs say "Peer Connection Initiated" within bounded time, each TPM
# signed its side's handshake, and each certificate carries its TPM key's
# public key.  A peer whose TPM is gone does not start; its log names the
# key file and the cause.  Everything started is stopped at exit.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openvpn openssl tpm2_getcap python3 timeout cmp
start_swtpm
W=$TPMKMS_WORK
EX=$TPMKMS_SOURCE_DIR/examples/openvpn
SERVER_TCTI=$TPMKMS_TCTI
CLIENT_TCTI=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$W/swtpm-client") ||
    fail "could not start the client's swtpm"
on_exit "'$TPMKMS_SOURCE_DIR/scripts/swtpm.sh' stop '$W/swtpm-client'"
TK=(-provider tpmkms -provider default)
SW=(-provider default)
mkdir -p "$W/server" "$W/client"

free_port() {
    python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_$1); \
s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

step "each machine's TPM: tpmkms setup and a key (server EC P-256, client RSA 2048); a software CA"
TPMKMS_TCTI=$SERVER_TCTI tpmkms setup
TPMKMS_TCTI=$CLIENT_TCTI tpmkms setup
openssl req -x509 "${SW[@]}" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/ca.key" -subj /CN=vpn-test-ca -days 2 -out "$W/ca.crt" 2>/dev/null
# issue SIDE TCTI ALG USAGE: key, key file, certificate in $W/SIDE.
issue() {
    local side=$1 tcti=$2 alg=$3 usage=$4 d=$W/$1
    TPMKMS_TCTI=$tcti tpmkms create "tpmkms:name=vpn-$side" --alg "$alg" >/dev/null
    TPMKMS_TCTI=$tcti openssl pkey "${TK[@]}" -in "tpmkms:name=vpn-$side" -out "$d/$side.key"
    head -n1 "$d/$side.key" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
        fail "$side.key is not a TSS2 key file"
    TPMKMS_TCTI=$tcti openssl pkey "${TK[@]}" -in "tpmkms:name=vpn-$side" -pubout -out "$d/$side.pub"
    TPMKMS_TCTI=$tcti openssl req -new "${TK[@]}" -key "tpmkms:name=vpn-$side" \
        -subj "/CN=vpn-$side" -out "$d/$side.csr"
    printf 'extendedKeyUsage=%s\nkeyUsage=digitalSignature\n' "$usage" >"$d/$side.ext"
    openssl x509 -req "${SW[@]}" -in "$d/$side.csr" -CA "$W/ca.crt" -CAkey "$W/ca.key" \
        -CAcreateserial -days 1 -extfile "$d/$side.ext" -out "$d/$side.crt" 2>/dev/null
    cp "$W/ca.crt" "$d/ca.crt"
    openssl x509 -in "$d/$side.crt" -noout -pubkey | cmp -s - "$d/$side.pub" ||
        fail "$side.crt does not carry the TPM key's public key"
}
issue server "$SERVER_TCTI" ec-p256 serverAuth
issue client "$CLIENT_TCTI" rsa-2048 clientAuth

PIDS=()
# peer SIDE TCTI LOG ARGS...: openvpn with examples/openvpn/SIDE.conf in
# $W/SIDE, in the background; ARGS override the example's addresses.
peer() {
    local side=$1 tcti=$2 log=$3
    shift 3
    (cd "$W/$side" && TPMKMS_TCTI=$tcti TPMKMS_DEBUG=1 \
        exec openvpn --config "$EX/$side.conf" "$@") >"$log" 2>&1 &
    PIDS+=($!)
    on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
}

stop_peers() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

# handshake PROTO TLSVERSION: the two peers over PROTO (udp or tcp) with
# TLS 1.2 or 1.3 until both logs say "Peer Connection Initiated" (30 s at
# most).
handshake() {
    local proto=$1 tls=$2 sport cport slog=$W/server-$1-$2.log clog=$W/client-$1-$2.log
    local sargs cargs
    if [[ $proto == udp ]]; then
        sport=$(free_port DGRAM)
        cport=$(free_port DGRAM)
        sargs=(--proto udp --lport "$sport" --rport "$cport")
        cargs=(--proto udp --lport "$cport" --rport "$sport")
    else
        sport=$(free_port STREAM)
        cport=$(free_port STREAM)
        sargs=(--proto tcp-server --lport "$sport")
        cargs=(--proto tcp-client --lport "$cport" --rport "$sport")
    fi
    sargs+=(--tls-version-min "$tls" --tls-version-max "$tls")
    cargs+=(--tls-version-min "$tls" --tls-version-max "$tls")
    peer server "$SERVER_TCTI" "$slog" "${sargs[@]}"
    peer client "$CLIENT_TCTI" "$clog" "${cargs[@]}"
    for _ in $(seq 300); do
        if grep -q 'Peer Connection Initiated' "$slog" &&
            grep -q 'Peer Connection Initiated' "$clog"; then
            break
        fi
        # A peer that exited will not connect.
        kill -0 "${PIDS[0]}" 2>/dev/null && kill -0 "${PIDS[1]}" 2>/dev/null || break
        sleep 0.1
    done
    stop_peers
    grep -q '\[vpn-client\] Peer Connection Initiated with \[AF_INET\]127.0.0.1' "$slog" &&
        grep -q '\[vpn-server\] Peer Connection Initiated with \[AF_INET\]127.0.0.1' "$clog" || {
        printf -- '--- server ---\n%s\n--- client ---\n%s\n' "$(tail -n 30 "$slog")" \
            "$(tail -n 30 "$clog")" >&2
        fail "$proto: no 'Peer Connection Initiated' on both sides within 30 s"
    }
    # Each side decoded its key file and signed its handshake in its TPM.
    grep -q 'der_decode: decoded TSS2 key file (ec-p256' "$slog" &&
        grep -q 'TPM2_Sign ECDSA with SHA-256 on ec-p256 for TSS2 key file' "$slog" ||
        fail "$proto: the server did not sign with its TPM key"
    grep -q 'der_decode: decoded TSS2 key file (rsa-2048' "$clog" &&
        grep -Eq 'TPM2_Sign RSASSA-(PSS|PKCS1-v1_5) with SHA-[0-9]+ on rsa-2048 for TSS2 key file' "$clog" ||
        fail "$proto: the client did not sign with its TPM key"
    grep -q "Control Channel: TLSv$tls," "$clog" ||
        fail "$proto: the control channel is not TLS $tls: $(grep -m1 'Control Channel:' "$clog")"
    printf '   %s\n' "$(grep -m1 'Control Channel:' "$clog" | cut -d' ' -f3-)"
}

step "UDP, TLS 1.3: the peers complete the handshake (Peer Connection Initiated on both sides)"
handshake udp 1.3

step "UDP, TLS 1.2"
handshake udp 1.2

step "TCP, TLS 1.3: the same over tcp-server / tcp-client"
handshake tcp 1.3

step "the client's TPM gone: openvpn does not start; its log names the key file and the cause"
rc=0
(cd "$W/client" && TPMKMS_TCTI='swtpm:host=127.0.0.1,port=1' timeout 30 \
    openvpn --config "$EX/client.conf" --lport "$(free_port DGRAM)") >"$W/gone.log" 2>&1 || rc=$?
((rc == 1)) || { cat "$W/gone.log" >&2; fail "openvpn without its TPM: exit $rc, not 1"; }
grep -q 'Peer Connection Initiated' "$W/gone.log" && fail "a handshake without the TPM"
for want in 'Cannot load private key file client.key' \
            'TPM unavailable:.*cannot open the TPM through TCTI "swtpm:host=127.0.0.1,port=1"' \
            'TSS2 key file \(rsa-2048, parent 0x81000001\): the TPM that holds this key cannot be reached'; do
    grep -Eq -- "$want" "$W/gone.log" || {
        cat "$W/gone.log" >&2
        fail "openvpn's log lacks /$want/"
    }
done
printf '   %s\n' "$(grep -m1 'Cannot load private key' "$W/gone.log" | cut -c1-200)"

pass

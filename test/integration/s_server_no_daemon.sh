#!/usr/bin/env bash
# `openssl s_server` with its private key in the TPM, straight on swtpm with
# no resource manager, then through tpm2-abrmd: EC P-256, EC P-384 and
# RSA-2048 keys, TLS 1.2 and TLS 1.3, several handshakes per server, each
# verified by `openssl s_client`, which also checks that the certificate
# the server presents carries the TPM key's public key.  (The server signs
# every handshake with the TPM key: ECDHE ServerKeyExchange in TLS 1.2,
# CertificateVerify in TLS 1.3, RSA-PSS for RSA there.)
#
# tpm2-abrmd runs on a private D-Bus session bus that the test starts and
# stops; nothing of the system's is used.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap timeout dbus-daemon tpm2-abrmd
start_swtpm
# tpm2-tools and tpm2-abrmd are fixtures here, run without the test's
# OPENSSL_CONF: in a sanitizer build they cannot load an instrumented
# tpmkms.so that a global configuration activates.
fixture() { env -u OPENSSL_CONF "$@"; }
W=$TPMKMS_WORK
SWTPM=$TPMKMS_TCTI
# default first: libssl takes ECDHE groups from the EC keymgmt a plain
# fetch finds, which must be the default provider's.
DK=(-provider default -provider tpmkms)
CONNS=3                 # handshakes per server
KEYS=(ec-p256 ec-p384 rsa-2048)

# serve ALG VERSION MODE: one s_server with the TPM key, CONNS handshakes.
serve() {
    local alg=$1 version=$2 mode=$3 name=tls-$1 log port pid c out
    log=$W/$name$version.$mode.server.log
    TPMKMS_DEBUG=1 openssl s_server "${DK[@]}" -accept 127.0.0.1:0 \
        -naccept "$CONNS" -www "$version" -key "tpmkms:name=$name" \
        -cert "$W/$name.crt" >"$log" 2>&1 </dev/null &
    pid=$!
    on_exit "kill $pid 2>/dev/null"
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log")
        [[ -n $port ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $port ]] || {
        cat "$log" >&2
        fail "$alg $version ($mode): s_server did not start"
    }
    for ((c = 1; c <= CONNS; c++)); do
        out=$(timeout 30 openssl s_client -provider default \
            -connect "127.0.0.1:$port" "$version" -CAfile "$W/$name.crt" \
            -verify_return_error -showcerts </dev/null 2>&1) || {
            printf '%s\n--- server ---\n%s\n' "$out" "$(cat "$log")" >&2
            fail "$alg $version ($mode): handshake $c of $CONNS failed"
        }
        grep -q 'Verify return code: 0 (ok)' <<<"$out" ||
            fail "$alg $version ($mode): the client did not verify the server certificate"
        grep -Eq "^New, TLSv1\\.${version#-tls1_}, Cipher is " <<<"$out" || {
            printf '%s\n' "$out" >&2
            fail "$alg $version ($mode): handshake $c was not TLS 1.${version#-tls1_}"
        }
        awk '/-----BEGIN CERTIFICATE-----/ {p = 1} p {print} /-----END CERTIFICATE-----/ {exit}' \
            <<<"$out" | openssl x509 -noout -pubkey >"$W/presented.pub.pem"
        cmp -s "$W/presented.pub.pem" "$W/$name.pub.pem" ||
            fail "$alg $version ($mode): the server presented a certificate whose key is not the TPM key"
    done
    timeout 30 tail --pid="$pid" -f /dev/null ||
        fail "$alg $version ($mode): s_server did not exit after $CONNS connections"
    wait "$pid" || {
        cat "$log" >&2
        fail "$alg $version ($mode): s_server failed"
    }
    grep -q "connected through $TPMKMS_TCTI" "$log" || {
        cat "$log" >&2
        fail "$alg $version ($mode): the server did not use the TPM through $TPMKMS_TCTI"
    }
    signed=$(grep -c ': TPM2_Sign ' "$log" || true)
    ((signed == CONNS)) || {
        cat "$log" >&2
        fail "$alg $version ($mode): the TPM signed $signed times for $CONNS handshakes"
    }
    printf '   %s %s (%s): %d handshakes, each signed in the TPM, its key presented and verified\n' \
        "$alg" "$version" "$mode" "$CONNS"
}

step "tpmkms setup; a key and a self-signed certificate for each algorithm"
tpmkms setup
for alg in "${KEYS[@]}"; do
    name=tls-$alg
    tpmkms create "tpmkms:name=$name" --alg "$alg" >/dev/null
    openssl req -new -x509 "${DK[@]}" -key "tpmkms:name=$name" \
        -subj "/CN=$name" -days 1 -out "$W/$name.crt"
    openssl pkey "${DK[@]}" -in "tpmkms:name=$name" -pubout -out "$W/$name.pub.pem"
done

step "straight on swtpm, no resource manager ($SWTPM)"
for alg in "${KEYS[@]}"; do
    serve "$alg" -tls1_2 swtpm
    serve "$alg" -tls1_3 swtpm
done
[[ -z $(fixture tpm2_getcap -T "$SWTPM" handles-transient) ]] ||
    fail "objects left loaded: $(fixture tpm2_getcap -T "$SWTPM" handles-transient | tr -d '\n')"

step "start tpm2-abrmd on a private D-Bus session bus"
bus=$(dbus-daemon --session --fork --print-address=1 --print-pid=1) ||
    fail "dbus-daemon --session could not start"
DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p <<<"$bus")
bus_pid=$(sed -n 2p <<<"$bus")
[[ $bus_pid =~ ^[0-9]+$ && -n $DBUS_SESSION_BUS_ADDRESS ]] ||
    fail "dbus-daemon printed no address and pid: $bus"
export DBUS_SESSION_BUS_ADDRESS
on_exit "kill $bus_pid 2>/dev/null"
env -u OPENSSL_CONF tpm2-abrmd --session --allow-root --tcti="$SWTPM" >"$W/abrmd.log" 2>&1 &
abrmd_pid=$!
on_exit "kill $abrmd_pid 2>/dev/null; wait $abrmd_pid 2>/dev/null"
export TPMKMS_TCTI=tabrmd:bus_type=session
for _ in $(seq 100); do
    fixture tpm2_getcap -T "$TPMKMS_TCTI" properties-fixed >/dev/null 2>&1 && break
    kill -0 "$abrmd_pid" 2>/dev/null || {
        cat "$W/abrmd.log" >&2
        fail "tpm2-abrmd exited"
    }
    sleep 0.1
done
fixture tpm2_getcap -T "$TPMKMS_TCTI" properties-fixed >/dev/null ||
    fail "tpm2-abrmd does not answer on the session bus (log: $(cat "$W/abrmd.log"))"

step "through tpm2-abrmd ($TPMKMS_TCTI)"
for alg in "${KEYS[@]}"; do
    serve "$alg" -tls1_2 tpm2-abrmd
    serve "$alg" -tls1_3 tpm2-abrmd
done

pass

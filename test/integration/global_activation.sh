#!/usr/bin/env bash
# tpmkms activated globally: an openssl.cnf that activates tpmkms and
# default (OPENSSL_CONF, as a system openssl.cnf would), in both orders,
# and programs that pass no -provider or -propquery options.
#
#   (i)   software keys work as without tpmkms, and reach the TPM with zero
#         commands (pcap TCTI, counted with tshark; the same capture is
#         shown to see a TPM signature): EC and RSA keys from genpkey and
#         EVP_PKEY_Q_keygen, signatures, ECDH, RSA-OAEP, a SHA-512
#         certificate chain verified, pkeyutl -decrypt and -derive and a
#         CMS key agreement, TLS 1.2 and 1.3 handshakes over ECDHE groups
#         P-256 and X25519 with a software key;
#   (ii)  TPM keys work in the same configuration: req -new -x509,
#         pkeyutl (sign; ECDH and RSA decryption), s_server over TLS 1.2
#         and 1.3 with EC and RSA TPM keys,
#         genpkey with -propquery provider=tpmkms (and, without a uri,
#         its refusal rather than a software key); a TPM key's export has
#         no private part and its signatures are tpmkms's;
#   (iii) 8 threads signing with a software key and a TPM key at once
#         finish (bounded by timeout);
#   (iv)  tpm2-tss's own libcrypto use (tpm2-tools' salted HMAC session)
#         in such a process completes, and tpmkms never goes to the TPM
#         for it.
# Each in three configurations: tpmkms first, default first, and tpmkms
# first with default_properties = ?provider=default (README's optional
# extra).  With TPMKMS_TEST_GLOBAL_CONF set (the integration-global runs)
# only that order is tested.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_startauthsession tpm2_getrandom \
    tpm2_flushcontext tshark timeout
start_swtpm
W=$TPMKMS_WORK
SWTPM=$TPMKMS_TCTI
PROG=$TPMKMS_BUILD_DIR/test/global_activation
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR)"
ORDERS=(tpmkms-first default-first prefer-default)
if [[ -n ${TPMKMS_TEST_GLOBAL_CONF:-} ]]; then
    ORDERS=("$TPMKMS_TEST_GLOBAL_CONF")
fi
TPM2_CC_SIGN=0x0000015d

# TPM commands in the pcap files given (a missing file: none were sent).
tpm_commands() {
    local f
    for f in "$@"; do
        [[ -e $f ]] || continue
        tshark -r "$f" -Y tpm.req.cc -T fields -e tpm.req.cc 2>/dev/null ||
            fail "tshark cannot read $f"
    done
}

# soft CMD...: runs CMD with tpmkms's TPM behind a pcap TCTI of its own.
soft_n=0
soft() {
    soft_n=$((soft_n + 1))
    TPMKMS_TCTI=pcap:$SWTPM TCTI_PCAP_FILE=$D/soft-$soft_n.pcap "$@"
}

# s_server_start NAME ARGS...: s_server on a free port, 127.0.0.1:$PORT;
# its pid in SERVER_PID, its output in $D/NAME.server.log.
s_server_start() {
    local name=$1 log
    shift
    log=$D/$name.server.log
    openssl s_server -accept 127.0.0.1:0 -www "$@" >"$log" 2>&1 </dev/null &
    SERVER_PID=$!
    on_exit "kill $SERVER_PID 2>/dev/null"
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log")
        [[ -n $PORT ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    fail "$name: s_server did not start"
}

# handshake NAME CAFILE VERSION [GROUPS [TEMPKEY]]: one s_client to $PORT.
handshake() {
    local name=$1 ca=$2 version=$3 groups=${4:-} tempkey=${5:-} out
    local args=(-connect "127.0.0.1:$PORT" "$version" -CAfile "$ca"
        -verify_return_error)
    [[ -z $groups ]] || args+=(-groups "$groups")
    out=$(timeout 30 openssl s_client "${args[@]}" </dev/null 2>&1) || {
        printf '%s\n--- server ---\n%s\n' "$out" "$(cat "$D/$name.server.log")" >&2
        fail "$name: $version handshake${groups:+ over $groups} failed"
    }
    grep -q 'Verify return code: 0 (ok)' <<<"$out" ||
        fail "$name: the client did not verify the server's certificate"
    grep -Eq "^New, TLSv1\\.${version#-tls1_}, Cipher is " <<<"$out" || {
        printf '%s\n' "$out" >&2
        fail "$name: the handshake was not ${version#-}"
    }
    if [[ -n $tempkey ]] && ! grep -q "Server Temp Key: $tempkey" <<<"$out"; then
        printf '%s\n' "$out" >&2
        fail "$name: ${version#-} did not use the ECDHE group $tempkey"
    fi
    printf '   %s: %s%s, certificate verified\n' "$name" "${version#-}" \
        "${tempkey:+ over $tempkey}"
}

# s_server_wait NAME: the server made its connections and exited cleanly.
s_server_wait() {
    timeout 30 tail --pid="$SERVER_PID" -f /dev/null ||
        fail "$1: s_server did not exit after its connections"
    wait "$SERVER_PID" || {
        cat "$D/$1.server.log" >&2
        fail "$1: s_server failed"
    }
}

step "tpmkms setup; an EC and an RSA key in the TPM"
tpmkms setup
tpmkms create 'tpmkms:name=gec' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=grsa' --alg rsa-2048 >/dev/null
printf 'signed by a software key, then by a TPM key\n' >"$W/data"
openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"

for order in "${ORDERS[@]}"; do
    D=$W/$order
    mkdir "$D"
    if [[ $order == prefer-default ]]; then
        write_openssl_cnf "$D/openssl.cnf" tpmkms-first
        sed -i 's/^providers = provider_sect$/&\nalg_section = algorithm_sect/' "$D/openssl.cnf"
        printf '\n[algorithm_sect]\ndefault_properties = ?provider=default\n' >>"$D/openssl.cnf"
        grep -q '^alg_section = algorithm_sect$' "$D/openssl.cnf" ||
            fail "could not write the prefer-default configuration"
    else
        write_openssl_cnf "$D/openssl.cnf" "$order"
    fi
    export OPENSSL_CONF=$D/openssl.cnf
    soft_n=0

    # ---- (i) software keys, with tpmkms's TPM behind a pcap TCTI --------

    step "$order: openssl genpkey makes software EC and RSA keys"
    records=$(find "$XDG_DATA_HOME/tpmkms/keys" -name '*.tpmkey' | sort)
    soft openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$D/ec.pem"
    soft openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$D/rsa.pem" 2>/dev/null
    for k in ec rsa; do
        head -n1 "$D/$k.pem" | grep -qxF -- '-----BEGIN PRIVATE KEY-----' ||
            fail "$order: genpkey did not write a software $k key: $(head -n1 "$D/$k.pem")"
        soft openssl pkey -in "$D/$k.pem" -check -noout >/dev/null ||
            fail "$order: the software $k key does not check"
    done
    [[ $(find "$XDG_DATA_HOME/tpmkms/keys" -name '*.tpmkey' | sort) == "$records" ]] ||
        fail "$order: genpkey of a software key made a TPM key record"

    step "$order: an application's EVP_PKEY_Q_keygen keys sign, derive and encrypt in software"
    soft "$PROG" software >"$D/software.out" || {
        cat "$D/software.out" >&2
        fail "$order: software keys failed in the application"
    }
    sed 's/^/   /' "$D/software.out"
    if [[ $order == tpmkms-first ]]; then
        # What this test is about: OpenSSL's plain "EC" fetch finds tpmkms
        # first, and tpmkms serves the software key for the default provider.
        grep -qx 'keymgmt EC: tpmkms' "$D/software.out" ||
            fail "$order: OpenSSL did not hand the software key to tpmkms's keymgmt, so this order was not tested"
    elif [[ $order == prefer-default ]]; then
        grep -qx 'keymgmt EC: default' "$D/software.out" ||
            fail "$order: default_properties = ?provider=default did not keep the software key in the default provider"
    fi

    step "$order: software-key signatures verify (ECDSA, RSA-PSS)"
    soft openssl pkey -in "$D/ec.pem" -pubout -out "$D/ec.pub"
    soft openssl pkey -in "$D/rsa.pem" -pubout -out "$D/rsa.pub"
    soft openssl dgst -sha512 -sign "$D/ec.pem" -out "$D/ec.sig" "$W/data"
    soft openssl dgst -sha512 -verify "$D/ec.pub" -signature "$D/ec.sig" "$W/data" |
        grep -qx 'Verified OK' || fail "$order: the software ECDSA signature does not verify"
    soft openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sign "$D/rsa.pem" \
        -out "$D/rsa.sig" "$W/data"
    soft openssl dgst -sha256 -sigopt rsa_padding_mode:pss -verify "$D/rsa.pub" \
        -signature "$D/rsa.sig" "$W/data" |
        grep -qx 'Verified OK' || fail "$order: the software RSA-PSS signature does not verify"

    step "$order: a SHA-512 certificate chain of software keys verifies"
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' \
        >"$D/ca.ext"
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
        >"$D/leaf.ext"
    soft openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
        -keyout "$D/root.key" -subj /CN=global-root -sha512 -days 2 \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign -out "$D/root.pem"
    soft openssl req -new -newkey rsa:2048 -nodes -keyout "$D/inter.key" \
        -subj /CN=global-intermediate -out "$D/inter.csr" 2>/dev/null
    soft openssl x509 -req -in "$D/inter.csr" -CA "$D/root.pem" -CAkey "$D/root.key" \
        -set_serial 2 -sha512 -days 2 -extfile "$D/ca.ext" -out "$D/inter.pem" 2>/dev/null
    soft openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$D/leaf.key" -subj /CN=127.0.0.1 -out "$D/leaf.csr"
    soft openssl x509 -req -in "$D/leaf.csr" -CA "$D/inter.pem" -CAkey "$D/inter.key" \
        -set_serial 3 -sha512 -days 2 -extfile "$D/leaf.ext" -out "$D/leaf.pem" 2>/dev/null
    for c in root inter leaf; do
        soft openssl x509 -in "$D/$c.pem" -noout -text |
            grep -Eq 'Signature Algorithm: (ecdsa-with-SHA512|sha512WithRSAEncryption)' ||
            fail "$order: the $c certificate is not signed with SHA-512"
    done
    soft openssl verify -CAfile "$D/root.pem" -untrusted "$D/inter.pem" "$D/leaf.pem" |
        grep -qxF "$D/leaf.pem: OK" || fail "$order: the SHA-512 chain does not verify"
    # ... and the verification is real: without the intermediate it fails.
    expect_fail 'unable to get local issuer certificate' \
        soft openssl verify -CAfile "$D/root.pem" "$D/leaf.pem"

    step "$order: software-key decryption and ECDH (pkeyutl, cms) as without tpmkms"
    soft openssl pkeyutl -encrypt -pubin -inkey "$D/rsa.pub" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -in "$W/data.sha256" -out "$D/rsa.ct"
    soft openssl pkeyutl -decrypt -inkey "$D/rsa.pem" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -in "$D/rsa.ct" -out "$D/rsa.pt"
    cmp -s "$W/data.sha256" "$D/rsa.pt" ||
        fail "$order: software RSA-OAEP decryption did not give the plaintext back"
    soft openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$D/peer.pem"
    soft openssl pkey -in "$D/peer.pem" -pubout -out "$D/peer.pub"
    soft openssl pkeyutl -derive -inkey "$D/ec.pem" -peerkey "$D/peer.pub" \
        -out "$D/z1"
    soft openssl pkeyutl -derive -inkey "$D/peer.pem" -peerkey "$D/ec.pub" \
        -out "$D/z2"
    [[ -s $D/z1 ]] && cmp -s "$D/z1" "$D/z2" ||
        fail "$order: software ECDH gives the two sides different secrets"
    soft openssl cms -encrypt -binary -aes256 -recip "$D/leaf.pem" \
        -in "$W/data" -out "$D/soft.cms"
    soft openssl cms -decrypt -binary -inkey "$D/leaf.key" -recip "$D/leaf.pem" \
        -in "$D/soft.cms" -out "$D/soft.out"
    cmp -s "$W/data" "$D/soft.out" ||
        fail "$order: software CMS key agreement did not give the message back"

    step "$order: TLS 1.2 and 1.3 with the software key over ECDHE P-256 and X25519"
    soft s_server_start soft -naccept 4 -cert "$D/leaf.pem" -key "$D/leaf.key" \
        -cert_chain "$D/inter.pem" -groups P-256:X25519
    soft handshake soft "$D/root.pem" -tls1_2 P-256 'ECDH, prime256v1'
    soft handshake soft "$D/root.pem" -tls1_2 X25519:P-256 'X25519'
    soft handshake soft "$D/root.pem" -tls1_3 X25519 'X25519'
    soft handshake soft "$D/root.pem" -tls1_3 P-256 'ECDH, prime256v1'
    s_server_wait soft

    step "$order: none of that sent a single command to the TPM"
    n=$(tpm_commands "$D"/soft-*.pcap | wc -l)
    ((n == 0)) || fail "$order: software-key operations sent $n TPM commands: $(tpm_commands "$D"/soft-*.pcap | paste -sd' ')"
    printf '   %d programs run with the pcap TCTI: 0 TPM commands\n' "$soft_n"

    step "$order: the same capture sees a TPM signature (so zero means zero)"
    TPMKMS_TCTI=pcap:$SWTPM TCTI_PCAP_FILE=$D/tpm.pcap openssl pkeyutl -sign \
        -inkey tpmkms:name=gec -pkeyopt digest:sha256 -in "$W/data.sha256" \
        -out "$D/gec.sig"
    cmds=$(tpm_commands "$D/tpm.pcap" | paste -sd' ')
    [[ -n $cmds ]] || fail "$order: the pcap TCTI recorded nothing for a TPM signature: the capture does not work"
    grep -qw "$TPM2_CC_SIGN" <<<"$cmds" ||
        fail "$order: no TPM2_Sign ($TPM2_CC_SIGN) in the capture of a TPM signature: $cmds"
    printf '   a TPM signature: %s\n' "$cmds"

    # ---- (ii) TPM keys in the same configuration -------------------------

    for k in gec grsa; do
        step "$order: $k: req -new -x509, pkeyutl and the application with the TPM key"
        openssl req -new -x509 -key "tpmkms:name=$k" -subj /CN=127.0.0.1 -days 1 \
            -addext subjectAltName=IP:127.0.0.1 -out "$D/$k.crt"
        openssl verify -CAfile "$D/$k.crt" "$D/$k.crt" | grep -qxF "$D/$k.crt: OK" ||
            fail "$order: the self-signed certificate of tpmkms:name=$k does not verify"
        openssl pkey -in "tpmkms:name=$k" -pubout -out "$D/$k.pub"
        openssl pkeyutl -sign -inkey "tpmkms:name=$k" -pkeyopt digest:sha256 \
            -in "$W/data.sha256" -out "$D/$k.sig"
        openssl pkeyutl -verify -pubin -inkey "$D/$k.pub" -pkeyopt digest:sha256 \
            -in "$W/data.sha256" -sigfile "$D/$k.sig" |
            grep -q 'Signature Verified Successfully' ||
            fail "$order: the TPM signature of tpmkms:name=$k does not verify"
        "$PROG" tpm-key "tpmkms:name=$k" >"$D/$k.out" || {
            cat "$D/$k.out" >&2
            fail "$order: the application's use of tpmkms:name=$k failed"
        }
        sed 's/^/   /' "$D/$k.out"

        case $k in
        gec)
            step "$order: $k: ECDH with the TPM key equals the peer's"
            openssl pkeyutl -derive -inkey "tpmkms:name=$k" \
                -peerkey "$D/peer.pub" -out "$D/z.tpm"
            openssl pkeyutl -derive -inkey "$D/peer.pem" -peerkey "$D/$k.pub" \
                -out "$D/z.sw"
            cmp -s "$D/z.tpm" "$D/z.sw" ||
                fail "$order: ECDH with tpmkms:name=$k differs from the peer's"
            ;;
        grsa)
            step "$order: $k: the TPM key decrypts what software encrypted"
            openssl pkeyutl -encrypt -pubin -inkey "$D/$k.pub" \
                -in "$W/data.sha256" -out "$D/$k.ct"
            openssl pkeyutl -decrypt -inkey "tpmkms:name=$k" -in "$D/$k.ct" \
                -out "$D/$k.pt"
            cmp -s "$W/data.sha256" "$D/$k.pt" ||
                fail "$order: tpmkms:name=$k did not decrypt"
            ;;
        esac

        step "$order: $k: s_server with the TPM key, TLS 1.2 and 1.3"
        s_server_start "$k" -naccept 2 -cert "$D/$k.crt" -key "tpmkms:name=$k"
        handshake "$k" "$D/$k.crt" -tls1_2
        handshake "$k" "$D/$k.crt" -tls1_3
        s_server_wait "$k"
    done

    step "$order: genpkey -propquery provider=tpmkms makes a TPM key"
    openssl genpkey -algorithm EC -propquery provider=tpmkms \
        -pkeyopt "uri:tpmkms:name=gen-$order" -out "$D/gen.pem"
    head -n1 "$D/gen.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
        fail "$order: genpkey did not make a TPM key: $(head -n1 "$D/gen.pem")"

    step "$order: genpkey -propquery provider=tpmkms without a uri is refused and writes no key"
    expect_fail --provider-errors 'no uri: .*-pkeyopt uri:tpmkms:name=' \
        openssl genpkey -algorithm EC -propquery provider=tpmkms \
        -pkeyopt group:P-256 -out "$D/nouri.pem"
    if grep -qs 'PRIVATE KEY' "$D/nouri.pem"; then
        fail "$order: genpkey -propquery provider=tpmkms without a uri wrote a key"
    fi

    # ---- (iii) threads -------------------------------------------------

    step "$order: 8 threads sign with a software key and a TPM key at once"
    timeout 120 "$PROG" threads tpmkms:name=gec 8 20 >"$D/threads.out" || {
        rc=$?
        cat "$D/threads.out" >&2
        ((rc != 124)) || fail "$order: the threads did not finish in 120 s (a hang)"
        fail "$order: signing from 8 threads failed"
    }
    sed 's/^/   /' "$D/threads.out"

    # ---- (iv) tpm2-tss's own libcrypto use -----------------------------

    step "$order: tpm2-tools' salted HMAC session (tpm2-tss's libcrypto) works beside tpmkms"
    TPMKMS_DEBUG=1 timeout 60 tpm2_startauthsession --hmac-session \
        -c 0x81000001 -S "$D/session.ctx" 2>"$D/session.log" ||
        { cat "$D/session.log" >&2; fail "$order: tpm2_startauthsession failed or hung"; }
    TPMKMS_DEBUG=1 timeout 60 tpm2_getrandom -S "$D/session.ctx" 8 --hex \
        >/dev/null 2>>"$D/session.log" ||
        { cat "$D/session.log" >&2; fail "$order: tpm2_getrandom in the session failed or hung"; }
    tpm2_flushcontext "$D/session.ctx"
    if grep -Eq 'connecting to|connected through' "$D/session.log"; then
        cat "$D/session.log" >&2
        fail "$order: tpmkms went to the TPM for tpm2-tss's own libcrypto use"
    fi
    if ((TPMKMS_SANITIZED)); then
        # helpers.sh runs tpm2-tools without OPENSSL_CONF there.
        printf '   (sanitized build: tpm2-tools ran without the sanitized tpmkms.so)\n'
    elif [[ $order == tpmkms-first ]]; then
        # The salt's ephemeral ECDH key: tpm2-tss's plain "EC" keygen found
        # tpmkms's keymgmt first, which made it in the default provider.
        grep -q 'made a software EC key with default' "$D/session.log" || {
            cat "$D/session.log" >&2
            fail "$order: tpm2-tss's ECDH key did not go through tpmkms's keymgmt, so this was not tested"
        }
    fi
    printf '   a salted HMAC session and TPM2_GetRandom in it; tpmkms never connected\n'
done

pass

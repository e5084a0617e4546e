#!/usr/bin/env bash
# A TSS2 key file that cannot be used fails to load, and every program
# says which key file and why (issue 20, defect 4): the openssl command
# (OSSL_STORE's file: loader, which OpenSSL 3.0 made print only
# "ossl_store_handle_load_result:unsupported"), nginx's error log and
# OpenVPN's log (PEM_read_bio_PrivateKey).  The cases:
#
#   (a) the TPM cannot be reached (a swtpm TCTI on a dead port);
#   (b) the key's parent is not in this TPM (parent 0x81000077);
#   (c) the key's public part is altered (its type), so it does not parse;
#   (d) the key has an auth value (emptyAuth FALSE) and none is given.
#
# Each as PEM; (b) also as DER (openssl -keyform DER).
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl nginx openvpn python3 timeout
start_swtpm
W=$TPMKMS_WORK
TK=(-provider tpmkms -provider default)
DEAD='swtpm:host=127.0.0.1,port=1'
CNF=$W/tpmkms.cnf
write_openssl_cnf "$CNF" default-first
openssl dgst -sha256 -binary -out "$W/digest" /dev/null

step "key files: a good one (parent 0x81000001), one whose parent is 0x81000077, one with its public type altered, one with an auth value"
tpmkms setup
tpmkms create 'tpmkms:name=web' --alg ec-p256 >/dev/null
openssl pkey "${TK[@]}" -in 'tpmkms:name=web' -out "$W/web.pem"
tpmkms create 'tpmkms:name=pinned;pin-value=1234' --alg ec-p256 >/dev/null
openssl pkey "${TK[@]}" -in 'tpmkms:name=pinned;pin-value=1234' -out "$W/pinned.pem"
# tss2_edit IN OUT EDIT: rewrites a TSS2 key file's DER (as PEM and DER);
# EDIT is parent (0x81000001 to 0x81000077) or pubtype (the TPM2B_PUBLIC's
# type, TPM2_ALG_ECC, made 0xff23).
tss2_edit() {
    openssl pkey "${TK[@]}" -in "$1" -outform DER -out "$W/tmp.der"
    python3 - "$W/tmp.der" "$2" "$3" <<'EOF'
import base64, sys
der, out, edit = bytearray(open(sys.argv[1], "rb").read()), sys.argv[2], sys.argv[3]
# TPMKey: SEQUENCE { OID, [0] { BOOLEAN }, INTEGER parent, OCTET STRING pub, ... }
i = der.index(bytes([0x02, 0x05, 0x00, 0x81, 0x00, 0x00, 0x01]))
if edit == "parent":
    der[i + 6] = 0x77
else:
    pub = i + 7
    assert der[pub] == 0x04 and der[pub + 4:pub + 6] == b"\x00\x23", der[pub:pub + 8].hex()
    der[pub + 4] = 0xff
b64 = base64.b64encode(bytes(der)).decode()
with open(out + ".pem", "w") as f:
    f.write("-----BEGIN TSS2 PRIVATE KEY-----\n")
    f.write("".join(b64[k:k + 64] + "\n" for k in range(0, len(b64), 64)))
    f.write("-----END TSS2 PRIVATE KEY-----\n")
open(out + ".der", "wb").write(bytes(der))
EOF
}
tss2_edit "$W/web.pem" "$W/noparent" parent
tss2_edit "$W/web.pem" "$W/badpub" pubtype
# The good key file signs, so what fails below is what was changed.
openssl pkeyutl -sign "${TK[@]}" -inkey "$W/web.pem" -in "$W/digest" -out "$W/sig"

# The reasons, as each program must show them (after the key file's name).
R_DEAD='TSS2 key file \(ec-p256, parent 0x81000001\): the TPM that holds this key cannot be reached'
R_DEAD_TCTI="cannot open the TPM through TCTI \"$DEAD\""
R_PARENT='TSS2 key file \(ec-p256, parent 0x81000077\): the key.s parent is not in this TPM'
R_PUB='bad TSS2 key file:.*TSS2 key file: the key.s public part \(TPM2B_PUBLIC, [0-9]+ bytes\) does not parse'
R_AUTH='TSS2 key file \(ec-p256, parent 0x81000001, with auth value\) has an auth value \(emptyAuth is false\) and none was given'

# sign KEYFILE [options]: openssl pkeyutl -sign with tpmkms and default.
sign() {
    local key=$1
    shift
    openssl pkeyutl -sign "${TK[@]}" -inkey "$key" "$@" -in "$W/digest" -out "$W/sig"
}

step "(a) openssl pkeyutl -sign, the TPM unreachable: the key file, the TCTI and the cause"
for want in "$R_DEAD" "$R_DEAD_TCTI"; do
    expect_fail --provider-errors "$want" env TPMKMS_TCTI="$DEAD" \
        openssl pkeyutl -sign "${TK[@]}" -inkey "$W/web.pem" -in "$W/digest" -out "$W/sig"
done

step "(b) openssl pkeyutl -sign, the parent missing: PEM and DER key files"
expect_fail --provider-errors "$R_PARENT" sign "$W/noparent.pem"
expect_fail --provider-errors "$R_PARENT" sign "$W/noparent.der" -keyform DER

step "(c) openssl pkeyutl -sign, the public part altered"
expect_fail --provider-errors "$R_PUB" sign "$W/badpub.pem"

step "(d) openssl pkeyutl -sign, emptyAuth FALSE and no -passin"
expect_fail --provider-errors "$R_AUTH.*nothing was sent to the TPM" sign "$W/pinned.pem"
# With the passphrase it signs: the check asks the same callback.
sign "$W/pinned.pem" -passin pass:1234

step "nginx refuses to start with each key file, its error log naming the key file and the cause"
openssl req -x509 -provider default -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/soft.key" -subj /CN=www -days 1 -out "$W/www.crt" 2>/dev/null
user=''
if ((EUID == 0)); then user='user root root;'; fi
# nginx_refuses NAME KEYFILE REGEX [ENV...]: nginx with KEYFILE as
# ssl_certificate_key exits 1 within 30 s; its error log matches REGEX.
nginx_refuses() {
    local name=$1 key=$2 re=$3 p=$W/nginx-$1 rc=0
    shift 3
    mkdir -p "$p/tmp"
    cat >"$p/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $p/nginx.pid;
error_log $p/error.log info;
events { worker_connections 16; }
http {
    access_log $p/access.log;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    server {
        listen 127.0.0.1:1 ssl;
        ssl_certificate     $W/www.crt;
        ssl_certificate_key $key;
    }
}
EOF
    env OPENSSL_CONF="$CNF" "$@" timeout 30 nginx -p "$p" -c "$p/nginx.conf" \
        -e "$p/error.log" >"$p/stderr.log" 2>&1 </dev/null || rc=$?
    ((rc == 1)) || { cat "$p/error.log" >&2; fail "nginx ($name) should have refused to start, exit $rc"; }
    grep -Eq -- "cannot load certificate key \"$key\".*$re" "$p/error.log" || {
        cat "$p/error.log" >&2
        fail "nginx ($name): error log does not match /$re/"
    }
    printf '   nginx (%s): %s\n' "$name" "$(grep -Eom1 -- "$re" "$p/error.log")"
}
nginx_refuses dead "$W/web.pem" "$R_DEAD" TPMKMS_TCTI="$DEAD"
nginx_refuses noparent "$W/noparent.pem" "$R_PARENT"
nginx_refuses badpub "$W/badpub.pem" "$R_PUB"
nginx_refuses noauth "$W/pinned.pem" "$R_AUTH"

step "openvpn does not start with each key file, its log naming the key file and the cause"
# openvpn_refuses NAME KEYFILE REGEX [ENV...]: examples/openvpn/client.conf
# with KEYFILE as key exits 1 within 30 s; its log matches REGEX.
openvpn_refuses() {
    local name=$1 key=$2 re=$3 d=$W/openvpn-$1 rc=0
    shift 3
    mkdir -p "$d"
    cp "$W/www.crt" "$d/ca.crt"
    cp "$W/www.crt" "$d/client.crt"
    cp "$key" "$d/client.key"
    (cd "$d" && env "$@" timeout 30 openvpn --config "$TPMKMS_SOURCE_DIR/examples/openvpn/client.conf" \
        --lport 0) >"$d/openvpn.log" 2>&1 </dev/null || rc=$?
    ((rc == 1)) || { cat "$d/openvpn.log" >&2; fail "openvpn ($name): exit $rc, not 1"; }
    if ! grep -q "Cannot load private key file client.key" "$d/openvpn.log" ||
        ! grep -Eq -- "$re" "$d/openvpn.log"; then
        cat "$d/openvpn.log" >&2
        fail "openvpn ($name): its log does not match /$re/"
    fi
    printf '   openvpn (%s): %s\n' "$name" "$(grep -Eom1 -- "$re" "$d/openvpn.log")"
}
openvpn_refuses dead "$W/web.pem" "$R_DEAD" TPMKMS_TCTI="$DEAD"
openvpn_refuses noparent "$W/noparent.pem" "$R_PARENT"
openvpn_refuses badpub "$W/badpub.pem" "$R_PUB"

pass

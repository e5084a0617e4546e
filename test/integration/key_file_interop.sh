#!/usr/bin/env bash
# TPM key files (TSS2 PRIVATE KEY) move between tpmkms and tpm2-openssl:
# a program that only knows key files signs with a TPM key once tpmkms is
# activated in its openssl.cnf (default first, as a server's would be).
#
#   - tpm2-openssl's keys (EC and RSA, parent 0x40000001) sign through
#     tpmkms, without and with a persistent SRK;
#   - tpmkms's key files sign through tpm2-openssl;
#   - keys under another persistent parent (0x81000005), made by
#     tpm2-openssl (-pkeyopt parent:) and by tpm2-tools (tpm2_encodeobject);
#   - keys with an auth value, both ways: the auth is the key file's
#     passphrase; without it the load fails before anything reaches the TPM;
#   - PEM, DER and a tpmkms key record read as key files;
#   - a key file whose parent is gone, or whose TPM is gone, fails to load
#     with an error naming the key file and the cause.
#
# Every signature is verified with the default provider alone, against a
# public key that the other implementation wrote.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_createprimary tpm2_evictcontrol \
    tpm2_create tpm2_encodeobject tpm2_flushcontext cmp
start_swtpm
W=$TPMKMS_WORK
LOAD=$TPMKMS_BUILD_DIR/test/key_file_load
[[ -x $LOAD ]] || fail "missing $LOAD: build the tests first"
TPM2_MODULE=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')/tpm2.so
[[ -f $TPM2_MODULE ]] || fail "missing tpm2-openssl ($TPM2_MODULE) — run scripts/setup.sh"
export TPM2OPENSSL_TCTI=$TPMKMS_TCTI
CNF=$W/tpmkms.cnf
write_openssl_cnf "$CNF" default-first
printf 'a message to sign\n' >"$W/msg"
printf 'another message\n' >"$W/other"

# t2 ARGS...: openssl with tpm2-openssl only (no tpmkms anywhere).
t2() {
    local cmd=$1
    shift
    env -u OPENSSL_CONF openssl "$cmd" -provider "$TPM2_MODULE" -provider base "$@"
}

# tk ARGS...: openssl configured as a server would be (tpmkms and default
# activated by OPENSSL_CONF, no -provider options); its TPMKMS_DEBUG lines
# go to $W/tk.log.
tk() {
    OPENSSL_CONF=$CNF TPMKMS_DEBUG=1 openssl "$@" 2>"$W/tk.log" || {
        cat "$W/tk.log" >&2
        return 1
    }
}

# sw ARGS...: openssl with the default provider alone.
sw() {
    local cmd=$1
    shift
    env -u OPENSSL_CONF openssl "$cmd" -provider default "$@"
}

# verify PUB SIG: the signature of msg verifies with PUB, the other
# message's does not.
verify() {
    sw dgst -sha256 -verify "$1" -signature "$2" "$W/msg" | grep -qx 'Verified OK' ||
        fail "$2 does not verify with $1"
    expect_fail 'Verification failure' sw dgst -sha256 -verify "$1" \
        -signature "$2" "$W/other"
}

# tk_sign KEYFILE SIG [openssl options]: tpmkms signs msg with a key file;
# the debug log proves the key file was decoded and loaded by tpmkms.
tk_sign() {
    local key=$1 sig=$2
    shift 2
    tk dgst -sha256 -sign "$key" "$@" -out "$sig" "$W/msg"
    grep -q 'der_decode: decoded TSS2 key file' "$W/tk.log" ||
        fail "tpmkms did not decode $key:"$'\n'"$(cat "$W/tk.log")"
    grep -q 'TPM2_Load under' "$W/tk.log" ||
        fail "tpmkms did not load $key into the TPM:"$'\n'"$(cat "$W/tk.log")"
}

# empty_auth FILE: prints the key file's emptyAuth: 1, or 0 (FALSE or absent).
empty_auth() {
    openssl asn1parse -in "$1" |
        awk '/BOOLEAN/ { e = ($NF == ":1") } END { print e ? 1 : 0 }'
}

step "no persistent SRK: tpm2-openssl's EC and RSA keys (parent 0x40000001) sign through tpmkms"
for spec in "EC -pkeyopt group:P-256" "RSA -pkeyopt bits:2048"; do
    read -r alg opt val <<<"$spec"
    k=$W/t2-$alg
    t2 genpkey -algorithm "$alg" "$opt" "$val" -out "$k.pem"
    [[ $(openssl asn1parse -in "$k.pem" | awk '/INTEGER/ {print $NF; exit}') == :40000001 ]] ||
        fail "tpm2-openssl's $alg key is not under 0x40000001"
    t2 pkey -in "$k.pem" -pubout -out "$k.pub"
    tk_sign "$k.pem" "$k.sig"
    verify "$k.pub" "$k.sig"
    tk pkey -in "$k.pem" -pubout -out "$k.tk.pub"
    cmp -s "$k.pub" "$k.tk.pub" || fail "tpmkms and tpm2-openssl see different public keys in $k.pem"
done

step "no persistent SRK: a tpmkms key file (parent 0x40000001) signs through tpm2-openssl"
tpmkms create 'tpmkms:name=kf' --alg ec-p256 >/dev/null
tk pkey -in 'tpmkms:name=kf' -out "$W/kf.pem"
tk pkey -in 'tpmkms:name=kf' -pubout -out "$W/kf.pub"
[[ $(openssl asn1parse -in "$W/kf.pem" | awk '/INTEGER/ {print $NF; exit}') == :40000001 ]] ||
    fail "without a persistent SRK the key file's parent is not 0x40000001"
t2 dgst -sha256 -sign "$W/kf.pem" -out "$W/kf.sig" "$W/msg"
verify "$W/kf.pub" "$W/kf.sig"

step "tpmkms setup: tpm2-openssl's 0x40000001 keys still sign through tpmkms (under 0x81000001)"
tpmkms setup
tk_sign "$W/t2-EC.pem" "$W/t2-EC.sig2"
verify "$W/t2-EC.pub" "$W/t2-EC.sig2"

step "with the SRK: tpmkms key files (parent 0x81000001), EC and RSA, PEM and DER, sign through tpm2-openssl"
for alg in ec-p384 rsa-2048; do
    tpmkms create "tpmkms:name=kf-$alg" --alg "$alg" >/dev/null
    tk pkey -in "tpmkms:name=kf-$alg" -out "$W/kf-$alg.pem"
    tk pkey -in "tpmkms:name=kf-$alg" -outform DER -out "$W/kf-$alg.der"
    tk pkey -in "tpmkms:name=kf-$alg" -pubout -out "$W/kf-$alg.pub"
    t2 dgst -sha256 -sign "$W/kf-$alg.pem" -out "$W/kf-$alg.sig" "$W/msg"
    verify "$W/kf-$alg.pub" "$W/kf-$alg.sig"

    step "$alg: tpmkms signs with its own key file as PEM, as DER and as the key record"
    tk_sign "$W/kf-$alg.pem" "$W/kf-$alg.pem.sig"
    verify "$W/kf-$alg.pub" "$W/kf-$alg.pem.sig"
    tk_sign "$W/kf-$alg.der" "$W/kf-$alg.der.sig" -keyform DER
    verify "$W/kf-$alg.pub" "$W/kf-$alg.der.sig"
    tk_sign "$XDG_DATA_HOME/tpmkms/keys/kf-$alg.tpmkey" "$W/kf-$alg.rec.sig"
    verify "$W/kf-$alg.pub" "$W/kf-$alg.rec.sig"
done

step "PEM_read_bio_PrivateKey and d2i_PrivateKey_bio (what servers call) load key files"
OPENSSL_CONF=$CNF "$LOAD" "$W/kf-ec-p384.pem" >"$W/load.out"
grep -qx 'loaded EC' "$W/load.out" || fail "PEM key file: $(cat "$W/load.out")"
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$W/load.out" | cmp -s - "$W/kf-ec-p384.pub" ||
    fail "PEM_read_bio_PrivateKey gave another public key"
OPENSSL_CONF=$CNF "$LOAD" --der "$W/kf-rsa-2048.der" | grep -qx 'loaded RSA' ||
    fail "d2i_PrivateKey_bio did not load the DER key file"

step "a software key file still loads (our decoders leave what is not a TSS2 key alone)"
sw genpkey -algorithm EC -pkeyopt group:P-256 -out "$W/soft.pem"
for cnf in default-first tpmkms-first; do
    write_openssl_cnf "$W/$cnf.cnf" "$cnf"
    OPENSSL_CONF=$W/$cnf.cnf "$LOAD" "$W/soft.pem" | grep -qx 'loaded EC' ||
        fail "a software key file does not load with tpmkms activated ($cnf)"
done

step "persistent parent 0x81000005: tpm2-openssl's key (-pkeyopt parent:) signs through tpmkms"
tpm2_createprimary -Q -C o -g sha256 -G ecc256:null:aes128cfb \
    -a 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda' \
    -c "$W/p5.ctx"
tpm2_evictcontrol -Q -C o -c "$W/p5.ctx" 0x81000005
tpm2_flushcontext -t
t2 genpkey -algorithm EC -pkeyopt group:P-256 -pkeyopt parent:0x81000005 -out "$W/p5-ec.pem"
[[ $(openssl asn1parse -in "$W/p5-ec.pem" | awk '/INTEGER/ {print $NF; exit}') == :81000005 ]] ||
    fail "tpm2-openssl's key is not under 0x81000005"
t2 pkey -in "$W/p5-ec.pem" -pubout -out "$W/p5-ec.pub"
tk_sign "$W/p5-ec.pem" "$W/p5-ec.sig"
verify "$W/p5-ec.pub" "$W/p5-ec.sig"

step "persistent parent 0x81000005: a tpm2-tools key (tpm2_create + tpm2_encodeobject) signs through tpmkms"
tpm2_create -Q -C 0x81000005 -G rsa2048:rsassa-sha256 \
    -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|noda' \
    -u "$W/p5-rsa.tpub" -r "$W/p5-rsa.tpriv"
tpm2_encodeobject -C 0x81000005 -u "$W/p5-rsa.tpub" -r "$W/p5-rsa.tpriv" -o "$W/p5-rsa.pem"
tpm2_flushcontext -t
# tpm2-tools 5.4 writes emptyAuth FALSE unless -p is given (its man page
# says the opposite); a key without auth then takes an empty passphrase.
pass=()
[[ $(empty_auth "$W/p5-rsa.pem") == 1 ]] || pass=(-passin pass:)
t2 pkey -in "$W/p5-rsa.pem" "${pass[@]}" -pubout -out "$W/p5-rsa.pub"
tk_sign "$W/p5-rsa.pem" "$W/p5-rsa.sig" "${pass[@]}"
verify "$W/p5-rsa.pub" "$W/p5-rsa.sig"

step "auth value: tpm2-openssl's key with user-auth signs through tpmkms with the passphrase"
t2 genpkey -algorithm EC -pkeyopt group:P-256 -pkeyopt user-auth:s3cret -out "$W/auth-t2.pem"
[[ $(empty_auth "$W/auth-t2.pem") == 0 ]] || fail "tpm2-openssl's user-auth key says emptyAuth"
t2 pkey -in "$W/auth-t2.pem" -passin pass:s3cret -pubout -out "$W/auth-t2.pub"
tk_sign "$W/auth-t2.pem" "$W/auth-t2.sig" -passin pass:s3cret
verify "$W/auth-t2.pub" "$W/auth-t2.sig"

step "auth value: without the passphrase the load fails, naming the key file and what to do"
expect_fail 'TSS2 key file \(ec-p256, parent 0x40000001, with auth value\) has an auth value .*none was given.*passphrase.*nothing was sent to the TPM' \
    env OPENSSL_CONF="$CNF" "$LOAD" "$W/auth-t2.pem"

step "auth value: a tpmkms key with a PIN signs through tpm2-openssl with the PIN as passphrase"
tpmkms create 'tpmkms:name=pinned;pin-value=1234' --alg ec-p256 >/dev/null
tk pkey -in 'tpmkms:name=pinned;pin-value=1234' -out "$W/pinned.pem"
tk pkey -in 'tpmkms:name=pinned;pin-value=1234' -pubout -out "$W/pinned.pub"
[[ $(empty_auth "$W/pinned.pem") == 0 ]] || fail "the key file of a key with a PIN says emptyAuth"
t2 dgst -sha256 -sign "$W/pinned.pem" -passin pass:1234 -out "$W/pinned.sig" "$W/msg"
verify "$W/pinned.pub" "$W/pinned.sig"
tk_sign "$W/pinned.pem" "$W/pinned.tk.sig" -passin pass:1234
verify "$W/pinned.pub" "$W/pinned.tk.sig"

step "a damaged key file fails to load, saying what is wrong with it"
head -c 200 "$W/kf-ec-p384.pem" >"$W/truncated.pem"
expect_fail 'bad TSS2 key file:.*TSS2 PRIVATE KEY PEM block is malformed' \
    env OPENSSL_CONF="$CNF" "$LOAD" "$W/truncated.pem"

step "a key file whose parent was evicted fails to load, naming the key file and the parent"
tpm2_evictcontrol -Q -C o -c 0x81000005
expect_fail --hide "$W/p5-ec.pem" 'TSS2 key file \(ec-p256, parent 0x81000005\): the key.s parent is not in this TPM' \
    env OPENSSL_CONF="$CNF" "$LOAD" "$W/p5-ec.pem"

step "a key file whose TPM is gone fails to load, naming the key file and the TCTI"
for want in 'cannot open the TPM through TCTI "swtpm:host=127.0.0.1,port=1"' \
            'TSS2 key file \(ec-p384, parent 0x81000001\): the TPM that holds this key cannot be reached'; do
    expect_fail "$want" env OPENSSL_CONF="$CNF" TPMKMS_TCTI='swtpm:host=127.0.0.1,port=1' \
        "$LOAD" "$W/kf-ec-p384.pem"
done

pass

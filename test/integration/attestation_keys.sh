#!/usr/bin/env bash
# Attestation keys (AKs): tpmkms ak create | list | show | delete.
#
# An AK is a restricted signing key (ECDSA or RSASSA with SHA-256) stored
# like a key, its record marked kind: ak and its scope kept; the same
# scope, elevation and partial-delete contract as keys.  For EC and RSA,
# user and machine scope, as root and as an unprivileged user: the record
# and its mode, the TPM object's attributes (tpm2_print of the public area
# the TPM made), its public key through the provider (openssl pkey
# -pubout), and a signature through the provider refused with our message
# and no TPM2_Sign sent (tpm2-tss's pcap TCTI, read by tshark).  Keys and
# AKs keep apart: create over an AK, show or delete of an AK, and the
# reverse are refused; list and the store's listing leave AKs out.  A
# persistent machine AK whose eviction the TPM refuses is a partial
# delete (exit 3) with the record gone.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program openssl tpm2_getcap tpm2_print tpm2_changeauth tshark stat \
    useradd userdel groupadd groupdel setpriv getent
(($(id -u) == 0)) || fail "must run as root: it makes a test user and a root-owned machine store"
tshark -G fields 2>/dev/null | grep -q $'\ttpm.req.cc\t' ||
    fail "this tshark has no TPM dissector field tpm.req.cc: it cannot count TPM commands"
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
MSTORE=$TPMKMS_MACHINE_STORE
RSTORE=$XDG_DATA_HOME/tpmkms
AK_MSG='is an attestation key \(restricted\): it signs only TPM-made statements, not arbitrary data'

step "a machine group and an unprivileged test user; tpmkms setup"
make_test_user
USTORE=$UHOME/.local/share/tpmkms
tpmkms setup >/dev/null
printf 'data to sign\n' >"$W/data"
chmod 0644 "$W/data"
OUT=$W/out                  # where root and the test user write
mkdir -m 1777 "$OUT"

as() {              # as root|user CMD...
    local who=$1
    shift
    if [[ $who == root ]]; then "$@"; else as_user in "$@"; fi
}

# traced CALLER NAME CMD...: CMD's TPM traffic goes to $OUT/NAME.pcap.
traced() {
    local who=$1 name=$2
    shift 2
    rm -f "$OUT/$name.pcap"
    as "$who" env TPMKMS_TCTI="pcap:$TPMKMS_TCTI" TCTI_PCAP_FILE="$OUT/$name.pcap" "$@"
}

step "the pcap trace sees a key's TPM2_Sign (so its silence below means something)"
tpmkms create 'tpmkms:name=plain' >/dev/null
traced root plain-sign openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=plain' \
    -rawin -digest sha256 -in "$W/data" -out "$OUT/plain.sig"
[[ " $(tpm_commands "$OUT/plain-sign.pcap") " == *" Sign "* ]] ||
    fail "no Sign in the trace of a key's signature: $(tpm_commands "$OUT/plain-sign.pcap")"

# check_ak CALLER SCOPE ALG: create, record, attributes, public key, refusal.
check_ak() {
    local caller=$1 scope=$2 alg=$3 name uri store rec scheme owner mode admin=$1
    name=${caller:0:1}-$scope-$alg
    uri="tpmkms:name=$name;key-scope=$scope"
    store=$RSTORE
    [[ $caller == user ]] && store=$USTORE
    [[ $scope == machine ]] && store=$MSTORE
    rec=$store/keys/$name.tpmkey

    step "ak create $uri --alg $alg as $caller"
    if [[ $caller == user && $scope == machine ]]; then
        expect_exit 4 'requires elevation.*machine key store' \
            as_user in tpmkms ak create "$uri" --alg "$alg"
        [[ ! -e $rec ]] || fail "a refused machine ak create left $rec"
        admin=root      # root provisions it, the user uses it
    fi
    [[ $(as "$admin" tpmkms ak create "$uri" --alg "$alg") == "$uri" ]] ||
        fail "ak create did not print $uri"
    grep -qx 'kind: ak' "$rec" || fail "$rec is not marked kind: ak"
    grep -qx "key-scope: $scope" "$rec" || fail "$rec does not keep key-scope: $scope"
    grep -qx "algorithm: $alg" "$rec" || fail "$rec does not say algorithm: $alg"
    if [[ $scope == machine ]]; then
        owner=root:$TGROUP mode=640
    else
        owner=$([[ $caller == user ]] && echo "$TUSER:$TUSER" || echo root:root) mode=600
    fi
    [[ $(stat -c '%U:%G %a' "$rec") == "$owner $mode" ]] ||
        fail "$rec is $(stat -c '%U:%G %a' "$rec"), not $owner $mode"

    # The public area the TPM made (TPM2_Create's outPublic, in the record).
    tpm2_print -t TSSPRIVKEY_OBJ "$rec" >"$W/$name.public"
    awk '$1 == "attributes:" {a = 1; next} a && $1 == "value:" {print $2; exit}' \
        "$W/$name.public" >"$W/$name.attrs"
    [[ $(cat "$W/$name.attrs") == 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign' ]] ||
        fail "$name has attributes $(cat "$W/$name.attrs"), not those of an AK"
    scheme=$([[ $alg == ec-p256 ]] && echo ecdsa || echo rsassa)
    grep -A1 '^scheme:' "$W/$name.public" | grep -q "value: $scheme" ||
        fail "$name's scheme is not $scheme: $(cat "$W/$name.public")"
    grep -A1 '^scheme-halg:' "$W/$name.public" | grep -q 'value: sha256' ||
        fail "$name's scheme hash is not sha256"

    # ak show says what it is; its public key is the provider's.
    as "$caller" tpmkms ak show "$uri" >"$W/$name.show"
    grep -q '^kind: *attestation key' "$W/$name.show" || fail "ak show does not say kind: $(cat "$W/$name.show")"
    grep -q '^restricted: *yes' "$W/$name.show" || fail "ak show does not say restricted: yes"
    grep -q "^key-scope: *$scope" "$W/$name.show" || fail "ak show does not say key-scope: $scope"
    sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$W/$name.show" >"$W/$name.show.pem"
    as "$caller" openssl pkey "${TPM[@]}" -in "$uri" -pubout >"$W/$name.pub.pem"
    cmp -s "$W/$name.show.pem" "$W/$name.pub.pem" ||
        fail "openssl pkey -pubout of $uri is not the key ak show prints"
    openssl pkey -pubin -in "$W/$name.pub.pem" -noout -text | grep -q \
        "$([[ $alg == ec-p256 ]] && echo 'NIST CURVE: P-256' || echo 'Public-Key: (2048 bit)')" ||
        fail "$name's public key is not $alg"

    as "$caller" openssl pkey "${TPM[@]}" -in "$uri" -noout -text >"$OUT/$name.text"
    grep -q '^Usage: attestation key (restricted' "$OUT/$name.text" ||
        fail "openssl pkey -text does not call $name an attestation key: $(cat "$OUT/$name.text")"

    # Signing through the provider: refused, and nothing reaches the TPM.
    expect_fail --provider-errors "$AK_MSG" traced "$caller" "$name-sign" \
        openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" -rawin -digest sha256 \
        -in "$W/data" -out "$OUT/$name.sig"
    [[ -z $(tpm_commands "$OUT/$name-sign.pcap") ]] ||
        fail "signing with $name sent TPM commands: $(tpm_commands "$OUT/$name-sign.pcap")"
    expect_fail --provider-errors "$AK_MSG" \
        as "$caller" openssl dgst -sha256 "${TPM[@]}" -sign "$uri" -out "$OUT/$name.sig" "$W/data"
}

for alg in ec-p256 rsa-2048; do
    for caller in root user; do
        for scope in user machine; do
            check_ak "$caller" "$scope" "$alg"
        done
    done
done

step "ak list lists the AKs of both stores; list leaves them out with a note"
tpmkms ak list >"$W/ak-list"
for n in r-user-ec-p256 r-machine-ec-p256 u-machine-ec-p256 r-user-rsa-2048 r-machine-rsa-2048 u-machine-rsa-2048; do
    grep -q "^tpmkms:name=$n;key-scope=" "$W/ak-list" || fail "ak list lacks $n: $(cat "$W/ak-list")"
done
grep -q 'name=plain' "$W/ak-list" && fail "ak list lists the key plain"
tpmkms ak list --scope machine | grep -q 'name=r-user-ec-p256' && fail "ak list --scope machine lists a user AK"
as_user in tpmkms ak list --scope user >"$W/u-ak-list"
[[ $(grep -c . "$W/u-ak-list") == 2 ]] || fail "the user's AKs are not the two user AKs: $(cat "$W/u-ak-list")"
tpmkms list >"$W/list" 2>"$W/list.err"
grep -q 'name=plain' "$W/list" || fail "list lacks the key plain"
grep -q 'ec-p256;\|rsa-2048;' "$W/list" && fail "list lists AKs: $(cat "$W/list")"
grep -q 'note: 6 attestation keys not listed: tpmkms ak list' "$W/list.err" ||
    fail "no note about the AKs: $(cat "$W/list.err")"
expect_exit 64 "unknown option '--orphans'" tpmkms ak list --orphans
openssl storeutl "${TPM[@]}" 'tpmkms:' >"$W/storeutl" 2>&1
grep -q 'name=plain' "$W/storeutl" || fail "the store's listing lacks plain: $(cat "$W/storeutl")"
grep -q 'ec-p256\|rsa-2048' "$W/storeutl" && fail "the store's listing has AKs: $(cat "$W/storeutl")"

step "keys and AKs keep apart: neither takes the other's name, show and delete refuse the other kind"
expect_exit 1 'key exists: .*name=r-user-ec-p256;key-scope=user is an existing attestation key .*not a key.*even with --force.*tpmkms ak delete' \
    tpmkms create 'tpmkms:name=r-user-ec-p256'
expect_exit 1 'is an existing attestation key' tpmkms create 'tpmkms:name=r-user-ec-p256' --force
expect_exit 1 'key exists: .*name=plain;key-scope=user is an existing key .*not an attestation key.*tpmkms delete\)' \
    tpmkms ak create 'tpmkms:name=plain' --force
expect_exit 1 'bad parameter: .*name=r-user-ec-p256;key-scope=user is an attestation key, not a key: use tpmkms ak show' \
    tpmkms show 'tpmkms:name=r-user-ec-p256'
expect_exit 1 'is an attestation key, not a key: use tpmkms ak delete' tpmkms delete 'tpmkms:name=r-user-ec-p256'
expect_exit 1 'name=plain;key-scope=user is a key, not an attestation key: use tpmkms show' tpmkms ak show 'tpmkms:name=plain'
expect_exit 1 'is a key, not an attestation key: use tpmkms delete' tpmkms ak delete 'tpmkms:name=plain'
grep -qx 'kind: ak' "$RSTORE/keys/r-user-ec-p256.tpmkey" || fail "a refused create changed the AK's record"
[[ -f $RSTORE/keys/plain.tpmkey ]] || fail "a refused ak delete removed the key's record"
if grep -q '^kind:' "$RSTORE/keys/plain.tpmkey"; then fail "a refused ak create changed the key's record"; fi
expect_exit 64 "not one for an attestation key: expected ec-p256 or rsa-2048" \
    tpmkms ak create 'tpmkms:name=big' --alg ec-p384
expect_exit 64 "unknown subcommand 'quote'" tpmkms ak quote 'tpmkms:name=plain'
expect_exit 64 'names no key: it needs name=' tpmkms ak delete 'tpmkms:handle=0x81000020'

step "ak create --force replaces an AK with an AK"
tpmkms ak create 'tpmkms:name=r-user-ec-p256' --force --alg rsa-2048 >/dev/null 2>"$W/force.err"
grep -q 'replaced the existing attestation key' "$W/force.err" || fail "no replacement said: $(cat "$W/force.err")"
grep -qx 'algorithm: rsa-2048' "$RSTORE/keys/r-user-ec-p256.tpmkey" || fail "the AK was not replaced"

step "ak delete: a user AK; again is not found (exit 2); a machine AK as the user needs elevation (exit 4)"
as_user in tpmkms ak delete 'tpmkms:name=u-user-ec-p256' >"$W/del.out"
grep -q 'deleted tpmkms:name=u-user-ec-p256;key-scope=user' "$W/del.out" ||
    fail "ak delete did not say it deleted the user AK: $(cat "$W/del.out")"
[[ ! -e $USTORE/keys/u-user-ec-p256.tpmkey ]] || fail "the user AK's record is still there"
expect_exit 2 "key not found" as_user in tpmkms ak delete 'tpmkms:name=u-user-ec-p256'
expect_exit 4 'requires elevation' as_user in tpmkms ak delete 'tpmkms:name=u-machine-ec-p256;key-scope=machine'
[[ -f $MSTORE/keys/u-machine-ec-p256.tpmkey ]] || fail "a refused delete removed the machine AK's record"
tpmkms ak delete 'tpmkms:name=u-machine-ec-p256;key-scope=machine' >/dev/null

step "a persistent machine AK; the TPM refuses its eviction: partial delete (exit 3), record gone"
tpmkms ak create 'tpmkms:name=pak;key-scope=machine' --persistent 0x81000020 >/dev/null
has_handle 0x81000020
grep -qx 'persistent-handle: 0x81000020' "$MSTORE/keys/pak.tpmkey" || fail "the AK's record does not keep its handle"
openssl pkey "${TPM[@]}" -in 'tpmkms:name=pak;key-scope=machine' -pubout >/dev/null
expect_fail --provider-errors "$AK_MSG" \
    openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=pak;key-scope=machine' -rawin \
    -digest sha256 -in "$W/data" -out "$OUT/pak.sig"
expect_exit 4 'requires elevation' as_user in tpmkms ak delete 'tpmkms:name=pak;key-scope=machine'
tpm2_changeauth -c o owner-secret
expect_exit 3 "partial delete: record removed, persistent handle 0x81000020 is still in the TPM: authorization failed.*tpmkms delete 'tpmkms:handle=0x81000020'" \
    tpmkms ak delete 'tpmkms:name=pak;key-scope=machine'
[[ ! -e $MSTORE/keys/pak.tpmkey ]] || fail "the partial delete left the AK's record"
has_handle 0x81000020
expect_exit 2 'key not found' tpmkms ak delete 'tpmkms:name=pak;key-scope=machine'
printf 'owner-secret\n' >"$W/owner.pw"
chmod 600 "$W/owner.pw"
TPMKMS_OWNER_AUTH_FILE=$W/owner.pw tpmkms delete 'tpmkms:handle=0x81000020' >/dev/null
lacks_handle 0x81000020
tpm2_changeauth -c o -p owner-secret

pass

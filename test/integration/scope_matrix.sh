#!/usr/bin/env bash
# key-scope x store-location, as root and as an unprivileged user.
#
# For every pair of key-scope {machine, user, unset} and store-location
# {machine, user, unset}, run by root and by a test user made here: where
# the record and the certificate (tpmkms cert import) land and with which
# owner and mode, the URI create returns (always with key-scope=), and a
# sign+verify round trip through openssl with that URI and with the same
# URI without key-scope.  An unprivileged machine create, import or delete
# fails with "requires elevation" (exit 4) and the row goes on with root
# provisioning the key, as an admin would; the test user signs with the
# machine key through the machine group.  Then the rows that must fail, each
# with its own error: ambiguous name, scope mismatch, foreign-owned record,
# group/world-writable stores, a user outside the machine group, a
# persistent user key.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap useradd userdel groupadd groupdel setpriv stat getent
(($(id -u) == 0)) || fail "must run as root: it makes a test user and a root-owned machine store"
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
MSTORE=$TPMKMS_MACHINE_STORE
RSTORE=$XDG_DATA_HOME/tpmkms                # root's user store

# mode_is PATH OWNER:GROUP MODE
mode_is() {
    local got
    got=$(stat -c '%U:%G %a' "$1")
    [[ $got == "$2 $3" ]] || fail "$1 is $got, expected $2 $3"
}

step "a test group (the machine group) and an unprivileged test user"
make_test_user
mkdir -m 0755 "$W/pub"
UOUT=$UHOME/out
USTORE=$UHOME/.local/share/tpmkms
setpriv --reuid="$TUID" --regid="$TUGID" --clear-groups mkdir -p "$UOUT"
printf 'hello from the scope matrix\n' >"$W/pub/msg"
printf '   user %s (uid %s), machine group %s (gid %s)\n' "$TUSER" "$TUID" "$TGROUP" "$TGID"

# as CALLER CMD...: CMD as root or as the test user (in the machine group).
as() {
    local who=$1
    shift
    if [[ $who == root ]]; then "$@"; else as_user in "$@"; fi
}

step "tpmkms setup (root)"
tpmkms setup

# store_of CALLER SCOPE: the store a scope means for that caller.
store_of() {
    if [[ $2 == machine ]]; then
        echo "$MSTORE"
    elif [[ $1 == user ]]; then
        echo "$USTORE"
    else
        echo "$RSTORE"
    fi
}
other() { if [[ $1 == machine ]]; then echo user; else echo machine; fi; }

# row CALLER KS SL: one row of the matrix.
row() {
    local caller=$1 ks=$2 sl=$3 name uri_in eff_ks eff_cs uri noscope out
    local kdir odir cdir ocdir admin uid=0 u
    name=${caller:0:1}-${ks}-${sl}
    uri_in="tpmkms:name=$name"
    [[ $ks == unset ]] || uri_in+=";key-scope=$ks"
    [[ $sl == unset ]] || uri_in+=";store-location=$sl"
    eff_ks=$ks
    [[ $eff_ks != unset ]] || eff_ks=$([[ $sl == unset ]] && echo user || echo "$sl")
    eff_cs=$sl
    [[ $eff_cs != unset ]] || eff_cs=$eff_ks
    out=$W/pub
    if [[ $caller == user ]]; then
        out=$UOUT
        uid=$TUID
    fi
    kdir=$(store_of "$caller" "$eff_ks")
    odir=$(store_of "$caller" "$(other "$eff_ks")")
    cdir=$(store_of "$caller" "$eff_cs")
    ocdir=$(store_of "$caller" "$(other "$eff_cs")")

    step "row $caller: key-scope=$ks store-location=$sl -> $eff_ks key, certificate in the $eff_cs store"
    if [[ $caller == user && $eff_ks == machine ]]; then
        expect_exit 4 'requires elevation.*machine key store' as_user in tpmkms create "$uri_in"
        [[ ! -e $MSTORE/keys/$name.tpmkey ]] || fail "a refused create left $MSTORE/keys/$name.tpmkey"
        [[ ! -e $USTORE/keys/$name.tpmkey ]] || fail "a refused machine create made a user key"
        admin=root          # root provisions it, the user uses it
    else
        admin=$caller
    fi
    uri=$(as "$admin" tpmkms create "$uri_in")
    printf '   create printed %s\n' "$uri"
    [[ $uri == "tpmkms:name=$name;key-scope=$eff_ks"* ]] ||
        fail "create printed '$uri', not tpmkms:name=$name;key-scope=$eff_ks..."
    if [[ $sl != unset ]]; then
        [[ $uri == *";store-location=$sl"* ]] || fail "create dropped store-location: $uri"
    fi

    # Where the record landed, and how it is protected.
    [[ -f $kdir/keys/$name.tpmkey ]] || fail "no record in $kdir/keys"
    [[ ! -e $odir/keys/$name.tpmkey ]] || fail "a record also in $odir/keys"
    grep -qx "key-scope: $eff_ks" "$kdir/keys/$name.tpmkey" || fail "the record does not say key-scope: $eff_ks"
    if [[ $eff_ks == machine ]]; then
        mode_is "$MSTORE" "root:$TGROUP" 750
        mode_is "$MSTORE/keys" "root:$TGROUP" 750
        mode_is "$MSTORE/keys/$name.tpmkey" "root:$TGROUP" 640
    else
        [[ $(stat -c '%u %a' "$kdir/keys/$name.tpmkey") == "$uid 600" ]] ||
            fail "$kdir/keys/$name.tpmkey is $(stat -c '%U %a' "$kdir/keys/$name.tpmkey"), not the caller's 0600"
        [[ $(stat -c %a "$kdir") == 700 && $(stat -c %a "$kdir/keys") == 700 ]] ||
            fail "user store $kdir is not 0700"
    fi

    # A self-signed certificate made with the key, stored where store-location says.
    as "$caller" openssl req -x509 "${TPM[@]}" -key "$uri" -subj "/CN=$name" -days 2 \
        -out "$out/$name.crt"
    if [[ $caller == user && $eff_cs == machine ]]; then
        expect_exit 4 'requires elevation' as_user in tpmkms cert import "$uri" "$out/$name.crt"
        [[ ! -e $cdir/certs/$name.pem ]] || fail "a refused import left $cdir/certs/$name.pem"
        if [[ $eff_ks == machine ]]; then
            as root tpmkms cert import "$uri" "$out/$name.crt"
        else
            # root does not read another user's record, so it cannot check
            # this certificate against the key: an admin installs it.
            install -m 0640 -o root -g "$TGROUP" "$out/$name.crt" "$cdir/certs/$name.pem"
        fi
    else
        as "$caller" tpmkms cert import "$uri" "$out/$name.crt"
    fi
    [[ -f $cdir/certs/$name.pem ]] || fail "no certificate in $cdir/certs"
    [[ ! -e $ocdir/certs/$name.pem ]] || fail "a certificate also in $ocdir/certs"
    if [[ $eff_cs == machine ]]; then
        mode_is "$MSTORE/certs/$name.pem" "root:$TGROUP" 640
    else
        [[ $(stat -c '%a %u' "$cdir/certs/$name.pem") == "600 $uid" ]] ||
            fail "$cdir/certs/$name.pem is $(stat -c '%a %U' "$cdir/certs/$name.pem")"
    fi
    as "$caller" openssl x509 -in "$out/$name.crt" -noout -pubkey -out "$out/$name.pub"

    # Sign and verify with the returned URI and with one without key-scope.
    noscope=${uri/;key-scope=$eff_ks/}
    for u in "$uri" "$noscope"; do
        as "$caller" openssl dgst -sha256 "${TPM[@]}" -sign "$u" -out "$out/$name.sig" "$W/pub/msg"
        as "$caller" openssl dgst -sha256 -verify "$out/$name.pub" -signature "$out/$name.sig" \
            "$W/pub/msg" >/dev/null || fail "signature by $u does not verify"
        as "$caller" openssl storeutl -noout "${TPM[@]}" -certs "$u" >"$W/storeutl" 2>&1 ||
            fail "storeutl -certs $u: $(cat "$W/storeutl")"
        grep -qx 'Total found: 1' "$W/storeutl" || fail "storeutl -certs $u: $(cat "$W/storeutl")"
    done
    printf '   signed and verified with %s and with %s\n' "$uri" "$noscope"
    as "$caller" tpmkms show "$uri" >"$W/show"
    grep -q "^certificate: *$cdir/certs/$name.pem" "$W/show" || fail "show: $(cat "$W/show")"

    # Delete: the record and the certificate go.
    if [[ $caller == user && $eff_ks == machine ]]; then
        expect_exit 4 'requires elevation' as_user in tpmkms delete "$uri"
        [[ -f $kdir/keys/$name.tpmkey ]] || fail "a refused delete removed the record"
    fi
    if [[ $caller == user && $eff_ks == user && $eff_cs == machine ]]; then
        # The user's key goes, its certificate in the machine store stays:
        # a partial delete that names it.
        expect_exit 3 "partial delete: record removed, certificate $cdir/certs/$name.pem is still there: .*permission denied" \
            as_user in tpmkms delete "$uri"
        [[ ! -e $kdir/keys/$name.tpmkey ]] || fail "a partial delete left the record"
        rm "$cdir/certs/$name.pem"
        return
    fi
    as "$admin" tpmkms delete "$uri" >/dev/null
    [[ ! -e $kdir/keys/$name.tpmkey ]] || fail "delete left $kdir/keys/$name.tpmkey"
    if [[ $eff_cs == machine || $admin == "$caller" ]]; then
        [[ ! -e $cdir/certs/$name.pem ]] || fail "delete left $cdir/certs/$name.pem"
    else
        # root deleted the machine key; the copy in the user's store is the
        # user's to remove (root does not touch other users' stores).
        [[ -e $cdir/certs/$name.pem ]] || fail "root's delete reached into the user's store"
        as_user in rm "$cdir/certs/$name.pem"
    fi
}

for caller in root user; do
    for ks in machine user unset; do
        for sl in machine user unset; do
            row "$caller" "$ks" "$sl"
        done
    done
done

step "the machine group defaults to tss; a group that does not exist makes the store root-only"
if getent group tss >/dev/null; then
    TPMKMS_MACHINE_GROUP='' TPMKMS_MACHINE_STORE=$W/m-tss tpmkms create 'tpmkms:name=g;key-scope=machine' >/dev/null
    mode_is "$W/m-tss/keys/g.tpmkey" root:tss 640
    mode_is "$W/m-tss" root:tss 750
fi
TPMKMS_MACHINE_GROUP=no-such-group-$$ TPMKMS_MACHINE_STORE=$W/m-none \
    tpmkms create 'tpmkms:name=g;key-scope=machine' >/dev/null
mode_is "$W/m-none" root:root 700
mode_is "$W/m-none/keys/g.tpmkey" root:root 600

step "must fail: a user outside the machine group cannot read machine keys"
tpmkms create 'tpmkms:name=svc;key-scope=machine' >/dev/null
expect_exit 1 'permission denied' as_user out openssl pkey "${TPM[@]}" -in 'tpmkms:name=svc;key-scope=machine' -pubout
expect_exit 1 'permission denied' as_user out tpmkms show 'tpmkms:name=svc'
as_user in openssl pkey "${TPM[@]}" -in 'tpmkms:name=svc' -pubout -out /dev/null

step "must fail: a user outside the machine group deleting a machine key needs elevation (exit 4), not an I/O error"
expect_exit 4 "requires elevation: the machine key store $MSTORE is not writable" \
    as_user out tpmkms delete 'tpmkms:name=svc;key-scope=machine'
expect_exit 4 "requires elevation: the machine key store $MSTORE is not writable" \
    as_user out tpmkms delete 'tpmkms:name=svc'
[[ -f $MSTORE/keys/svc.tpmkey ]] || fail "a refused delete removed svc's record"

step "must fail: a persistent user key; an unprivileged persistent machine key"
expect_exit 64 'needs a machine key' tpmkms create 'tpmkms:name=pu' --persistent 0x81000020
expect_exit 4 'requires elevation' as_user in tpmkms create 'tpmkms:name=pm;key-scope=machine' --persistent 0x81000020

step "must fail: a name in both stores is ambiguous without key-scope="
tpmkms create 'tpmkms:name=amb;key-scope=machine' >/dev/null
tpmkms create 'tpmkms:name=amb;key-scope=user' >"$W/amb.out" 2>&1
grep -q 'also has a key named' "$W/amb.out" || fail "create did not warn about the second 'amb': $(cat "$W/amb.out")"
expect_exit 1 'ambiguous key name.*key-scope=' tpmkms show 'tpmkms:name=amb'
expect_fail --provider-errors 'ambiguous key name' openssl pkey "${TPM[@]}" -in 'tpmkms:name=amb' -pubout
openssl pkey "${TPM[@]}" -in 'tpmkms:name=amb;key-scope=machine' -pubout -out /dev/null
openssl pkey "${TPM[@]}" -in 'tpmkms:name=amb;key-scope=user' -pubout -out /dev/null

step "must fail: a certificate for another key; a second import without --force"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/soft.key" \
    -subj /CN=soft -days 1 -out "$W/soft.crt" 2>/dev/null
expect_exit 1 'certificate in .*soft.crt \(subject CN = soft\) is for another public key than tpmkms:name=svc;key-scope=machine' \
    tpmkms cert import 'tpmkms:name=svc' "$W/soft.crt"
[[ ! -e $MSTORE/certs/svc.pem ]] || fail "a refused import stored a certificate"
openssl req -x509 "${TPM[@]}" -key 'tpmkms:name=svc' -subj /CN=svc -days 1 -out "$W/svc.crt"
# The key's own certificate, then a chain; a private key in the file is not copied.
cat "$W/svc.crt" "$W/soft.key" >"$W/svc-with-key.pem"
tpmkms cert import 'tpmkms:name=svc' "$W/svc-with-key.pem" "$W/soft.crt" >/dev/null
[[ $(grep -c 'BEGIN CERTIFICATE' "$MSTORE/certs/svc.pem") == 2 ]] || fail "the chain was not stored"
if grep -q 'PRIVATE KEY' "$MSTORE/certs/svc.pem"; then fail "a private key was copied into the store"; fi
openssl storeutl -noout "${TPM[@]}" -certs 'tpmkms:name=svc' >"$W/storeutl"
grep -qx 'Total found: 2' "$W/storeutl" || fail "storeutl: $(cat "$W/storeutl")"
expect_exit 1 'a certificate for key .svc. already exists' tpmkms cert import 'tpmkms:name=svc' "$W/svc.crt"
tpmkms cert import --force 'tpmkms:name=svc' "$W/svc.crt" >/dev/null
[[ $(grep -c 'BEGIN CERTIFICATE' "$MSTORE/certs/svc.pem") == 1 ]] || fail "--force did not replace the chain"

step "must fail: scope mismatch (a user record in the machine store, a wrong key-scope=)"
tpmkms create 'tpmkms:name=mm' >/dev/null
install -m 0640 -g "$TGROUP" "$RSTORE/keys/mm.tpmkey" "$MSTORE/keys/moved.tpmkey"
sed -i 's/^name: mm$/name: moved/' "$MSTORE/keys/moved.tpmkey"
expect_exit 1 'key scope mismatch.*machine store.*key-scope user' tpmkms show 'tpmkms:name=moved;key-scope=machine'
expect_fail --provider-errors 'key scope mismatch' openssl pkey "${TPM[@]}" -in 'tpmkms:name=moved' -pubout
expect_exit 2 'not found in the machine store.*user store has a key of that name' \
    tpmkms show 'tpmkms:name=mm;key-scope=machine'

step "must fail: a user record owned by someone else"
as_user in tpmkms create 'tpmkms:name=mine' >/dev/null
as_user in tpmkms show 'tpmkms:name=mine' >/dev/null
chown root "$USTORE/keys/mine.tpmkey"
chmod 0644 "$USTORE/keys/mine.tpmkey"   # readable: the owner check is what refuses
expect_exit 1 'insecure key store.*owned by uid 0, not by the calling user' as_user in tpmkms show 'tpmkms:name=mine'
expect_fail --provider-errors 'owned by uid 0' as_user in openssl pkey "${TPM[@]}" -in 'tpmkms:name=mine' -pubout

step "must fail: a store writable by others, a machine store writable by its group"
chmod o+w "$USTORE"
expect_exit 1 "insecure key store.*$USTORE is writable by group or others" as_user in tpmkms show 'tpmkms:name=svc;key-scope=user'
expect_exit 1 'insecure key store' as_user in tpmkms create 'tpmkms:name=another'
chmod o-w "$USTORE"
chmod g+w "$MSTORE/keys"
expect_exit 1 "insecure key store.*$MSTORE/keys is writable by group or others" tpmkms show 'tpmkms:name=svc;key-scope=machine'
expect_fail --provider-errors 'writable by group or others' \
    as_user in openssl pkey "${TPM[@]}" -in 'tpmkms:name=svc;key-scope=machine' -pubout
chmod g-w "$MSTORE/keys"
tpmkms show 'tpmkms:name=svc;key-scope=machine' >/dev/null

pass

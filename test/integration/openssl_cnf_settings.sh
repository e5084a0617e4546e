#!/usr/bin/env bash
# The provider's openssl.cnf settings (README "Activating tpmkms in
# openssl.cnf", tpmkms(7) OPENSSL.CNF SETTINGS).  For each setting, an
# openssl.cnf that sets it and an openssl command that shows it took
# effect; the precedence URI > openssl.cnf > environment > default; each
# malformed value and an unknown name refused, naming the section and the
# setting; and the same commands without the setting following the
# environment again.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_changeauth
start_swtpm
W=$TPMKMS_WORK
DEAD=swtpm:host=127.0.0.1,port=1    # a TPM nobody answers at

# cnf FILE [SETTING=VALUE]...: write_openssl_cnf's file (tpmkms and
# default activated) with the settings in [tpmkms_sect].
cnf() {
    local file=$1 kv lines=
    shift
    write_openssl_cnf "$file" tpmkms-first
    for kv in "$@"; do
        lines+="${kv%%=*} = ${kv#*=}"$'\n'
    done
    awk -v add="$lines" '{ print } /^\[tpmkms_sect\]$/ { printf "%s", add }' \
        "$file" >"$file.tmp" && mv "$file.tmp" "$file"
    for kv in "$@"; do
        grep -qxF -- "${kv%%=*} = ${kv#*=}" "$file" || fail "could not write $kv into $file"
    done
}
# pub CNF URI: the public key of URI through openssl with CNF only.
pub() {
    OPENSSL_CONF=$1 openssl pkey -in "$2" -pubout
}

step "fixtures: key u1 in a user store, m1 in a machine store, s1 in a storage directory, web in the usual user store"
XDG_DATA_HOME=$W/xdg tpmkms create 'tpmkms:name=u1' >/dev/null
TPMKMS_MACHINE_STORE=$W/mstore tpmkms create 'tpmkms:name=m1;key-scope=machine' >/dev/null
tpmkms create "tpmkms:name=s1;storage-directory=$W/sdir" >/dev/null
tpmkms create 'tpmkms:name=web' >/dev/null
openssl dgst -sha256 -binary -out "$W/dg" /etc/hostname

step "user-store: the key in it is found, wherever XDG_DATA_HOME points"
cnf "$W/user.cnf" "user-store=$W/xdg/tpmkms"
pub "$W/user.cnf" 'tpmkms:name=u1' >"$W/u1.pub"
grep -q 'BEGIN PUBLIC KEY' "$W/u1.pub" || fail "no public key for u1"
cnf "$W/plain.cnf"
expect_fail --provider-errors "key 'u1' not found in the user store \($XDG_DATA_HOME/tpmkms\)" \
    pub "$W/plain.cnf" 'tpmkms:name=u1'
XDG_DATA_HOME=$W/xdg pub "$W/plain.cnf" 'tpmkms:name=u1' >/dev/null ||
    fail "without user-store, XDG_DATA_HOME does not decide"

step "user-store beats the environment; the URI's storage-directory beats user-store"
XDG_DATA_HOME=$W/nowhere pub "$W/user.cnf" 'tpmkms:name=u1' >/dev/null ||
    fail "XDG_DATA_HOME won over openssl.cnf's user-store"
pub "$W/user.cnf" "tpmkms:name=s1;storage-directory=$W/sdir" >/dev/null ||
    fail "storage-directory in the URI did not win over user-store"
expect_fail --provider-errors "key 'web' not found in the user store \($W/xdg/tpmkms\)" \
    pub "$W/user.cnf" 'tpmkms:name=web'

step "machine-store: the key in it is found; it beats TPMKMS_MACHINE_STORE"
cnf "$W/machine.cnf" "machine-store=$W/mstore"
pub "$W/machine.cnf" 'tpmkms:name=m1' >/dev/null
TPMKMS_MACHINE_STORE=$W/nowhere pub "$W/machine.cnf" 'tpmkms:name=m1;key-scope=machine' >/dev/null ||
    fail "TPMKMS_MACHINE_STORE won over openssl.cnf's machine-store"
expect_fail --provider-errors "key 'm1' not found in $TPMKMS_MACHINE_STORE" \
    pub "$W/plain.cnf" 'tpmkms:name=m1;key-scope=machine'
TPMKMS_MACHINE_STORE=$W/mstore pub "$W/plain.cnf" 'tpmkms:name=m1' >/dev/null ||
    fail "without machine-store, TPMKMS_MACHINE_STORE does not decide"

step "machine-group: a key made through openssl in the machine store gets the group"
grp=$(id -gn)
cnf "$W/group.cnf" "machine-store=$W/gstore" "machine-group=$grp"
OPENSSL_CONF=$W/group.cnf openssl genpkey -propquery provider=tpmkms -algorithm EC \
    -pkeyopt group:P-256 -pkeyopt 'uri:tpmkms:name=g1;key-scope=machine' -out "$W/g1.pem"
[[ $(stat -c '%G %a' "$W/gstore/keys/g1.tpmkey") == "$grp 640" ]] ||
    fail "machine-group=$grp: g1's record is $(stat -c '%G %a' "$W/gstore/keys/g1.tpmkey"), not $grp 640"
TPMKMS_MACHINE_GROUP=tpmkms-no-such-group OPENSSL_CONF=$W/group.cnf openssl genpkey \
    -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt 'uri:tpmkms:name=g2;key-scope=machine' -out "$W/g2.pem"
[[ $(stat -c '%G %a' "$W/gstore/keys/g2.tpmkey") == "$grp 640" ]] ||
    fail "TPMKMS_MACHINE_GROUP won over machine-group: $(stat -c '%G %a' "$W/gstore/keys/g2.tpmkey")"
cnf "$W/gstore-only.cnf" "machine-store=$W/gstore"
TPMKMS_MACHINE_GROUP=tpmkms-no-such-group OPENSSL_CONF=$W/gstore-only.cnf openssl genpkey \
    -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt 'uri:tpmkms:name=g3;key-scope=machine' -out "$W/g3.pem"
[[ $(stat -c '%a' "$W/gstore/keys/g3.tpmkey") == 600 ]] ||
    fail "without machine-group, TPMKMS_MACHINE_GROUP (no such group) did not decide: $(stat -c '%G %a' "$W/gstore/keys/g3.tpmkey")"

step "tcti: openssl.cnf's TPM beats TPMKMS_TCTI; the URI's tcti= beats openssl.cnf's"
cnf "$W/tcti.cnf" "tcti=$TPMKMS_TCTI"
TPMKMS_TCTI=$DEAD OPENSSL_CONF=$W/tcti.cnf openssl pkeyutl -sign -inkey 'tpmkms:name=web' \
    -in "$W/dg" -out "$W/sig1"
cnf "$W/dead.cnf" "tcti=$DEAD" "tpm-timeout=5"
OPENSSL_CONF=$W/dead.cnf openssl pkeyutl -sign -inkey "tpmkms:name=web;tcti=$TPMKMS_TCTI" \
    -in "$W/dg" -out "$W/sig2"
OPENSSL_CONF=$W/dead.cnf expect_fail --provider-errors 'port=1|connect|TPM' \
    openssl pkeyutl -sign -inkey 'tpmkms:name=web' -in "$W/dg" -out "$W/sig3"
TPMKMS_TCTI=$DEAD OPENSSL_CONF=$W/plain.cnf expect_fail --provider-errors 'port=1|connect|TPM' \
    openssl pkeyutl -sign -inkey 'tpmkms:name=web' -in "$W/dg" -out "$W/sig4"

step "debug = yes prints tpmkms's debug lines; debug = no silences TPMKMS_DEBUG=1"
cnf "$W/debug.cnf" "debug=yes"
OPENSSL_CONF=$W/debug.cnf openssl pkey -in 'tpmkms:name=web' -pubout -out /dev/null 2>"$W/debug.log"
grep -q '^tpmkms\[[0-9]*\] .*provider loaded' "$W/debug.log" ||
    fail "debug = yes printed no debug line: $(cat "$W/debug.log")"
cnf "$W/nodebug.cnf" "debug=no"
TPMKMS_DEBUG=1 OPENSSL_CONF=$W/nodebug.cnf openssl pkey -in 'tpmkms:name=web' -pubout \
    -out /dev/null 2>"$W/nodebug.log"
if grep -q '^tpmkms\[' "$W/nodebug.log"; then fail "debug = no: TPMKMS_DEBUG=1 still printed debug lines"; fi
TPMKMS_DEBUG=1 OPENSSL_CONF=$W/plain.cnf openssl pkey -in 'tpmkms:name=web' -pubout \
    -out /dev/null 2>"$W/envdebug.log"
grep -q '^tpmkms\[' "$W/envdebug.log" || fail "without debug, TPMKMS_DEBUG=1 printed nothing"

step "tpm-timeout: a valid one is taken (its effect: tpm_stops_answering.sh)"
cnf "$W/timeout.cnf" "tpm-timeout=30"
OPENSSL_CONF=$W/timeout.cnf openssl pkeyutl -sign -inkey 'tpmkms:name=web' -in "$W/dg" -out "$W/sig5"

step "each malformed setting and an unknown one: every operation refused, naming the section and the setting"
while IFS='|' read -r kv regex; do
    cnf "$W/bad.cnf" "$kv"
    OPENSSL_CONF=$W/bad.cnf expect_fail --provider-errors \
        "openssl.cnf section \[tpmkms_sect\].*$regex" \
        openssl pkey -in 'tpmkms:name=web' -pubout
    OPENSSL_CONF=$W/bad.cnf expect_fail --provider-errors \
        "openssl.cnf section \[tpmkms_sect\].*$regex" \
        openssl genpkey -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-256 \
        -pkeyopt 'uri:tpmkms:name=never' -out "$W/never.pem"
done <<EOF2
user-store=relative/dir|setting user-store: 'relative/dir' is not an absolute path
machine-store=var/lib/tpmkms|setting machine-store: 'var/lib/tpmkms' is not an absolute path
owner-auth-file=owner.pw|setting owner-auth-file: 'owner.pw' is not an absolute path
machine-group=tpmkms-no-such-group|setting machine-group: group 'tpmkms-no-such-group' does not exist
debug=maybe|setting debug: 'maybe' is not a boolean
tpm-timeout=2s|setting tpm-timeout: '2s' is invalid
tcit=$TPMKMS_TCTI|unknown setting 'tcit'
EOF2
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/never.tpmkey ]] || fail "a refused setting still made a key"

step "owner-auth-file: the owner's auth for the storage primary, beating TPMKMS_OWNER_AUTH_FILE"
tpm2_changeauth -c owner ownerpw
printf 'ownerpw\n' >"$W/owner.pw"
printf 'wrong\n' >"$W/wrong.pw"
chmod 600 "$W/owner.pw" "$W/wrong.pw"
cnf "$W/owner.cnf" "owner-auth-file=$W/owner.pw"
TPMKMS_OWNER_AUTH_FILE=$W/wrong.pw OPENSSL_CONF=$W/owner.cnf openssl genpkey \
    -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt 'uri:tpmkms:name=o1' -out "$W/o1.pem"
TPMKMS_OWNER_AUTH_FILE=$W/wrong.pw OPENSSL_CONF=$W/plain.cnf expect_fail --provider-errors \
    'auth|TPM_RC_BAD_AUTH|AUTH_FAIL' \
    openssl genpkey -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt 'uri:tpmkms:name=o2' -out "$W/o2.pem"
TPMKMS_OWNER_AUTH_FILE=$W/owner.pw OPENSSL_CONF=$W/plain.cnf openssl genpkey \
    -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt 'uri:tpmkms:name=o3' -out "$W/o3.pem"

pass

#!/usr/bin/env bash
# An administrator drives a key's whole life with the tpmkms command alone:
# probe the TPM, persist the SRK (once), create a key of every algorithm,
# refuse to overwrite one without --force, list, show, delete, and gets the
# documented exit code and a readable message for each failure.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_createprimary tpm2_evictcontrol \
    tpm2_flushcontext
start_swtpm
W=$TPMKMS_WORK
ALGS=(ec-p256 ec-p384 rsa-2048 rsa-3072)

# expect_code CODE REGEX CMD...: CMD exits with CODE and its output (stdout
# and stderr) matches REGEX.
expect_code() {
    local want=$1 regex=$2 out rc=0
    shift 2
    out=$("$@" 2>&1 </dev/null) || rc=$?
    if ((rc != want)) || ! grep -Eq -- "$regex" <<<"$out"; then
        printf -- '--- output (exit %d) ---\n%s\n---\n' "$rc" "$out" >&2
        fail "expected exit $want and /$regex/: $*"
    fi
    printf '   exit %d as expected: %s\n' "$rc" "$(grep -Em1 -- "$regex" <<<"$out")"
}

# has FILE REGEX / lacks FILE REGEX
has() {
    grep -Eq -- "$2" "$1" || fail "no line matches /$2/ in $1: $(cat "$1")"
}
lacks() {
    if grep -Eq -- "$2" "$1"; then fail "a line matches /$2/ in $1: $(cat "$1")"; fi
}

# readable_errors CMD...: CMD fails with tpmkms's short error lines, not
# OpenSSL's "40E7...:error:0A000086:..." form.
readable_errors() {
    local f=$W/errors.txt
    if "$@" >"$f" 2>&1; then fail "expected failure: $*"; fi
    lacks "$f" ':error:[0-9A-Fa-f]{8}:'
    has "$f" '^tpmkms: '
}

step "--version, --help, and a missing or unknown command are usage errors"
tpmkms --version >"$W/version"
has "$W/version" '^tpmkms [0-9]+\.[0-9]+\.[0-9]+ \(OpenSSL 3\.'
tpmkms --help >"$W/help"
has "$W/help" '^  create +create a key'
tpmkms create --help >"$W/help-create"
has "$W/help-create" '^  --alg ALG +ec-p256 \(default\)'
tpmkms help delete >"$W/help-delete"
has "$W/help-delete" '^usage: tpmkms delete URI'
expect_code 0 'usage: tpmkms show URI' tpmkms show --help
expect_code 64 'missing the command' tpmkms
expect_code 64 "unknown command 'frobnicate'" tpmkms frobnicate
expect_code 64 "unknown option '--colour'" tpmkms list --colour=blue
expect_code 64 "'--alg' needs a value" tpmkms create 'tpmkms:name=x' --alg
expect_code 64 "unexpected argument 'extra'" tpmkms show 'tpmkms:name=x' extra
expect_code 64 "'web' is not a tpmkms: URI" tpmkms show web
expect_code 64 'missing the key URI' tpmkms delete

step "probe before setup: the TPM is described and the SRK is not persistent"
tpmkms probe >"$W/probe0"
has "$W/probe0" '^  manufacturer +[A-Z]'
has "$W/probe0" '^  firmware +[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ \(0x[0-9a-f]{8} 0x[0-9a-f]{8}\)$'
has "$W/probe0" '^  specification +2\.0, level [0-9]+, revision [0-9]+\.[0-9]{2}, [0-9]{4}$'
has "$W/probe0" '^  ECC curves +P-256 yes, P-384 yes'
has "$W/probe0" '^  RSA key sizes +.*2048 yes, 3072 yes'
has "$W/probe0" '^  hashes +.*SHA-256 yes'
has "$W/probe0" '^  signature schemes +ECDSA yes, RSASSA-PKCS1-v1_5 yes, RSASSA-PSS yes'
has "$W/probe0" '^  failed authorizations +[0-9]+ of [0-9]+$'
has "$W/probe0" '^  recovery interval +[0-9]+ s'
has "$W/probe0" '^  0x81000001 +not persistent$'
# shellcheck disable=SC2016 # literal backquotes in the hint
has "$W/probe0" 'run `tpmkms setup` to persist the SRK'

step "--tcti overrides TPMKMS_TCTI, both ways"
good=$TPMKMS_TCTI
expect_code 1 '^tpmkms: TPM unavailable' tpmkms --tcti 'swtpm:host=127.0.0.1,port=1' probe
expect_code 1 '^tpmkms: TPM unavailable' tpmkms probe --tcti 'swtpm:host=127.0.0.1,port=1'
TPMKMS_TCTI='swtpm:host=127.0.0.1,port=1' tpmkms probe --tcti "$good" >/dev/null

step "setup twice: created, then already in place"
[[ $(tpmkms setup) == 'created the SRK at 0x81000001' ]] || fail "first setup did not create the SRK"
[[ $(tpmkms setup) == 'the SRK at 0x81000001 is already in place' ]] ||
    fail "second setup did not find the SRK in place"
tpmkms probe >"$W/probe1"
has "$W/probe1" '^  0x81000001 +persistent$'
lacks "$W/probe1" 'tpmkms setup'

step "create a key of each algorithm; the printed URI has key-scope="
for alg in "${ALGS[@]}"; do
    uri=$(tpmkms create "tpmkms:name=k-$alg" --alg "$alg")
    [[ $uri == "tpmkms:name=k-$alg;key-scope=user" ]] || fail "create $alg printed '$uri'"
done
uri=$(tpmkms create 'tpmkms:name=default-alg')
[[ $uri == 'tpmkms:name=default-alg;key-scope=user' ]] || fail "create printed '$uri'"
uri=$(tpmkms create 'tpmkms:name=m1;key-scope=machine' --alg ec-p256)
[[ $uri == 'tpmkms:name=m1;key-scope=machine' ]] || fail "machine create printed '$uri'"
[[ -f $TPMKMS_MACHINE_STORE/keys/m1.tpmkey ]] || fail "m1 is not in the machine store"

step "show: the record's fields and a public key OpenSSL reads as that algorithm"
for alg in "${ALGS[@]}"; do
    tpmkms show "tpmkms:name=k-$alg" >"$W/show-$alg"
    has "$W/show-$alg" "^name: +k-$alg\$"
    has "$W/show-$alg" '^key-scope: +user$'
    has "$W/show-$alg" "^algorithm: +$alg\$"
    has "$W/show-$alg" '^created: +[0-9]{4}-[0-9]{2}-[0-9]{2}T'
    has "$W/show-$alg" '^persistent handle: +none'
    has "$W/show-$alg" "^store directory: +$XDG_DATA_HOME/tpmkms\$"
    has "$W/show-$alg" "^record: +$XDG_DATA_HOME/tpmkms/keys/k-$alg.tpmkey\$"
    has "$W/show-$alg" '^certificate: +none$'
    sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$W/show-$alg" >"$W/pub-$alg.pem"
    openssl pkey -pubin -in "$W/pub-$alg.pem" -noout -text >"$W/pub-$alg.txt"
done
has "$W/pub-ec-p256.txt" 'NIST CURVE: P-256'
has "$W/pub-ec-p384.txt" 'NIST CURVE: P-384'
has "$W/pub-rsa-2048.txt" 'Public-Key: \(2048 bit\)'
has "$W/pub-rsa-3072.txt" 'Public-Key: \(3072 bit\)'

step "create on an existing name fails without --force, replaces with --force"
expect_code 1 '^tpmkms: key exists: .*--force' tpmkms create 'tpmkms:name=k-ec-p256'
readable_errors tpmkms create 'tpmkms:name=k-ec-p256'
cmp -s "$W/pub-ec-p256.pem" <(tpmkms show 'tpmkms:name=k-ec-p256' |
    sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p') ||
    fail "a refused create changed the key"
tpmkms create 'tpmkms:name=k-ec-p256' --force >"$W/force.out" 2>"$W/force.err"
has "$W/force.out" '^tpmkms:name=k-ec-p256;key-scope=user$'
has "$W/force.err" 'replaced the existing key tpmkms:name=k-ec-p256;key-scope=user'
if cmp -s "$W/pub-ec-p256.pem" <(tpmkms show 'tpmkms:name=k-ec-p256' |
    sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p'); then
    fail "create --force kept the old key"
fi

step "list: every key, with key-scope=, algorithm and creation time"
tpmkms list >"$W/list"
for alg in "${ALGS[@]}"; do
    has "$W/list" "^tpmkms:name=k-$alg;key-scope=user +$alg +[0-9]{4}-[0-9]{2}-[0-9]{2}T"
done
has "$W/list" '^tpmkms:name=default-alg;key-scope=user +ec-p256 '
has "$W/list" '^tpmkms:name=m1;key-scope=machine +ec-p256 '
[[ $(wc -l <"$W/list") == 6 ]] || fail "list has not 6 lines: $(cat "$W/list")"
tpmkms list --scope machine >"$W/list-m"
[[ $(wc -l <"$W/list-m") == 1 ]] || fail "--scope machine: $(cat "$W/list-m")"
tpmkms list --storage-directory "$XDG_DATA_HOME/tpmkms" >"$W/list-d"
has "$W/list-d" "^tpmkms:name=k-rsa-2048;key-scope=user;storage-directory=.* rsa-2048 "
expect_code 64 "unknown --scope 'galaxy'" tpmkms list --scope galaxy

step "list: an unreadable machine store is a note, not a failure"
TPMKMS_MACHINE_STORE=$W/probe0 tpmkms list >"$W/list-u" 2>"$W/list-u.err"
has "$W/list-u.err" '^tpmkms: note: machine key store .*probe0'
[[ $(wc -l <"$W/list-u") == 5 ]] || fail "user keys not listed: $(cat "$W/list-u")"
expect_code 1 '^tpmkms: ' env TPMKMS_MACHINE_STORE="$W/probe0" tpmkms list --scope machine

step "delete: gone from list and show; a second delete is not found (exit 2)"
[[ $(tpmkms delete 'tpmkms:name=k-rsa-3072') == 'deleted tpmkms:name=k-rsa-3072;key-scope=user' ]] ||
    fail "delete did not say what it deleted"
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/k-rsa-3072.tpmkey ]] || fail "the record is still there"
tpmkms list >"$W/list2"
lacks "$W/list2" 'k-rsa-3072'
expect_code 2 '^tpmkms: key not found' tpmkms delete 'tpmkms:name=k-rsa-3072'
expect_code 2 '^tpmkms: key not found' tpmkms show 'tpmkms:name=k-rsa-3072'
readable_errors tpmkms show 'tpmkms:name=k-rsa-3072'

step "delete evicts a key's persistent handle"
# (delete evicts only the record's own key: see partial_delete.sh)
tpmkms create 'tpmkms:name=pers;key-scope=machine' --persistent 0x81000010 >/dev/null
tpmkms show 'tpmkms:name=pers' >"$W/show-pers"
has "$W/show-pers" '^persistent handle: +0x81000010$'
tpmkms delete 'tpmkms:name=pers' >"$W/del-pers"
has "$W/del-pers" '^evicted persistent handle 0x81000010$'
tpm2_getcap handles-persistent >"$W/handles"
lacks "$W/handles" '0x81000010'

step "delete whose handle is already gone from the TPM: complete, with a note"
tpmkms create 'tpmkms:name=gone' >/dev/null
sed -i 's/^created: .*/&\npersistent-handle: 0x81000011/' "$XDG_DATA_HOME/tpmkms/keys/gone.tpmkey"
tpmkms delete 'tpmkms:name=gone' >"$W/del-gone" 2>"$W/del-gone.err"
has "$W/del-gone" '^deleted tpmkms:name=gone;key-scope=user$'
has "$W/del-gone.err" '^tpmkms: note: persistent handle 0x81000011 was not in the TPM'

step "delete whose eviction fails (TPM unreachable): record removed, exit 3"
tpmkms create 'tpmkms:name=half' >/dev/null
tpm2_createprimary -Q -C o -g sha256 -G ecc -c "$W/prim2.ctx"
tpm2_evictcontrol -Q -C o -c "$W/prim2.ctx" 0x81000012
tpm2_flushcontext -t
sed -i 's/^created: .*/&\npersistent-handle: 0x81000012/' "$XDG_DATA_HOME/tpmkms/keys/half.tpmkey"
expect_code 3 '^tpmkms: partial delete: record removed, persistent handle 0x81000012 is still in the TPM: TPM unavailable' \
    tpmkms --tcti 'swtpm:host=127.0.0.1,port=1' delete 'tpmkms:name=half'
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/half.tpmkey ]] || fail "the record of half is still there"
tpm2_getcap handles-persistent >"$W/handles2"
has "$W/handles2" '0x81000012'

step "bad --alg is a usage error naming the value"
expect_code 64 "unknown --alg 'ec-p999'" tpmkms create 'tpmkms:name=z' --alg ec-p999
expect_code 64 'usage: tpmkms create' tpmkms create 'tpmkms:name=z' --alg=rsa-1024
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/z.tpmkey ]] || fail "a refused create left a record"

pass

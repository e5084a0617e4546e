#!/usr/bin/env bash
# A user finds keys by name through OpenSSL's store API (openssl storeutl)
# and lists and deletes them with the tpmkms command; list shows each key's
# URI with its key-scope, and a deleted key is gone for OpenSSL too.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap
start_swtpm
TPM=(-provider tpmkms -provider default)
user_keys=$XDG_DATA_HOME/tpmkms/keys
machine_keys=$TPMKMS_MACHINE_STORE/keys

# has_line FILE REGEX / lacks_line FILE REGEX
has_line() {
    grep -Eq -- "$2" "$1" || fail "no line matches /$2/ in: $(cat "$1")"
}
lacks_line() {
    if grep -Eq -- "$2" "$1"; then fail "a line matches /$2/ in: $(cat "$1")"; fi
}
WEB='tpmkms:name=web;key-scope=user([;[:space:]]|$)'
DB='tpmkms:name=db;key-scope=user([;[:space:]]|$)'
MACH='tpmkms:name=mach;key-scope=machine([;[:space:]]|$)'

step "tpmkms setup; an empty store lists nothing"
tpmkms setup
tpmkms list >"$TPMKMS_WORK/list0"
lacks_line "$TPMKMS_WORK/list0" 'tpmkms:'

step "create user keys web (ec-p256) and db (rsa-2048), machine key mach"
tpmkms create 'tpmkms:name=web' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=db;key-scope=user' --alg rsa-2048 >/dev/null
tpmkms create 'tpmkms:name=mach;key-scope=machine' --alg ec-p384 >/dev/null
[[ -f $user_keys/web.tpmkey && -f $user_keys/db.tpmkey ]] ||
    fail "no records for web and db in $user_keys"
[[ -f $machine_keys/mach.tpmkey ]] || fail "no record for mach in $machine_keys"

step "openssl storeutl finds tpmkms:name=web as one private key"
openssl storeutl -noout "${TPM[@]}" 'tpmkms:name=web' >"$TPMKMS_WORK/storeutl"
has_line "$TPMKMS_WORK/storeutl" '^0: Pkey$'
has_line "$TPMKMS_WORK/storeutl" '^Total found: 1$'

step "openssl storeutl finds the machine key by key-scope=machine"
openssl storeutl -noout "${TPM[@]}" 'tpmkms:name=mach;key-scope=machine' \
    >"$TPMKMS_WORK/storeutl"
has_line "$TPMKMS_WORK/storeutl" '^0: Pkey$'

step "tpmkms list shows every key by a URI with key-scope="
tpmkms list >"$TPMKMS_WORK/list"
has_line "$TPMKMS_WORK/list" "$WEB"
has_line "$TPMKMS_WORK/list" "$DB"
has_line "$TPMKMS_WORK/list" "$MACH"

step "tpmkms list --scope user / --scope machine show only that store"
tpmkms list --scope user >"$TPMKMS_WORK/list-user"
has_line "$TPMKMS_WORK/list-user" "$WEB"
has_line "$TPMKMS_WORK/list-user" "$DB"
lacks_line "$TPMKMS_WORK/list-user" 'name=mach'
tpmkms list --scope machine >"$TPMKMS_WORK/list-machine"
has_line "$TPMKMS_WORK/list-machine" "$MACH"
lacks_line "$TPMKMS_WORK/list-machine" 'name=(web|db)'

step "every URI tpmkms list prints loads in openssl"
grep -Eo 'tpmkms:[^[:space:]]+' "$TPMKMS_WORK/list" >"$TPMKMS_WORK/uris"
[[ $(wc -l <"$TPMKMS_WORK/uris") -eq 3 ]] ||
    fail "tpmkms list printed $(wc -l <"$TPMKMS_WORK/uris") URIs, not 3"
while read -r uri; do
    openssl pkey "${TPM[@]}" -in "$uri" -pubout -out /dev/null ||
        fail "openssl cannot load $uri, which tpmkms list printed"
done <"$TPMKMS_WORK/uris"

step "key-scope picks the key's store; store-location (the certificate's) does not move it"
# key-scope=machine;store-location=user: the record is in the machine store
# and says machine; an unscoped name still finds it (its scope is persisted).
tpmkms create 'tpmkms:name=split;key-scope=machine;store-location=user' \
    --alg ec-p256 >/dev/null
[[ -f $machine_keys/split.tpmkey && ! -e $user_keys/split.tpmkey ]] ||
    fail "key-scope=machine did not put split's record in $machine_keys"
grep -qx 'key-scope: machine' "$machine_keys/split.tpmkey" ||
    fail "split's record does not keep key-scope machine"
tpmkms list >"$TPMKMS_WORK/list"
has_line "$TPMKMS_WORK/list" 'tpmkms:name=split;key-scope=machine([;[:space:]]|$)'
openssl pkey "${TPM[@]}" -in 'tpmkms:name=split' -pubout -out /dev/null
openssl pkey "${TPM[@]}" -in 'tpmkms:name=split;store-location=user' -pubout -out /dev/null
split_uri=$(grep -Eo 'tpmkms:name=split;[^[:space:]]+' "$TPMKMS_WORK/list")
openssl pkey "${TPM[@]}" -in "$split_uri" -pubout -out /dev/null

step "without key-scope, the key takes its scope from store-location"
uri=$(tpmkms create 'tpmkms:name=derived;store-location=machine' --alg ec-p256)
[[ $uri == *key-scope=machine* ]] ||
    fail "key-scope was not derived from store-location=machine: $uri"
[[ -f $machine_keys/derived.tpmkey ]] || fail "no record for derived in $machine_keys"
tpmkms delete 'tpmkms:name=split' >/dev/null
tpmkms delete 'tpmkms:name=derived' >/dev/null

step "tpmkms delete removes web: its record, its listing, its store entry"
tpmkms delete 'tpmkms:name=web'
[[ ! -e $user_keys/web.tpmkey ]] || fail "$user_keys/web.tpmkey is still there"
tpmkms list >"$TPMKMS_WORK/list"
lacks_line "$TPMKMS_WORK/list" 'name=web'
has_line "$TPMKMS_WORK/list" "$DB"
has_line "$TPMKMS_WORK/list" "$MACH"

step "openssl storeutl on the deleted name fails naming the key"
expect_fail --provider-errors '\bweb\b' \
    openssl storeutl -noout "${TPM[@]}" 'tpmkms:name=web'
expect_fail '\bweb\b' tpmkms show 'tpmkms:name=web'

step "deleting it again fails naming the key"
expect_fail '\bweb\b' tpmkms delete 'tpmkms:name=web'

pass

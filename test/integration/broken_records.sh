#!/usr/bin/env bash
# A key store holding damaged records (truncated, writable by others, owned
# by someone else, an unknown or contradicting field) is listed with every
# good key still there and every damaged record named with why, never
# silently dropped: by `tpmkms list` (one "tpmkms: skipped PATH: REASON"
# line each on stderr, exit 1) and by `openssl storeutl tpmkms:` (an error
# per skipped record, the others listed).  `tpmkms show` of a record whose
# algorithm: contradicts its key names both.  A --storage-directory that is
# missing or a file is said as such.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap
(($(id -u) == 0)) || fail "must run as root: it gives a record to another owner"
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
keys=$XDG_DATA_HOME/tpmkms/keys

# has_line FILE REGEX / lacks_line FILE REGEX / count_is FILE REGEX N
has_line() {
    grep -Eq -- "$2" "$1" || fail "no line matches /$2/ in: $(cat "$1")"
}
lacks_line() {
    if grep -Eq -- "$2" "$1"; then fail "a line matches /$2/ in: $(cat "$1")"; fi
}
count_is() {
    local n
    n=$(grep -Ec -- "$2" "$1" || true)
    ((n == $3)) || fail "$n lines match /$2/, not $3, in: $(cat "$1")"
}
# list_into OUT ERR WANT_RC ARGS...: tpmkms list ARGS, stdout to OUT,
# stderr to ERR, exit WANT_RC exactly.
list_into() {
    local out=$1 err=$2 want=$3 rc=0
    shift 3
    tpmkms list "$@" >"$out" 2>"$err" || rc=$?
    ((rc == want)) || fail "tpmkms list $* exited $rc, not $want: $(cat "$out" "$err")"
}

step "good keys good1 (ec-p256) and good2 (rsa-2048); four to damage"
tpmkms setup
for k in good1 trunc wide other; do
    tpmkms create "tpmkms:name=$k" --alg ec-p256 >/dev/null
done
tpmkms create 'tpmkms:name=good2' --alg rsa-2048 >/dev/null
tpmkms create 'tpmkms:name=lies' --alg ec-p384 >/dev/null
tpmkms create 'tpmkms:name=field' --alg ec-p256 >/dev/null
list_into "$W/list0" "$W/err0" 0
count_is "$W/list0" '^tpmkms:name=' 7
[[ ! -s $W/err0 ]] || fail "an intact store listed with stderr: $(cat "$W/err0")"

step "damage them: truncate, chmod 0666, chown to another user, alter algorithm:, add an unknown field"
head -c 60 "$keys/trunc.tpmkey" >"$W/t" && cat "$W/t" >"$keys/trunc.tpmkey"
chmod 0666 "$keys/wide.tpmkey"
chown 65534 "$keys/other.tpmkey"
sed -i 's/^algorithm: ec-p384$/algorithm: ec-p256/' "$keys/lies.tpmkey"
grep -qx 'algorithm: ec-p256' "$keys/lies.tpmkey" || fail "could not edit lies's algorithm"
sed -i 's/^created: /colour: blue\ncreated: /' "$keys/field.tpmkey"

step "tpmkms list: the good keys on stdout, one skipped line per damaged record, exit 1"
list_into "$W/list" "$W/err" 1
has_line "$W/list" '^tpmkms:name=good1;key-scope=user +ec-p256 '
has_line "$W/list" '^tpmkms:name=good2;key-scope=user +rsa-2048 '
count_is "$W/list" '^tpmkms:name=' 2
cat "$W/err"
count_is "$W/err" '.' 5
count_is "$W/err" '^tpmkms: skipped ' 5
has_line "$W/err" "^tpmkms: skipped $keys/trunc\\.tpmkey: bad key record: "
has_line "$W/err" "^tpmkms: skipped $keys/wide\\.tpmkey: insecure key store: .*writable by group or others"
has_line "$W/err" "^tpmkms: skipped $keys/other\\.tpmkey: insecure key store: .*owned by .*not by the calling user"
has_line "$W/err" "^tpmkms: skipped $keys/lies\\.tpmkey: bad key record: $keys/lies\\.tpmkey: field algorithm: the record says ec-p256 but its key is ec-p384$"
has_line "$W/err" "^tpmkms: skipped $keys/field\\.tpmkey: bad key record: .*colour"

step "tpmkms list --storage-directory and --scope user say the same"
list_into "$W/list-sd" "$W/err-sd" 1 --storage-directory "$XDG_DATA_HOME/tpmkms"
count_is "$W/list-sd" '^tpmkms:name=' 2
count_is "$W/err-sd" '^tpmkms: skipped ' 5
list_into "$W/list-u" "$W/err-u" 1 --scope user
count_is "$W/list-u" '^tpmkms:name=' 2
count_is "$W/err-u" '^tpmkms: skipped ' 5

step "openssl storeutl tpmkms: lists the good keys and raises an error per damaged record"
rc=0
openssl storeutl -noout "${TPM[@]}" 'tpmkms:' >"$W/su" 2>"$W/su-err" || rc=$?
cat "$W/su" "$W/su-err"
((rc != 0)) || fail "storeutl tpmkms: exited 0 with damaged records in the store"
has_line "$W/su" 'tpmkms:name=good1;key-scope=user$'
has_line "$W/su" 'tpmkms:name=good2;key-scope=user$'
count_is "$W/su" '^[0-9]+: Name: ' 2
has_line "$W/su" '^Total found: 2$'
for what in "trunc.tpmkey: bad key record" "wide.tpmkey: insecure key store" \
        "other.tpmkey: insecure key store" "lies.tpmkey: bad key record: .*field algorithm: the record says ec-p256 but its key is ec-p384" \
        "field.tpmkey: bad key record"; do
    has_line "$W/su-err" ":error:[0-9A-Fa-f]{8}:tpmkms:.*skipped $keys/$what"
done

step "tpmkms show of the record whose algorithm contradicts its key: names both, exit 1"
expect_exit 1 "bad key record: $keys/lies\\.tpmkey: field algorithm: the record says ec-p256 but its key is ec-p384" \
    tpmkms show 'tpmkms:name=lies'
rc=0
tpmkms show 'tpmkms:name=lies' >"$W/show-out" 2>/dev/null || rc=$?
[[ ! -s $W/show-out ]] || fail "show printed the contradicted record: $(cat "$W/show-out")"
expect_fail --provider-errors 'record says ec-p256 but its key is ec-p384' \
    openssl pkey "${TPM[@]}" -in 'tpmkms:name=lies' -pubout

step "a store with only good keys again lists with exit 0"
rm "$keys"/{trunc,wide,other,lies,field}.tpmkey
list_into "$W/list2" "$W/err2" 0
count_is "$W/list2" '^tpmkms:name=' 2
[[ ! -s $W/err2 ]] || fail "stderr: $(cat "$W/err2")"
openssl storeutl -noout "${TPM[@]}" 'tpmkms:' >"$W/su2"
has_line "$W/su2" '^Total found: 2$'

step "--storage-directory that does not exist: said, exit 2; the default stores never made: exit 0"
expect_exit 2 "key not found: --storage-directory $W/nonexistent does not exist" \
    tpmkms list --storage-directory "$W/nonexistent"
env HOME="$W/nohome" XDG_DATA_HOME="$W/nohome/.local/share" \
    TPMKMS_MACHINE_STORE="$W/nomachine" tpmkms list >"$W/list3" 2>"$W/err3" ||
    fail "tpmkms list with no stores made failed: $(cat "$W/list3" "$W/err3")"
[[ ! -s $W/list3 && ! -s $W/err3 ]] || fail "no stores: $(cat "$W/list3" "$W/err3")"

step "a storage-directory that is a regular file: 'is not a directory' with its path"
printf 'not a store\n' >"$W/afile"
expect_exit 1 "$W/afile is not a directory" tpmkms list --storage-directory "$W/afile"
expect_exit 1 "$W/afile is not a directory" \
    tpmkms create "tpmkms:name=x;storage-directory=$W/afile"
expect_exit 1 "$W/afile is not a directory" \
    tpmkms show "tpmkms:name=x;storage-directory=$W/afile"
expect_exit 1 "$W/afile is not a directory" \
    tpmkms delete "tpmkms:name=x;storage-directory=$W/afile"
expect_exit 1 "$W/afile is not a directory" \
    env TPMKMS_MACHINE_STORE="$W/afile" tpmkms create 'tpmkms:name=x;key-scope=machine'
out=$(tpmkms create "tpmkms:name=x;storage-directory=$W/afile" 2>&1) || true
if grep -qi 'permission denied' <<<"$out"; then
    fail "a file as the store still says permission denied: $out"
fi

pass

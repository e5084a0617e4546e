#!/usr/bin/env bash
# Concurrent create, delete and list in one key store (issue 20, 'Load'):
# 40 creates at once (8 at a time), then 20 deletes at once beside 20
# lists; afterwards exactly the 20 keys that were not deleted are listed,
# each shows and signs, no record is cut (every one parses: list exits 0
# and names no skipped record), none is duplicated and no temporary file
# is left in the store.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program xargs timeout
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
STORE=$XDG_DATA_HOME/tpmkms/keys

step "tpmkms setup; 40 keys created at once, 8 at a time"
tpmkms setup >/dev/null
seq -w 1 40 | timeout 300 xargs -P 8 -I{} sh -c \
    'tpmkms create "tpmkms:name=k{}" --alg ec-p256 >/dev/null' ||
    fail "a concurrent create failed"
n=$(tpmkms list | grep -c '^tpmkms:name=k')
((n == 40)) || fail "expected 40 keys after the creates, list shows $n"

step "20 deletes at once beside 20 lists"
{
    seq -w 1 20 | sed 's/^/delete /'
    seq 1 20 | sed 's/^.*$/list x/'
} | shuf | timeout 300 xargs -P 8 -L 1 sh -c '
    case $0 in
    delete) tpmkms delete "tpmkms:name=k$1" >/dev/null ;;
    list) tpmkms list >/dev/null ;;
    esac' || fail "a concurrent delete or list failed"

step "exactly the 20 keys not deleted remain, whole"
tpmkms list >"$W/list" 2>"$W/list.err" || {
    cat "$W/list.err" >&2
    fail "tpmkms list failed after the concurrent operations"
}
[[ ! -s $W/list.err ]] || { cat "$W/list.err" >&2; fail "list reported problems"; }
expected=$(seq -w 21 40 | sed 's/^/tpmkms:name=k/;s/$/;key-scope=user/')
got=$(awk '/^tpmkms:name=k/ { print $1 }' "$W/list" | sort)
[[ $got == "$expected" ]] || {
    diff <(printf '%s\n' "$expected") <(printf '%s\n' "$got") >&2 || true
    fail "the listed keys differ from the 20 that were not deleted"
}
leftovers=$(find "$STORE" -name '.*' -type f | head)
[[ -z $leftovers ]] || fail "temporary files left in the store: $leftovers"

step "each remaining key shows and signs"
openssl dgst -sha256 -binary -out "$W/dg" /etc/hostname
for i in $(seq -w 21 40); do
    tpmkms show "tpmkms:name=k$i" >/dev/null || fail "show k$i failed"
done
for i in 21 30 40; do
    openssl pkeyutl -sign "${TPM[@]}" -inkey "tpmkms:name=k$i" -in "$W/dg" \
        -out "$W/sig" || fail "k$i does not sign"
done

pass

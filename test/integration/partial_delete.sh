#!/usr/bin/env bash
# Deleting a persistent machine key when the TPM half does not go as planned.
#
# tpmkms delete removes the record first, then the certificate, then evicts
# the persistent handle.  A handle someone already evicted (or reused for
# another key) leaves nothing of ours in the TPM: the delete is complete,
# with a note, and the other key is left alone.  A TPM that refuses the
# eviction (owner auth set) or does not answer (swtpm stopped) is a partial
# delete: exit 3, reason "partial delete", naming the handle left and how to
# evict it; the record and certificate are gone all the same.  Deleting the
# name again is "key not found" (exit 2), and `tpmkms delete
# tpmkms:handle=...` evicts what was left.  A delete that changes nothing
# (a total failure) is exit 1 or 4 and leaves record, certificate and handle.
# The key signs through its handle: evicting it behind our back breaks
# signing.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_evictcontrol tpm2_changeauth tpm2_createprimary \
    tpm2_flushcontext
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
MKEYS=$TPMKMS_MACHINE_STORE/keys
MCERTS=$TPMKMS_MACHINE_STORE/certs

# new_key NAME HANDLE: a persistent machine key with a certificate.
new_key() {
    tpmkms create "tpmkms:name=$1;key-scope=machine" --persistent "$2" >/dev/null
    openssl req -x509 "${TPM[@]}" -key "tpmkms:name=$1;key-scope=machine" \
        -subj "/CN=$1" -days 1 -out "$W/$1.crt"
    tpmkms cert import "tpmkms:name=$1;key-scope=machine" "$W/$1.crt" >/dev/null
    [[ -f $MKEYS/$1.tpmkey && -f $MCERTS/$1.pem ]] || fail "no record or certificate for $1"
    has_handle "$2"
}
gone() {
    [[ ! -e $MKEYS/$1.tpmkey ]] || fail "the record of $1 is still there"
    [[ ! -e $MCERTS/$1.pem ]] || fail "the certificate of $1 is still there"
}

printf 'data\n' >"$W/msg"

step "tpmkms setup; a persistent machine key at 0x81000010 with a certificate"
tpmkms setup
new_key pk 0x81000010
grep -qx 'persistent-handle: 0x81000010' "$MKEYS/pk.tpmkey" || fail "the record does not keep its handle"
tpmkms show 'tpmkms:name=pk' >"$W/show"
grep -q '^persistent handle: *0x81000010' "$W/show" || fail "show does not say the handle: $(cat "$W/show")"
openssl dgst -sha256 "${TPM[@]}" -sign 'tpmkms:name=pk' -out "$W/sig" "$W/msg"
openssl x509 -in "$W/pk.crt" -noout -pubkey >"$W/pk.pub"
openssl dgst -sha256 -verify "$W/pk.pub" -signature "$W/sig" "$W/msg" >/dev/null

step "tpmkms:handle= refuses a handle a record names, and the SRK"
expect_exit 1 "belongs to the machine key 'pk'" tpmkms delete 'tpmkms:handle=0x81000010'
expect_exit 1 'SRK' tpmkms delete 'tpmkms:handle=0x81000001'
has_handle 0x81000010

step "a total failure changes nothing: record, certificate and handle stay (exit 1)"
chmod g+w "$MKEYS"
expect_exit 1 'insecure key store' tpmkms delete 'tpmkms:name=pk'
chmod g-w "$MKEYS"
[[ -f $MKEYS/pk.tpmkey && -f $MCERTS/pk.pem ]] || fail "a failed delete removed something"
has_handle 0x81000010

step "evicted behind our back: signing (through the handle) fails; delete is complete, with a note"
tpm2_evictcontrol -C o -c 0x81000010 >/dev/null
expect_fail --provider-errors 'no persistent key at handle 0x81000010' \
    openssl dgst -sha256 "${TPM[@]}" -sign 'tpmkms:name=pk' -out "$W/sig" "$W/msg"
tpmkms delete 'tpmkms:name=pk' >"$W/out" 2>&1 || fail "delete failed: $(cat "$W/out")"
grep -q 'note: persistent handle 0x81000010 was not in the TPM.*nothing to evict' "$W/out" || fail "no note about the missing handle: $(cat "$W/out")"
gone pk
expect_exit 2 "key not found: key 'pk' not found" tpmkms delete 'tpmkms:name=pk'

step "a handle reused for another key: signing refuses it, delete leaves it alone"
new_key pr 0x81000011
tpm2_evictcontrol -C o -c 0x81000011 >/dev/null
tpm2_createprimary -C o -c "$W/other.ctx" >/dev/null
tpm2_evictcontrol -C o -c "$W/other.ctx" 0x81000011 >/dev/null
tpm2_flushcontext -t    # no resource manager: tpm2-tools leave it loaded
expect_fail --provider-errors '0x81000011 holds another key.*refusing to sign' \
    openssl dgst -sha256 "${TPM[@]}" -sign 'tpmkms:name=pr' -out "$W/sig" "$W/msg"
tpmkms delete 'tpmkms:name=pr' >"$W/out" 2>&1 || fail "delete failed: $(cat "$W/out")"
grep -q '0x81000011 now holds a different .*left alone' "$W/out" || fail "no note: $(cat "$W/out")"
gone pr
has_handle 0x81000011
tpm2_evictcontrol -C o -c 0x81000011 >/dev/null

step "the TPM refuses the eviction (owner auth set): partial delete, exit 3, record and certificate gone"
new_key pa 0x81000012
tpm2_changeauth -c o owner-secret
expect_exit 3 "partial delete: record removed, persistent handle 0x81000012 is still in the TPM: authorization failed.*tpmkms delete 'tpmkms:handle=0x81000012'" \
    tpmkms delete 'tpmkms:name=pa'
gone pa
has_handle 0x81000012
step "deleting it again: key not found (exit 2), not the same failure"
expect_exit 2 "key not found: key 'pa' not found" tpmkms delete 'tpmkms:name=pa'
step "the leftover handle goes with tpmkms delete tpmkms:handle=..., given the owner auth in TPMKMS_OWNER_AUTH_FILE"
printf 'not-the-secret\n' >"$W/owner.bad"
printf 'owner-secret\n' >"$W/owner.pw"
chmod 600 "$W/owner.bad" "$W/owner.pw"
TPMKMS_OWNER_AUTH_FILE=$W/owner.bad expect_fail 'authorization failed.*TPMKMS_OWNER_AUTH_FILE' \
    tpmkms delete 'tpmkms:handle=0x81000012'
has_handle 0x81000012
TPMKMS_OWNER_AUTH_FILE=$W/no-such-file expect_fail 'cannot read the owner auth file .*no-such-file' \
    tpmkms delete 'tpmkms:handle=0x81000012'
TPMKMS_OWNER_AUTH_FILE=$W/owner.pw tpmkms delete 'tpmkms:handle=0x81000012'
lacks_handle 0x81000012
tpm2_changeauth -c o -p owner-secret
expect_exit 2 'no persistent object at 0x81000012' tpmkms delete 'tpmkms:handle=0x81000012'

step "swtpm stopped: partial delete, exit 3, naming the handle; a second delete is key not found"
new_key ps 0x81000013
"$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" stop "$W/swtpm"
expect_exit 3 'partial delete: record removed, persistent handle 0x81000013 is still in the TPM: TPM unavailable' \
    tpmkms delete 'tpmkms:name=ps'
gone ps
expect_exit 2 "key not found: key 'ps' not found" tpmkms delete 'tpmkms:name=ps'
step "swtpm back: the handle is still there and tpmkms:handle= evicts it"
TPMKMS_TCTI=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$W/swtpm")
export TPMKMS_TCTI TPM2TOOLS_TCTI=$TPMKMS_TCTI
has_handle 0x81000013
tpmkms delete 'tpmkms:handle=0x81000013'
lacks_handle 0x81000013
[[ $(persistent_handles | tr '\n' ' ') == '0x81000001 ' ]] ||
    fail "persistent handles left: $(persistent_handles | tr '\n' ' ')"

pass

#!/usr/bin/env bash
# Deleting a persistent machine key through a TPM other than the one that
# made it (issue 20, defect 6).
#
# On the other TPM the key's handle is empty (or holds another key), which
# is also what a handle evicted behind our back looks like; before, the
# delete completed (exit 0, record gone) and the key stayed in the real
# TPM.  A record now keeps which TPM made its key (tpm:, the SRK's TPM
# name), so through another TPM the delete is refused (exit 1, "key made
# by another TPM", both identities, "nothing was changed") and record,
# certificate and handle stay; through the TPM that made it, it goes.
# `create --force` over the key through the other TPM is refused the same
# way.  A record written before tpm: existed (the field edited out) cannot
# tell: it deletes as before, with the note.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_readpublic tpm2_evictcontrol
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
MKEYS=$TPMKMS_MACHINE_STORE/keys
MCERTS=$TPMKMS_MACHINE_STORE/certs
REAL=$TPMKMS_TCTI

step "a second swtpm (the other TPM); tpmkms setup on both"
OTHER=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$W/other")
on_exit "\"$TPMKMS_SOURCE_DIR/scripts/swtpm.sh\" stop \"$W/other\""
[[ $OTHER != "$REAL" ]] || fail "the second swtpm has the first one's TCTI"
tpmkms setup >/dev/null
tpmkms --tcti "$OTHER" setup >/dev/null

has_handle() {     # TCTI HANDLE
    tpm2_getcap -T "$1" handles-persistent | tr -d '\055 ' | grep -ix "$2" >/dev/null
}

step "a persistent machine key at 0x81000010 on the real TPM, with a certificate; its record names that TPM"
URI='tpmkms:name=pk;key-scope=machine'
tpmkms create "$URI" --persistent 0x81000010 >/dev/null
openssl req -x509 "${TPM[@]}" -key "$URI" -subj /CN=pk -days 1 -out "$W/pk.crt"
tpmkms cert import "$URI" "$W/pk.crt" >/dev/null
id=$(sed -n 's/^tpm: \([0-9a-f]*\)$/\1/p' "$MKEYS/pk.tpmkey")
[[ $id =~ ^000b[0-9a-f]{64}$ ]] || fail "the record keeps no SHA-256 TPM name: '$id'"
# It is the SRK's name on the real TPM.
srk_name=$(TPM2TOOLS_TCTI=$REAL tpm2_readpublic -c 0x81000001 | sed -n 's/^name: *//p')
[[ $srk_name == "$id" ]] || fail "tpm: $id is not the SRK's name $srk_name"
tpmkms show "$URI" >"$W/show"
grep -q "^tpm (its SRK name): *$id\$" "$W/show" || fail "show does not print the TPM: $(cat "$W/show")"
TPM2TOOLS_TCTI=$REAL tpm2_readpublic -c 0x81000010 >/dev/null
openssl x509 -in "$W/pk.crt" -noout -pubkey >"$W/pk.pub"

step "delete through the other TPM: refused (exit 1), naming both TPMs; nothing changed"
expect_exit 1 "key made by another TPM: tpmkms:name=pk;key-scope=machine was made by another TPM than the one connected \\($OTHER\\): its record names the TPM whose SRK name is ${id:4:12}\\.\\.\\., this TPM's is [0-9a-f]{12}\\.\\.\\.; nothing was changed: the record .*/keys/pk.tpmkey and persistent handle 0x81000010 stay" \
    tpmkms --tcti "$OTHER" delete "$URI"
[[ -f $MKEYS/pk.tpmkey && -f $MCERTS/pk.pem ]] || fail "the record or certificate went"
TPM2TOOLS_TCTI=$REAL tpm2_readpublic -c 0x81000010 >"$W/rp" || fail "0x81000010 left the real TPM"
has_handle "$REAL" 0x81000010 || fail "0x81000010 is not in the real TPM"
# The URI's tcti= is the same other TPM.
expect_exit 1 "key made by another TPM.*nothing was changed" \
    tpmkms delete "$URI;tcti=$OTHER"
step "create --force over it through the other TPM: refused as well, nothing changed"
expect_exit 1 "key made by another TPM.*nothing was changed: its record and persistent handle 0x81000010 stay" \
    tpmkms --tcti "$OTHER" create "$URI" --persistent 0x81000011 --force
grep -q "^tpm: $id\$" "$MKEYS/pk.tpmkey" || fail "the record was replaced"
has_handle "$OTHER" 0x81000011 && fail "the other TPM got a persistent key"
has_handle "$REAL" 0x81000010 || fail "0x81000010 is not in the real TPM"
step "the key still signs in the real TPM"
printf 'data\n' >"$W/msg"
openssl dgst -sha256 "${TPM[@]}" -sign "$URI" -out "$W/sig" "$W/msg"
openssl dgst -sha256 -verify "$W/pk.pub" -signature "$W/sig" "$W/msg" >/dev/null

step "delete through the TPM that made it: record, certificate and handle go"
tpmkms delete "$URI" >"$W/del" 2>&1
grep -q 'evicted persistent handle 0x81000010' "$W/del" || fail "delete said: $(cat "$W/del")"
[[ ! -e $MKEYS/pk.tpmkey && ! -e $MCERTS/pk.pem ]] || fail "record or certificate left"
has_handle "$REAL" 0x81000010 && fail "0x81000010 is still in the real TPM"

step "a record without tpm: (written before it existed): through the other TPM, deleted as before, with the note"
tpmkms create 'tpmkms:name=old;key-scope=machine' --persistent 0x81000012 >/dev/null
sed -i '/^tpm: /d' "$MKEYS/old.tpmkey"
grep -q '^tpm:' "$MKEYS/old.tpmkey" && fail "tpm: was not edited out"
tpmkms show 'tpmkms:name=old;key-scope=machine' >"$W/show-old"
grep -q '^tpm (its SRK name): *not recorded' "$W/show-old" ||
    fail "show of an old record does not say the TPM is not recorded: $(cat "$W/show-old")"
tpmkms --tcti "$OTHER" delete 'tpmkms:name=old;key-scope=machine' >"$W/old" 2>&1 ||
    fail "delete of an old record failed: $(cat "$W/old")"
grep -q 'persistent handle 0x81000012 was not in the TPM as this key' "$W/old" ||
    fail "no note: $(cat "$W/old")"
[[ ! -e $MKEYS/old.tpmkey ]] || fail "the old record is still there"
# What an old record cannot tell: the key is left in the real TPM.
has_handle "$REAL" 0x81000012 || fail "0x81000012 was expected to stay in the real TPM"
tpmkms delete 'tpmkms:handle=0x81000012' >/dev/null
has_handle "$REAL" 0x81000012 && fail "0x81000012 was not evicted"

step "same TPM, handle evicted behind our back: as before (exit 0 with the note)"
tpmkms create 'tpmkms:name=gone;key-scope=machine' --persistent 0x81000013 >/dev/null
tpmkms delete 'tpmkms:handle=0x81000013' 2>/dev/null && fail "tpmkms:handle= evicted a handle a record names"
TPM2TOOLS_TCTI=$REAL tpm2_evictcontrol -C o -c 0x81000013 >/dev/null
tpmkms delete 'tpmkms:name=gone;key-scope=machine' >"$W/gone" 2>&1 || fail "delete failed: $(cat "$W/gone")"
grep -q 'persistent handle 0x81000013 was not in the TPM as this key' "$W/gone" || fail "no note: $(cat "$W/gone")"

pass

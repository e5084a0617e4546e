#!/usr/bin/env bash
# A program that signs with a TPM key and exits without freeing it (many
# do) leaves nothing loaded in the TPM: OpenSSL's exit handler tears the
# provider down, and tpmkms flushes what this process loaded then.  On a
# TPM without a resource manager (swtpm here, /dev/tpm0 on a machine) a
# key left loaded would take one of its three object slots until the TPM
# is reset.  Checked with tpm2_getcap handles-transient after each exit,
# and with the process's own TPM commands (pcap): the last one is the
# key's TPM2_FlushContext.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program tshark tpm2_getcap
start_swtpm
# tpm2-tools are fixtures, run without the test's OPENSSL_CONF (see
# many_keys.sh).
fixture() { env -u OPENSSL_CONF "$@"; }
W=$TPMKMS_WORK
PROG=$TPMKMS_BUILD_DIR/test/exit_holding_key
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR --target exit_holding_key)"

transient() { fixture tpm2_getcap -T "$TPMKMS_TCTI" handles-transient | tr -d '\n'; }

step "tpmkms setup; an EC P-256 and an RSA-2048 key"
tpmkms setup >/dev/null
ec=$(tpmkms create tpmkms:name=exit-ec --alg ec-p256)
rsa=$(tpmkms create tpmkms:name=exit-rsa --alg rsa-2048)
[[ -z $(transient) ]] || fail "objects loaded before the test: $(transient)"

n=0
for how in --return --exit; do
    for uri in "$ec" "$rsa"; do
        n=$((n + 1))
        step "sign, then ${how#--} without freeing the key: $uri"
        out=$(TPMKMS_TCTI=pcap:$TPMKMS_TCTI TCTI_PCAP_FILE=$W/exit-$n.pcap "$PROG" "$how" "$uri") ||
            fail "exit_holding_key $how $uri failed"
        [[ $out == signed ]] || fail "exit_holding_key printed '$out', not 'signed'"
        left=$(transient)
        [[ -z $left ]] || fail "the key is still loaded in the TPM after the process exited: $left"
        got=$(tpm_commands "$W/exit-$n.pcap")
        [[ $got == "ReadPublic Load Sign FlushContext" ]] ||
            fail "TPM commands: $(tpm_by_name "$got"), want ReadPublic Load Sign FlushContext"
        printf '   %s\n' "$(tpm_by_name "$got")"
    done
done

pass

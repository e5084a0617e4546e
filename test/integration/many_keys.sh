#!/usr/bin/env bash
# 50 TPM keys used in turn by one process, straight on swtpm (no resource
# manager, three object slots): 50 keys made with `tpmkms create`, one
# process opens all 50 through OSSL_STORE and signs with each in turn, two
# rounds, every signature verified.  The TPM commands (pcap TCTI) show the
# object budget: never more than two keys loaded, the least recently used
# flushed before the next is loaded, all flushed at exit.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program tshark tpm2_getcap
start_swtpm
# tpm2-tools are fixtures here, run without the test's
# OPENSSL_CONF: in a sanitizer build they cannot load an instrumented
# tpmkms.so that a global configuration activates.
fixture() { env -u OPENSSL_CONF "$@"; }
W=$TPMKMS_WORK
PROG=$TPMKMS_BUILD_DIR/test/many_keys
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR --target many_keys)"
N=50

step "tpmkms setup; create $N keys (every tenth RSA-2048, the others EC P-256)"
tpmkms setup
uris=()
for ((i = 0; i < N; i++)); do
    alg=ec-p256
    if ((i % 10 == 9)); then alg=rsa-2048; fi
    uris+=("$(tpmkms create "tpmkms:name=many-$i" --alg "$alg")")
done
((${#uris[@]} == N)) || fail "made ${#uris[@]} keys, not $N"
[[ $(tpmkms list | grep -c '^tpmkms:name=many-') == "$N" ]] ||
    fail "tpmkms list does not show $N keys"

step "one process opens all $N keys, signs with each in turn, twice round"
TPMKMS_TCTI=pcap:$TPMKMS_TCTI TCTI_PCAP_FILE=$W/many.pcap "$PROG" --rounds 2 "${uris[@]}" ||
    fail "not every signature of $N keys x 2 rounds verified"

step "at most two keys loaded at a time: LRU flush before each load, all flushed at exit"
want="ReadPublic Load Sign Load Sign"
for ((i = 2; i < 2 * N; i++)); do want+=" FlushContext Load Sign"; done
want+=" FlushContext FlushContext"
got=$(tpm_commands "$W/many.pcap")
[[ $got == "$want" ]] || {
    printf 'got:  %s\nwant: %s\n' "$(tpm_by_name "$got")" "$(tpm_by_name "$want")" >&2
    fail "the TPM commands are not the expected object budget sequence"
}
[[ -z $(tpm_errors "$W/many.pcap") ]] || fail "TPM errors: $(tpm_errors "$W/many.pcap")"
printf '   %s\n' "$(tpm_by_name "$got")"
[[ -z $(fixture tpm2_getcap -T "$TPMKMS_TCTI" handles-transient) ]] ||
    fail "objects left loaded: $(fixture tpm2_getcap -T "$TPMKMS_TCTI" handles-transient | tr -d '\n')"

pass

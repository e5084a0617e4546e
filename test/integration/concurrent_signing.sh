#!/usr/bin/env bash
# One TPM key, opened once with OSSL_STORE, used by 8 threads at once, each
# with its own EVP_MD_CTX (EVP_DigestSign): every signature verifies, none
# fails ("Esys called in bad sequence" is what a provider without a lock
# gives).  EC P-256, RSA-2048 PKCS#1 v1.5 and RSA-PSS, straight on swtpm.
# The TPM commands (pcap TCTI) show the threads taking turns on one
# connection and one loaded key: one TPM2_Load, then one TPM2_Sign per
# signature.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program tshark
start_swtpm
W=$TPMKMS_WORK
PROG=$TPMKMS_BUILD_DIR/test/concurrent_signing
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR --target concurrent_signing)"
THREADS=8

# threads NAME SIGNS ARGS...: THREADS x SIGNS signatures through a pcap TCTI.
threads() {
    local name=$1 signs=$2 want got
    shift 2
    TPMKMS_TCTI=pcap:$TPMKMS_TCTI TCTI_PCAP_FILE=$W/$name.pcap \
        "$PROG" --threads "$THREADS" --signs "$signs" "$@" ||
        fail "$name: not every signature of $THREADS threads verified"
    want="ReadPublic Load Sign×$((THREADS * signs)) FlushContext"
    got=$(tpm_by_name "$(tpm_commands "$W/$name.pcap")")
    [[ $got == "$want" ]] ||
        fail "$name: TPM commands were \"$got\", expected \"$want\""
    printf '   TPM commands: %s\n' "$got"
}

step "tpmkms setup; create an EC P-256 and an RSA-2048 key"
tpmkms setup
tpmkms create 'tpmkms:name=threads-ec' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=threads-rsa' --alg rsa-2048 >/dev/null

step "EC P-256: $THREADS threads x 25 ECDSA-SHA256 signatures at once"
threads ec 25 'tpmkms:name=threads-ec'

step "EC P-256: $THREADS threads x 10 ECDSA-SHA384 signatures at once"
threads ec384 10 --md SHA384 'tpmkms:name=threads-ec'

step "RSA-2048: $THREADS threads x 10 PKCS#1 v1.5 signatures at once"
threads rsa 10 'tpmkms:name=threads-rsa'

step "RSA-2048: $THREADS threads x 10 RSA-PSS signatures at once"
threads pss 10 --pss 'tpmkms:name=threads-rsa'

pass

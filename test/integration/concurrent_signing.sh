#!/usr/bin/env bash
# One TPM key, opened once with OSSL_STORE, used by 8 threads at once, each
# with its own EVP_MD_CTX (EVP_DigestSign): every signature verifies, none
# fails ("Esys called in bad sequence" is what a provider without a lock
# gives).  EC P-256 (SHA-256, SHA-384), RSA-2048 PKCS#1 v1.5 and RSA-PSS,
# straight on swtpm.  (That threads share one connection and one loaded
# key, one TPM2_Sign per signature, is counted in tpm_command_counts.sh.)
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

start_swtpm
W=$TPMKMS_WORK
PROG=$TPMKMS_BUILD_DIR/test/concurrent_signing
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR --target concurrent_signing)"
THREADS=8

# threads NAME SIGNS ARGS...: THREADS x SIGNS signatures at once.
threads() {
    local name=$1 signs=$2
    shift 2
    "$PROG" --threads "$THREADS" --signs "$signs" "$@" >"$W/$name.log" 2>&1 || {
        cat "$W/$name.log" >&2
        fail "$name: not every signature of $THREADS threads verified"
    }
    grep -q "$((THREADS * signs)) verified, 0 failed" "$W/$name.log" || {
        cat "$W/$name.log" >&2
        fail "$name: the program did not report $((THREADS * signs)) verified signatures"
    }
    tail -n 1 "$W/$name.log"
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

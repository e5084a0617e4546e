#!/usr/bin/env bash
# The shipped programs run clean under valgrind memcheck against swtpm: the
# tpmkms command through a key's life (setup, create, show, list, delete)
# and `openssl pkeyutl -sign` / `openssl pkey -pubout` through the provider
# (OPENSSL_MODULES at the build), with an EC and an RSA key.  Every run is
# valgrind --error-exitcode=1 --leak-check=full
# --errors-for-leak-kinds=definite: an invalid read or write, a use of an
# uninitialised value or a definite leak fails the test, with valgrind's
# report printed.  test/valgrind.supp holds the reports suppressed (inside
# libcrypto and tpm2-tss only), each with its reason.
# Needs a build without sanitizers (ctest label valgrind, scripts/test.sh).
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program valgrind openssl
grep -q '^TPMKMS_SANITIZE:BOOL=ON' "$TPMKMS_BUILD_DIR/CMakeCache.txt" 2>/dev/null &&
    fail "$TPMKMS_BUILD_DIR is a sanitizer build: valgrind cannot run ASan programs"
start_swtpm
W=$TPMKMS_WORK
SUPP=$TPMKMS_SOURCE_DIR/test/valgrind.supp
[[ -f $SUPP ]] || fail "no $SUPP"
TPM=(-provider tpmkms -provider default)
runs=0

# vg CMD...: CMD under memcheck; fails the test on a valgrind error or a
# failing CMD, printing valgrind's log.
vg() {
    local log rc=0
    runs=$((runs + 1))
    log=$W/valgrind.$runs.log
    valgrind --quiet --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --track-origins=yes --num-callers=30 --suppressions="$SUPP" \
        --log-file="$log" "$@" || rc=$?
    if ((rc != 0)) || grep -q 'ERROR SUMMARY: [1-9]' "$log" || [[ -s $log ]]; then
        printf -- '--- valgrind log of %s (exit %d) ---\n' "$*" "$rc" >&2
        cat "$log" >&2
        fail "valgrind: errors or a failure in: $*"
    fi
    printf '   valgrind clean: %s\n' "$*"
}

step "tpmkms setup"
vg tpmkms setup

for alg in ec-p256 rsa-2048; do
    uri="tpmkms:name=vg-$alg"
    step "tpmkms create / show ($alg)"
    vg tpmkms create "$uri" --alg "$alg"
    vg tpmkms show "$uri"

    step "openssl pkey -pubout and pkeyutl -sign through the provider ($alg)"
    vg openssl pkey "${TPM[@]}" -in "$uri" -pubout -out "$W/$alg.pub.pem"
    head -c 1000 /dev/urandom >"$W/data"
    openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"
    vg openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" -pkeyopt digest:sha256 \
        -in "$W/data.sha256" -out "$W/$alg.sig"
    openssl pkeyutl -verify -pubin -inkey "$W/$alg.pub.pem" \
        -pkeyopt digest:sha256 -in "$W/data.sha256" -sigfile "$W/$alg.sig" |
        grep -q 'Signature Verified Successfully' ||
        fail "the $alg signature made under valgrind does not verify"
done

step "tpmkms list, delete"
vg tpmkms list
vg tpmkms delete tpmkms:name=vg-ec-p256
vg tpmkms delete tpmkms:name=vg-rsa-2048
[[ -z $(tpmkms list 2>/dev/null | grep vg-) ]] || fail "keys left after delete"

step "an error path: a key that does not exist"
rc=0
valgrind --quiet --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --suppressions="$SUPP" \
    --log-file="$W/valgrind.notfound.log" \
    tpmkms show tpmkms:name=no-such-key >/dev/null 2>&1 || rc=$?
if ((rc != 2)) || [[ -s $W/valgrind.notfound.log ]]; then
    cat "$W/valgrind.notfound.log" >&2
    fail "tpmkms show of a missing key: exit $rc under valgrind (expected 2, no valgrind report)"
fi
printf '   valgrind clean: tpmkms show (missing key, exit 2)\n'

printf '%d programs ran under valgrind, no errors\n' "$((runs + 1))"
pass

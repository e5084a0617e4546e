#!/usr/bin/env bash
# The tpmkms demo: a key is made inside a TPM and signs a certificate
# request through plain `openssl req`.
#
#   1. builds tpmkms (cmake, into build/) unless it is up to date
#   2. picks a TPM: $TPMKMS_TCTI if set, else /dev/tpmrm0 if it answers,
#      else a software TPM (swtpm) started for the demo and stopped after
#   3. tpmkms setup: persists the storage root key at 0x81000001
#   4. tpmkms create 'tpmkms:name=demo;key-scope=user' --alg ec-p256 --force
#   5. openssl req -new -key 'tpmkms:name=demo' makes demo.csr, and
#      openssl req -verify checks its signature
#
# With a real TPM the key goes into your user key store
# ($XDG_DATA_HOME/tpmkms, else ~/.local/share/tpmkms).  With the demo's own
# swtpm it goes into a temporary store: a key whose TPM is gone is useless.
# demo.csr is left in a new directory under /tmp, printed at the end.
#
# Environment: TPMKMS_BUILD_DIR (build), TPMKMS_TCTI (see above).
set -euo pipefail

readonly PROG=${0##*/}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TPMKMS_BUILD_DIR:-$SRC/build}
readonly SRC BUILD
URI='tpmkms:name=demo;key-scope=user'

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

say() {
    printf '%s\n' "$*"
}

swtpm_dir=
cleanup() {
    if [[ -n $swtpm_dir ]]; then
        "$SRC/scripts/swtpm.sh" stop "$swtpm_dir/swtpm"
        rm -rf "$swtpm_dir"
    fi
}
trap cleanup EXIT

for p in cmake openssl tpm2_getcap; do
    command -v "$p" >/dev/null 2>&1 || die "missing program: $p — run scripts/setup.sh"
done

# 1. Build.
mkdir -p "$BUILD"
log=$BUILD/demo-build.log
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    say "Building tpmkms in $BUILD (log: $log) ..."
    cmake -S "$SRC" -B "$BUILD" -DTPMKMS_WERROR=ON >"$log" 2>&1 ||
        { tail -n 30 "$log" >&2; die "cmake configure failed (log: $log)"; }
fi
cmake --build "$BUILD" -j2 >"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "build failed (log: $log)"; }
[[ -x $BUILD/tpmkms && -f $BUILD/tpmkms.so ]] ||
    die "the build made no $BUILD/tpmkms and tpmkms.so"
export OPENSSL_MODULES=$BUILD
export PATH=$BUILD:$PATH

# 2. A TPM.
if [[ -n ${TPMKMS_TCTI:-} ]]; then
    tpm="the TPM at TPMKMS_TCTI=$TPMKMS_TCTI"
elif [[ -c /dev/tpmrm0 ]] &&
    tpm2_getcap -T device:/dev/tpmrm0 properties-fixed >/dev/null 2>&1; then
    export TPMKMS_TCTI=device:/dev/tpmrm0
    tpm="this machine's TPM (/dev/tpmrm0)"
else
    swtpm_dir=$(mktemp -d "${TMPDIR:-/tmp}/tpmkms-demo-tpm.XXXXXX")
    TPMKMS_TCTI=$("$SRC/scripts/swtpm.sh" start "$swtpm_dir/swtpm")
    export TPMKMS_TCTI
    export XDG_DATA_HOME=$swtpm_dir/data
    tpm="a software TPM (swtpm, $TPMKMS_TCTI), started for this demo: no usable /dev/tpmrm0"
fi
store=${XDG_DATA_HOME:-${HOME:-~}/.local/share}/tpmkms

out=$(mktemp -d "${TMPDIR:-/tmp}/tpmkms-demo.XXXXXX")
csr=$out/demo.csr

say "tpmkms demo"
say "  TPM:   $tpm"
if [[ -n $swtpm_dir ]]; then
    say "  store: $store (temporary, like the TPM: a key from a TPM that is gone is useless)"
else
    say "  store: $store (your user key store)"
fi

# 3. The SRK.
tpmkms setup >"$out/setup.txt" 2>&1 ||
    { cat "$out/setup.txt" >&2; die "tpmkms setup failed"; }
say "  1. tpmkms setup: the storage root key is persistent at 0x81000001"

# 4. The key.
created=$(tpmkms create "$URI" --alg ec-p256 --force) ||
    die "tpmkms create $URI failed"
say "  2. tpmkms create: an EC P-256 key inside the TPM, named $created"

# 5. The CSR, signed by the TPM, checked with OpenSSL's default provider.
openssl req -new -provider tpmkms -provider default -key 'tpmkms:name=demo' \
    -subj /CN=demo -out "$csr"
verify=$(openssl req -provider default -in "$csr" -verify -noout 2>&1) || true
[[ $verify == *"self-signature verify OK"* ]] ||
    die "the CSR's signature does not verify: $verify"
say "  3. openssl req -new -key 'tpmkms:name=demo': $csr, signed in the TPM"
say "  4. openssl req -verify: $verify"
say "Look at it: openssl req -in $csr -noout -text"

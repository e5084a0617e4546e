#!/usr/bin/env bash
# tpmkms ek on a TPM manufactured with EK certificates (swtpm_setup
# --create-ek-cert --create-platform-cert, swtpm_localca) and on one
# without: the certificates are found at the profile's indices, each is
# checked against the EK recomputed from its template, the EKPub hash is
# the SHA-256 of the DER SubjectPublicKeyInfo, the certificates chain to
# the local CA, tpm2-tools read the same keys and bytes, padding in an NV
# index is trimmed, a certificate for another key is an error naming
# both, and a TPM with no certificate says so (docs/attestation.md).
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_program openssl sha256sum tpm2_createek tpm2_nvread tpm2_nvdefine \
    tpm2_nvwrite tpm2_nvundefine tpm2_flushcontext tpm2_readpublic
start_swtpm_with_ek_certs

W=$TPMKMS_WORK
mkdir "$W/ek"

# The value of "ROW" in the section "EK <template> (...)" of file $3.
field() {
    awk -v sect="EK $1 " -v row="$2" '
        index($0, sect) == 1 { inside = 1; next }
        /^[^ ]/ { inside = 0 }
        inside && index($0, "  " row " ") == 1 {
            v = substr($0, length(row) + 3); sub(/^ +/, "", v); print v; exit
        }' "$3"
}

# SHA-256 of the DER SubjectPublicKeyInfo of a PEM public key.
spki_hash() {
    openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

same_key() {
    cmp <(openssl pkey -pubin -in "$1" -outform DER) \
        <(openssl pkey -pubin -in "$2" -outform DER) ||
        fail "$1 and $2 are different keys"
}

step "tpmkms ek finds the RSA 2048 (L-1) and ECC P-384 (H-3) EK certificates"
tpmkms ek --out-dir "$W/ek" >"$W/ek.txt"
cat "$W/ek.txt"
grep -Eq '^  manufacturer +IBM$' "$W/ek.txt" || fail "no manufacturer IBM"
grep -Eq '^  vendor +SW +TPM$' "$W/ek.txt" || fail "no model (vendor strings)"
grep -Eq '^  firmware +[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ \(0x' "$W/ek.txt" || fail "no firmware"
[[ $(field L-1 certificate "$W/ek.txt") == "NV index 0x01c00002 ("*" bytes)" ]] ||
    fail "L-1: certificate not at 0x01c00002"
[[ $(field H-3 certificate "$W/ek.txt") == "NV index 0x01c00016 ("*" bytes)" ]] ||
    fail "H-3: certificate not at 0x01c00016"
[[ $(field L-1 'persistent handle' "$W/ek.txt") == 0x81010001 ]] || fail "L-1 not at 0x81010001"
[[ $(field H-3 'persistent handle' "$W/ek.txt") == 0x81010016 ]] || fail "H-3 not at 0x81010016"
for t in L-1 H-3; do
    [[ $(field "$t" issuer "$W/ek.txt") == "CN = swtpm-localca" ]] || fail "$t: issuer"
    [[ $(field "$t" 'EK key' "$W/ek.txt") == *"is the certificate's key" ]] ||
        fail "$t: the recomputed EK is not reported equal to the certificate's key"
    [[ -n $(field "$t" 'not after' "$W/ek.txt") && -n $(field "$t" serial "$W/ek.txt") ]] ||
        fail "$t: no serial or notAfter"
done
if grep -q 'no EK certificate' "$W/ek.txt"; then fail "says no certificate"; fi
for f in ek-rsa-2048.pem ek-rsa-2048-cert.pem ek-ec-p384.pem ek-ec-p384-cert.pem; do
    [[ -f $W/ek/$f ]] || fail "--out-dir wrote no $f"
    [[ $(stat -c %a "$W/ek/$f") == 644 ]] || fail "$f has mode $(stat -c %a "$W/ek/$f"), not 644"
done

step "the EKPub hash is SHA-256 of the DER SubjectPublicKeyInfo"
[[ $(field L-1 'EKPub hash (SHA-256)' "$W/ek.txt") == "$(spki_hash "$W/ek/ek-rsa-2048.pem")" ]] ||
    fail "L-1: EKPub hash differs from openssl pkey -outform DER | sha256sum"
[[ $(field H-3 'EKPub hash (SHA-256)' "$W/ek.txt") == "$(spki_hash "$W/ek/ek-ec-p384.pem")" ]] ||
    fail "H-3: EKPub hash differs from openssl pkey -outform DER | sha256sum"

step "the EK certificates chain to the swtpm-localca root"
openssl verify -CAfile "$TPMKMS_EK_ROOT_CA" -untrusted "$TPMKMS_EK_ISSUER_CA" \
    "$W/ek/ek-rsa-2048-cert.pem" "$W/ek/ek-ec-p384-cert.pem"
for alg in rsa-2048 ec-p384; do
    openssl x509 -in "$W/ek/ek-$alg-cert.pem" -noout -pubkey >"$W/certkey-$alg.pem"
    same_key "$W/certkey-$alg.pem" "$W/ek/ek-$alg.pem"
done

step "tpm2-tools agree: tpm2_createek's keys, tpm2_nvread's bytes"
tpm2_createek -G rsa -c "$W/ek-rsa.ctx" -u "$W/tools-rsa.pem" -f pem
tpm2_flushcontext -t
tpm2_createek -G ecc384 -c "$W/ek-ecc384.ctx" -u "$W/tools-ecc384.pem" -f pem
tpm2_flushcontext -t
same_key "$W/tools-rsa.pem" "$W/ek/ek-rsa-2048.pem"
same_key "$W/tools-ecc384.pem" "$W/ek/ek-ec-p384.pem"
tpm2_readpublic -c 0x81010001 -f pem -o "$W/p01.pem" >/dev/null
same_key "$W/p01.pem" "$W/ek/ek-rsa-2048.pem"
for pair in 0x1c00002:rsa-2048 0x1c00016:ec-p384; do
    idx=${pair%%:*} alg=${pair#*:}
    tpm2_nvread "$idx" -C "$idx" -o "$W/nv-$alg.der" 2>/dev/null
    openssl x509 -in "$W/ek/ek-$alg-cert.pem" -outform DER -out "$W/ours-$alg.der"
    cmp "$W/nv-$alg.der" "$W/ours-$alg.der" || fail "certificate at $idx differs from tpm2_nvread's"
done

step "a certificate padded in its NV index is trimmed to its DER length"
size=$(stat -c %s "$W/nv-rsa-2048.der")
{ cat "$W/nv-rsa-2048.der"; head -c 100 /dev/zero; } >"$W/padded.der"
attrs="ppwrite|ppread|ownerread|authread|no_da|platformcreate"
tpm2_nvundefine -C p 0x1c00002
tpm2_nvdefine -C p -s $((size + 100)) -a "$attrs" 0x1c00002 >/dev/null
tpm2_nvwrite -C p -i "$W/padded.der" 0x1c00002
mkdir "$W/ek2"
tpmkms ek --out-dir "$W/ek2" >"$W/ek2.txt"
[[ $(field L-1 certificate "$W/ek2.txt") == "NV index 0x01c00002 ($size bytes; 100 bytes of padding after it in the index trimmed)" ]] ||
    fail "padding not reported: $(field L-1 certificate "$W/ek2.txt")"
openssl x509 -in "$W/ek2/ek-rsa-2048-cert.pem" -outform DER | cmp - "$W/nv-rsa-2048.der" ||
    fail "the trimmed certificate differs from the one swtpm_setup wrote"
[[ $(field L-1 'EK key' "$W/ek2.txt") == *"is the certificate's key" ]] || fail "padded: key check"

step "a certificate for another key is an error naming both keys"
# The P-384 EK's certificate in the P-256 (L-2) index: the recomputed L-2
# EK is another key.
tpm2_nvdefine -C p -s "$(stat -c %s "$W/nv-ec-p384.der")" -a "$attrs" 0x1c0000a >/dev/null
tpm2_nvwrite -C p -i "$W/nv-ec-p384.der" 0x1c0000a
p384=$(spki_hash "$W/ek/ek-ec-p384.pem")
expect_exit 1 "EK certificate does not match the EK: the EK certificate in NV index 0x01c0000a is for the EC key with EKPub hash $p384, but this TPM's ECC NIST P256 EK \(template L-2, recomputed with TPM2_CreatePrimary\) is the key with EKPub hash [0-9a-f]{64}" \
    tpmkms ek
tpmkms ek >"$W/mismatch.txt" 2>&1 || true
[[ $(field L-2 'EK key' "$W/mismatch.txt") == MISMATCH* ]] || fail "no MISMATCH line for L-2"
[[ $(field L-1 'EK key' "$W/mismatch.txt") == *"is the certificate's key" ]] ||
    fail "the other EKs are still shown and checked"
tpm2_nvundefine -C p 0x1c0000a

step "bytes that are no certificate are an error"
printf 'not a certificate' >"$W/junk"
tpm2_nvdefine -C p -s 17 -a "$attrs" 0x1c00012 >/dev/null
tpm2_nvwrite -C p -i "$W/junk" 0x1c00012
expect_exit 1 'bad EK certificate: the EK certificate index 0x01c00012 \(template H-1\) holds 17 bytes that do not start with a DER SEQUENCE' \
    tpmkms ek
tpm2_nvundefine -C p 0x1c00012

step "--out-dir must be a directory"
expect_exit 64 "--out-dir '$W/nope' is not a directory" tpmkms ek --out-dir "$W/nope"

step "a TPM without EK certificates: the L-1 and L-2 EKs, and it says so"
plain_tcti=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$W/plain") || fail "could not start a second swtpm"
on_exit "'$TPMKMS_SOURCE_DIR/scripts/swtpm.sh' stop '$W/plain'"
mkdir "$W/ek3"
tpmkms --tcti "$plain_tcti" ek --out-dir "$W/ek3" >"$W/plain.txt"
cat "$W/plain.txt"
grep -q '^no EK certificate is provisioned in this TPM' "$W/plain.txt" || fail "does not say no certificate is provisioned"
for t in L-1 L-2; do
    [[ $(field "$t" certificate "$W/plain.txt") == "none provisioned" ]] || fail "$t: certificate line"
done
[[ ! -e $W/ek3/ek-rsa-2048-cert.pem ]] || fail "a certificate file was written"
tpm2_createek -T "$plain_tcti" -G rsa -c "$W/p-rsa.ctx" -u "$W/p-rsa.pem" -f pem
tpm2_flushcontext -T "$plain_tcti" -t
tpm2_createek -T "$plain_tcti" -G ecc -c "$W/p-ecc.ctx" -u "$W/p-ecc.pem" -f pem
tpm2_flushcontext -T "$plain_tcti" -t
same_key "$W/p-rsa.pem" "$W/ek3/ek-rsa-2048.pem"
same_key "$W/p-ecc.pem" "$W/ek3/ek-ec-p256.pem"
[[ $(field L-2 'EKPub hash (SHA-256)' "$W/plain.txt") == "$(spki_hash "$W/ek3/ek-ec-p256.pem")" ]] ||
    fail "L-2: EKPub hash"

pass

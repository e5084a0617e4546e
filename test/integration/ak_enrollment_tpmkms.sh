#!/usr/bin/env bash
# AK enrollment with tpmkms on both sides (docs/attestation.md): the
# device's commands (tpmkms ak create, ak enroll-request, ak activate,
# ak cert-import) against a TPM manufactured with EK certificates
# (swtpm_setup --create-ek-cert, swtpm_localca), the verifier's
# (tpmkms attest-ca challenge / issue) in software.  The round trip with
# the RSA 2048 EK (L-1) and its certificate grades high (allow-list) and
# the certificate lands in ak show; a challenge for another AK's name
# fails activation with the TPM's integrity check named; a challenge for
# another swtpm's EK fails; on that second TPM (no EK certificate) the ECC
# P-256 EK (L-2) does the round trip too (low).  No tpm2-tools.
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_program openssl sha256sum grep sed
start_swtpm_with_ek_certs

W=$TPMKMS_WORK
cd "$W"
AK='tpmkms:name=ak1;key-scope=user'

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -subj /CN=tpmkms-test-AK-CA -days 30 2>/dev/null
mkdir allow roots
cp "$TPMKMS_EK_ROOT_CA" "$TPMKMS_EK_ISSUER_CA" roots/

step "ak create, ak enroll-request: the request attest-ca reads, with the L-1 EK and its certificate"
tpmkms ak create "$AK" >/dev/null
tpmkms ak enroll-request "$AK" -o req.txt 2>enroll.err
cat enroll.err
grep -q 'EK L-1, with its certificate' enroll.err || fail "not the L-1 EK with its certificate"
cat req.txt | cut -c1-100
for k in tpmkms-enrollment-request tpm-manufacturer tpm-vendor-strings tpm-firmware \
    ek-public ek-certificate ak-public ak-name; do
    grep -q "^$k: " req.txt || fail "the request has no $k line"
done
# The identity is the probe's: manufacturer IBM for swtpm.
grep -q '^tpm-manufacturer: 49424D00$' req.txt || fail "tpm-manufacturer is not IBM's"
# The EK certificate is the one tpmkms ek writes (trimmed), for the same key.
mkdir ek
tpmkms ek --out-dir ek >/dev/null
cmp <(sed -n 's/^ek-certificate: //p' req.txt | base64 -d) \
    <(openssl x509 -in ek/ek-rsa-2048-cert.pem -outform DER) ||
    fail "the request's EK certificate is not the TPM's L-1 certificate"
# stdout works as well, and writes the same request
tpmkms ak enroll-request "$AK" | grep -v '^#' >req-stdout.txt
cmp req-stdout.txt <(grep -v '^#' req.txt) || fail "stdout and -o requests differ"

step "attest-ca challenge, ak activate, attest-ca issue (allow-list: high), ak cert-import"
tpmkms attest-ca challenge --request req.txt >challenge.txt
tpmkms ak activate "$AK" --challenge req.txt.challenge -o resp.bin 2>activate.err
cat activate.err
[[ $(stat -c %a resp.bin) == 600 ]] || fail "the response is not 0600"
[[ $(stat -c %s resp.bin) == 32 ]] || fail "the response is not 32 bytes"
hash=$(openssl pkey -pubin -in ek/ek-rsa-2048.pem -outform DER | sha256sum | cut -d' ' -f1)
touch "allow/$hash"
tpmkms attest-ca issue --request req.txt --state req.txt.state --response resp.bin \
    --ca-key ca.key --ca-cert ca.pem --ek-allow-list allow --ek-roots roots \
    --min-level high -o ak1.pem >issue.txt
cat issue.txt
grep -q 'high (1.3.6.1.4.1.311.21.30)' issue.txt || fail "not graded high"
openssl verify -CAfile ca.pem ak1.pem
tpmkms ak cert-import "$AK" ak1.pem ca.pem
tpmkms ak show "$AK" >show.txt
cat show.txt
certfile=$(sed -n 's/^certificate: *//p' show.txt)
[[ -n $certfile ]] || fail "ak show shows no certificate"
grep -q 'not after: .*GMT' show.txt || fail "ak show does not describe the certificate"
cmp <(openssl x509 -in ak1.pem -outform DER) <(openssl x509 -in "$certfile" -outform DER) ||
    fail "ak show's certificate is not the imported AK certificate"

step "ak cert-import refuses a key; cert-import of another key's certificate is refused"
tpmkms create 'tpmkms:name=web' >/dev/null
expect_exit 1 'is a key, not an attestation key' \
    tpmkms ak cert-import 'tpmkms:name=web' ak1.pem
tpmkms ak create 'tpmkms:name=ak2' --alg rsa-2048 >/dev/null
expect_exit 1 'public key' tpmkms ak cert-import 'tpmkms:name=ak2' ak1.pem

step "a challenge for another AK's name: the TPM's integrity check fails"
tpmkms ak enroll-request 'tpmkms:name=ak2' -o req2.txt 2>/dev/null
tpmkms attest-ca challenge --request req2.txt >/dev/null
expect_exit 1 "TPM2_ActivateCredential \(EK template L-1\) failed: 0x[0-9a-f]+ \(.*integrity.*\) — the credential's integrity check failed: the challenge was made for another AK name" \
    tpmkms ak activate "$AK" --challenge req2.txt.challenge -o wrong.bin
[[ ! -e wrong.bin ]] || fail "a failed activation wrote a response"
# ... while ak2 itself activates it
tpmkms ak activate 'tpmkms:name=ak2' --challenge req2.txt.challenge -o resp2.bin 2>/dev/null
tpmkms attest-ca issue --request req2.txt --state req2.txt.state --response resp2.bin \
    --ca-key ca.key --ca-cert ca.pem --ek-roots roots -o ak2.pem | grep -q 'medium' ||
    fail "ak2 not graded medium"

step "usage errors"
expect_exit 64 "--ek 'dsa' is invalid" tpmkms ak enroll-request "$AK" --ek dsa
expect_exit 64 'need --challenge' tpmkms ak activate "$AK" -o x.bin
expect_exit 2 'no such|not found|does not exist' tpmkms ak enroll-request 'tpmkms:name=nope'
expect_exit 1 'is a key, not an attestation key' tpmkms ak enroll-request 'tpmkms:name=web'
expect_exit 2 'no ECC P-256 \(L-2\) EK' tpmkms ak enroll-request "$AK" --ek ecc

step "another TPM: its EK's challenge fails here; there, the ECC EK (L-2) round trip"
other=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$W/other") || fail "could not start a second swtpm"
on_exit "'$TPMKMS_SOURCE_DIR/scripts/swtpm.sh' stop '$W/other'"
tpmkms --tcti "$other" ak create 'tpmkms:name=akx' >/dev/null
tpmkms --tcti "$other" ak enroll-request 'tpmkms:name=akx' -o reqx.txt 2>/dev/null
# Our AK, their EK: what a CA makes for a request that lies about the EK.
{ grep -v '^ek-\|^ak-' req.txt; grep '^ek-public' reqx.txt; grep '^ak-' req.txt; } >req-other-ek.txt
tpmkms attest-ca challenge --request req-other-ek.txt >/dev/null
expect_exit 1 'TPM2_ActivateCredential \(EK template L-1\) failed: .*another TPM.s EK' \
    tpmkms ak activate "$AK" --challenge req-other-ek.txt.challenge -o other.bin
[[ ! -e other.bin ]] || fail "a failed activation wrote a response"
# The TPM is not in failure mode after it: our own challenge still works.
tpmkms attest-ca challenge --request req.txt >/dev/null
tpmkms ak activate "$AK" --challenge req.txt.challenge -o resp-again.bin 2>/dev/null ||
    fail "the TPM no longer activates after the refused challenge"
tpmkms --tcti "$other" ak enroll-request 'tpmkms:name=akx' --ek ecc -o reqx-ecc.txt 2>/dev/null
grep -q '^ek-certificate' reqx-ecc.txt && fail "a request with a certificate the TPM does not have"
tpmkms attest-ca challenge --request reqx-ecc.txt >/dev/null
tpmkms --tcti "$other" ak activate 'tpmkms:name=akx' --challenge reqx-ecc.txt.challenge \
    -o respx.bin 2>/dev/null
tpmkms attest-ca issue --request reqx-ecc.txt --state reqx-ecc.txt.state --response respx.bin \
    --ca-key ca.key --ca-cert ca.pem --ek-roots roots -o akx.pem | grep -q 'low' ||
    fail "the ECC EK without certificate is not graded low"
# Our TPM's ECC EK is not this one: the same challenge fails here.
expect_exit 1 'TPM2_ActivateCredential \(EK template L-2\) failed' \
    tpmkms ak activate "$AK" --challenge reqx-ecc.txt.challenge -o other.bin

pass

#!/usr/bin/env bash
# AK enrollment, the verifier's side (tpmkms attest-ca, docs/attestation.md)
# against a TPM manufactured with EK certificates (swtpm_setup
# --create-ek-cert, swtpm_localca), the device's side played by tpm2-tools:
# an enrollment request built from tpm2_createek / tpm2_createak objects;
# attest-ca challenge; tpm2_activatecredential (under the EK's policy
# session) recovers the secret, which proves the software
# TPM2_MakeCredential byte-exact for an RSA 2048 EK (L-1), an ECC P-256 EK
# (L-2) and an ECC P-384 EK (H-3: SHA-384, AES-256); tpm2_makecredential
# -T none's output for the same inputs activates the same way; attest-ca
# issue grades high (allow-list), medium (--ek-roots = the local CA) and
# low, refuses below --min-level, a wrong secret, a state of another
# request, an edited AK name, a non-AK and an EK certificate of another
# key, each with its exit code; the AK certificate carries the profile
# and verifies against the CA, also when the CA key is a tpmkms: key.
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_program openssl base64 od sha256sum tpm2_createek tpm2_createak \
    tpm2_activatecredential tpm2_makecredential tpm2_startauthsession \
    tpm2_policysecret tpm2_flushcontext tpm2_nvread tpm2_getcap
start_swtpm_with_ek_certs

W=$TPMKMS_WORK
cd "$W"

# TPM_PT_* property as 8 hex digits.
prop() {
    printf '%08X' "$(tpm2_getcap properties-fixed | awk -v p="$1:" '$1 == p {getline; print $2}')"
}
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
MANUF=$(prop TPM2_PT_MANUFACTURER)
VENDOR="$(prop TPM2_PT_VENDOR_STRING_1) $(prop TPM2_PT_VENDOR_STRING_2) $(prop TPM2_PT_VENDOR_STRING_3) $(prop TPM2_PT_VENDOR_STRING_4)"
FW="$(prop TPM2_PT_FIRMWARE_VERSION_1) $(prop TPM2_PT_FIRMWARE_VERSION_2)"

# make_request OUT EK.pub AK.pub AK.name [EKCERT.der]: the enrollment
# request a device sends (the format of docs/attestation.md).
make_request() {
    {
        echo "# made by $TEST_NAME from tpm2-tools objects"
        echo "tpmkms-enrollment-request: 1"
        echo "tpm-manufacturer: $MANUF"
        echo "tpm-vendor-strings: $VENDOR"
        echo "tpm-firmware: $FW"
        echo "ek-public: $(base64 -w0 "$2")"
        if [[ -n ${5:-} ]]; then echo "ek-certificate: $(base64 -w0 "$5")"; fi
        echo "ak-public: $(base64 -w0 "$3")"
        echo "ak-name: $(hexof "$4")"
    } >"$1"
}

# activate EK.ctx AK.ctx CRED OUT: TPM2_ActivateCredential as the device
# does it; the low-range EKs (no userWithAuth) need PolicySecret(endorsement).
activate() {
    local ek=$1 ak=$2 cred=$3 out=$4 policy=${5:-policy} rc=0
    tpm2_flushcontext -t
    if [[ $policy == policy ]]; then
        tpm2_startauthsession --policy-session -S "$W/session.ctx"
        tpm2_policysecret -S "$W/session.ctx" -c e >/dev/null
        tpm2_activatecredential -c "$ak" -C "$ek" -i "$cred" -o "$out" \
            -P session:"$W/session.ctx" >/dev/null 2>"$W/activate.err" || rc=$?
        tpm2_flushcontext "$W/session.ctx"
    else
        tpm2_activatecredential -c "$ak" -C "$ek" -i "$cred" -o "$out" \
            >/dev/null 2>"$W/activate.err" || rc=$?
    fi
    return "$rc"
}

# The secret in a state file, hex.
state_secret() { cut -d' ' -f3 "$1"; }

# ek_and_ak ALG EKALG AKALG: EK and AK objects named ALG.
ek_and_ak() {
    tpm2_flushcontext -t
    tpm2_createek -G "$2" -c "ek-$1.ctx" -u "ek-$1.pub" >/dev/null
    tpm2_createak -C "ek-$1.ctx" -c "ak-$1.ctx" -G "$3" -u "ak-$1.pub" \
        -n "ak-$1.name" >/dev/null
}

cert_text() { openssl x509 -in "$1" -noout -text; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -subj /CN=tpmkms-test-AK-CA -days 30 2>/dev/null
mkdir roots allow empty
cp "$TPMKMS_EK_ROOT_CA" "$TPMKMS_EK_ISSUER_CA" roots/
tpm2_nvread 0x1c00002 -C 0x1c00002 -o ekcert-rsa.der 2>/dev/null
tpm2_nvread 0x1c00016 -C 0x1c00016 -o ekcert-p384.der 2>/dev/null

step "RSA 2048 EK (L-1) and an ECC AK: challenge, tpm2_activatecredential recovers the secret"
ek_and_ak rsa rsa ecc
make_request req-rsa.txt ek-rsa.pub ak-rsa.pub ak-rsa.name ekcert-rsa.der
tpmkms attest-ca challenge --request req-rsa.txt >challenge-rsa.txt
cat challenge-rsa.txt
[[ $(stat -c %a req-rsa.txt.state) == 600 ]] || fail "state file is not 0600"
grep -q 'EK .*RSA 2048, name algorithm SHA256, with its certificate' challenge-rsa.txt ||
    fail "challenge does not describe the EK"
activate ek-rsa.ctx ak-rsa.ctx req-rsa.txt.challenge resp-rsa.bin ||
    fail "tpm2_activatecredential refused our credential: $(cat activate.err)"
[[ $(hexof resp-rsa.bin) == "$(state_secret req-rsa.txt.state)" ]] ||
    fail "the recovered secret is not the one in the state"

step "tpm2_makecredential -T none on the same inputs: the same layout, activates the same"
head -c 32 /dev/urandom >tools-secret.bin
tpm2_makecredential -T none -u ek-rsa.pub -s tools-secret.bin \
    -n "$(hexof ak-rsa.name)" -o tools.cred 2>/dev/null
[[ $(stat -c %s tools.cred) == "$(stat -c %s req-rsa.txt.challenge)" ]] ||
    fail "tpm2-tools' credential file has another size than ours"
[[ $(head -c 12 tools.cred | hexof /dev/stdin) == "$(head -c 12 req-rsa.txt.challenge | hexof /dev/stdin)" ]] ||
    fail "header and blob sizes differ from tpm2-tools'"
activate ek-rsa.ctx ak-rsa.ctx tools.cred tools-out.bin || fail "tpm2-tools' own credential"
cmp tools-out.bin tools-secret.bin

step "issue with --ek-roots = the swtpm local CA: medium"
tpmkms attest-ca issue --request req-rsa.txt --state req-rsa.txt.state \
    --response resp-rsa.bin --ca-key ca.key --ca-cert ca.pem --ek-roots roots \
    -o ak-rsa.pem >issue-rsa.txt
cat issue-rsa.txt
grep -q 'assurance level .*medium (1.3.6.1.4.1.311.21.31): the EK certificate chains' issue-rsa.txt ||
    fail "not graded medium"
[[ ! -e req-rsa.txt.state ]] || fail "the state was not removed after the issue"
openssl verify -CAfile ca.pem ak-rsa.pem
cert_text ak-rsa.pem >ak-rsa.txt
cat ak-rsa.txt
grep -q 'Version: 3 (0x2)' ak-rsa.txt || fail "not version 3"
grep -Eq '^ +Subject: *$' ak-rsa.txt || fail "subject not empty"
grep -q 'X509v3 Subject Alternative Name: critical' ak-rsa.txt || fail "SAN not critical"
grep -q "DirName:/2.23.133.2.1=id:$MANUF/2.23.133.2.2=SW   TPM/2.23.133.2.3=id:${FW%% *}" ak-rsa.txt ||
    fail "SAN directoryName"
grep -A1 'Extended Key Usage' ak-rsa.txt | grep -q '2.23.133.8.3' || fail "EKU"
grep -A1 'Basic Constraints: critical' ak-rsa.txt | grep -q 'CA:FALSE' || fail "basicConstraints"
grep -q 'Policy: 1.3.6.1.4.1.311.21.31' ak-rsa.txt || fail "policy"
grep -q 'Authority Key Identifier' ak-rsa.txt || fail "AKI"
# The AKI is the CA's key identifier: its SKI when it has one (a CA made
# under an openssl.cnf without x509 extensions has none).
ca_ski=$(openssl x509 -in ca.pem -noout -ext subjectKeyIdentifier 2>/dev/null | sed -n 2p | tr -d ' ')
if [[ -n $ca_ski ]]; then
    [[ $(openssl x509 -in ak-rsa.pem -noout -ext authorityKeyIdentifier | sed -n 2p | tr -d ' ') == "$ca_ski" ]] ||
        fail "the AKI is not the CA's SKI $ca_ski"
fi
# The certified key is the AK's.
tpm2_readpublic -c ak-rsa.ctx -f pem -o ak-rsa-pub.pem >/dev/null
cmp <(openssl x509 -in ak-rsa.pem -noout -pubkey | openssl pkey -pubin -outform DER) \
    <(openssl pkey -pubin -in ak-rsa-pub.pem -outform DER) || fail "the certificate's key is not the AK"
# The SAN's values are UTF8Strings (tag 0c), each attribute an RDN of its
# own: SET { SEQUENCE { OID, UTF8String } }.
der=$(openssl x509 -in ak-rsa.pem -outform DER | hexof /dev/stdin)
for v in "2.1:id:$MANUF" "2.2:SW   TPM" "2.3:id:${FW%% *}"; do
    val=$(printf '%s' "${v#*:}" | hexof /dev/stdin)
    n=$(printf '%02x' $(( ${#val} / 2 )))
    [[ $der == *"0605678105020${v:2:1}0c$n$val"* ]] ||
        fail "SAN attribute 2.23.133.${v%%:*} is not the UTF8String '${v#*:}'"
done

step "a replayed response: the state is gone"
expect_exit 10 'challenge state file' \
    tpmkms attest-ca issue --request req-rsa.txt --state req-rsa.txt.state \
    --response resp-rsa.bin --ca-key ca.key --ca-cert ca.pem

step "ECC P-384 EK (H-3: SHA-384, AES-256) and an RSA AK, EKPub hash in the allow list: high"
ek_and_ak p384 ecc384 rsa
make_request req-p384.txt ek-p384.pub ak-p384.pub ak-p384.name ekcert-p384.der
tpmkms attest-ca challenge --request req-p384.txt --out p384.cred --state p384.state >/dev/null
# H-3 has userWithAuth: the EK's empty auth value serves.
activate ek-p384.ctx ak-p384.ctx p384.cred resp-p384.bin password ||
    fail "tpm2_activatecredential refused our P-384 credential: $(cat activate.err)"
[[ $(hexof resp-p384.bin) == "$(state_secret p384.state)" ]] || fail "P-384: wrong secret recovered"
hash=$(openssl x509 -inform DER -in ekcert-p384.der -noout -pubkey |
    openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
touch "allow/$hash"
tpmkms attest-ca issue --request req-p384.txt --state p384.state --response resp-p384.bin \
    --ca-key ca.key --ca-cert ca.pem --ek-allow-list allow --ek-roots roots \
    --min-level high --days 30 --out ak-p384.pem >issue-p384.txt
cat issue-p384.txt
grep -q "assurance level .*high (1.3.6.1.4.1.311.21.30): the EKPub hash $hash is in --ek-allow-list" issue-p384.txt ||
    fail "not graded high"
cert_text ak-p384.pem | grep -q 'Policy: 1.3.6.1.4.1.311.21.30' || fail "high policy"
openssl verify -CAfile ca.pem ak-p384.pem

step "ECC P-256 EK (L-2, no certificate on this TPM): low; --min-level medium refuses it"
ek_and_ak p256 ecc ecc
make_request req-p256.txt ek-p256.pub ak-p256.pub ak-p256.name
tpmkms attest-ca challenge --request req-p256.txt >/dev/null
activate ek-p256.ctx ak-p256.ctx req-p256.txt.challenge resp-p256.bin ||
    fail "tpm2_activatecredential refused our P-256 credential: $(cat activate.err)"
expect_exit 16 'the EK is graded low, below --min-level medium' \
    tpmkms attest-ca issue --request req-p256.txt --state req-p256.txt.state \
    --response resp-p256.bin --ca-key ca.key --ca-cert ca.pem --ek-roots roots \
    --ek-allow-list allow --min-level medium
[[ -e req-p256.txt.state ]] || fail "a refused issue removed the state"
tpmkms attest-ca issue --request req-p256.txt --state req-p256.txt.state \
    --response resp-p256.bin --ca-key ca.key --ca-cert ca.pem -o ak-p256.pem >issue-p256.txt
grep -q 'assurance level .*low (1.3.6.1.4.1.311.21.32)' issue-p256.txt || fail "not graded low"
cert_text ak-p256.pem | grep -q 'Policy: 1.3.6.1.4.1.311.21.32' || fail "low policy"

step "RSA EK without --ek-roots or allow-list: low; with the roots but no certificate sent: low"
make_request req-rsa2.txt ek-rsa.pub ak-rsa.pub ak-rsa.name
tpmkms attest-ca challenge --request req-rsa2.txt >/dev/null
activate ek-rsa.ctx ak-rsa.ctx req-rsa2.txt.challenge resp-rsa2.bin
tpmkms attest-ca issue --request req-rsa2.txt --state req-rsa2.txt.state \
    --response resp-rsa2.bin --ca-key ca.key --ca-cert ca.pem --ek-roots roots \
    --out ak-rsa2.pem >issue-rsa2.txt
grep -q 'low (1.3.6.1.4.1.311.21.32): .*the request carries no EK certificate' issue-rsa2.txt ||
    fail "not low: $(cat issue-rsa2.txt)"

step "a wrong secret is refused (15); a state of another request (14)"
tpmkms attest-ca challenge --request req-rsa.txt >/dev/null
head -c 32 /dev/urandom >wrong.bin
expect_exit 15 'credential activation failed: the response wrong.bin is not the secret of the challenge' \
    tpmkms attest-ca issue --request req-rsa.txt --state req-rsa.txt.state \
    --response wrong.bin --ca-key ca.key --ca-cert ca.pem
tpmkms attest-ca challenge --request req-p256.txt --state other.state >/dev/null
expect_exit 14 'challenge state is for another request' \
    tpmkms attest-ca issue --request req-rsa.txt --state other.state \
    --response wrong.bin --ca-key ca.key --ca-cert ca.pem
chmod 644 other.state
expect_exit 10 'challenge state file .*other.state' \
    tpmkms attest-ca issue --request req-p256.txt --state other.state \
    --response wrong.bin --ca-key ca.key --ca-cert ca.pem

step "another AK's name (request edited consistently): the TPM refuses the activation"
tpm2_flushcontext -t
tpm2_createak -C ek-rsa.ctx -c ak2.ctx -G ecc -u ak2.pub -n ak2.name >/dev/null
make_request req-other-ak.txt ek-rsa.pub ak2.pub ak2.name ekcert-rsa.der
tpmkms attest-ca challenge --request req-other-ak.txt >/dev/null
if activate ek-rsa.ctx ak-rsa.ctx req-other-ak.txt.challenge other-ak.bin; then
    fail "a credential for another AK's name was activated with ak-rsa"
fi
cat activate.err

step "another TPM's EK: the activation fails"
other_tcti=$("$TPMKMS_SOURCE_DIR/scripts/swtpm.sh" start "$W/other") || fail "could not start a second swtpm"
on_exit "'$TPMKMS_SOURCE_DIR/scripts/swtpm.sh' stop '$W/other'"
TPM2TOOLS_TCTI=$other_tcti tpm2_createek -G rsa -c ek-other.ctx -u ek-other.pub >/dev/null
make_request req-other-ek.txt ek-other.pub ak-rsa.pub ak-rsa.name
tpmkms attest-ca challenge --request req-other-ek.txt >/dev/null
if activate ek-rsa.ctx ak-rsa.ctx req-other-ek.txt.challenge other-ek.bin; then
    fail "a credential for another TPM's EK was activated"
fi

step "requests that fail their checks, each with its exit code"
sed "s/^ak-name: ..../ak-name: 000c/" req-rsa.txt >bad-name.txt
expect_exit 12 'AK name does not match its public area: the request.s ak-name 000c' \
    tpmkms attest-ca challenge --request bad-name.txt
make_request not-ak.txt ek-rsa.pub ek-rsa.pub ak-rsa.name
expect_exit 11 'not an attestation key: .*sign clear, decrypt set' \
    tpmkms attest-ca challenge --request not-ak.txt
make_request bad-cert.txt ek-rsa.pub ak-rsa.pub ak-rsa.name ekcert-p384.der
expect_exit 13 'EK certificate does not match the EK: the request.s EK certificate is for the key with EKPub hash' \
    tpmkms attest-ca challenge --request bad-cert.txt
sed 's/^ek-public: ..../ek-public: AAAA/' req-rsa.txt >bad-ek.txt
expect_exit 10 'bad TPM public area: EK public area' \
    tpmkms attest-ca challenge --request bad-ek.txt
grep -v '^ak-public' req-rsa.txt >no-ak.txt
expect_exit 10 "bad enrollment request: the enrollment request has no 'ak-public' line" \
    tpmkms attest-ca challenge --request no-ak.txt
expect_exit 64 "--min-level 'top' is invalid" \
    tpmkms attest-ca issue --request req-rsa.txt --state x --response x \
    --ca-key ca.key --ca-cert ca.pem --min-level top

step "the CA key must be the CA certificate's"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key
tpmkms attest-ca challenge --request req-p256.txt >/dev/null
activate ek-p256.ctx ak-p256.ctx req-p256.txt.challenge resp-p256.bin
expect_exit 1 'the CA key is not the key of the CA certificate' \
    tpmkms attest-ca issue --request req-p256.txt --state req-p256.txt.state \
    --response resp-p256.bin --ca-key other.key --ca-cert ca.pem

step "a CA whose key is a tpmkms key in the TPM"
tpm2_flushcontext -t    # the tpm2-tools objects (swtpm has no resource manager)
tpmkms create 'tpmkms:name=akca' --alg ec-p256 >/dev/null
openssl req -x509 -provider tpmkms -provider default -key 'tpmkms:name=akca' \
    -subj /CN=tpmkms-TPM-AK-CA -days 30 -out tpmca.pem
tpmkms attest-ca issue --request req-p256.txt --state req-p256.txt.state \
    --response resp-p256.bin --ca-key 'tpmkms:name=akca' --ca-cert tpmca.pem \
    -o ak-tpmca.pem >/dev/null
openssl verify -CAfile tpmca.pem ak-tpmca.pem
cert_text ak-tpmca.pem | grep -q 'Issuer: CN = tpmkms-TPM-AK-CA' || fail "issuer"

pass

#!/usr/bin/env bash
# Loading tpmkms touches no TPM; only an operation that needs the private
# key connects.  So a program that loads the provider (on the command line
# or activated in OPENSSL_CONF, in either order with default) works on a
# machine with no TPM at all, and reading a key's public half from its
# record sends no TPM command.
#   - no TPM: TPMKMS_TCTI names a port where nothing listens, then the
#     TCTI loader's default on a machine without /dev/tpm*: `openssl list
#     -providers` lists tpmkms active and tpmkms never tries to connect
#     (TPMKMS_DEBUG says when it does); a signature then fails naming the
#     key, the TCTI and the decoded TCTI code, which shows the setting was
#     live;
#   - a live swtpm behind the pcap TCTI: `openssl list -providers` and
#     `openssl pkey -pubout` of a record-backed key open no TCTI at all
#     (no pcap is written), while a signature through the same settings
#     does write one (so the absence means something).
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program openssl timeout ss tshark
start_swtpm
W=$TPMKMS_WORK
SWTPM=$TPMKMS_TCTI
TPM=(-provider tpmkms -provider default)
write_openssl_cnf "$W/tpmkms-first.cnf" tpmkms-first
write_openssl_cnf "$W/default-first.cnf" default-first

# A loopback port pair where nothing listens.
dead=
for _ in $(seq 50); do
    p=$((40000 + 2 * (RANDOM % 5000)))
    if ! ss -Hltn "( sport = :$p or sport = :$((p + 1)) )" | grep -q .; then
        dead=$p
        break
    fi
done
[[ -n $dead ]] || fail "no free port found for the dead TCTI"

# listed LOG: the provider list shows tpmkms active, the debug log shows
# that it loaded, and it never tried to connect.
listed() {
    local log=$1
    grep -Eq '^  tpmkms$' "$log" && grep -Eq 'status: active' "$log" || {
        cat "$log" >&2
        fail "openssl list -providers does not show tpmkms active"
    }
    grep -q 'provider loaded (no TPM contacted)' "$log" || {
        cat "$log" >&2
        fail "no debug line from tpmkms: TPMKMS_DEBUG did not reach it, the check below would prove nothing"
    }
    if grep -Eq 'connecting to|connected through' "$log"; then
        cat "$log" >&2
        fail "loading the provider connected to a TPM"
    fi
}

# list_providers LABEL ARGS...: openssl list -providers ARGS, timed.
list_providers() {
    local label=$1 t0 ms
    shift
    t0=$(date +%s%N)
    TPMKMS_DEBUG=1 timeout 20 openssl list -providers "$@" >"$W/list.log" 2>&1 || {
        cat "$W/list.log" >&2
        fail "$label: openssl list -providers failed"
    }
    ms=$((($(date +%s%N) - t0) / 1000000))
    listed "$W/list.log"
    printf '   %s: tpmkms active, no TPM contacted (%d ms)\n' "$label" "$ms"
}

step "tpmkms setup; create a key (the only TPM use before the checks)"
tpmkms setup
tpmkms create 'tpmkms:name=lazy' --alg ec-p256 >/dev/null
printf 'lazy\n' >"$W/data"
openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"

step "no TPM at all: TPMKMS_TCTI is a port where nothing listens (127.0.0.1:$dead)"
export TPMKMS_TCTI=swtpm:host=127.0.0.1,port=$dead
list_providers "-provider tpmkms" -provider tpmkms
list_providers "-provider tpmkms -provider default" "${TPM[@]}"
OPENSSL_CONF=$W/tpmkms-first.cnf list_providers "OPENSSL_CONF, tpmkms first"
OPENSSL_CONF=$W/default-first.cnf list_providers "OPENSSL_CONF, default first"
step "no TPM at all: a signature fails, naming the TCTI it could not reach"
expect_fail --provider-errors \
    "TPM unavailable.*tpmkms:name=lazy;key-scope=user: cannot open the TPM through TCTI \"swtpm:host=127\\.0\\.0\\.1,port=$dead\": .*0x000a000a \\(tcti:IO failure\\)" \
    openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=lazy' \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -out "$W/sig"

step "no TPMKMS_TCTI: the TCTI loader's default$(compgen -G '/dev/tpm*' >/dev/null || echo ', and no /dev/tpm* on this machine')"
unset TPMKMS_TCTI
list_providers "-provider tpmkms" -provider tpmkms
OPENSSL_CONF=$W/tpmkms-first.cnf list_providers "OPENSSL_CONF, tpmkms first"

step "a live swtpm behind the pcap TCTI: listing providers opens no TCTI"
export TPMKMS_TCTI=pcap:$SWTPM
export TCTI_PCAP_FILE=$W/none.pcap
list_providers "-provider tpmkms" -provider tpmkms
OPENSSL_CONF=$W/tpmkms-first.cnf list_providers "OPENSSL_CONF, tpmkms first"
OPENSSL_CONF=$W/default-first.cnf list_providers "OPENSSL_CONF, default first"
[[ ! -e $TCTI_PCAP_FILE ]] ||
    fail "listing providers sent TPM commands: $(tpm_commands "$TCTI_PCAP_FILE")"

step "openssl pkey -pubout of a record-backed key: zero TPM commands"
openssl pkey "${TPM[@]}" -in 'tpmkms:name=lazy' -pubout -out "$W/lazy.pub.pem"
OPENSSL_CONF=$W/default-first.cnf openssl pkey -in 'tpmkms:name=lazy' -pubout -out "$W/lazy2.pub.pem"
cmp -s "$W/lazy.pub.pem" "$W/lazy2.pub.pem" || fail "the two public keys differ"
[[ ! -e $TCTI_PCAP_FILE ]] ||
    fail "reading the public key sent TPM commands: $(tpm_commands "$TCTI_PCAP_FILE")"

step "the same settings do reach the TPM when a signature needs it"
openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=lazy' -pkeyopt digest:sha256 \
    -in "$W/data.sha256" -out "$W/sig"
openssl pkeyutl -verify -pubin -inkey "$W/lazy.pub.pem" -pkeyopt digest:sha256 \
    -in "$W/data.sha256" -sigfile "$W/sig" | grep -q 'Signature Verified Successfully' ||
    fail "the signature does not verify"
[[ " $(tpm_commands "$TCTI_PCAP_FILE") " == *" Sign "* ]] ||
    fail "the signature left no TPM2_Sign in $TCTI_PCAP_FILE: the pcap checks above prove nothing"
printf '   signature: %s\n' "$(tpm_commands "$TCTI_PCAP_FILE")"

pass

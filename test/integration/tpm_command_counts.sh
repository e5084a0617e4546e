#!/usr/bin/env bash
# What tpmkms costs on a TPM, command by command, from a pcap of the real
# run (tpm2-tss's pcap TCTI, named by tshark).  The counts are exact and
# the same on a hardware TPM, where a TPM2_CreatePrimary takes 100 ms or
# more and a signature 10-100 ms, so a regression here is a slowdown there:
#   - before `tpmkms setup`, `tpmkms probe` says setup would save a
#     CreatePrimary per process, and a cold sign pays exactly one,
#     flushing that primary right after its key's Load;
#   - `tpmkms setup` persists the SRK once and is idempotent;
#   - a cold `openssl pkeyutl -sign`, for every algorithm and padding, is
#     exactly ReadPublic (the SRK), Load, Sign, FlushContext: no
#     CreatePrimary, no TPM2_Hash, the key loaded once;
#   - N signatures in one process (EVP_DigestSign on an OSSL_STORE key)
#     are that cold overhead plus exactly N × Sign, whether one signing
#     context is re-initialised for each or a fresh one made each time;
#   - a key file's load checks the TPM once (ReadPublic of its parent, on
#     swtpm; not through pcap) before the cold sign, and its public key
#     alone costs nothing;
#   - `openssl req -new` loads the key once and reads no capability;
#   - each TLS 1.3 handshake of a warm s_server is one Sign.
# Timings are never asserted.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program openssl tpm2_getcap tshark timeout ss
SIGNRATE=$TPMKMS_BUILD_DIR/bench/signrate
[[ -x $SIGNRATE ]] || fail "$SIGNRATE is missing: build first (cmake --build $TPMKMS_BUILD_DIR)"
tshark -G fields 2>/dev/null | grep -q $'\ttpm.req.cc\t' ||
    fail "this tshark has no TPM dissector field tpm.req.cc: it cannot count TPM commands"
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
OK=0x00000000
N=7

# traced NAME CMD...: CMD's TPM traffic goes to $W/NAME.pcap.
traced() {
    local name=$1
    shift
    rm -f "$W/$name.pcap"
    TPMKMS_TCTI="pcap:$TPMKMS_TCTI" TCTI_PCAP_FILE="$W/$name.pcap" "$@"
}

# expect_commands NAME "CMD CMD ..." ["RC RC ..."]: the commands in
# NAME.pcap are exactly these, in this order, answered with these codes
# (default: all success).
expect_commands() {
    local name=$1 want=$2 want_rc=${3:-} got got_rc
    got=$(tpm_commands "$W/$name.pcap") || fail "cannot count the TPM commands of $name"
    got_rc=$(tpm_trace "$W/$name.pcap" | awk '{print $2}' | paste -sd' ')
    if [[ -z $want_rc ]]; then
        want_rc=$(for _ in $want; do printf '%s ' "$OK"; done)
        want_rc=${want_rc% }
    fi
    printf '   %s: %s\n' "$name" "${got:-(no command)}"
    [[ -n $got ]] || fail "$name: no TPM command in $W/$name.pcap: the pcap TCTI was not used"
    [[ $got == "$want" ]] || fail "$name: TPM commands were \"$got\", expected \"$want\""
    [[ $got_rc == "$want_rc" ]] || fail "$name: TPM answers were \"$got_rc\", expected \"$want_rc\""
}

# signs_n NAME URI N TOTAL [SIGNRATE OPTIONS...]: N signatures per thread
# in one process, TOTAL in all, each verified in software.
signs_n() {
    local name=$1 uri=$2 n=$3 total=$4 out
    shift 4
    out=$(traced "$name" "$SIGNRATE" --count "$n" --verify-all "$@" "$uri") ||
        fail "$name: signrate failed: $out"
    grep -q "\"signatures\":$total,\"failures\":0," <<<"$out" ||
        fail "$name: expected $total good signatures: $out"
}

repeat() {          # WORD N: WORD repeated N times, space-separated
    local i out=
    for ((i = 0; i < $2; i++)); do out+="$1 "; done
    printf '%s' "${out% }"
}

printf 'counted\n' >"$W/data"
openssl dgst -sha256 -binary -out "$W/data.sha256" "$W/data"
openssl dgst -sha384 -binary -out "$W/data.sha384" "$W/data"

step "the counter counts: a pcap with packets but no TPM command is an error, not 0"
traced selfcheck tpm2_getcap -T "pcap:$TPMKMS_TCTI" properties-fixed >/dev/null ||
    fail "tpm2_getcap through the pcap TCTI failed"
[[ $(tpm_count "$W/selfcheck.pcap") -ge 1 ]] || fail "tshark found no TPM command in tpm2_getcap's pcap"
# Decoded as plain data, the same packets hold no TPM command for tshark:
# tpm_trace must fail rather than report 0.
TPMCOUNT_DECODE=(-d 'tcp.port==2321,data')
if tpm_trace "$W/selfcheck.pcap" >/dev/null 2>&1; then
    fail "tpm_trace accepted a pcap in which the TPM dissector saw no command"
fi
TPMCOUNT_DECODE=(-d 'tcp.port==2321,tpm')

step "before setup: tpmkms probe says setup saves a CreatePrimary per process"
tpmkms probe >"$W/probe.before"
grep -Eq '0x81000001 +not persistent' "$W/probe.before" ||
    fail "probe without an SRK does not say 'not persistent': $(grep -A2 'Storage root' "$W/probe.before")"
grep -q 'saves a TPM2_CreatePrimary in every process' "$W/probe.before" ||
    fail "probe without an SRK does not say that setup saves a CreatePrimary per process"

step "before setup: create pays exactly one CreatePrimary, and records the TPM's identity without another"
traced create-no-srk tpmkms create 'tpmkms:name=early' --alg ec-p256 >/dev/null
expect_commands create-no-srk "ReadPublic CreatePrimary Create FlushContext" \
    "0x0000018b $OK $OK $OK"
grep -Eq '^tpm: [0-9a-f]{68}$' "$XDG_DATA_HOME/tpmkms/keys/early.tpmkey" ||
    fail "the record of 'early' keeps no tpm: identity"

step "before setup: a cold sign pays exactly one CreatePrimary"
traced cold-no-srk openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=early' \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -out "$W/sig"
# 0x18b: TPM_RC_HANDLE for handle 1, no object at 0x81000001.
# The primary is flushed right after the Load it was derived for: between
# signatures a process holds its key alone, as with a persistent SRK.
expect_commands cold-no-srk "ReadPublic CreatePrimary Load FlushContext Sign FlushContext" \
    "0x0000018b $OK $OK $OK $OK $OK"

step "tpmkms setup persists the SRK, once"
traced setup tpmkms setup >"$W/setup.out"
grep -qx 'created the SRK at 0x81000001' "$W/setup.out" || fail "setup said: $(cat "$W/setup.out")"
expect_commands setup "ReadPublic CreatePrimary EvictControl FlushContext" \
    "0x0000018b $OK $OK $OK"
traced setup-again tpmkms setup >"$W/setup.out"
grep -qx 'the SRK at 0x81000001 is already in place' "$W/setup.out" ||
    fail "setup again said: $(cat "$W/setup.out")"
expect_commands setup-again "ReadPublic"
tpmkms probe >"$W/probe.after"
grep -Eq '0x81000001 +persistent' "$W/probe.after" || fail "probe after setup does not say 'persistent'"
if grep -q 'tpmkms setup' "$W/probe.after"; then
    fail "probe after setup still suggests running setup"
fi

step "the key made before setup now signs without CreatePrimary"
traced cold-early openssl pkeyutl -sign "${TPM[@]}" -inkey 'tpmkms:name=early' \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -out "$W/sig"
expect_commands cold-early "ReadPublic Load Sign FlushContext"

for spec in "ec-p256 sha256" "ec-p384 sha384" "rsa-2048 sha256" "rsa-2048 sha256 pss"; do
    read -r alg hash pss <<<"$spec"
    name=$alg${pss:+-pss}
    uri="tpmkms:name=$alg"
    opts=(-pkeyopt "digest:$hash")
    srate=(--digest "$hash")
    if [[ -n $pss ]]; then
        opts+=(-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest)
        srate+=(--pss)
    else
        tpmkms create "$uri" --alg "$alg" >/dev/null
        openssl pkey "${TPM[@]}" -in "$uri" -pubout -out "$W/$alg.pub.pem"
    fi

    step "$name: cold pkeyutl -sign = ReadPublic Load Sign FlushContext, and it verifies"
    traced "cold-$name" openssl pkeyutl -sign "${TPM[@]}" -inkey "$uri" "${opts[@]}" \
        -in "$W/data.$hash" -out "$W/sig"
    expect_commands "cold-$name" "ReadPublic Load Sign FlushContext"
    openssl pkeyutl -verify -provider default -pubin -inkey "$W/$alg.pub.pem" "${opts[@]}" \
        -in "$W/data.$hash" -sigfile "$W/sig" | grep -q 'Signature Verified Successfully' ||
        fail "$name: the cold signature does not verify"

    step "$name: $N EVP_DigestSign in one process = the cold overhead + $N × Sign"
    signs_n "warm-$name" "$uri" "$N" "$N" "${srate[@]}"
    expect_commands "warm-$name" "ReadPublic Load $(repeat Sign "$N") FlushContext"
    step "$name: the same with a fresh signing context for each signature"
    signs_n "warm-fresh-$name" "$uri" "$N" "$N" "${srate[@]}" --fresh
    expect_commands "warm-fresh-$name" "ReadPublic Load $(repeat Sign "$N") FlushContext"
done

step "4 threads on one key: 4 × $N signatures, still one Load and one Sign each"
signs_n warm-threads 'tpmkms:name=ec-p256' "$N" $((4 * N)) --threads 4
expect_commands warm-threads "ReadPublic Load $(repeat Sign $((4 * N))) FlushContext"

step "a key file: the cold sign (the load's TPM check is skipped for the pcap TCTI), and the check runs once"
openssl pkey "${TPM[@]}" -in 'tpmkms:name=ec-p256' -out "$W/ec-p256.key.pem"
traced keyfile openssl pkeyutl -sign "${TPM[@]}" -inkey "$W/ec-p256.key.pem" \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -out "$W/sig"
expect_commands keyfile "ReadPublic Load Sign FlushContext"
# On swtpm itself the load checks the parent on a connection of its own:
# one ReadPublic for the check decoder, none for the EC decoder after it.
n=$(TPMKMS_DEBUG=1 openssl pkeyutl -sign "${TPM[@]}" -inkey "$W/ec-p256.key.pem" \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -out "$W/sig" 2>&1 |
    grep -c 'TPM2_ReadPublic(0x81000001)') || true
((n == 2)) || fail "a key file's cold sign read the parent $n times (want 2: the load's check and the sign)"
openssl pkeyutl -verify -provider default -pubin -inkey "$W/ec-p256.pub.pem" \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -sigfile "$W/sig" |
    grep -q 'Signature Verified Successfully' || fail "the key file's signature does not verify"
step "a key file's public key alone (pkey -pubin): no TPM command at all"
traced keyfile-pubin openssl pkey "${TPM[@]}" -pubin -in "$W/ec-p256.key.pem" \
    -pubout -out "$W/kf.pub.pem"
[[ ! -s $W/keyfile-pubin.pcap ]] || [[ -z $(tpm_commands "$W/keyfile-pubin.pcap" 2>/dev/null) ]] ||
    fail "openssl pkey -pubin on a key file sent TPM commands: $(tpm_commands "$W/keyfile-pubin.pcap")"
cmp -s "$W/kf.pub.pem" "$W/ec-p256.pub.pem" || fail "the key file's public key differs"

step "openssl req -new: the key loaded once, no capability or curve reads"
traced req openssl req -new "${TPM[@]}" -key 'tpmkms:name=ec-p256' -subj /CN=counted \
    -out "$W/req.csr"
expect_commands req "ReadPublic Load Sign FlushContext"
openssl req -in "$W/req.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
    fail "the CSR's self-signature does not verify"

step "TLS 1.3: a warm s_server signs each handshake with one Sign"
openssl req -new -x509 -provider default -provider tpmkms -key 'tpmkms:name=ec-p256' \
    -subj /CN=counted -days 1 -out "$W/tls.crt"
H=3
# Start s_server on a free port; another program may take the port between
# the look and the bind, so a server that exits before ACCEPT is retried.
server=
for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    if ss -Hltn "( sport = :$port )" | grep -q .; then continue; fi
    traced tls openssl s_server -provider default -provider tpmkms -key 'tpmkms:name=ec-p256' \
        -cert "$W/tls.crt" -accept "127.0.0.1:$port" -naccept "$H" -www -tls1_3 \
        >"$W/s_server.log" 2>&1 &
    server=$!
    on_exit "kill $server 2>/dev/null"
    for _ in $(seq 600); do     # up to 30 s on a busy machine
        grep -qs '^ACCEPT' "$W/s_server.log" && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    grep -qs '^ACCEPT' "$W/s_server.log" && break
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    printf '   s_server on port %s did not start (attempt %d): %s\n' "$port" "$attempt" \
        "$(tail -n 3 "$W/s_server.log" | tr '\n' ' ')"
    server=
done
[[ -n $server ]] || fail "s_server did not start after 5 attempts"
for ((i = 1; i <= H; i++)); do
    timeout 20 openssl s_client -provider default -connect "127.0.0.1:$port" -tls1_3 \
        -CAfile "$W/tls.crt" -verify_return_error </dev/null >"$W/s_client.log" 2>&1 ||
        fail "TLS handshake $i failed: $(tail -n 5 "$W/s_client.log"; printf -- '--- s_server ---\n'; cat "$W/s_server.log")"
    grep -q '^New, TLSv1.3' "$W/s_client.log" || fail "handshake $i was not TLS 1.3"
done
timeout 20 tail --pid="$server" -f /dev/null || fail "s_server did not exit after $H handshakes"
wait "$server" || true
expect_commands tls "ReadPublic Load $(repeat Sign "$H") FlushContext"

pass

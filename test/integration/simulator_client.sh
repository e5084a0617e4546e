#!/usr/bin/env bash
# tpmkms's own client for TPM simulators (provider/esys/tcti_socket.c),
# used for the TCTI names swtpm and mssim instead of tpm2-tss's TCTIs
# (which ignore receive timeouts; tpm_stops_answering.sh stops swtpm):
#   - mssim: through mssim_bridge.py (the Microsoft simulator's framing in
#     front of swtpm), `tpmkms probe`, create and `openssl pkeyutl -sign`
#     work; opening powers the simulator on (TPM_SIGNAL_POWER_ON, NV_ON on
#     port+1) and closing ends both sessions (TPM_SESSION_END);
#   - with the bridge stopped (kill -STOP), the threads of a warm signer
#     and a new pkeyutl give up in bounded time naming what got no answer
#     (TPM2_Sign; the platform port's TPM_SIGNAL_POWER_ON) and the
#     deadline, and both sign again after kill -CONT;
#   - config errors name the setting: a bad port, an unknown key; nothing
#     listening is "Connection refused", naming host and port.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl python3 timeout
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
SWTPM_PORT=${TPMKMS_TCTI##*port=}

python3 "$TPMKMS_SOURCE_DIR/test/integration/mssim_bridge.py" \
    --swtpm-port "$SWTPM_PORT" --log "$W/bridge.log" \
    >"$W/bridge.port" 2>"$W/bridge.err" &
bridge_pid=$!
on_exit 'kill -CONT "$bridge_pid" 2>/dev/null; kill "$bridge_pid" 2>/dev/null || true'
for _ in $(seq 50); do
    [[ -s $W/bridge.port ]] && break
    sleep 0.1
done
PORT=$(<"$W/bridge.port")
[[ $PORT =~ ^[0-9]+$ ]] || fail "mssim_bridge.py did not start: $(cat "$W/bridge.err")"
MSSIM="mssim:host=127.0.0.1,port=$PORT"

step "mssim: probe through the bridge powers the simulator on and ends both sessions"
timeout 40 tpmkms --tcti "$MSSIM" probe >"$W/probe.out" ||
    fail "tpmkms probe through $MSSIM failed"
grep -Eq '^  manufacturer +IBM' "$W/probe.out" ||
    fail "probe printed no manufacturer: $(cat "$W/probe.out")"
for _ in $(seq 20); do
    grep -q '^session-end platform$' "$W/bridge.log" && break
    sleep 0.1
done
for line in 'platform 1' 'platform 11' 'send locality 0 length' 'session-end tpm' 'session-end platform'; do
    grep -q "^$line" "$W/bridge.log" ||
        fail "the bridge did not see '$line': $(cat "$W/bridge.log")"
done
printf '   bridge saw: %s\n' "$(sort -u "$W/bridge.log" | sed 's/length [0-9]*/length N/' | sort -u | paste -sd, -)"

step "mssim: create a key and sign with it (openssl pkeyutl, tcti= in the URI)"
TPMKMS_TCTI=$MSSIM timeout 60 tpmkms create 'tpmkms:name=viamssim' --alg ec-p256 >/dev/null ||
    fail "tpmkms create through $MSSIM failed"
openssl dgst -sha256 -binary -out "$W/dg" /etc/hostname
timeout 40 openssl pkeyutl -sign "${TPM[@]}" \
    -inkey "tpmkms:name=viamssim;tcti=$MSSIM" -in "$W/dg" -out "$W/sig" ||
    fail "signing through $MSSIM failed"
openssl pkey "${TPM[@]}" -in "tpmkms:name=viamssim;tcti=$MSSIM" -pubout -out "$W/pub.pem" ||
    fail "cannot read the public key of tpmkms:name=viamssim"
openssl pkeyutl -verify -pubin -inkey "$W/pub.pem" -in "$W/dg" -sigfile "$W/sig" >/dev/null ||
    fail "the signature made through mssim does not verify"

step "mssim: a warm 2-thread signer while the bridge is stopped: TPM2_Sign gives up, the process recovers"
CS=$TPMKMS_BUILD_DIR/test/concurrent_signing
[[ -x $CS ]] || fail "$CS is not built (cmake --build $TPMKMS_BUILD_DIR --target concurrent_signing)"
timeout 60 "$CS" --threads 2 --signs 1 --go "$W/go" --after "$W/after" \
    "tpmkms:name=viamssim;tcti=$MSSIM;tpm-timeout=2" >"$W/cs.out" 2>"$W/cs.err" &
cs_pid=$!
on_exit 'kill "$cs_pid" 2>/dev/null || true'
for _ in $(seq 200); do
    grep -q '^holding$' "$W/cs.out" && break
    kill -0 "$cs_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q '^holding$' "$W/cs.out" || fail "concurrent_signing did not warm up: $(cat "$W/cs.out" "$W/cs.err")"
kill -STOP "$bridge_pid"
: >"$W/go"
for _ in $(seq 150); do
    grep -q 'verified.*failed' "$W/cs.out" && break
    sleep 0.1
done
grep -q '2 threads x 1 signatures on 1 key (SHA256): 0 verified, 2 failed' "$W/cs.out" ||
    fail "the threads did not both return failing within 15 s: $(cat "$W/cs.out" "$W/cs.err")"
grep -q "TPM2_Sign got no answer from the TPM within 2 s (TCTI \"$MSSIM\")" "$W/cs.err" ||
    fail "no error named TPM2_Sign, the deadline and the TPM: $(cat "$W/cs.err")"
kill -CONT "$bridge_pid"
: >"$W/after"
rc=0
wait "$cs_pid" || rc=$?
((rc == 1)) || fail "concurrent_signing exited $rc, expected 1: $(cat "$W/cs.err")"
grep -q '^after: verified$' "$W/cs.out" ||
    fail "the process did not sign again once the bridge answered: $(cat "$W/cs.out" "$W/cs.err")"

step "mssim bridge stopped (kill -STOP): pkeyutl gives up within 8 s (tpm-timeout=2)"
kill -STOP "$bridge_pid"
t0=$(date +%s%N)
rc=0
out=$(timeout 40 openssl pkeyutl -sign "${TPM[@]}" \
    -inkey "tpmkms:name=viamssim;tcti=$MSSIM;tpm-timeout=2" \
    -in "$W/dg" -out "$W/sig" 2>&1) || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
((rc != 124)) || fail "pkeyutl hung for 40 s on the stopped bridge"
((rc != 0)) || fail "pkeyutl signed through a stopped bridge"
((ms <= 8000)) || fail "pkeyutl gave up after ${ms} ms, more than 8 s"
grep -Eq "TCTI \"$MSSIM\".*(TPM_SIGNAL_POWER_ON got no answer from the mssim platform port at 127\.0\.0\.1:$((PORT + 1))|connecting to the mssim [a-z ]+ at 127\.0\.0\.1:[0-9]+ got no answer) within 2 s" <<<"$out" || {
    printf '%s\n' "$out" >&2
    fail "the error does not name what got no answer, the deadline and the TPM"
}
printf '   gave up after %d ms: %s\n' "$ms" "$(grep -Eo 'cannot open the TPM.*within 2 s' <<<"$out" | head -1)"

step "mssim bridge resumed (kill -CONT): the next signature works"
kill -CONT "$bridge_pid"
timeout 40 openssl pkeyutl -sign "${TPM[@]}" \
    -inkey "tpmkms:name=viamssim;tcti=$MSSIM;tpm-timeout=2" -in "$W/dg" -out "$W/sig" ||
    fail "signing through $MSSIM after kill -CONT failed"

step "simulator configs: errors name the setting, the host and the port"
expect_fail "cannot open the TPM through TCTI \"swtpm:port=abc\": port 'abc' is invalid" \
    tpmkms --tcti 'swtpm:port=abc' probe
expect_fail "unknown setting \"path\"" \
    tpmkms --tcti 'mssim:path=/tmp/x' probe
# The bridge's port pair, released: nothing listens there any more.
kill "$bridge_pid"
wait "$bridge_pid" 2>/dev/null || true
expect_fail "cannot connect to the (swtpm|mssim TPM port) at 127\.0\.0\.1:$PORT: Connection refused" \
    tpmkms --tcti "swtpm:host=127.0.0.1,port=$PORT" probe
expect_fail "cannot connect to the mssim TPM port at 127\.0\.0\.1:$PORT: Connection refused" \
    tpmkms --tcti "mssim:host=127.0.0.1,port=$PORT" probe

pass

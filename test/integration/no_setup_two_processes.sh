#!/usr/bin/env bash
# Without `tpmkms setup` (no persistent SRK at 0x81000001), two processes
# share a TPM that has no resource manager (swtpm: three object slots for
# everybody), each keeping its own key loaded as a server does, and sign
# at the same time: every signature verifies, none waits for an object
# slot, and the whole run takes a fraction of the 10 s one slot wait costs.
# Each process derives the owner's primary (TPM2_CreatePrimary) to load its
# key and flushes it right after the TPM2_Load, so that between signatures
# it holds its key alone, as it would with a persistent SRK; its commands
# (pcap TCTI, one file per process) are exactly
#   ReadPublic CreatePrimary Load FlushContext Sign x (N+1) FlushContext
# (A process that kept its primary held two of the three slots, and the
# other one then waited 10 s per signature and failed with "out of memory
# for object contexts": issue 20, defect 10.)
# Also: a parent that signed before forking, children signing at once
# (they hold nothing between signatures), all without setup.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
# shellcheck source=bench/tpmcount.sh
. "$TPMKMS_SOURCE_DIR/bench/tpmcount.sh"

require_program tshark tpm2_getcap
start_swtpm
fixture() { env -u OPENSSL_CONF "$@"; }
W=$TPMKMS_WORK
SWTPM=$TPMKMS_TCTI
HOLD=$TPMKMS_BUILD_DIR/test/hold_and_sign
FORK=$TPMKMS_BUILD_DIR/test/fork_then_sign
for p in "$HOLD" "$FORK"; do
    [[ -x $p ]] || fail "$p is not built (cmake --build $TPMKMS_BUILD_DIR --target ${p##*/})"
done
SIGNS=20
LIMIT_MS=8000           # one slot wait alone is 10 s (ESYS_SLOT_WAIT_MS)
# A forked child leaks its parent's TCTI on purpose (see fork_then_sign.sh).
printf 'leak:Tss2_TctiLdr_Initialize_Ex\n' >"$W/lsan.supp"
export LSAN_OPTIONS=suppressions=$W/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}

transient_handles() {
    fixture tpm2_getcap -T "$SWTPM" handles-transient | tr -d '\n'
}
now_ms() { date +%s%3N; }

repeat() {              # repeat N WORD: WORD N times, space-separated
    local i out=
    for ((i = 0; i < $1; i++)); do out+="${out:+ }$2"; done
    printf '%s' "$out"
}

# start_holder NAME URI: hold_and_sign in the background, its TPM commands
# in $W/NAME.pcap, its TPMKMS_DEBUG log in $W/NAME.log; returns once it
# signed its first signature and holds its key.
start_holder() {
    local name=$1 uri=$2 pid i
    TPMKMS_DEBUG=1 TPMKMS_TCTI=pcap:$SWTPM TCTI_PCAP_FILE=$W/$name.pcap \
        "$HOLD" --signs "$SIGNS" --go "$W/go" "$uri" >"$W/$name.out" 2>"$W/$name.log" &
    pid=$!
    eval "PID_$name=$pid"
    for ((i = 0; i < 3000; i++)); do
        grep -qx holding "$W/$name.out" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    cat "$W/$name.out" "$W/$name.log" >&2
    fail "$name: its first signature did not succeed within 30 s (another process holds the TPM's object slots?)"
}

step "no tpmkms setup: two EC P-256 keys under the owner's primary"
tpmkms create 'tpmkms:name=one' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=two' --alg ec-p256 >/dev/null
fixture tpm2_getcap -T "$SWTPM" handles-persistent | grep -qi 0x81000001 &&
    fail "the SRK is persistent: this test is about a TPM without tpmkms setup"
[[ -z $(transient_handles) ]] || fail "objects loaded before the test: $(transient_handles)"

step "two processes each sign once and keep their key loaded, then sign $SIGNS times at once"
t0=$(now_ms)
start_holder one 'tpmkms:name=one'
printf '   one holds: %s\n' "$(transient_handles)"
start_holder two 'tpmkms:name=two'
printf '   one and two hold: %s\n' "$(transient_handles)"
touch "$W/go"
status=0
wait "$PID_one" || status=1
wait "$PID_two" || status=$((status + 2))
elapsed=$(($(now_ms) - t0))
for name in one two; do
    printf '   %s: %s\n' "$name" "$(tail -n 1 "$W/$name.out")"
done
printf '   both: %d ms\n' "$elapsed"
((status == 0)) || {
    cat "$W/one.log" "$W/two.log" >&2
    fail "not every signature succeeded (exit status bits $status: 1 one, 2 two)"
}
for name in one two; do
    grep -q "^$((SIGNS + 1)) verified, 0 failed" "$W/$name.out" ||
        fail "$name did not report $((SIGNS + 1)) verified signatures: $(cat "$W/$name.out")"
done
((elapsed < LIMIT_MS)) ||
    fail "2 x $((SIGNS + 1)) signatures took $elapsed ms (limit $LIMIT_MS ms): a process waited for an object slot"

step "neither process waited for an object slot (TPMKMS_DEBUG)"
for name in one two; do
    if grep -E 'object memory full|other processes hold the TPM' "$W/$name.log"; then
        fail "$name waited for an object slot"
    fi
done

step "each process: its primary flushed right after the Load, then one Sign per signature"
want="ReadPublic CreatePrimary Load FlushContext $(repeat $((SIGNS + 1)) Sign) FlushContext"
for name in one two; do
    got=$(tpm_commands "$W/$name.pcap")
    [[ $got == "$want" ]] ||
        fail "$name sent \"$got\", expected \"$want\""
    # Only the lookup of the absent SRK fails (0x18b: TPM_RC_HANDLE).
    errs=$(tpm_errors "$W/$name.pcap")
    [[ $errs == "ReadPublic:0x0000018b" ]] || fail "$name had TPM errors: $errs"
done
printf '   each: ReadPublic CreatePrimary Load FlushContext, Sign x %d, FlushContext\n' $((SIGNS + 1))

step "nothing is left loaded"
[[ -z $(transient_handles) ]] || fail "objects left loaded: $(transient_handles)"

step "a parent signs, then forks 2 children; all sign at once, no setup"
t0=$(now_ms)
"$FORK" --children 2 --signs 10 'tpmkms:name=one' >"$W/fork.log" 2>&1 || {
    cat "$W/fork.log" >&2
    fail "fork_then_sign without setup failed"
}
elapsed=$(($(now_ms) - t0))
printf '   %s, %d ms\n' "$(tail -n 1 "$W/fork.log")" "$elapsed"
((elapsed < LIMIT_MS)) ||
    fail "the parent and 2 children took $elapsed ms (limit $LIMIT_MS ms): a process waited out the slot wait"
[[ -z $(transient_handles) ]] || fail "objects left loaded: $(transient_handles)"

pass

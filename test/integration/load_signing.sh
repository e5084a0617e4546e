#!/usr/bin/env bash
# Load (issue 20): 8 threads x 2000 ECDSA P-256 signatures on one key, and
# 8 threads x 2000 on 8 keys (thread i signs with key i mod 8), straight on
# swtpm with no resource manager: every one of the 32,000 signatures is
# verified in software, none fails.  With 8 keys and at most 2 kept loaded
# per connection, the keys are loaded and flushed in turn all the time,
# which is where a lock or an object-slot bug would show.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

start_swtpm
W=$TPMKMS_WORK
PROG=$TPMKMS_BUILD_DIR/test/concurrent_signing
[[ -x $PROG ]] || fail "$PROG is not built (cmake --build $TPMKMS_BUILD_DIR --target concurrent_signing)"
THREADS=8
SIGNS=2000

# load NAME URI...: THREADS x SIGNS signatures over the URIs, all verified.
load() {
    local name=$1 want=$((THREADS * SIGNS))
    shift
    timeout 300 "$PROG" --threads "$THREADS" --signs "$SIGNS" "$@" \
        >"$W/$name.log" 2>&1 || {
        tail -n 20 "$W/$name.log" >&2
        fail "$name: not every signature of $THREADS threads verified"
    }
    grep -q ": $want verified, 0 failed" "$W/$name.log" || {
        tail -n 20 "$W/$name.log" >&2
        fail "$name: the program did not report $want verified signatures"
    }
    tail -n 1 "$W/$name.log"
}

step "tpmkms setup; create 8 EC P-256 keys"
tpmkms setup >/dev/null
keys=()
for i in $(seq 1 8); do
    tpmkms create "tpmkms:name=load-$i" --alg ec-p256 >/dev/null
    keys+=("tpmkms:name=load-$i")
done

step "$THREADS threads x $SIGNS signatures on one key"
load one-key "${keys[0]}"

step "$THREADS threads x $SIGNS signatures on 8 keys"
load eight-keys "${keys[@]}"

pass

#!/usr/bin/env bash
# A crash or a full disk never leaves a truncated, unparsable or lost key
# record.
#
# `tpmkms create --force` replaces a record by writing a temp file in the
# same directory, fsync, rename over the old record, fsync the directory.
# It is killed (SIGKILL) at each of those points (strace -e inject), made to
# fail there (EIO), given a file size limit so the temp file is cut short
# (EFBIG, as on a full disk), and killed at random moments in a loop.  After
# every one: the record is there and parses (tpmkms show), it is the old key
# or the new one, the store lists one key, any temp file left is not taken
# for a record, and the key still signs.  A later create sweeps the temp
# files that writers which died left behind.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_flushcontext strace timeout
start_swtpm
W=$TPMKMS_WORK
TPM=(-provider tpmkms -provider default)
K=$XDG_DATA_HOME/tpmkms/keys
URI='tpmkms:name=crash;key-scope=user'

# The key's public half as the store has it now (no TPM command).
public_key() {
    tpmkms show "$URI" >"$W/show" 2>"$W/show.err" ||
        fail "the record does not load: $(cat "$W/show.err")"
    sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$W/show"
}

# check_store: the record is whole and the only thing taken for one.
check_store() {
    local n
    [[ -f $K/crash.tpmkey ]] || fail "the record $K/crash.tpmkey is gone"
    public_key >/dev/null
    [[ $(head -n 1 "$K/crash.tpmkey") == '# tpmkms key record' ]] || fail "the record's first line is wrong"
    [[ $(grep -c -- '-----END TSS2 PRIVATE KEY-----' "$K/crash.tpmkey") == 1 ]] ||
        fail "the record does not end its key block once"
    while read -r n; do
        [[ $n == crash.tpmkey || $n =~ ^\.crash\.tpmkey\.[0-9]+\.[0-9a-f]+\.tmp$ ]] ||
            fail "unexpected file in the store: $K/$n"
    done < <(find "$K" -mindepth 1 -maxdepth 1 -printf '%f\n')
    tpmkms list --scope user >"$W/list"
    [[ $(wc -l <"$W/list") == 1 ]] && grep -q "^$URI " "$W/list" ||
        fail "tpmkms list shows more or other than the one key: $(cat "$W/list")"
}

signs() {
    openssl dgst -sha256 "${TPM[@]}" -sign "$URI" -out "$W/sig" "$W/msg"
    openssl pkey "${TPM[@]}" -in "$URI" -pubout -out "$W/pub"
    openssl dgst -sha256 -verify "$W/pub" -signature "$W/sig" "$W/msg" >/dev/null ||
        fail "the key in the record does not verify its own signature"
}

temps() {
    find "$K" -maxdepth 1 -name '.crash.tpmkey.*.tmp' | wc -l
}

# crash_at WHAT OLD|NEW STRACE-INJECT...: create --force under strace; the
# record afterwards must hold the old key or the new one, as said.
crash_at() {
    local what=$1 want=$2 before after rc=0
    shift 2
    before=$(public_key)
    # (The subshell keeps bash's "Killed" job message out of the log.)
    (strace -f -qq -o /dev/null -e trace=fsync,rename "$@" \
        tpmkms create "$URI" --force >"$W/out" 2>&1 || exit $?) 2>/dev/null || rc=$?
    check_store
    after=$(public_key)
    if [[ $want == old ]]; then
        [[ $after == "$before" ]] || fail "$what: the record changed to a new key"
    else
        [[ $after != "$before" ]] || fail "$what: the record still holds the old key"
    fi
    printf '   %s: exit %d, record holds the %s key, %d temp file(s) left\n' "$what" "$rc" "$want" "$(temps)"
    LAST_RC=$rc
}

printf 'crash test\n' >"$W/msg"

step "tpmkms setup; the key 'crash'"
tpmkms setup
tpmkms create "$URI" >/dev/null
check_store
signs

step "killed at the temp file's fsync, at the rename, after the rename"
crash_at "SIGKILL at fsync(temp)" old -e inject=fsync:signal=KILL:when=1
((LAST_RC == 137)) || fail "not killed (exit $LAST_RC): $(cat "$W/out")"
crash_at "SIGKILL at rename" old -e inject=rename:signal=KILL
((LAST_RC == 137)) || fail "not killed (exit $LAST_RC): $(cat "$W/out")"
crash_at "SIGKILL at fsync(dir), after the rename" new -e inject=fsync:signal=KILL:when=2
((LAST_RC == 137)) || fail "not killed (exit $LAST_RC): $(cat "$W/out")"
(($(temps) == 2)) || fail "expected the 2 temp files of the two kills before the rename, found $(temps)"
signs

step "an I/O error at fsync or rename fails the create and keeps the old record, no temp file"
rm -f "$K"/.crash.tpmkey.*.tmp
crash_at "EIO at fsync(temp)" old -e inject=fsync:error=EIO:when=1
((LAST_RC == 1)) && grep -q 'cannot write .*crash.tpmkey: Input/output error' "$W/out" ||
    fail "EIO at fsync: exit $LAST_RC: $(cat "$W/out")"
crash_at "EIO at rename" old -e inject=rename:error=EIO
((LAST_RC == 1)) && grep -q 'Input/output error' "$W/out" || fail "EIO at rename: exit $LAST_RC: $(cat "$W/out")"
(($(temps) == 0)) || fail "a failed write left a temp file"

step "a full disk (file size limit): the temp file is cut short, the record is untouched"
# An rsa-3072 record is over 1 KiB: its write is cut at 1024 bytes, then EFBIG.
before=$(public_key)
rc=0
(trap '' XFSZ && ulimit -f 1 && exec tpmkms create "$URI" --force --alg rsa-3072) >"$W/out" 2>&1 || rc=$?
((rc == 1)) && grep -q 'cannot write .*crash.tpmkey: File too large' "$W/out" ||
    fail "a cut-short write: exit $rc: $(cat "$W/out")"
check_store
[[ $(public_key) == "$before" ]] || fail "the record changed after a failed write"
(($(temps) == 0)) || fail "a failed write left a temp file"
signs

step "killed at random moments, 30 times"
t0=$(date +%s%N)
tpmkms create "$URI" --force --alg ec-p256 >/dev/null 2>&1
span=$((($(date +%s%N) - t0) / 1000000 + 2))     # ms: about one create
killed=0 done=0
for i in $(seq 1 30); do
    delay=$((RANDOM % span + 1))
    rc=0
    (timeout --foreground -s KILL "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))" \
        tpmkms create "$URI" --force --alg ec-p256 >/dev/null 2>&1 || exit $?) 2>/dev/null || rc=$?
    case $rc in
    0) done=$((done + 1)) ;;
    124 | 137) killed=$((killed + 1)) ;;    # timeout says 124 when it killed it
    *) fail "iteration $i: create exited $rc (not done, not killed)" ;;
    esac
    check_store
    tpm2_flushcontext -t     # no resource manager: drop what a killed client loaded
done
printf '   %d killed, %d completed (delays up to %d ms); the record was whole after each\n' \
    "$killed" "$done" "$span"
signs

step "a later create sweeps the temp files of writers that died"
crash_at "SIGKILL at rename" old -e inject=rename:signal=KILL
(($(temps) >= 1)) || fail "no temp file left to sweep"
touch -d '2 hours ago' "$K"/.crash.tpmkey.*.tmp
tpmkms create "$URI" --force >"$W/out" 2>&1
(($(temps) == 0)) || fail "$(temps) temp files were not swept: $(ls -la "$K")"
check_store
signs

pass

#!/usr/bin/env bash
# A `tpmkms create --persistent` killed at any moment leaves no persistent
# handle that no key record names, and `tpmkms list --orphans` finds the
# handles that nothing names for other reasons, each with the command that
# evicts it.
#
# create writes the record first as keys/NAME.pending, makes the key
# persistent (TPM2_EvictControl), then moves the pending record into
# place.  Killed in between, the pending record stays; the next list,
# create of the name or delete of it settles it: the handle holds its key,
# so the record is completed; the handle is empty or holds another key
# (someone took it meanwhile), so the pending record goes and the TPM is
# left alone.
#
# Deterministic kills (strace -e inject) at the pending record's write
# and at the link that puts it in place, settled by list, create and
# delete; a handle taken by another key in between; then SIGKILL at random
# moments over the create's duration, after which every persistent handle
# is named by a record.  Orphans made on purpose (a key tpm2-tools made
# persistent, a record removed by hand) are what `list --orphans` prints,
# exit 5, and each printed command removes its handle, after which it
# prints none (exit 0).  A store it cannot read makes its answer
# incomplete (exit 1, nothing listed), never a false orphan.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap tpm2_flushcontext tpm2_createprimary \
    tpm2_evictcontrol strace timeout comm sort setpriv
start_swtpm
W=$TPMKMS_WORK
M=$TPMKMS_MACHINE_STORE/keys
TPM=(-provider tpmkms -provider default)
printf 'interrupted\n' >"$W/msg"

mkey() { printf 'tpmkms:name=%s;key-scope=machine' "$1"; }

# The persistent handles records name, and those in the TPM (less the SRK),
# lower-case hex, sorted.
named_handles() {
    cat "$M"/*.tpmkey 2>/dev/null | sed -n 's/^persistent-handle: //p' | tr 'A-F' 'a-f' | sort -u
}
tpm_handles() {
    persistent_handles | tr 'A-F' 'a-f' | grep -vx 0x81000001 | sort -u || true
}
pending_count() {
    find "$M" -maxdepth 1 -name '*.pending' | wc -l
}
# accounted: every handle in the TPM is named by a record, no pending left.
accounted() {
    local orphans
    orphans=$(comm -13 <(named_handles) <(tpm_handles) | tr '\n' ' ')
    [[ -z $orphans ]] || fail "$1: persistent handles no record names: $orphans"
    (($(pending_count) == 0)) || fail "$1: pending records left: $(ls "$M")"
}
signs() {
    openssl dgst -sha256 "${TPM[@]}" -sign "$(mkey "$1")" -out "$W/sig" "$W/msg"
    openssl pkey "${TPM[@]}" -in "$(mkey "$1")" -pubout -out "$W/pub"
    openssl dgst -sha256 -verify "$W/pub" -signature "$W/sig" "$W/msg" >/dev/null ||
        fail "$1 does not verify its own signature"
}

# killed_create NAME HANDLE STRACE-INJECT...: create --persistent, killed
# by strace where it says; no resource manager, so drop what it loaded.
killed_create() {
    local name=$1 handle=$2 rc=0
    shift 2
    (strace -f -qq -o /dev/null -e trace=fsync,rename,link,unlink "$@" \
        tpmkms create "$(mkey "$name")" --persistent "$handle" >"$W/out" 2>&1 || exit $?) \
        2>/dev/null || rc=$?
    ((rc == 137)) || fail "create of $name was not killed (exit $rc): $(cat "$W/out")"
    tpm2_flushcontext -t
}

step "tpmkms setup; one persistent machine key"
tpmkms setup >/dev/null
tpmkms create "$(mkey base)" --persistent 0x81000010 2>/dev/null >/dev/null
accounted "after a create"
signs base

step "killed at the link that puts the record in place: list completes it"
# A create --persistent renames the pending record's temp file to
# keys/NAME.pending (then fsyncs the directory), makes the key persistent,
# and links keys/NAME.pending to keys/NAME.tpmkey (a rename with --force).
killed_create done1 0x81000011 -e inject=link:signal=KILL
[[ -f $M/done1.pending && ! -e $M/done1.tpmkey ]] ||
    fail "expected a pending record and no record: $(ls "$M")"
has_handle 0x81000011
tpmkms list --scope machine >"$W/list" 2>"$W/list.err" || fail "list failed: $(cat "$W/list.err")"
grep -q 'note: completed an interrupted create: persistent handle 0x81000011 held the key of .*/done1.pending' \
    "$W/list.err" || fail "list did not say it completed done1: $(cat "$W/list.err")"
grep -q "^$(mkey done1) " "$W/list" || fail "done1 is not listed: $(cat "$W/list")"
accounted "list after a kill at the record's link"
signs done1

step "killed between the link and the unlink of the pending record: list completes it"
# keys/NAME.pending and keys/NAME.tpmkey are then two links of one file,
# where rename() of one onto the other does nothing.
killed_create linked 0x81000018 -e inject=unlink:signal=KILL:when=1
[[ -f $M/linked.pending && -f $M/linked.tpmkey ]] ||
    fail "expected both links of linked's record: $(ls "$M")"
tpmkms list --scope machine >"$W/list" 2>"$W/list.err" || fail "list failed: $(cat "$W/list.err")"
grep -q 'note: completed an interrupted create: persistent handle 0x81000018' "$W/list.err" ||
    fail "list did not say it completed linked: $(cat "$W/list.err")"
accounted "list after a kill between the link and the unlink"
signs linked

step "killed at the pending record's own write (before TPM2_EvictControl): list removes it"
# Its only rename is the temp file's to keys/NAME.pending: killed there,
# nothing is pending yet and the TPM is untouched.
killed_create early 0x81000012 -e inject=rename:signal=KILL:when=1
lacks_handle 0x81000012
[[ ! -e $M/early.tpmkey ]] || fail "a record for early exists"
accounted "a kill before the pending record is written"
# Killed after the rename (at the directory's fsync): pending, TPM untouched.
killed_create early 0x81000012 -e inject=fsync:signal=KILL:when=2
[[ -f $M/early.pending ]] || fail "no pending record for early: $(ls "$M")"
lacks_handle 0x81000012
tpmkms list --scope machine >/dev/null 2>"$W/list.err"
grep -q 'note: removed .*/early.pending, left by an interrupted create: persistent handle 0x81000012 did not hold its key' \
    "$W/list.err" || fail "list did not remove early's pending record: $(cat "$W/list.err")"
accounted "list after a kill before TPM2_EvictControl"

step "the handle taken by another key in between: the pending record goes, the other key stays"
killed_create taken 0x81000013 -e inject=fsync:signal=KILL:when=2
[[ -f $M/taken.pending ]] || fail "no pending record for taken"
tpm2_createprimary -Q -C o -c "$W/other.ctx"
tpm2_evictcontrol -Q -C o -c "$W/other.ctx" 0x81000013
tpm2_flushcontext -t
tpmkms list --scope machine >/dev/null 2>"$W/list.err"
grep -q 'removed .*/taken.pending.*0x81000013 did not hold its key' "$W/list.err" ||
    fail "list did not remove taken's pending record: $(cat "$W/list.err")"
has_handle 0x81000013
(($(pending_count) == 0)) || fail "pending records left: $(ls "$M")"
[[ ! -e $M/taken.tpmkey ]] || fail "taken got a record for another key's handle"
rc=0
tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
((rc == 5)) || fail "list --orphans: exit $rc, not 5: $(cat "$W/orphans" "$W/orphans.err")"
[[ $(cat "$W/orphans") == "0x81000013  tpmkms delete 'tpmkms:handle=0x81000013'" ]] ||
    fail "list --orphans printed: $(cat "$W/orphans")"
tpm2_evictcontrol -Q -C o -c 0x81000013
accounted "the other key evicted"

step "a later create of the name settles its pending record first"
killed_create again 0x81000014 -e inject=link:signal=KILL
has_handle 0x81000014
expect_exit 1 'already exists.*an interrupted create of it was just completed' \
    tpmkms create "$(mkey again)" --persistent 0x81000014
accounted "create after a kill at the record's link"
signs again
killed_create again2 0x81000015 -e inject=fsync:signal=KILL:when=2
tpmkms create "$(mkey again2)" --persistent 0x81000015 >/dev/null 2>"$W/create.err"
grep -q 'note: removed the pending record of an interrupted create of .*again2.*0x81000015 did not hold its key' \
    "$W/create.err" || fail "create did not say it settled: $(cat "$W/create.err")"
accounted "create after a kill before TPM2_EvictControl"
signs again2

step "delete of the name settles its pending record first"
killed_create del1 0x81000016 -e inject=link:signal=KILL
tpmkms delete "$(mkey del1)" >"$W/del" 2>&1 || fail "delete failed: $(cat "$W/del")"
grep -q "completed an interrupted create of 'del1' first" "$W/del" &&
    grep -q 'evicted persistent handle 0x81000016' "$W/del" || fail "delete said: $(cat "$W/del")"
lacks_handle 0x81000016
killed_create del2 0x81000017 -e inject=fsync:signal=KILL:when=2
tpmkms delete "$(mkey del2)" >"$W/del" 2>&1 || fail "delete failed: $(cat "$W/del")"
grep -q 'removed .*del2.pending, left by an interrupted create' "$W/del" &&
    grep -q "^deleted $(mkey del2)" "$W/del" || fail "delete said: $(cat "$W/del")"
expect_exit 2 "key 'del2' not found" tpmkms delete "$(mkey del2)"
accounted "delete after kills"

step "SIGKILL at random moments over create --persistent, 50 times"
t0=$(date +%s%N)
tpmkms create "$(mkey r0)" --persistent 0x81000100 >/dev/null 2>&1
span=$((($(date +%s%N) - t0) / 1000000 + 2))     # ms: about one create
killed=0 done=0
for i in $(seq 1 50); do
    handle=$(printf '0x%08x' $((0x81000100 + i)))
    delay=$((RANDOM % span + 1))
    rc=0
    (timeout --foreground -s KILL "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))" \
        tpmkms create "$(mkey "r$i")" --persistent "$handle" >/dev/null 2>&1 || exit $?) \
        2>/dev/null || rc=$?
    case $rc in
    0) done=$((done + 1)) ;;
    124 | 137) killed=$((killed + 1)) ;;
    *) fail "iteration $i: create exited $rc (not done, not killed)" ;;
    esac
    tpm2_flushcontext -t
done
pending=$(pending_count)
printf '   %d killed, %d completed (delays up to %d ms); %d left a pending record\n' \
    "$killed" "$done" "$span" "$pending"
((pending > 0)) || fail "no kill landed between the pending record and its rename: the window was not hit"
tpmkms list --scope machine >/dev/null 2>"$W/list.err" || fail "list failed: $(cat "$W/list.err")"
printf '   list completed %d and removed %d\n' "$(grep -c 'note: completed' "$W/list.err" || true)" \
    "$(grep -c 'note: removed' "$W/list.err" || true)"
accounted "after the random kills and a list"
rc=0
tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
((rc == 0)) && [[ ! -s $W/orphans ]] ||
    fail "list --orphans (exit $rc) after the random kills: $(cat "$W/orphans" "$W/orphans.err")"

step "orphans made on purpose: list --orphans prints exactly them, each command removes one"
# A key tpm2-tools made persistent, and a persistent key whose record was
# removed by hand.
tpm2_createprimary -Q -C o -c "$W/tools.ctx"
tpm2_evictcontrol -Q -C o -c "$W/tools.ctx" 0x81000200
tpm2_flushcontext -t
tpmkms create "$(mkey lost)" --persistent 0x81000201 >/dev/null 2>&1
rm "$M/lost.tpmkey"
rc=0
tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
((rc == 5)) || fail "list --orphans: exit $rc, not 5: $(cat "$W/orphans" "$W/orphans.err")"
printf "%s\n" "0x81000200  tpmkms delete 'tpmkms:handle=0x81000200'" \
    "0x81000201  tpmkms delete 'tpmkms:handle=0x81000201'" >"$W/want"
diff "$W/want" "$W/orphans" >&2 || fail "list --orphans printed other than the two orphans"
grep -q 'check before evicting' "$W/orphans.err" || fail "no warning on stderr: $(cat "$W/orphans.err")"
while read -r _ cmd; do
    eval "$cmd" >/dev/null || fail "the printed command failed: $cmd"
done <"$W/orphans"
lacks_handle 0x81000200
lacks_handle 0x81000201
rc=0
tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
((rc == 0)) && [[ ! -s $W/orphans ]] || fail "orphans left (exit $rc): $(cat "$W/orphans")"
grep -q 'no orphaned persistent handles' "$W/orphans.err" || fail "stderr: $(cat "$W/orphans.err")"
accounted "the orphans evicted"
[[ $(comm -3 <(named_handles) <(tpm_handles)) == '' ]] || fail "records and handles differ"

step "a machine store that cannot be read makes the answer incomplete, never a false orphan"
# As a user outside the machine group (nobody, through setpriv) when run as
# root, else with the store made unreadable.
rc=0
if (($(id -u) == 0)); then
    chmod 0711 "$W"
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        env HOME="$W/nohome" XDG_DATA_HOME="$W/nohome/.local/share" \
        tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
    chmod 0700 "$W"
else
    chmod 000 "$M"
    tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
    chmod 750 "$M"
fi
((rc == 1)) || fail "list --orphans with an unreadable store: exit $rc, not 1: $(cat "$W/orphans.err")"
[[ ! -s $W/orphans ]] || fail "handles listed as orphans: $(cat "$W/orphans")"
grep -q 'machine key store .* not listed' "$W/orphans.err" &&
    grep -q 'cannot tell which persistent handles are orphaned' "$W/orphans.err" ||
    fail "stderr does not say the answer is incomplete: $(cat "$W/orphans.err")"
cp "$M/base.tpmkey" "$W/base.tpmkey"
printf 'not a record\n' >"$M/base.tpmkey"
rc=0
tpmkms list --orphans >"$W/orphans" 2>"$W/orphans.err" || rc=$?
((rc == 1)) && [[ ! -s $W/orphans ]] ||
    fail "a damaged record: list --orphans exit $rc: $(cat "$W/orphans" "$W/orphans.err")"
grep -q "skipped $M/base.tpmkey" "$W/orphans.err" || fail "the damaged record is not named"
cp "$W/base.tpmkey" "$M/base.tpmkey"
tpmkms list --orphans >/dev/null 2>&1 || fail "list --orphans fails with the record back"
expect_exit 64 'takes no --scope' tpmkms list --orphans --scope machine

pass

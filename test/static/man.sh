#!/usr/bin/env bash
# The man pages render without a warning (groff -man -ww -z) and say what
# the command's --help says: every command `tpmkms --help` lists has a
# subsection in tpmkms(1) and every subsection is a command; every option
# a command's --help names (--word) is in tpmkms(1); every exit code the
# help lists is under EXIT STATUS.  Fails naming each difference.
#   bash test/static/man.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=${1:?usage: man.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: man.sh BUILD_DIR SOURCE_DIR}
cli=$build/tpmkms
man1=$src/docs/man/tpmkms.1
man7=$src/docs/man/tpmkms.7
command -v groff >/dev/null || { echo "man: missing program: groff — run scripts/setup.sh" >&2; exit 1; }
[[ -x $cli ]] || { echo "man: $cli is missing: build first" >&2; exit 1; }

bad=0
fail() {
    printf 'man: %s\n' "$1" >&2
    bad=1
}

for page in "$man1" "$man7"; do
    out=$(groff -man -ww -z "$page" 2>&1) || fail "groff failed on $page"
    [[ -z $out ]] || fail "groff warns on $page: $out"
done

# The man page's text with roff's escapes for - undone.
text=$(sed -e 's/\\-/-/g' "$man1")

# The commands of `tpmkms --help` (the indented words under "commands:").
mapfile -t commands < <("$cli" --help 2>&1 |
    awk '/^commands:/ {on = 1; next} on && /^$/ {on = 0} on && NF {print $1}')
((${#commands[@]} > 0)) || fail "no commands found in 'tpmkms --help'"
mapfile -t sections < <(sed -n 's/^\.SS "\([a-z-]*\).*/\1/p' "$man1")
for c in "${commands[@]}"; do
    grep -qx -- "$c" <<<"$(printf '%s\n' "${sections[@]}")" ||
        fail "tpmkms $c is in 'tpmkms --help' but has no .SS section in tpmkms.1"
    # Every option of the command's help, in the page.
    while read -r opt; do
        grep -qF -- "$opt" <<<"$text" ||
            fail "'tpmkms $c --help' names $opt, tpmkms.1 does not"
    done < <("$cli" "$c" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u)
done
for s in "${sections[@]}"; do
    grep -qx -- "$s" <<<"$(printf '%s\n' "${commands[@]}")" ||
        fail "tpmkms.1 documents '$s', which 'tpmkms --help' does not list"
done

# Exit codes: "exit codes: 0 ok, 1 error, ..." (two lines) in the help.
codes=$("$cli" --help 2>&1 | awk '/^exit codes:/ {on = 1} on && !/^(exit codes:| )/ {on = 0} on' |
    grep -oE '\b[0-9]+ [a-z]' | awk '{print $1}')
[[ -n $codes ]] || fail "no exit codes found in 'tpmkms --help'"
status=$(sed -n '/^\.SH "EXIT STATUS"/,/^\.SH /p' "$man1")
for code in $codes; do
    grep -qx "\.B $code" <<<"$status" || fail "exit code $code of 'tpmkms --help' is not under EXIT STATUS"
done

if ((bad)); then
    exit 1
fi
printf 'man: tpmkms.1 and tpmkms.7 render cleanly; %d commands, their options and %d exit codes match --help\n' \
    "${#commands[@]}" "$(wc -w <<<"$codes")"

#!/usr/bin/env bash
# Bash completion (cli/completion/tpmkms.bash): commands and options come
# from the command's own --help, key URIs from `tpmkms list`, single-quoted
# (a URI holds ';').  Each case sets COMP_WORDS as bash would and checks
# COMPREPLY.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

start_swtpm
# shellcheck source=cli/completion/tpmkms.bash
. "$TPMKMS_SOURCE_DIR/cli/completion/tpmkms.bash"

tpmkms create 'tpmkms:name=web' >/dev/null
tpmkms create 'tpmkms:name=wiki' >/dev/null

# completes WANT WORD...: completing the last WORD of "tpmkms WORD..."
# offers exactly WANT (space-separated, sorted).
completes() {
    local want=$1 got
    shift
    COMP_WORDS=(tpmkms "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _tpmkms
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' ')
    [[ $got == "$want" ]] || fail "tpmkms $*<TAB>: offered '$got', expected '$want'"
    printf '   tpmkms %s<TAB> -> %s\n' "$*" "$got"
}

step "commands, from tpmkms --help"
completes "cert create" c
completes "delete" de
completes "ek" e
completes "--help --tcti --version" --
step "options of a command, from its --help"
completes "--alg" create x --a
completes "--force" create x --f
completes "--orphans" list --o
completes "ec-p256 ec-p384" create x --alg ec
completes "machine" list --scope m
step "existing keys, from tpmkms list, quoted"
completes "'tpmkms:name=web;key-scope=user' 'tpmkms:name=wiki;key-scope=user'" show ''
completes "'tpmkms:name=wiki;key-scope=user'" delete "'tpmkms:name=wi"
completes "import" cert ''
step "--tcti's value is skipped when finding the command"
completes "--alg" --tcti "$TPMKMS_TCTI" create x --a
pass

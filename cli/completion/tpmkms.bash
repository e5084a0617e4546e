# bash completion for tpmkms(1): commands, their options and the URIs of
# existing keys.  Commands and options are read from the command's own
# --help, so they never drift from it; key URIs from `tpmkms list`.
# Installed as share/bash-completion/completions/tpmkms.

# The commands `tpmkms --help` lists (indented words under "commands:").
_tpmkms_commands()
{
    "$1" --help 2>/dev/null |
        awk '/^commands:/ {on = 1; next} on && /^$/ {on = 0} on && NF {print $1}'
}

# The options a command's --help names (--word).
_tpmkms_options()
{
    "$1" "$2" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

# The URIs of the keys tpmkms list prints (first field), quoted for bash.
_tpmkms_uris()
{
    "$1" list 2>/dev/null | awk '$1 ~ /^tpmkms:/ {print $1}'
}

_tpmkms()
{
    local cur prev words cword cmd i exe=${COMP_WORDS[0]}
    _init_completion -n =: 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }
    # The command: the first word after the program that is not an option
    # or --tcti's value.
    cmd=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --tcti) ((i++)) ;;
        -*) ;;
        *) cmd=${words[i]}; break ;;
        esac
    done
    case $prev in
    --tcti) return 0 ;;                                  # a TCTI config: free text
    --alg) mapfile -t COMPREPLY < <(compgen -W 'ec-p256 ec-p384 rsa-2048 rsa-3072' -- "$cur"); return 0 ;;
    --scope) mapfile -t COMPREPLY < <(compgen -W 'user machine' -- "$cur"); return 0 ;;
    --storage-directory | --out-dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return 0 ;;
    esac
    if [[ -z $cmd ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_tpmkms_commands "$exe") --tcti --version --help" -- "$cur")
        return 0
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_tpmkms_options "$exe" "$cmd")" -- "$cur")
        return 0
    fi
    if [[ $cmd == cert && ${words[cword - 1]} == cert ]]; then
        mapfile -t COMPREPLY < <(compgen -W 'import' -- "$cur")
        return 0
    fi
    case $cmd in
    show | delete | cert)
        local uris
        uris=$(_tpmkms_uris "$exe")
        # Single-quoted: a URI holds ';', which the shell would split on.
        mapfile -t COMPREPLY < <(compgen -W "$uris" -- "${cur#\'}" | sed "s/.*/'&'/")
        ;;
    esac
    return 0
}
complete -F _tpmkms tpmkms

# shellcheck shell=bash
# TPM commands on the wire, from a pcap written by tpm2-tss's pcap TCTI
# (TCTI "pcap:<child tcti>", file in $TCTI_PCAP_FILE; each process appends
# its own section).  Sourced by bench/run and
# test/integration/tpm_command_counts.sh.
#
#   tpm_trace PCAP      one line per command, in order: NAME RC
#                       (e.g. "Sign 0x00000000"; NAME without TPM2_CC_)
#   tpm_commands PCAP   the command names, space-separated, in order
#   tpm_count PCAP      how many commands
#   tpm_errors PCAP     the commands answered with an error: "NAME:RC ..."
#   tpm_by_name NAMES   "NAME×n ..." in order of first appearance
#
# A pcap that does not exist means no TCTI was opened: no command.  A pcap
# with packets in which tshark's TPM dissector finds no command is an
# error, never "0 commands": a dissector that stopped working must not
# make every count pass.

# The pcap TCTI writes fake TCP segments to port 2321; decode them as TPM
# even if tshark's port table changes.
TPMCOUNT_DECODE=(-d 'tcp.port==2321,tpm')

tpm_trace() {
    local pcap=$1 out frames key cache
    [[ -e $pcap ]] || return 0
    [[ -r $pcap ]] || {
        printf 'tpm_trace: cannot read %s\n' "$pcap" >&2
        return 1
    }
    # tshark takes a second or more to start: a pcap already read, unchanged
    # since (same size and modification time, to the nanosecond), is not
    # read again with the same decoding; the cache sits beside it as
    # PCAP.trace.
    key="$(stat -c '%s %y' "$pcap") ${TPMCOUNT_DECODE[*]}" || return 1
    cache=$pcap.trace
    if [[ -f $cache && $(head -n 1 "$cache") == "$key" ]]; then
        tail -n +2 "$cache"
        return 0
    fi
    out=$(_tpm_trace_read "$pcap") || return 1
    printf '%s\n%s' "$key" "${out:+$out$'\n'}" >"$cache" 2>/dev/null || rm -f "$cache"
    [[ -z $out ]] || printf '%s\n' "$out"
}

# tpm_trace's work: tshark over the pcap.
_tpm_trace_read() {
    local pcap=$1 out frames
    command -v tshark >/dev/null 2>&1 || {
        printf 'tpm_trace: tshark is not installed (Debian: apt-get install tshark)\n' >&2
        return 1
    }
    if ! out=$(tshark -r "$pcap" "${TPMCOUNT_DECODE[@]}" -T fields -E separator=/t \
        -e frame.number -e tpm.req.cc -e tpm.resp.rc -e _ws.col.Info 2>&1); then
        printf 'tpm_trace: tshark could not read %s:\n%s\n' "$pcap" "$out" >&2
        return 1
    fi
    # tshark warns about running as root on stderr; keep data lines only.
    out=$(grep -E '^[0-9]+'$'\t' <<<"$out" || true)
    frames=$(grep -c . <<<"$out" || true)
    awk -F'\t' -v pcap="$pcap" -v frames="$frames" '
        $2 != "" {
            name = $4
            if (match(name, /TPM2_CC_[A-Za-z0-9_]+/))
                name = substr(name, RSTART + 8, RLENGTH - 8)
            else
                name = "CC_" $2
            if (pending != "") print pending, "none"
            pending = name
            requests++
            next
        }
        $3 != "" && pending != "" { print pending, $3; pending = ""; next }
        END {
            if (pending != "") print pending, "none"
            if (frames > 0 && requests == 0) {
                printf "tpm_trace: %s has %d packets but tshark'"'"'s TPM dissector found no TPM command in them (tshark -G fields | grep tpm.req.cc)\n", pcap, frames > "/dev/stderr"
                exit 1
            }
        }' <<<"$out"
}

tpm_commands() {
    local trace
    trace=$(tpm_trace "$1") || return 1
    awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 } END { print "" }' <<<"$trace"
}

tpm_count() {
    local trace
    trace=$(tpm_trace "$1") || return 1
    grep -c . <<<"$trace" || true
}

tpm_errors() {
    local trace
    trace=$(tpm_trace "$1") || return 1
    awk '$2 != "0x00000000" && NF == 2 { printf "%s%s:%s", (n++ ? " " : ""), $1, $2 }
         END { print "" }' <<<"$trace"
}

tpm_by_name() {
    awk '{
        for (i = 1; i <= NF; i++) {
            if (!($i in n)) order[++k] = $i
            n[$i]++
        }
    } END {
        for (i = 1; i <= k; i++)
            printf "%s%s%s", (i > 1 ? " " : ""), order[i],
                   (n[order[i]] > 1 ? "×" n[order[i]] : "")
        print ""
    }' <<<"$*"
}

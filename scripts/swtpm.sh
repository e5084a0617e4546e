#!/usr/bin/env bash
# Starts and stops a software TPM 2.0 (swtpm) for tests and the demo.
#
#   scripts/swtpm.sh start DIR   state, pid file, log and tcti file in DIR;
#                                prints the TCTI string, e.g.
#                                swtpm:host=127.0.0.1,port=23456
#   scripts/swtpm.sh start DIR --ek-certs
#                                the same, but first manufactures the TPM as
#                                a vendor would (once, while DIR/state is
#                                empty): swtpm_setup --create-ek-cert
#                                --create-platform-cert with a local CA
#                                (swtpm_localca) kept in DIR/localca:
#                                  DIR/localca/swtpm-localca-rootca-cert.pem
#                                    the root CA certificate
#                                  DIR/localca/issuercert.pem
#                                    the intermediate that signs the EK certs
#                                swtpm 0.7.1 makes an RSA 2048 EK (template
#                                L-1, certificate at NV 0x01C00002, persistent
#                                at 0x81010001) and an ECC P-384 EK (H-3,
#                                0x01C00016, 0x81010016), and a platform
#                                certificate at 0x01C08000.  Every
#                                configuration file is written into DIR
#                                (never /etc or the user's home), so it works
#                                as root and as any other user.
#   scripts/swtpm.sh stop DIR    stops the swtpm whose pid is in DIR/swtpm.pid
#
# swtpm listens on 127.0.0.1 only, on a port pair P (commands) and P+1
# (control), which is what the swtpm TCTI expects.  Free ports are found by
# trying: swtpm binds before it daemonises, so a port that is taken makes it
# exit with "Address already in use" and we try another pair.  The TPM is
# started (TPM2_Startup(CLEAR)) by swtpm itself, so it is ready to use.
#
# Environment: SWTPM_TIMEOUT  seconds to wait for the TPM to answer (10)
#              SWTPM_PORT     the port to try first (then random ones)
set -euo pipefail

readonly PROG=${0##*/}

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s start DIR [--ek-certs] | stop DIR\n' "$PROG" >&2
    exit 2
}

# swtpm_setup on DIR/state with EK and platform certificates from a local
# CA in DIR/localca.  Its configuration files go into DIR and it runs
# with --config pointing there: swtpm_setup and swtpm_localca would read
# /etc or ~/.config otherwise, and write the CA under /var/lib.
manufacture() {
    local dir=$1 ca=$1/localca localca
    [[ -n $dir && -d $dir ]] || die "manufacture: no directory '$dir'"
    command -v swtpm_setup >/dev/null 2>&1 ||
        die "swtpm_setup is not installed (Debian: apt-get install swtpm-tools, or run scripts/setup.sh)"
    localca=$(command -v swtpm_localca 2>/dev/null) ||
        die "swtpm_localca is not installed (Debian: apt-get install swtpm-tools, or run scripts/setup.sh)"
    [[ -e $dir/state/tpm2-00.permall ]] && return 0
    mkdir -p "$ca"
    printf '%s\n' "statedir = $ca" "signingkey = $ca/signkey.pem" \
        "issuercert = $ca/issuercert.pem" "certserial = $ca/certserial" \
        >"$dir/swtpm-localca.conf"
    printf '%s\n' "--platform-manufacturer tpmkms-test" "--platform-version 2.1" \
        "--platform-model swtpm" >"$dir/swtpm-localca.options"
    printf '%s\n' "create_certs_tool = $localca" \
        "create_certs_tool_config = $dir/swtpm-localca.conf" \
        "create_certs_tool_options = $dir/swtpm-localca.options" \
        "active_pcr_banks = sha256" >"$dir/swtpm_setup.conf"
    if ! swtpm_setup --tpm2 --tpm-state "$dir/state" \
        --create-ek-cert --create-platform-cert \
        --config "$dir/swtpm_setup.conf" \
        --logfile "$dir/swtpm_setup.log" >/dev/null 2>&1; then
        die "swtpm_setup failed (log $dir/swtpm_setup.log): $(tail -n 5 "$dir/swtpm_setup.log" 2>/dev/null | tr '\n' ' ')"
    fi
    [[ -s $ca/swtpm-localca-rootca-cert.pem && -s $ca/issuercert.pem ]] ||
        die "swtpm_setup made no local CA in $ca (log $dir/swtpm_setup.log)"
}

# The pid in DIR/swtpm.pid if that process is a live swtpm, else nothing.
running_pid() {
    local dir=$1 pid state
    [[ -s $dir/swtpm.pid ]] || return 1
    pid=$(<"$dir/swtpm.pid")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == swtpm* ]] || return 1
    # A zombie has exited; it only waits to be reaped by its parent.
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $state != Z ]] || return 1
    printf '%s\n' "$pid"
}

answers() {
    tpm2_getcap -T "$1" properties-fixed >/dev/null 2>&1
}

start() {
    local dir=$1 ek_certs=${2:-} attempt port tcti pid deadline
    command -v swtpm >/dev/null 2>&1 ||
        die "swtpm is not installed (Debian: apt-get install swtpm swtpm-tools, or run scripts/setup.sh)"
    command -v tpm2_getcap >/dev/null 2>&1 ||
        die "tpm2_getcap is not installed (Debian: apt-get install tpm2-tools, or run scripts/setup.sh)"
    mkdir -p "$dir/state"
    dir=$(cd "$dir" && pwd)
    if pid=$(running_pid "$dir"); then
        die "an swtpm (pid $pid) is already running in $dir; stop it first"
    fi
    rm -f "$dir/swtpm.pid" "$dir/tcti"
    if [[ -n $ek_certs ]]; then
        manufacture "$dir"
    fi

    for attempt in $(seq 1 40); do
        # An even port in 10000..31998, below Linux's ephemeral range.
        port=$((10000 + 2 * (RANDOM % 11000)))
        if ((attempt == 1)) && [[ -n ${SWTPM_PORT:-} ]]; then
            [[ $SWTPM_PORT =~ ^[0-9]+$ ]] || die "SWTPM_PORT is not a port number: $SWTPM_PORT"
            port=$SWTPM_PORT
        fi
        if ss -Hltn "( sport = :$port or sport = :$((port + 1)) )" 2>/dev/null | grep -q .; then
            continue
        fi
        : >"$dir/swtpm.log"
        if swtpm socket --tpm2 \
            --tpmstate "dir=$dir/state" \
            --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
            --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
            --flags not-need-init,startup-clear \
            --pid "file=$dir/swtpm.pid" \
            --log "file=$dir/swtpm.log" \
            --daemon 2>>"$dir/swtpm.log"; then
            break
        fi
        if grep -q 'Address already in use' "$dir/swtpm.log"; then
            port=
            continue
        fi
        die "swtpm failed to start (log $dir/swtpm.log): $(tr '\n' ' ' <"$dir/swtpm.log")"
    done
    [[ -n ${port:-} && -s $dir/swtpm.pid ]] ||
        die "no free port pair for swtpm after $attempt attempts"

    tcti="swtpm:host=127.0.0.1,port=$port"
    deadline=$((SECONDS + ${SWTPM_TIMEOUT:-10}))
    until answers "$tcti"; do
        if ! running_pid "$dir" >/dev/null; then
            die "swtpm exited right after starting (log $dir/swtpm.log): $(tr '\n' ' ' <"$dir/swtpm.log")"
        fi
        if ((SECONDS >= deadline)); then
            stop "$dir" || true
            die "swtpm on port $port did not answer within ${SWTPM_TIMEOUT:-10}s (log $dir/swtpm.log)"
        fi
        sleep 0.1
    done
    printf '%s\n' "$tcti" >"$dir/tcti"
    printf '%s\n' "$tcti"
}

stop() {
    local dir=$1 pid
    if ! pid=$(running_pid "$dir"); then
        rm -f "$dir/swtpm.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        running_pid "$dir" >/dev/null || break
        sleep 0.1
    done
    if running_pid "$dir" >/dev/null; then
        printf '%s: swtpm (pid %s) ignored SIGTERM for 5s; killing it\n' "$PROG" "$pid" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/swtpm.pid"
}

(($# == 2)) || { (($# == 3)) && [[ $1 == start && $3 == --ek-certs ]]; } || usage
case $1 in
start) start "$2" "${3:-}" ;;
stop) stop "$2" ;;
*) usage ;;
esac

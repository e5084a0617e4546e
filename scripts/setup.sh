#!/usr/bin/env bash
# Installs what tpmkms needs to build, test and demo, on Debian 12, as root.
#
#   scripts/setup.sh           install the packages
#   scripts/setup.sh --demo    install the packages, then run scripts/demo.sh
#
# Idempotent: it installs only the packages that are missing and upgrades
# none; when nothing is missing it changes nothing and does not touch the
# network.  Services that the packages bring (nginx,
# tpm2-abrmd, openvpn, dbus) are not started: tests start what they need.
set -euo pipefail

readonly PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

# Build: compiler, cmake, OpenSSL 3 and tpm2-tss headers, cmocka.
# Test and demo: swtpm, tpm2-tools (tpm2_getcap), tpm2-openssl and
# tpm2-abrmd with its client TCTI libtss2-tcti-tabrmd0 (interoperability,
# tests through a resource manager), tshark (TPM traffic), nginx, openvpn and
# curl (TLS with TPM keys), openssl, procps, iproute2 (ss), dbus,
# util-linux (setpriv, runuser, setsid), passwd (useradd), strace (fault
# injection in crash_safety.sh), python3 (free loopback ports) and findutils
# (xargs -P: concurrent requests).
# Analysis (scripts/test.sh): valgrind (memcheck), clang-tidy, binutils
# (readelf: test/static/hardening.sh), groff-base (test/static/man.sh
# renders the man pages), python3-jsonschema (json_output.sh validates
# --json against docs/schema/).
readonly PACKAGES=(
    build-essential cmake pkg-config libssl-dev libtss2-dev libcmocka-dev
    swtpm swtpm-tools tpm2-tools tpm2-openssl tpm2-abrmd libtss2-tcti-tabrmd0 tshark
    nginx openvpn curl openssl procps iproute2 dbus util-linux passwd strace
    python3 findutils clang libclang-rt-14-dev
    valgrind clang-tidy binutils groff-base python3-jsonschema
)

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s [--demo]\n' "$PROG" >&2
    exit 2
}

demo=0
case ${1:-} in
'') ;;
--demo) demo=1 ;;
-h | --help)
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
*) usage ;;
esac
[[ $# -le 1 ]] || usage

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages with apt-get)"
if ! grep -qs '^VERSION_ID="12"' /etc/os-release || ! grep -qs '^ID=debian' /etc/os-release; then
    printf '%s: warning: written for Debian 12; this is %s\n' "$PROG" \
        "$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)" >&2
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    printf '%s: all %d packages are installed\n' "$PROG" "${#PACKAGES[@]}"
else
    printf '%s: installing %s\n' "$PROG" "${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; they may not.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' |
        debconf-set-selections
    # Keep services the packages bring from starting: policy-rc.d answering
    # 101 ("action forbidden") is what invoke-rc.d and deb-systemd-invoke
    # ask.  An existing policy is left alone.
    policy=/usr/sbin/policy-rc.d
    ours=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        ours=1
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update
    # Only the missing ones: naming an installed package would upgrade it
    # (and, for openssl, libssl3 with it) under whatever was built before.
    apt-get install -y --no-install-recommends "${missing[@]}"
    if ((ours)); then
        rm -f "$policy"
        trap - EXIT
    fi
    printf '%s: installed %d packages\n' "$PROG" "${#missing[@]}"
fi

if ((demo)); then
    "$HERE/demo.sh"
fi

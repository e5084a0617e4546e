#!/usr/bin/env bash
# A user makes TPM keys with plain `openssl genpkey`, for each algorithm
# tpmkms creates: the key lands in the user store under the name the URI
# gives, genpkey writes its TSS2 PRIVATE KEY file (PEM or DER), and the key
# is then usable by URI.  Unsupported sizes and curves, a missing URI and
# an existing name are refused with messages that say what to do.
#
# Asked for tpmkms (-propquery provider=tpmkms or ?provider=tpmkms), genpkey
# without a URI fails, saying to give -pkeyopt uri:..., and writes no key:
# never a software key the user takes for a TPM key.  Without -propquery it
# still makes an ordinary software key (what libssl's ephemeral keys need
# when tpmkms comes first).  keymgmt_pair.c then uses TPM keys held by
# either of tpmkms's two EC key managements through the other, in one
# process.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl tpm2_getcap cmp
start_swtpm
W=$TPMKMS_WORK
PAIR=$TPMKMS_BUILD_DIR/test/keymgmt_pair
[[ -x $PAIR ]] || fail "$PAIR is not built (cmake --build $TPMKMS_BUILD_DIR)"
TK=(-provider tpmkms -provider default)
# Activated globally too (TPMKMS_TEST_GLOBAL_CONF), the order in which
# OpenSSL finds the two EC/RSA keymgmts is the configuration's and
# OpenSSL's, not these options': ask for tpmkms's, as README says.
if [[ -n ${TPMKMS_TEST_GLOBAL_CONF:-} ]]; then
    TK+=(-propquery provider=tpmkms)
fi
# With default loaded first, EC/RSA keygen is OpenSSL's unless asked for.
DK=(-provider default -provider tpmkms -propquery provider=tpmkms)

pubkey_of() {
    openssl pkey "${TK[@]}" -in "$1" -pubout
}

step "tpmkms setup persists the SRK"
tpmkms setup

for spec in "ec-p256 EC group:P-256" "ec-p384 EC group:secp384r1" \
            "rsa-2048 RSA bits:2048" "rsa-3072 RSA bits:3072"; do
    read -r alg type opt <<<"$spec"
    name=gen-$alg

    step "$alg: openssl genpkey -algorithm $type -pkeyopt $opt creates tpmkms:name=$name"
    openssl genpkey "${TK[@]}" -algorithm "$type" -pkeyopt "$opt" \
        -pkeyopt "uri:tpmkms:name=$name" -out "$W/$name.pem"
    [[ -f $XDG_DATA_HOME/tpmkms/keys/$name.tpmkey ]] ||
        fail "genpkey made no record $XDG_DATA_HOME/tpmkms/keys/$name.tpmkey"

    step "$alg: genpkey wrote a TSS2 PRIVATE KEY file, not a software key"
    head -n1 "$W/$name.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
        fail "genpkey's output does not start with BEGIN TSS2 PRIVATE KEY: $(head -n1 "$W/$name.pem")"
    if grep -q 'BEGIN PRIVATE KEY\|BEGIN EC PRIVATE KEY\|BEGIN RSA PRIVATE KEY' "$W/$name.pem"; then
        fail "genpkey wrote a software private key"
    fi

    step "$alg: the key file is the record's key block"
    sed -n '/-----BEGIN TSS2 PRIVATE KEY-----/,/-----END TSS2 PRIVATE KEY-----/p' \
        "$XDG_DATA_HOME/tpmkms/keys/$name.tpmkey" >"$W/$name.record.pem"
    cmp -s "$W/$name.pem" "$W/$name.record.pem" ||
        fail "genpkey's key file differs from the key block in the record"

    step "$alg: the key is usable by URI and is the $alg the options asked for"
    openssl pkey "${TK[@]}" -in "tpmkms:name=$name" -text -noout >"$W/$name.txt"
    grep -qxF "Algorithm: $alg" "$W/$name.txt" ||
        fail "tpmkms:name=$name is not $alg: $(grep Algorithm "$W/$name.txt")"
done

step "genpkey -outform DER writes the key file as DER"
openssl genpkey "${TK[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt uri:tpmkms:name=gen-der -outform DER -out "$W/gen-der.der"
openssl asn1parse -inform DER -in "$W/gen-der.der" | grep -q ':2.23.133.10.1.3' ||
    fail "genpkey -outform DER did not write a TSS2 key (OID 2.23.133.10.1.3)"

step "with the default provider loaded first, -propquery provider=tpmkms makes a TPM key"
openssl genpkey "${DK[@]}" -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt uri:tpmkms:name=gen-default-first -out "$W/gen-default-first.pem"
head -n1 "$W/gen-default-first.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
    fail "genpkey with default first did not write a TSS2 key file"
pubkey_of tpmkms:name=gen-default-first >/dev/null

step "a name that exists is refused, and force:1 replaces the key"
before=$(pubkey_of tpmkms:name=gen-ec-p256)
expect_fail --provider-errors 'already exists' openssl genpkey "${TK[@]}" \
    -algorithm EC -pkeyopt group:P-256 -pkeyopt uri:tpmkms:name=gen-ec-p256
[[ $(pubkey_of tpmkms:name=gen-ec-p256) == "$before" ]] ||
    fail "a refused genpkey changed tpmkms:name=gen-ec-p256"
openssl genpkey "${TK[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt uri:tpmkms:name=gen-ec-p256 -pkeyopt force:1 -out /dev/null
[[ $(pubkey_of tpmkms:name=gen-ec-p256) != "$before" ]] ||
    fail "force:1 did not replace tpmkms:name=gen-ec-p256"

# refused_without_uri LABEL GENPKEY-ARGS...: openssl genpkey with these
# arguments (no uri) fails with tpmkms's error naming -pkeyopt uri, prints
# no key and leaves no key in the -out file, and makes no key record.
refused_without_uri() {
    local label=$1 rc=0 out=() records
    shift
    out=(-out "$W/nouri-$label.pem")
    if [[ $label == stdout ]]; then
        out=()
    fi
    records=$(find "$XDG_DATA_HOME/tpmkms/keys" -name '*.tpmkey' | sort)
    openssl genpkey "$@" "${out[@]}" >"$W/nouri-$label.stdout" \
        2>"$W/nouri-$label.stderr" </dev/null || rc=$?
    if ((rc == 0 || rc >= 126)); then
        cat "$W/nouri-$label.stderr" >&2
        fail "$label: genpkey $* without a uri exited $rc, not with a refusal"
    fi
    grep -Eq ':error:[0-9A-Fa-f]{8}:tpmkms:.*no uri: .*-pkeyopt uri:tpmkms:name=' \
        "$W/nouri-$label.stderr" || {
        cat "$W/nouri-$label.stderr" >&2
        fail "$label: genpkey $* without a uri did not say to give -pkeyopt uri:"
    }
    if grep -q 'PRIVATE KEY' "$W/nouri-$label.stdout" "${out[@]:1}" 2>/dev/null; then
        fail "$label: genpkey $* without a uri wrote a key"
    fi
    [[ $(find "$XDG_DATA_HOME/tpmkms/keys" -name '*.tpmkey' | sort) == "$records" ]] ||
        fail "$label: genpkey $* without a uri made a key record"
    printf '   refused (exit %d): %s\n' "$rc" \
        "$(grep -om1 'no uri: .*' "$W/nouri-$label.stderr" | cut -c1-110)..."
}

step "genpkey -propquery provider=tpmkms without a URI is refused, naming -pkeyopt uri (issue 20)"
# The issue's command exactly (its key would go to stdout).
refused_without_uri stdout -provider tpmkms -provider default \
    -propquery provider=tpmkms -algorithm EC
refused_without_uri ec-p384 -provider tpmkms -provider default \
    -propquery provider=tpmkms -algorithm EC -pkeyopt group:P-384
refused_without_uri rsa -provider tpmkms -provider default \
    -propquery provider=tpmkms -algorithm RSA -pkeyopt bits:2048
refused_without_uri optional -provider tpmkms -provider default \
    -propquery '?provider=tpmkms' -algorithm EC -pkeyopt group:P-256
refused_without_uri default-first "${DK[@]}" -algorithm EC -pkeyopt group:P-256
if [[ -n ${TPMKMS_TEST_GLOBAL_CONF:-} ]]; then
    refused_without_uri global-only -propquery provider=tpmkms -algorithm RSA
fi

step "the same command with -pkeyopt uri makes a TPM key"
openssl genpkey -provider tpmkms -provider default -propquery provider=tpmkms \
    -algorithm EC -pkeyopt uri:tpmkms:name=gen-issue -out "$W/gen-issue.pem"
head -n1 "$W/gen-issue.pem" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
    fail "genpkey -propquery provider=tpmkms with a uri did not write a TSS2 key file"
openssl pkey "${TK[@]}" -in tpmkms:name=gen-issue -text -noout |
    grep -qxF 'Algorithm: ec-p256' || fail "tpmkms:name=gen-issue is not an ec-p256 TPM key"

step "genpkey without -propquery and without a URI makes an ordinary software key"
# With tpmkms first, tpmkms's keymgmt makes it for the default provider.
records=$(find "$XDG_DATA_HOME/tpmkms/keys" -name '*.tpmkey' | sort)
for type in "EC -pkeyopt group:P-256" "RSA -pkeyopt bits:2048"; do
    read -ra args <<<"$type"
    openssl genpkey -provider tpmkms -provider default -algorithm "${args[@]}" \
        -out "$W/soft.pem"
    head -n1 "$W/soft.pem" | grep -qxF -- '-----BEGIN PRIVATE KEY-----' ||
        fail "genpkey ${args[0]} without a URI did not write a software key: $(head -n1 "$W/soft.pem")"
    openssl pkey -provider default -in "$W/soft.pem" -check -noout >/dev/null ||
        fail "the software ${args[0]} key genpkey wrote does not load in the default provider"
done
[[ $(find "$XDG_DATA_HOME/tpmkms/keys" -name '*.tpmkey' | sort) == "$records" ]] ||
    fail "genpkey of a software key made a key record"

step "TPM keys held by either of tpmkms's EC key managements sign through the other"
orders=(tpmkms-first default-first)
if [[ -n ${TPMKMS_TEST_GLOBAL_CONF:-} ]]; then
    orders=("$TPMKMS_TEST_GLOBAL_CONF")
fi
for order in "${orders[@]}"; do
    "$PAIR" "$order" "tpmkms:name=pair-$order" tpmkms:name=gen-ec-p384 \
        "$W/gen-ec-p384.pem" >"$W/pair-$order.out" 2>&1 || {
        cat "$W/pair-$order.out" >&2
        fail "$order: keymgmt_pair failed"
    }
    sed "s/^/   $order: /" "$W/pair-$order.out"
    if [[ $order == tpmkms-first ]]; then
        # The software key came from tpmkms's keymgmt (as libssl's ECDHE
        # keys do in this order), so that path was tested.
        grep -q '^EC generation without a property query or uri: a software key (held by "TPM 2.0 EC keys by uri; software' \
            "$W/pair-$order.out" ||
            fail "$order: the software key was not made by tpmkms's keymgmt, so this order was not tested"
    fi
done

step "unsupported sizes and curves are refused, naming what is supported"
expect_fail --provider-errors '4096 bits.*2048 and 3072' openssl genpkey "${TK[@]}" \
    -algorithm RSA -pkeyopt bits:4096 -pkeyopt uri:tpmkms:name=gen-bad
expect_fail --provider-errors 'P-521.*P-256.*P-384' openssl genpkey "${TK[@]}" \
    -algorithm EC -pkeyopt group:P-521 -pkeyopt uri:tpmkms:name=gen-bad
[[ ! -e $XDG_DATA_HOME/tpmkms/keys/gen-bad.tpmkey ]] ||
    fail "a refused genpkey left a record"

step "a URI that is not a tpmkms: URI is refused"
expect_fail --provider-errors 'tpmkms:' openssl genpkey "${TK[@]}" \
    -algorithm EC -pkeyopt group:P-256 -pkeyopt uri:name=gen-bad

pass
